"""`ft-audit wheel --format sarif` and `ft-audit env --format sarif` on pinned real wheels:
valid against the OASIS SARIF 2.1.0 schema, rules from the finding-code table, levels from each
finding's severity, locations at the wheel file (member in the artifact location's properties,
module as a logical location) or the module file."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.finding_codes import Family, codes_of
from tests.support.sarif import validate_sarif
from tests.support.wheels import require_wheel

LXML_T = "lxml-6.1.3-cp314t-manylinux-x86_64"
MARKUPSAFE_T = "markupsafe-3.0.4-cp314t-manylinux-x86_64"
LXML_MODULES = ["lxml._elementpath", "lxml.builder", "lxml.etree", "lxml.html._difflib", "lxml.html.diff",
                "lxml.objectify", "lxml.sax"]


@pytest.fixture()
def dist(tmp_path, monkeypatch) -> Path:
    """dist/ with the failing lxml cp314t wheel and the passing markupsafe one, run from tmp_path."""
    folder = tmp_path / "dist"
    folder.mkdir()
    for key in (LXML_T, MARKUPSAFE_T):
        source = require_wheel(key)
        shutil.copy(source, folder / source.name)
    monkeypatch.chdir(tmp_path)
    return folder


def _run(capsys, *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


def test_wheel_sarif_is_valid_and_locates_each_finding_at_its_wheel_and_member(dist, capsys):
    pytest.importorskip("jsonschema")
    code, doc = _run(capsys, "wheel", "dist", "--format", "sarif")
    validate_sarif(doc)
    assert code == 1
    run = doc["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [c.id for c in codes_of(Family.WHEEL)]
    assert run["automationDetails"] == {"id": "ft-audit/wheel/"}
    assert run["invocations"][0]["executionSuccessful"] is True
    lxml = "dist/lxml-6.1.3-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    gil = [r for r in run["results"] if r["ruleId"] == "FTW310"]
    assert sorted(r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in gil) == LXML_MODULES
    (etree,) = [r for r in gil if r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "lxml.etree"]
    assert etree["level"] == "error"
    assert etree["ruleIndex"] == [c.id for c in codes_of(Family.WHEEL)].index("FTW310")
    physical = etree["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {
        "uri": lxml, "properties": {"member": "lxml/etree.cpython-314t-x86_64-linux-gnu.so"}}
    assert physical["region"] == {"startLine": 1}
    assert etree["locations"][0]["logicalLocations"] == [
        {"name": "etree", "fullyQualifiedName": "lxml.etree", "kind": "module"}]
    assert etree["message"]["text"].startswith(
        "lxml/etree.cpython-314t-x86_64-linux-gnu.so: module lxml.etree would re-enable the GIL: declares the GIL used")
    assert etree["properties"]["verdict"] == "fail"
    # the passing wheel's info finding is a note at its wheel, with no member
    (note,) = [r for r in run["results"] if r["ruleId"] == "FTW402"]
    assert note["level"] == "note"
    assert note["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "dist/markupsafe-3.0.4-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl"}
    assert "logicalLocations" not in note["locations"][0]
    assert len({r["partialFingerprints"]["ftAuditFinding/v1"] for r in run["results"]}) == len(run["results"])


def test_wheel_sarif_fingerprint_does_not_depend_on_the_version_or_folder(dist, tmp_path, capsys):
    _, first = _run(capsys, "wheel", "dist", "--format", "sarif")
    renamed = tmp_path / "other" / "lxml-6.1.4-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    renamed.parent.mkdir()
    shutil.copy(next(dist.glob("lxml-*.whl")), renamed)
    _, second = _run(capsys, "wheel", str(renamed), "--ignore", "FTW110", "--format", "sarif")

    def prints(doc):
        return {r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]: r["partialFingerprints"]
                for r in doc["runs"][0]["results"] if r["ruleId"] == "FTW310"}
    assert prints(first) == prints(second) and len(prints(first)) == 7


def test_wheel_sarif_unreadable_input_is_an_error_result_and_unsuccessful(dist, tmp_path, capsys):
    pytest.importorskip("jsonschema")
    (tmp_path / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    code, doc = _run(capsys, "wheel", "broken-1.0-py3-none-any.whl", "missing", "--format", "sarif")
    validate_sarif(doc)
    assert code == 2
    run = doc["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is False
    assert {(r["ruleId"], r["level"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
            for r in run["results"]} == {("FTW001", "error", "missing"),
                                         ("FTW001", "error", "broken-1.0-py3-none-any.whl")}


def test_env_sarif_locates_module_findings_at_the_module_file(tmp_path, capsys):
    pytest.importorskip("jsonschema")
    site = tmp_path / "site-packages"
    for key in (LXML_T, MARKUPSAFE_T):
        with zipfile.ZipFile(require_wheel(key)) as archive:
            archive.extractall(site)
    code, doc = _run(capsys, "env", "--path", str(site), "--target", "3.14t", "--no-pypi", "--no-compat",
                     "--no-cache", "--format", "sarif", "--fail-on", "reenables-gil")
    validate_sarif(doc)
    assert code == 1
    run = doc["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [c.id for c in codes_of(Family.ENV)]
    by_rule: dict[str, list[str]] = {}
    for r in run["results"]:
        by_rule.setdefault(r["ruleId"], []).append(r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"])
    assert {rule: sorted(modules) for rule, modules in by_rule.items()} == {
        "FTE101": LXML_MODULES, "FTE201": LXML_MODULES}   # markupsafe: ready, own-gil
    etree = next(r for r in run["results"] if r["ruleId"] == "FTE101"
                 and r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "lxml.etree")
    assert etree["level"] == "error"
    assert etree["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        (site / "lxml" / "etree.cpython-314t-x86_64-linux-gnu.so").as_uri()
    assert etree["properties"] == {"interpreter": "3.14t", "module": "lxml.etree"}
    assert run["invocations"][0]["executionSuccessful"] is True
