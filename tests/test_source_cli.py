"""`ft-audit source` end to end: formats, SARIF schema validity, config, suppression, exit
codes, and bad input (undecodable, binary, generated, huge, deeply nested)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.lint.engine import LintOptions, lint_paths

FIXTURES = Path(__file__).parent / "fixtures" / "source"
SCHEMA = FIXTURES / "sarif-schema-2.1.0.json"


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["source", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_text_output_is_file_line_col(capsys):
    code, out, _ = run_cli(capsys, "--no-config", str(FIXTURES / "single_phase.c"))
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith(f"{FIXTURES / 'single_phase.c'}:8:1: FTS302 PyInit_sp creates a single-phase module")
    assert "fix: Call PyUnstable_Module_SetGIL" in out and "(since 3.13)" in out
    assert "\n    see https://pypi.org/project/ft-audit/#fts302\n" in out


def test_json_contract(capsys):
    code, out, _ = run_cli(capsys, "--no-config", "--format", "json", str(FIXTURES / "borrowed.c"),
                           str(FIXTURES / "nonexistent.c"))
    doc = json.loads(out)
    assert code == 1
    assert doc["schema"] == "ft-audit/1"
    assert list(doc["findings"][0]) == ["rule", "path", "line", "column", "message", "fix", "severity"]
    assert doc["findings"][0]["rule"] == "FTS201" and doc["findings"][0]["line"] == 4
    assert doc["errors"] == [{"path": str(FIXTURES / "nonexistent.c"), "line": None,
                              "message": "no such file or directory", "checked": False}]
    assert doc["files_checked"] == 1 and doc["files_unchecked"] == 1


def test_sarif_is_valid_against_the_oasis_schema(capsys, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    out_file = tmp_path / "r.sarif"
    code, _, _ = run_cli(capsys, "--no-config", "--format", "sarif", "-o", str(out_file),
                         str(FIXTURES / "regions.c"), str(FIXTURES / "isolation.c"),
                         str(FIXTURES / "missing.c"))
    assert code == 1
    doc = json.loads(out_file.read_text())
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft4Validator(schema).validate(doc)
    run = doc["runs"][0]
    assert doc["version"] == "2.1.0"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]][:3] == ["FTS101", "FTS102", "FTS201"]
    first = next(r for r in run["results"]
                 if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("/regions.c"))
    assert first["ruleId"] == "FTS101"
    assert first["ruleIndex"] == 0 and first["level"] == "error"
    region = first["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (19, 5)
    assert first["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("file:///")
    assert run["invocations"][0]["executionSuccessful"] is False
    assert run["invocations"][0]["toolExecutionNotifications"][0]["level"] == "error"


def test_sarif_relative_paths_are_relative_uris(capsys, tmp_path, monkeypatch):
    jsonschema = pytest.importorskip("jsonschema")
    src = tmp_path / "src dir"
    src.mkdir()
    shutil.copy(FIXTURES / "single_phase.c", src / "sp.c")
    monkeypatch.chdir(tmp_path)
    _code, out, _ = run_cli(capsys, "--no-config", "--format", "sarif", "src dir")
    doc = json.loads(out)
    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(doc)
    uri = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "src%20dir/sp.c"


def test_pyproject_config_ignore_and_exclude(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ft-audit]\nignore = ["FTS201"]\nexclude = ["vendor/**"]\n')
    (tmp_path / "vendor").mkdir()
    shutil.copy(FIXTURES / "single_phase.c", tmp_path / "vendor" / "sp.c")
    shutil.copy(FIXTURES / "borrowed.c", tmp_path / "b.c")
    report = lint_paths([tmp_path])
    rules = {f.rule for f in report.findings}
    assert "FTS201" not in rules and "FTS302" not in rules
    assert {"FTS202", "FTS207"} <= rules
    assert any("pyproject.toml [tool.ft-audit]" in n for n in report.config_notes)
    # --no-config brings both back; --ignore adds to the config
    assert {"FTS201", "FTS302"} <= {f.rule for f in lint_paths([tmp_path], LintOptions(use_config=False)).findings}
    _code, out, _ = run_cli(capsys, "--ignore", "FTS202,FTS207", "--format", "json", str(tmp_path))
    assert not {"FTS201", "FTS202", "FTS207"} & {f["rule"] for f in json.loads(out)["findings"]}


def test_broken_pyproject_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text("[tool.ft-audit\nignore = 1\n")
    shutil.copy(FIXTURES / "borrowed.c", tmp_path / "b.c")
    code, _out, err = run_cli(capsys, str(tmp_path))
    assert code == 2
    assert err.startswith("ft-audit: error: ") and "pyproject.toml: invalid TOML" in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_rule_in_ignore_flag(capsys):
    code, _, err = run_cli(capsys, "--ignore", "FTS999", str(FIXTURES / "borrowed.c"))
    assert code == 2 and "unknown rule ID(s): FTS999" in err


def test_exit_codes(tmp_path, capsys):
    assert run_cli(capsys, "--no-config", str(FIXTURES / "single_phase_ok.c"))[0] == 0
    assert run_cli(capsys, "--no-config", str(FIXTURES / "single_phase.c"))[0] == 1
    assert run_cli(capsys, "--no-config", str(tmp_path))[0] == 2            # nothing to check
    (tmp_path / "notes.txt").write_text("x")
    assert run_cli(capsys, "--no-config", str(tmp_path / "notes.txt"))[0] == 2
    assert run_cli(capsys)[0] == 2


def test_list_rules(capsys):
    code, out, _ = run_cli(capsys, "--list-rules")
    assert code == 0
    assert out.splitlines()[0].startswith("FTS101  error")
    assert len(out.splitlines()) == 23
    assert "FTS304  warning  since 3.13        Unlocked write to a static PyObject * after init" \
        in out.splitlines()


# -- bad input --------------------------------------------------------------------------------

def test_latin1_source_is_checked_with_a_note(tmp_path):
    src = tmp_path / "latin.c"
    src.write_bytes("/* Auteur: Jos\xe9 */\nstatic PyObject *f(PyObject *d) { return PyDict_GetItem(d, d); }\n"
                    .encode("latin-1"))
    report = lint_paths([src], LintOptions(use_config=False))
    assert [(f.line, f.rule) for f in report.findings] == [(2, "FTS202")]
    (note,) = report.diagnostics
    assert note.checked and "not UTF-8 (byte 0xe9 at offset 14)" in note.message


def test_utf16_with_bom_is_decoded(tmp_path):
    src = tmp_path / "wide.c"
    src.write_bytes("static PyObject *f(PyObject *d) { return PyDict_GetItem(d, d); }\n".encode("utf-16"))
    report = lint_paths([src], LintOptions(use_config=False))
    assert [(f.line, f.rule) for f in report.findings] == [(1, "FTS202")]


def test_binary_file_with_c_suffix_is_skipped(tmp_path):
    src = tmp_path / "blob.c"
    src.write_bytes(b"\x7fELF\x00\x00\x01" * 100)
    report = lint_paths([src], LintOptions(use_config=False))
    (diag,) = report.diagnostics
    assert not diag.checked and "binary content" in diag.message


def test_generated_cython_c_is_skipped_in_a_tree_and_reported_when_named(tmp_path):
    gen = tmp_path / "mod.c"
    lines = ["/* Generated by Cython 3.3.1 */"] + [
        f"static PyObject *f{i}(PyObject *d) {{ return PyDict_GetItem(d, d); }}" for i in range(40000)]
    gen.write_text("\n".join(lines))
    assert gen.stat().st_size > 2_000_000
    report = lint_paths([tmp_path], LintOptions(use_config=False))
    assert report.findings == () and any("generated code (Generated by Cython 3.3.1)" in n
                                         for n in report.config_notes)
    named = lint_paths([gen], LintOptions(use_config=False))
    assert named.unchecked_files == 1 and "check the .pyx source instead" in named.diagnostics[0].message


def test_deep_nesting_and_garbage_do_not_crash(tmp_path):
    deep = tmp_path / "deep.c"
    deep.write_text("int f(void) {\n" + "{" * 5000 + "Py_BEGIN_ALLOW_THREADS Py_DECREF(x);"
                    + "}" * 5000 + "\n}\n")
    garbage = tmp_path / "garbage.c"
    garbage.write_text("}}}) ( ]] #if\n#else\n#elif 1\n int x = \"\n'\n/*\n")
    nested_if = tmp_path / "nested_if.c"
    nested_if.write_text("#if A\n" * 3000 + "int x;\n" + "#endif\n" * 3000)
    report = lint_paths([tmp_path], LintOptions(use_config=False))
    paths = {Path(r.path).name: r for r in report.files}
    assert set(paths) == {"deep.c", "garbage.c", "nested_if.c"}
    assert [d.message for d in paths["deep.c"].diagnostics] == [
        "partial: f: nested too deeply to follow; checked without GIL-region tracking"]
    assert [d.message for d in paths["garbage.c"].diagnostics] == [
        "partial: 1 #if group(s) without #endif"]
    assert [(d.checked, d.message) for d in paths["nested_if.c"].diagnostics] == [
        (False, "preprocessor conditionals nested too deeply; skipped")]


def test_cython_missing_is_reported_per_file(tmp_path):
    """Run in a subprocess where importing Cython fails."""
    shutil.copy(FIXTURES / "no_directive.pyx", tmp_path / "a.pyx")
    shutil.copy(FIXTURES / "single_phase.c", tmp_path / "sp.c")
    code = (
        "import sys, builtins\n"
        "real = builtins.__import__\n"
        "def fake(name, *a, **k):\n"
        "    if name.startswith('Cython'): raise ImportError('No module named Cython')\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = fake\n"
        "from auditor.cli import main\n"
        f"sys.exit(main(['source', '--no-config', {str(tmp_path)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent, timeout=120)
    assert proc.returncode == 1          # sp.c still has its finding
    assert "FTS302" in proc.stdout
    assert "ft-audit: error: " in proc.stderr and "a.pyx: not checked: Cython is not importable" in proc.stderr
    assert "not checked" not in proc.stdout     # said once, on stderr
    assert "Traceback" not in proc.stderr


def test_without_a_toml_parser_config_is_skipped_with_a_note(tmp_path, monkeypatch):
    from auditor import config

    monkeypatch.setattr(config, "_toml_loader", lambda: None)
    (tmp_path / "pyproject.toml").write_text('[tool.ft-audit]\nignore = ["FTS202"]\n')
    shutil.copy(FIXTURES / "borrowed.c", tmp_path / "b.c")
    report = lint_paths([tmp_path])
    assert "FTS202" in {f.rule for f in report.findings}
    assert report.config_notes == (f"{tmp_path / 'pyproject.toml'}: not read (no TOML parser on this "
                                   "Python; install tomli)",)


def test_vendored_pythoncapi_compat_is_skipped_in_a_tree(tmp_path):
    (tmp_path / "pythoncapi_compat.h").write_text(
        "static inline PyObject *PySys_GetAttr(PyObject *n) { return PySys_GetObject(n); }\n")
    report = lint_paths([tmp_path], LintOptions(use_config=False))
    assert report.findings == () and "vendored pythoncapi-compat" in report.config_notes[0]
    named = lint_paths([tmp_path / "pythoncapi_compat.h"], LintOptions(use_config=False))
    assert [f.rule for f in named.findings] == ["FTS210"]
