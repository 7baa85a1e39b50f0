"""Bad input for `ft-audit requirements`: broken lines, unknown projects, an index answering
500 / garbage / too slowly. Each is reported with where it came from, the rest is still
audited, and the run is marked incomplete (exit 2), never clean."""

from __future__ import annotations

import json

import pytest

from auditor.audit.requirements import audit_requirements
from auditor.cli import main
from auditor.commands.requirements import exit_code
from auditor.http import HttpClient
from auditor.pypi import PyPIClient
from tests.requirements_server import RecordedIndex


@pytest.fixture()
def index(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    with RecordedIndex() as served:
        yield served


def audit(index, tmp_path, text: str, **kw):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(text)
    client = PyPIClient(index.url, None, http=HttpClient(retries=0, timeout=0.5))
    # The recording holds no wheels: binary verdicts from the census only (download=False).
    return audit_requirements([reqs], python="3.14t", platforms=["manylinux_2_28_x86_64"], client=client,
                              use_compat=False, download=False, **kw).to_json()


def test_index_failures_are_incomplete_with_their_origin(index, tmp_path):
    doc = audit(index, tmp_path, "msgpack>=1\nhttp-500\ngarbage-json\nnot-a-page\nslow\nnope-not-here\n")
    assert [p["name"] for p in doc["packages"]] == ["msgpack"]          # the good line is still audited
    assert doc["packages"][0]["status"] == "ft-wheel"
    problems = {i["where"].rsplit(":", 1)[1]: i["reason"] for i in doc["incomplete"]}
    assert "HTTP 500" in problems["2"]
    assert "invalid JSON" in problems["3"]
    assert "not a PEP 691 project page" in problems["4"]
    assert "ReadTimeout" in problems["5"] or "timed out" in problems["5"]
    assert "no project named 'nope-not-here'" in problems["6"]
    assert exit_code(doc, frozenset()) == 2


def test_malformed_lines_through_the_cli(index, tmp_path, capsys):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("msgpack>=1\nthis is not a requirement!\n--frobnicate\n")
    code = main(["requirements", str(reqs), "--target", "3.14t", "--platform", "manylinux_2_28_x86_64",
                 "--index-url", index.url, "--format", "json", "--no-compat"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == 2
    assert [p["name"] for p in doc["packages"]] == ["msgpack"]
    assert f"{reqs}:2: invalid requirement" in err and f"{reqs}:3: unknown option --frobnicate" in err
    assert "Traceback" not in err


def test_usage_errors_are_one_line(index, tmp_path, capsys):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("msgpack\n")
    for argv, message in ((["--target", "3.12t"], "3.12 has no free-threaded build"),
                          (["--target", "banana"], "expected a CPython version"),
                          (["--platform", "amiga_68k"], "--platform amiga_68k: not a wheel platform tag"),
                          (["--platform", "linux_x86_64"], "--platform linux_x86_64: PyPI accepts no linux_* wheels"),
                          (["--platform", "manylinux_x86_64"], "--platform manylinux_x86_64: a manylinux tag names"),
                          (["--fail-on", "oops"], "unknown value(s) oops")):
        code = main(["requirements", str(reqs), "--index-url", index.url, *argv])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
        assert err.startswith("ft-audit: error: ")


def test_nothing_to_check_is_not_clean(index, tmp_path):
    doc = audit(index, tmp_path, "# only comments\n")
    assert doc["packages"] == [] and doc["incomplete"]
    assert exit_code(doc, frozenset()) == 2


def test_every_requirement_excluded_by_markers_is_said(index, tmp_path):
    doc = audit(index, tmp_path, "pywin32; sys_platform == 'win32'\n")
    assert doc["packages"] == []
    assert doc["skipped"][0]["reason"].endswith("marker excludes 3.14t on manylinux_2_28_x86_64")
    assert "every requirement is excluded by its markers" in doc["incomplete"][0]["reason"]
    assert exit_code(doc, frozenset()) == 2


def test_dash_r_takes_a_requirements_file_like_pip(tmp_path, capsys):
    """`ft-audit requirements -r FILE` (the documented spelling) reads FILE: a broken line is
    reported with file:line and the run exits 2 without touching the network."""
    from auditor.cli import main

    bad = tmp_path / "requirements.txt"
    bad.write_text("numpy===\n")
    code = main(["--cache-dir", str(tmp_path / "cache"), "requirements", "-r", str(bad),
                 "--target", "3.14t", "--platform", "manylinux_2_28_x86_64", "--offline", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 2
    assert f"{bad}:1: invalid requirement 'numpy==='" in captured.err
    import json

    doc = json.loads(captured.out)
    assert doc["inputs"] == [str(bad)]
    assert doc["incomplete"][0]["where"] == f"{bad}:1"


def test_no_input_is_a_usage_error(capsys):
    from auditor.cli import main

    assert main(["requirements", "--target", "3.14t"]) == 2
    assert "nothing to check" in capsys.readouterr().err


def test_a_version_no_release_has_is_named_and_the_rest_is_resolved(index, tmp_path, capsys):
    """`bcrypt==99.0.0` matches no release at all: that used to make the whole resolution
    "no consistent set of versions" and list only the other pins, unresolved. Now the missing
    version is named on its own line and everything else is resolved and audited (exit 2)."""
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("requests[socks]>=2.31\nbcrypt==99.0.0\nmsgpack>=99\n")
    code = main(["requirements", str(reqs), "--target", "3.14t", "--platform", "manylinux_2_28_x86_64",
                 "--index-url", index.url, "--format", "json", "--no-compat", "--no-download"])
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert code == 2
    assert doc["incomplete"] == [
        {"where": f"{reqs}:2", "reason": "bcrypt has no release 99.0.0; newest 5.0.0"},
        {"where": f"{reqs}:3", "reason": "msgpack has no release matching >=99; newest 1.2.4"}]
    # requests is resolved with its dependencies, not just listed as a pin.
    assert sorted(p["name"] for p in doc["packages"]) == [
        "certifi", "charset-normalizer", "idna", "pysocks", "requests", "urllib3"]
    assert {p["name"]: p["requested_by"] for p in doc["packages"]}["pysocks"] == ["requests 2.34.2"]
    assert err.splitlines() == [f"ft-audit: error: {reqs}:2: bcrypt has no release 99.0.0; newest 5.0.0",
                                f"ft-audit: error: {reqs}:3: msgpack has no release matching >=99; newest 1.2.4"]


def test_no_release_reason_is_only_for_specifiers_no_release_meets():
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from auditor.resolve import no_release_reason

    versions = [Version(v) for v in ("1.0", "2.0", "3.0rc1")]
    assert no_release_reason("x", SpecifierSet("==2.0"), versions) is None
    assert no_release_reason("x", SpecifierSet(">=2.5"), versions) is None        # the pre-release meets it
    assert no_release_reason("x", SpecifierSet("==9.9"), versions) == "x has no release 9.9; newest 2.0"
    assert no_release_reason("x", SpecifierSet("==9.*"), versions) == "x has no release matching ==9.*; newest 2.0"
    assert no_release_reason("x", SpecifierSet("==1"), []) == "x has no release 1; it lists no releases"
