"""The GitHub Action: its logic (auditor/ci/github.py) on a fixture dist folder of pinned wheels
(markupsafe cp314t passes, lxml cp314t fails: its modules re-enable the GIL), with
GITHUB_STEP_SUMMARY and GITHUB_OUTPUT pointing at temporary files; and action.yml itself: its
structure, and its audit and verdict steps run with bash as the runner would run them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.ci import github
from tests.support.sarif import validate_sarif
from tests.support.unavailable import skip_or_fail
from tests.support.wheels import require_wheel

REPO = Path(__file__).resolve().parent.parent
ACTION = REPO / "action.yml"
LXML_T = "lxml-6.1.3-cp314t-manylinux-x86_64"
MARKUPSAFE_T = "markupsafe-3.0.4-cp314t-manylinux-x86_64"
LXML_FILE = "lxml-6.1.3-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
MARKUPSAFE_FILE = "markupsafe-3.0.4-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl"


@pytest.fixture()
def workspace(tmp_path, monkeypatch) -> Path:
    """A job's workspace: dist/ with the two wheels, empty summary and output files."""
    (tmp_path / "dist").mkdir()
    for key in (LXML_T, MARKUPSAFE_T):
        source = require_wheel(key)
        shutil.copy(source, tmp_path / "dist" / source.name)
    (tmp_path / "summary.md").write_text("earlier step\n")
    (tmp_path / "output.txt").write_text("")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _env(workspace: Path) -> dict[str, str]:
    return {"GITHUB_STEP_SUMMARY": str(workspace / "summary.md"), "GITHUB_OUTPUT": str(workspace / "output.txt")}


def _outputs(workspace: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (workspace / "output.txt").read_text().splitlines())


