"""`ft-audit requirements --skip-editable` (pip-audit's name): editable, VCS, URL and local-path
requirements cannot be looked up on an index. Without the flag they make the run incomplete
(exit 2) and the error says how to skip them; with it they are listed under "skipped" with
their line and reason, and the exit code comes from the rest."""

from __future__ import annotations

import json

import pytest

from auditor.cli import main
from tests.requirements_server import RecordedIndex

LINES = ("-e .\n"
         "git+https://github.com/example/project.git@v1#egg=project\n"
         "./vendor/localpkg\n"
         "thing @ https://example.com/thing-1.0-py3-none-any.whl\n"
         "bcrypt==4.1.2\n"
         "typing-extensions\n")


@pytest.fixture()
def index(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    with RecordedIndex() as served:
        yield served


def run(index, tmp_path, capsys, text: str, *flags: str) -> tuple[int, dict, str]:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(text)
    code = main(["requirements", str(reqs), "--target", "3.14t", "--platform", "manylinux_2_28_x86_64",
                 "--index-url", index.url, "--format", "json", "--no-compat", *flags])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_without_the_flag_they_are_incomplete_and_the_error_names_it(index, tmp_path, capsys):
    code, doc, err = run(index, tmp_path, capsys, LINES)
    reqs = tmp_path / "requirements.txt"
    assert code == 2
    assert [i["where"] for i in doc["incomplete"]] == [f"{reqs}:{n}" for n in (1, 2, 3, 4)]
    assert doc["incomplete"][0]["reason"] == ("cannot check -e .: editable install (.): not on an index "
                                              "(--skip-editable skips such requirements)")
    lines = err.splitlines()
    assert len(lines) == 4 and all(line.startswith("ft-audit: error: ") and "--skip-editable" in line for line in lines)


def test_with_the_flag_they_are_skipped_and_the_rest_decides_the_exit_code(index, tmp_path, capsys):
    code, doc, err = run(index, tmp_path, capsys, LINES, "--skip-editable")
    reqs = tmp_path / "requirements.txt"
    assert doc["incomplete"] == [] and err == ""
    assert doc["skipped"] == [
        {"where": f"{reqs}:1", "reason": "-e .: editable install (.): not on an index (--skip-editable)"},
        {"where": f"{reqs}:2", "reason": "git+https://github.com/example/project.git@v1#egg=project: "
                                         "URL, VCS or local path: not on an index (--skip-editable)"},
        {"where": f"{reqs}:3", "reason": "./vendor/localpkg: URL, VCS or local path: not on an index (--skip-editable)"},
        {"where": f"{reqs}:4", "reason": "thing @ https://example.com/thing-1.0-py3-none-any.whl: direct reference "
                                         "(https://example.com/thing-1.0-py3-none-any.whl): not on an index "
                                         "(--skip-editable)"}]
    assert {p["name"]: p["status"] for p in doc["packages"]} == {"bcrypt": "abi3-only", "typing-extensions": "pure-python"}
    assert code == 1                                   # abi3-only is in the default --fail-on
    code, _, _ = run(index, tmp_path, capsys, LINES, "--skip-editable", "--fail-on", "sdist-only")
    assert code == 0


def test_skipped_lines_are_shown_in_text(index, tmp_path, capsys):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("-e .\ntyping-extensions\n")
    main(["requirements", str(reqs), "--target", "3.14t", "--platform", "manylinux_2_28_x86_64",
          "--index-url", index.url, "--no-compat", "--skip-editable"])
    text = capsys.readouterr().out
    assert f"  skipped {reqs}:1: -e .: editable install (.): not on an index (--skip-editable)\n" in text


def test_only_skipped_lines_is_still_not_clean(index, tmp_path, capsys):
    code, doc, _err = run(index, tmp_path, capsys, "-e .\n", "--skip-editable")
    assert code == 2
    assert doc["incomplete"][0]["reason"] == "no requirement to check (1 skipped by --skip-editable)"
    assert len(doc["skipped"]) == 1
