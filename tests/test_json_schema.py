"""The shipped JSON Schema (auditor/schema/ft-audit-1.schema.json) against every command's real
`--format json` output: pinned PyPI wheels, an environment made of real wheels, the recorded
index, the bundled census, the repository's C/Cython sources. `ft-audit bench` is validated
where its one --quick run happens (tests/test_bench.py), `env --verify` in tests/test_env_real.py.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import zipfile
from pathlib import Path

import jsonschema
import pytest

from auditor import migration
from auditor.cli import main
from auditor.model import (
    SCHEMA,
    FreeThreading,
    GilDeclaration,
    InitStyle,
    MultipleInterpreters,
    Severity,
    Subinterpreters,
)
from auditor.schema import SCHEMA_FILE, load_schema
from tests.requirements_server import RECORDED, RecordedIndex
from tests.support.compat_sources import EXCERPTS
from tests.support.json_schema import assert_valid, schema_errors
from tests.support.wheels import require_wheel

ROOT = Path(__file__).resolve().parents[1]
LXML_T = "lxml-6.1.3-cp314t-manylinux-x86_64"
MARKUPSAFE_T = "markupsafe-3.0.4-cp314t-manylinux-x86_64"
PSUTIL_ABI3 = "psutil-7.2.2-cp36-abi3-manylinux-x86_64"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    return code, json.loads(capsys.readouterr().out)


# ------------------------------------------------------------------ the schema itself
def test_schema_is_draft_2020_12_and_names_the_contract():
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$defs"]["schema_id"] == {"const": SCHEMA, "description": schema["$defs"]["schema_id"]["description"]}
    assert load_schema() is not load_schema()          # a fresh copy: callers may change theirs


def test_verdict_enums_are_the_models_values():
    defs = load_schema()["$defs"]
    assert defs["free_threading"]["enum"] == [v.value for v in FreeThreading]
    assert defs["subinterpreters"]["enum"] == [v.value for v in Subinterpreters]
    assert defs["init_style"]["enum"] == [v.value for v in InitStyle]
    assert defs["gil_declaration"]["enum"] == [v.value for v in GilDeclaration]
    assert defs["multiple_interpreters"]["enum"] == [v.value for v in MultipleInterpreters]
    assert defs["severity"]["enum"] == [v.value for v in Severity]
    assert defs["requirement_status"]["enum"] == list(migration.STATUSES)
    # and the module object uses them
    module = defs["module"]["properties"]
    assert {k: module[k]["$ref"] for k in ("init", "gil", "multiple_interpreters", "free_threading",
                                           "subinterpreters")} == {
        "init": "#/$defs/init_style", "gil": "#/$defs/gil_declaration",
        "multiple_interpreters": "#/$defs/multiple_interpreters",
        "free_threading": "#/$defs/free_threading", "subinterpreters": "#/$defs/subinterpreters"}


def test_schema_ships_as_package_data():
    try:
        import tomllib
    except ImportError:                              # 3.10
        import tomli as tomllib
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "schema/*.json" in package_data["auditor"]
    assert (ROOT / "auditor" / "schema" / SCHEMA_FILE).is_file()


# ------------------------------------------------------------------ every command, real input
def test_wheel_document(capsys, tmp_path):
    broken = tmp_path / "broken-1.0-cp314-cp314t-linux_x86_64.whl"
    broken.write_bytes(b"PK\x03\x04 truncated")
    code, doc = run_json(capsys, "wheel", str(require_wheel(LXML_T)), str(require_wheel(PSUTIL_ABI3)),
                         str(broken), "--format", "json")
    assert code == 2
    verdicts = {w["filename"].split("-")[0]: w["verdict"] for w in doc["wheels"]}
    assert verdicts == {"lxml": "fail", "psutil": "pass", "broken": "error"}
    etree = next(m for w in doc["wheels"] for m in w["modules"] if m["name"] == "lxml.etree")
    assert (etree["gil"], etree["multiple_interpreters"], etree["subinterpreters"]) == (
        "used", "undeclared", "not-supported")
    assert_valid(doc, "wheel")


def _site_of(keys: list[str], target: Path) -> Path:
    """Real wheels unpacked as an installer would (RECORD included)."""
    target.mkdir(parents=True)
    for key in keys:
        with zipfile.ZipFile(require_wheel(key)) as wheel:
            wheel.extractall(target)
    return target


def test_env_document(capsys, tmp_path):
    site = _site_of([LXML_T, MARKUPSAFE_T], tmp_path / "site")
    code, doc = run_json(capsys, "env", "--path", str(site), "--target", "3.14t", "--no-pypi", "--no-compat",
                         "--format", "json")
    assert code == 0
    dists = {d["name"].lower(): d for d in doc["distributions"]}
    assert (dists["lxml"]["free_threading"], dists["markupsafe"]["free_threading"]) == ("reenables-gil", "ready")
    assert doc["summary"]["free_threading"]["gil_stays_off"] is False
    assert_valid(doc, "env")


@pytest.mark.network
def test_env_document_with_pypi_offers(capsys, tmp_path):
    site = _site_of(["markupsafe-3.0.4-cp314-manylinux-x86_64"], tmp_path / "site")
    code, doc = run_json(capsys, "env", "--path", str(site), "--target", "3.14", "--ft-target", "3.14",
                         "--no-compat", "--format", "json")
    assert code == 0
    (offer,) = doc["distributions"][0]["ft_offers"]
    assert (offer["target"], offer["pinned_version"], offer["pinned_has_wheel"]) == ("cp314t", "3.0.4", True)
    assert_valid(doc, "env")


def test_requirements_documents(capsys, tmp_path, monkeypatch):
    for expected in sorted(RECORDED.glob("expected-*.json")):     # the golden documents
        assert_valid(json.loads(expected.read_text()), "requirements")
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("lxml==6.1.3\nmarkupsafe>=3\n")
    wheels = {"lxml": [require_wheel(LXML_T)], "markupsafe": [require_wheel(MARKUPSAFE_T)]}
    with RecordedIndex(wheels, ranges=True) as index:
        code, doc = run_json(capsys, "requirements", str(reqs), "--target", "3.14t",
                             "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux_2_28_x86_64",
                             "--index-url", index.url, "--format", "json", "--no-compat")
    assert code == 1
    lxml = next(p for p in doc["packages"] if p["name"] == "lxml")
    assert (lxml["status"], lxml["free_threading"], len(lxml["modules"])) == ("ft-wheel", "reenables-gil", 7)
    assert set(lxml["platforms"]) == {"manylinux_2_17_x86_64", "manylinux_2_28_x86_64"}
    assert_valid(doc, "requirements")


def test_source_documents(capsys):
    code, clean = run_json(capsys, "source", "--no-config", "--format", "json", str(ROOT / "ext"))
    assert (code, clean["findings"], clean["errors"]) == (0, [], [])
    assert clean["files_checked"] >= 2
    assert_valid(clean, "source")
    code, doc = run_json(capsys, "source", "--no-config", "--format", "json", str(ROOT / "tests" / "fixtures" / "source"))
    assert code == 1
    assert {"FTS201", "FTS301"} <= {f["rule"] for f in doc["findings"]}
    assert any(e["checked"] is False for e in doc["errors"])          # broken.pyx
    assert_valid(doc, "source")


def test_data_documents(capsys):
    assert main(["data", "refresh", "--no-census", "--from-file", f"tracking={EXCERPTS / 'tracking.md'}",
                 "--from-file", f"wheels={EXCERPTS / 'results.json'}"]) == 0
    capsys.readouterr()
    code, lxml = run_json(capsys, "data", "show", "lxml", "--version", "6.1.3", "--format", "json")
    assert code == 0
    assert lxml["record"]["census"]["deep"][0]["free_threading"] == "reenables-gil"
    assert_valid(lxml, "data_show")
    code, zstd = run_json(capsys, "data", "show", "zstandard", "--format", "json")
    assert code == 0 and zstd["record"]["tracker"]["status"] == "released" and zstd["record"]["wheels_list"]
    assert_valid(zstd, "data_show")
    code, diff = run_json(capsys, "data", "diff", "--format", "json")
    assert code == 1 and diff["disagreements"]
    assert_valid(diff, "data_diff")


# ------------------------------------------------------------------ what the schema rejects, and allows
@pytest.fixture(scope="module")
def wheel_doc() -> dict:
    """What `ft-audit wheel --format json` writes for the real lxml cp314t wheel."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["wheel", str(require_wheel(LXML_T)), "--format", "json"]) == 1
    return json.loads(out.getvalue())