def test_fixture_dist_fails_with_summary_sarif_and_outputs(workspace, capsys):
    pytest.importorskip("jsonschema")
    code = github.main(["--path", "dist", "--require-ft", "3.14"], _env(workspace))
    assert code == 1
    summary = (workspace / "summary.md").read_text()
    assert summary.startswith("earlier step\n# ft-audit wheel\n")          # appended, not replaced
    assert "2 wheels, 8 extension modules: 1 pass, 1 fail, 0 could not be checked" in summary
    assert f"| `{LXML_FILE}` | **fail** | 7 | 0 | 7 |" in summary
    assert f"| `{MARKUPSAFE_FILE}` | **pass** | 0 | 0 | 1 |" in summary
    assert "| FTW310 | error | lxml.etree |" in summary
    sarif = json.loads((workspace / "ft-audit.sarif").read_text())
    validate_sarif(sarif)
    results = sarif["runs"][0]["results"]
    assert sorted({(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in results}) == [
        ("FTW310", f"dist/{LXML_FILE}"), ("FTW402", f"dist/{MARKUPSAFE_FILE}")]
    assert sum(r["ruleId"] == "FTW310" for r in results) == 7
    assert _outputs(workspace) == {"exit-code": "1", "sarif-file": "ft-audit.sarif"}
    log = capsys.readouterr().out
    assert log.startswith(f"FAIL  {LXML_FILE}\n")                          # text in the job log
    assert log.endswith("2 wheels, 8 extension modules: 1 pass, 1 fail, 0 could not be checked\n")


def test_passing_wheel_alone_exits_0(workspace, capsys):
    code = github.main(["--path", f"dist/{MARKUPSAFE_FILE}", "--format", "json", "--sarif-file", "out/x.sarif"],
                       _env(workspace))
    assert code == 0
    assert json.loads(capsys.readouterr().out)["wheels"][0]["verdict"] == "pass"
    assert _outputs(workspace)["exit-code"] == "0"
    assert json.loads((workspace / "out" / "x.sarif").read_text())["runs"][0]["results"][0]["ruleId"] == "FTW402"


@pytest.mark.parametrize(("fail_on", "ignore", "expected"), [
    ("never", "", 0),            # findings do not fail the step
    ("error", "FTW310", 0),      # the only error-severity code, ignored
    ("warning", "FTW310", 0),    # what is left is info (FTW402), not a warning
])
def test_fail_on_and_ignore(workspace, capsys, fail_on, ignore, expected):
    assert github.main(["--fail-on", fail_on, "--ignore", ignore, "--sarif-file", ""], _env(workspace)) == expected
    assert not (workspace / "ft-audit.sarif").exists()                    # empty sarif-file: none written


def test_fail_on_warning_fails_on_a_warning(workspace, capsys):
    """FTW311 is a warning; no pinned wheel yields one on its own, so step_exit_code is asked with
    the lxml report whose FTW310 findings are relabelled: the rule reads severities, not codes."""
    from dataclasses import replace

    reports, _ = github.audit(["dist"], require_ft="", ignore="")
    warned = [replace(r, findings=tuple(replace(f, severity="warning") for f in r.findings), verdict="pass")
              for r in reports]
    assert github.step_exit_code(warned, "error") == 0
    assert github.step_exit_code(warned, "warning") == 1
    assert github.step_exit_code(warned, "never") == 0


def test_nothing_to_audit_is_2_even_with_fail_on_never(workspace, capsys):
    code = github.main(["--path", "no-such-dir", "--fail-on", "never"], _env(workspace))
    assert code == 2
    assert "ft-audit: error: no-such-dir: no such file or folder" in capsys.readouterr().err
    assert _outputs(workspace)["exit-code"] == "2"


def test_bad_input_is_one_line_and_exit_2(workspace, capsys):
    assert github.main(["--require-ft", "2.7"], _env(workspace)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ft-audit: error: --require-ft: ")
    assert _outputs(workspace) == {"exit-code": "2"}


def test_summary_is_cut_to_fit_githubs_limit(monkeypatch, workspace):
    monkeypatch.setattr(github, "SUMMARY_LIMIT", 600)
    reports, _ = github.audit(["dist"], require_ft="", ignore="")
    text = github.summary_markdown(reports)
    assert len(text.encode()) < 700
    assert text.endswith("*(cut to fit the step summary: see the SARIF file or the job log)*\n")


# -- action.yml ---------------------------------------------------------------------------

def _action() -> dict:
    try:
        import yaml
    except ImportError:
        skip_or_fail("PyYAML is not installed (pre-commit, in the test extra, brings it)")
    return yaml.safe_load(ACTION.read_text())


def test_action_yml_structure():
    action = _action()
    assert action["runs"]["using"] == "composite"
    inputs = action["inputs"]
    assert {k: v.get("default") for k, v in inputs.items()} == {
        "path": "dist", "require-ft": "", "fail-on": "error", "ignore": "", "format": "text",
        "sarif-file": "ft-audit.sarif", "upload-sarif": "false", "python-version": ""}
    assert all(v.get("description") for v in inputs.values())
    # the choices the action documents are the module's
    assert set(re.findall(r"\b(error|warning|never)\b", inputs["fail-on"]["description"])) == set(github.FAIL_ON)
    assert set(re.findall(r"\b(text|json|markdown|sarif)\b", inputs["format"]["description"])) == set(github.FORMATS)
    steps = action["runs"]["steps"]
    assert [s["name"] for s in steps] == ["Set up Python", "Install ft-audit", "Audit wheels",
                                          "Upload SARIF to code scanning", "Verdict"]
    for step in steps:                       # a composite run step must name its shell
        assert ("uses" in step) != ("run" in step)
        assert "run" not in step or step["shell"] == "bash"
        # inputs reach scripts through env only: an input pasted into a script could inject shell
        assert "${{" not in step.get("run", "")
    assert steps[0]["uses"].startswith("actions/setup-python@") and steps[0]["if"] == "inputs.python-version != ''"
    assert steps[1]["env"] == {"FT_AUDIT_SOURCE": "${{ github.action_path }}"}
    assert steps[2]["id"] == "audit" and "python -m auditor.ci.github" in steps[2]["run"]
    assert steps[3]["uses"].startswith("github/codeql-action/upload-sarif@")
    assert "inputs.upload-sarif == 'true'" in steps[3]["if"]
    assert steps[3]["with"]["sarif_file"] == "${{ inputs.sarif-file }}"
    assert action["outputs"]["exit-code"]["value"] == "${{ steps.audit.outputs.exit-code }}"
    # every flag the audit step passes is one the module accepts
    flags = set(re.findall(r"(--[a-z-]+)", steps[2]["run"]))
    known = {o for a in github.build_parser()._actions for o in a.option_strings}
    assert flags <= known and len(flags) == 6


def _expand(value: str, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    """The few expressions action.yml uses, as the runner evaluates them."""
    def one(match: re.Match) -> str:
        expr = match.group(1).strip()
        if expr.startswith("inputs."):
            return inputs[expr[len("inputs."):]]
        if expr == "github.action_path":
            return str(REPO)
        found = re.fullmatch(r"steps\.audit\.outputs\.([\w-]+) \|\| '(\w+)'", expr)
        if found:
            return outputs.get(found.group(1)) or found.group(2)
        raise AssertionError(f"unexpected expression {expr}")
    return re.sub(r"\$\{\{(.*?)\}\}", one, value)


def _run_step(step: dict, inputs: dict[str, str], outputs: dict[str, str], workspace: Path) -> int:
    env = {**os.environ, **_env(workspace), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           **{k: _expand(v, inputs, outputs) for k, v in step.get("env", {}).items()}}
    # GitHub runs `shell: bash` as `bash --noprofile --norc -eo pipefail {0}`
    script = workspace / "step.sh"
    script.write_text(step["run"])
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], check=False, cwd=workspace,
                          env=env, capture_output=True, text=True, timeout=300).returncode


@pytest.mark.parametrize(("overrides", "expected"), [({}, "1"), ({"fail-on": "never"}, "0"),
                                                     ({"path": "missing"}, "2")])
def test_action_steps_run_as_the_runner_runs_them(workspace, overrides, expected):
    """The audit step never fails (so the upload can run); the verdict step fails the job with
    the exit code the audit step recorded."""
    action = _action()
    inputs = {k: v.get("default", "") for k, v in action["inputs"].items()} | overrides
    steps = {s["name"]: s for s in action["runs"]["steps"]}
    assert _run_step(steps["Audit wheels"], inputs, {}, workspace) == 0
    outputs = _outputs(workspace)
    assert outputs["exit-code"] == expected
    sarif = json.loads((workspace / "ft-audit.sarif").read_text())   # written even when a path is missing
    assert sarif["runs"][0]["invocations"][0]["executionSuccessful"] is (expected != "2")
    assert "# ft-audit wheel" in (workspace / "summary.md").read_text()
    assert _run_step(steps["Verdict"], inputs, outputs, workspace) == int(expected)
    # a crash before the module wrote its exit code still fails the job: the fallback is 2
    assert _run_step(steps["Verdict"], inputs, {}, workspace) == 2
