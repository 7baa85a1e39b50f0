"""`ft-audit requirements`: binary verdicts by default, read from the chosen wheels themselves.

The index is local (tests/requirements_server.py) and serves pinned real wheels from PyPI
(tests/support/wheels.py), so the verdicts come from the real binaries: with HTTP range
requests (only the central directory and the extension members are fetched), and by a full
download when the server ignores `Range`.
"""

from __future__ import annotations

import json

import pytest

from auditor.cli import main
from tests.requirements_server import RecordedIndex
from tests.support.wheels import fetch_wheel

LXML_T = "lxml-6.1.3-cp314t-manylinux-x86_64"
MARKUPSAFE_T = "markupsafe-3.0.4-cp314t-manylinux-x86_64"


def _served(tmp_path, monkeypatch, ranges):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    wheels = {"lxml": [fetch_wheel(LXML_T)], "markupsafe": [fetch_wheel(MARKUPSAFE_T)]}
    return RecordedIndex(wheels, ranges=ranges)


@pytest.fixture()
def ranged_index(tmp_path, monkeypatch):
    with _served(tmp_path, monkeypatch, True) as served:
        yield served


@pytest.fixture()
def whole_file_index(tmp_path, monkeypatch):
    with _served(tmp_path, monkeypatch, False) as served:
        yield served


def _audit(capsys, index, reqs, *extra):
    code = main(["requirements", str(reqs), "--target", "3.14t", "--platform", "manylinux_2_17_x86_64",
                 "--index-url", index.url, "--format", "json", "--no-compat", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_default_run_reports_lxml_cp314t_as_reenabling_the_gil_from_range_reads(ranged_index, tmp_path, capsys):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("lxml==6.1.3\nmarkupsafe>=3\n")
    code, doc = _audit(capsys, ranged_index, reqs)          # no --deep: this is the default
    by_name = {p["name"]: p for p in doc["packages"]}
    lxml = by_name["lxml"]
    assert lxml["status"] == "ft-wheel"                     # a cp314t wheel exists ...
    assert lxml["free_threading"] == "reenables-gil"        # ... but its modules declare Py_mod_gil = USED
    assert lxml["subinterpreters"] == "not-supported"
    assert lxml["verdict_source"] == "range-read"
    assert "Py_MOD_GIL_USED" in lxml["evidence"] and "6 more module(s)" in lxml["evidence"]
    assert sorted(m["name"] for m in lxml["modules"]) == [
        "lxml._elementpath", "lxml.builder", "lxml.etree", "lxml.html._difflib", "lxml.html.diff",
        "lxml.objectify", "lxml.sax"]
    assert {m["gil"] for m in lxml["modules"]} == {"used"}
    markupsafe = by_name["markupsafe"]
    assert (markupsafe["free_threading"], markupsafe["subinterpreters"]) == ("ready", "own-gil")
    assert [m["name"] for m in markupsafe["modules"]] == ["markupsafe._speedups"]
    # Only the members were read: less than the wheels' size, and what was read is reported.
    wheel_bytes = fetch_wheel(LXML_T).stat().st_size + fetch_wheel(MARKUPSAFE_T).stat().st_size
    assert 0 < lxml["bytes_read"] + markupsafe["bytes_read"] <= ranged_index.range_bytes < wheel_bytes
    assert not doc["incomplete"]
    assert code == 1                                        # reenables-gil is in the default --fail-on
    # The second run answers from the verdict cache: no wheel bytes are fetched again.
    before = ranged_index.range_bytes
    code, doc = _audit(capsys, ranged_index, reqs)
    assert {p["name"]: p["verdict_source"] for p in doc["packages"]} == {"lxml": "cache", "markupsafe": "cache"}
    assert doc["packages"][0]["free_threading"] == "reenables-gil"
    assert ranged_index.range_bytes - before < 64 * 1024     # METADATA of the resolution only, no modules


def test_text_output_carries_the_binary_evidence(ranged_index, tmp_path, capsys):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("lxml==6.1.3\n")
    code = main(["requirements", str(reqs), "--target", "3.14t", "--platform", "manylinux_2_17_x86_64",
                 "--index-url", ranged_index.url, "--no-compat"])
    out = capsys.readouterr().out
    assert "binary: free-threading: reenables-gil, sub-interpreters: not-supported" in out
    assert "None" not in out
    assert code == 1


def test_a_server_that_ignores_range_falls_back_to_a_cached_download(whole_file_index, tmp_path, capsys):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("lxml==6.1.3\n")
    code, doc = _audit(capsys, whole_file_index, reqs)
    lxml = doc["packages"][0]
    assert (lxml["free_threading"], lxml["verdict_source"]) == ("reenables-gil", "download")
    assert (tmp_path / "cache" / "wheels" / fetch_wheel(LXML_T).name).is_file()
    assert code == 1


def test_a_server_answering_short_ranges_gives_unknown_with_the_reason_never_ready(tmp_path, monkeypatch, capsys):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("markupsafe==3.0.4\n")
    with _served(tmp_path, monkeypatch, "short") as index:
        code, doc = _audit(capsys, index, reqs)
    markupsafe = doc["packages"][0]
    assert markupsafe["free_threading"] == "unknown" and markupsafe["subinterpreters"] == "unknown"
    assert "bytes, expected" in markupsafe["evidence"]
    assert any("bytes, expected" in i["reason"] for i in doc["incomplete"])
    assert code == 2                                        # something could not be checked


def test_no_download_lists_the_missing_verdicts(ranged_index, tmp_path, capsys):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("lxml==6.1.3\n")
    code, doc = _audit(capsys, ranged_index, reqs, "--no-download")
    lxml = doc["packages"][0]
    assert lxml["free_threading"] == "unknown" and lxml["verdict_source"] == "not-read"
    assert lxml["modules"] == []
    assert any("no binary verdict for 1 package(s)" in n and "lxml" in n for n in doc["notes"])
    assert code == 0       # nothing selected by --fail-on was found; the note says what was not read


def test_deep_is_still_accepted(ranged_index, tmp_path, capsys):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("markupsafe==3.0.4\n")
    code, doc = _audit(capsys, ranged_index, reqs, "--deep")
    assert doc["packages"][0]["free_threading"] == "ready"
    assert code == 0


def test_compat_data_is_cross_referenced(ranged_index, tmp_path, capsys):
    pytest.importorskip("auditor.compat.lookup")
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("lxml==6.1.3\n")
    main(["requirements", str(reqs), "--target", "3.14t", "--platform", "manylinux_2_17_x86_64",
          "--index-url", ranged_index.url, "--format", "json"])
    lxml = json.loads(capsys.readouterr().out)["packages"][0]
    compat = lxml["compat"]
    assert set(compat) == {"tracker_status", "tracker_first_version", "wheels_list_free_threaded_wheel",
                           "in_census", "census_first_ft_version", "disagreements"}
    assert compat["in_census"] is True
    assert compat["census_first_ft_version"]["3.14t"] == "6.0.2"