def test_a_wrong_verdict_value_fails(wheel_doc):
    assert schema_errors(wheel_doc) == []
    doc = copy.deepcopy(wheel_doc)
    doc["wheels"][0]["modules"][0]["free_threading"] = "maybe"
    expected = ["wheels/0/modules/0/free_threading: 'maybe' is not one of "
                "['ready', 'reenables-gil', 'not-built-for-ft', 'unknown']"]
    assert schema_errors(doc, "wheel") == expected
    assert schema_errors(doc) == expected                 # the general schema finds the wheel document too
    doc = copy.deepcopy(wheel_doc)
    doc["wheels"][0]["modules"][0]["multiple_interpreters"] = "own-gil"   # a verdict is not a declaration
    assert len(schema_errors(doc, "wheel")) == 1


def test_the_core_is_strict(wheel_doc):
    wrong_id = dict(wheel_doc, schema="ft-audit/2")
    assert schema_errors(wrong_id, "wheel") == ["schema: 'ft-audit/1' was expected"]
    assert schema_errors({"schema": SCHEMA}) == [     # no command's document
        "<root>: {'schema': 'ft-audit/1'} is not valid under any of the given schemas"]
    doc = copy.deepcopy(wheel_doc)
    del doc["wheels"][0]["modules"][0]["gil"]
    assert schema_errors(doc, "wheel") == ["wheels/0/modules/0: 'gil' is a required property"]


def test_evolving_objects_stay_open(wheel_doc):
    doc = copy.deepcopy(wheel_doc)
    doc["wheels"][0]["modules"][0]["new_fact"] = {"anything": 1}
    doc["extra_top_level_section"] = []
    assert schema_errors(doc, "wheel") == []
