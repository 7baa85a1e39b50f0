"""The finding-code table (auditor/finding_codes.json) against the README and the code that
raises findings: one table, so the documentation, the severities and the fix links cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditor import envaudit, finding_codes, wheel_gate
from auditor.finding_codes import Family, UnknownFindingCode, all_codes, codes_of, finding_code
from auditor.lint.findings import FileResult, LintReport, SourceFinding
from auditor.report import sarif, source_text

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# A documented code: `| <a id="ANCHOR"></a>`ID` | cell | cell ... |`
ROW = re.compile(r'^\| <a id="(?P<anchor>[^"]+)"></a>`(?P<id>FT[WESC]\d{3})` \| (?P<cells>.*) \|$', re.M)


def _rows() -> dict[str, tuple[str, list[str]]]:
    rows: dict[str, tuple[str, list[str]]] = {}
    for m in ROW.finditer(README):
        assert m["id"] not in rows, f"{m['id']} is documented twice"
        rows[m["id"]] = (m["anchor"], m["cells"].split(" | "))
    return rows


def _meaning(text: str) -> str:
    """The words of a title: the README wraps API names in code spans and starts rule titles
    lower-case inside its table."""
    text = text.replace("`", "")
    return text[:1].lower() + text[1:]


def _documented_severity(code: finding_codes.FindingCode) -> str:
    if code.gil_interpreter_severity:
        return f"{code.severity} ({code.gil_interpreter_severity} on a GIL interpreter)"
    return code.severity


def test_every_code_is_documented_in_the_readme_with_its_anchor_severity_and_meaning():
    rows = _rows()
    for code in all_codes().values():
        assert code.id in rows, f"{code.id} has no README row"
        anchor, cells = rows[code.id]
        assert anchor == code.anchor, code.id
        if code.family in (Family.WHEEL, Family.CONFIG):
            severity, meaning = cells
        elif code.family is Family.ENV:
            severity, fail_on, meaning = cells
            assert fail_on == code.fail_on, code.id
        else:
            severity, meaning, _why, _fix, since = cells
            assert since == (code.since or "–"), code.id  # noqa: RUF001 - the README table's en dash for "none"
        assert severity == _documented_severity(code), code.id
        assert _meaning(meaning) == _meaning(code.title), code.id


def test_no_code_the_readme_names_is_missing_from_the_table():
    named = set(re.findall(r"\bFT[WESC]\d{3}\b", README))
    assert named, "the README names no finding code"
    assert named - set(all_codes()) == set()
    assert set(_rows()) == set(all_codes())


def test_every_code_named_in_auditor_sources_is_in_the_table():
    named: dict[str, str] = {}
    for path in (ROOT / "auditor").rglob("*.py"):
        for code in re.findall(r"\bFT[WESC]\d{3}\b", path.read_text(encoding="utf-8")):
            named.setdefault(code, str(path.relative_to(ROOT)))
    assert {c: where for c, where in named.items() if c not in all_codes()} == {}


def test_codes_belong_to_the_family_their_prefix_names():
    assert [c.id[:3] for c in codes_of(Family.WHEEL)] == ["FTW"] * 27
    assert [c.id[:3] for c in codes_of(Family.ENV)] == ["FTE"] * 11
    assert {c.id[:3] for c in codes_of(Family.SOURCE)} == {"FTS"}


def test_an_unknown_code_fails_loudly_where_a_finding_is_raised():
    with pytest.raises(UnknownFindingCode, match="FTW999"):
        finding_code("FTW999")
    with pytest.raises(UnknownFindingCode):
        wheel_gate.finding("FTW999", "anything")
    with pytest.raises(UnknownFindingCode):
        envaudit.env_finding("FTE999", "anything")


def test_severities_come_from_the_table():
    assert wheel_gate.finding("FTW402", "m").severity == "info"
    assert wheel_gate.finding("FTW105", "m", severity="warning").severity == "warning"
    assert envaudit.env_finding("FTE202", "m").severity == "warning"
    assert envaudit.env_finding("FTE102", "m").severity == "error"
    assert envaudit.env_finding("FTE102", "m", free_threaded=False).severity == "info"
    assert envaudit.env_finding("FTE101", "m", free_threaded=False).severity == "error"


def test_env_fail_on_tokens_are_the_tables():
    assert envaudit.FAIL_ON_TOKENS == tuple(sorted(c.fail_on for c in codes_of(Family.ENV)))
    assert finding_code("FTE302").fail_on == "tracker-disagreement"
    assert len(set(envaudit.FAIL_ON_TOKENS)) == 11


def test_wheel_verdict_follows_the_tables_could_not_check():
    assert {c.id for c in codes_of(Family.WHEEL) if c.could_not_check} == {
        "FTW001", "FTW002", "FTW003", "FTW004", "FTW005"}
    assert wheel_gate.verdict_of([wheel_gate.finding("FTW004", "m")]) == "error"
    assert wheel_gate.verdict_of([wheel_gate.finding("FTW310", "m")]) == "fail"
    assert wheel_gate.verdict_of([wheel_gate.finding("FTW311", "m")]) == "pass"


def test_sarif_rules_for_source_are_the_source_family_in_table_order():
    doc = sarif.to_sarif(LintReport(files=(FileResult("m.c"),)))
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [c.id for c in codes_of(Family.SOURCE)]
    fts201 = rules[[r["id"] for r in rules].index("FTS201")]
    assert fts201["help"]["text"].endswith("Docs: https://pypi.org/project/ft-audit/#fts201")
    assert fts201["properties"] == {"since": "3.13", "anchor": "fts201"}


def test_the_sarif_rule_builder_takes_wheel_and_env_codes():
    ftw310 = sarif.reporting_descriptor(finding_code("FTW310"))
    assert ftw310["id"] == "FTW310"
    assert ftw310["defaultConfiguration"] == {"level": "error"}
    assert ftw310["fullDescription"]["text"] == finding_code("FTW310").title
    assert ftw310["help"]["text"] == "Docs: https://pypi.org/project/ft-audit/#ftw310"
    assert sarif.reporting_descriptor(finding_code("FTW402"))["defaultConfiguration"] == {"level": "note"}
    assert sarif.reporting_descriptor(finding_code("FTE202"))["defaultConfiguration"] == {"level": "warning"}


def test_fix_links_point_at_the_readme_as_pypi_publishes_it():
    # The README is the project's long description (pyproject `readme`), so PyPI's project page
    # is its published copy; the anchors are the explicit `<a id>` of the tables (held to the
    # README above), which PyPI's readme_renderer keeps as written (checked with 46.0).
    from auditor.config import _toml_loader

    project = _toml_loader().loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["readme"] == "README.md"
    assert finding_codes.documentation() == f"https://pypi.org/project/{project['name']}/"
    assert finding_code("FTS201").docs == "https://pypi.org/project/ft-audit/#fts201"


def test_fix_links_follow_the_tables_documentation(monkeypatch):
    monkeypatch.setattr(finding_codes, "documentation", lambda: "https://ft-audit.example/docs/")
    assert finding_code("FTS201").docs == "https://ft-audit.example/docs/#fts201"
    assert sarif.reporting_descriptor(finding_code("FTS201"))["help"]["text"].endswith(
        "Docs: https://ft-audit.example/docs/#fts201")
    finding = SourceFinding("FTS201", "m.c", 3, 5, "PyList_GetItem borrows", "PyList_GetItemRef", "warning")
    text = source_text.render(LintReport(files=(FileResult("m.c", findings=(finding,)),)))
    assert "\n    see https://ft-audit.example/docs/#fts201\n" in text


@pytest.mark.parametrize("entry, problem", [
    ({"id": "FTE101"}, "a wheel code is FTW and three digits"),
    ({"id": "FTW02"}, "a wheel code is FTW and three digits"),
    ({"severity": "fatal"}, "severity must be one of"),
    ({"title": ""}, "needs a title and an anchor"),
    ({"fail_on": "orphan"}, "--fail-on token 'orphan' already selects another code"),
    ({"id": "FTW001"}, "listed twice"),
])
def test_malformed_table_entries_are_refused(monkeypatch, entry, problem):
    first = {"id": "FTW001", "family": "wheel", "severity": "error", "title": "t", "anchor": "ftw001",
             "fail_on": "orphan"}
    second = {**first, "id": "FTW002", "anchor": "ftw002", "fail_on": None, **entry}
    monkeypatch.setattr(finding_codes, "_document", lambda: {"documentation": "README.md", "codes": [first, second]})
    all_codes.cache_clear()
    try:
        with pytest.raises(ValueError, match=re.escape(problem)):
            all_codes()
        second.update(id="FTW002", severity="error", title="t", fail_on=None)
        all_codes.cache_clear()
        assert list(all_codes()) == ["FTW001", "FTW002"]
    finally:
        all_codes.cache_clear()
