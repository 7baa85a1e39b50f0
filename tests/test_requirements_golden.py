"""End-to-end `ft-audit requirements` against a recorded PyPI (tests/fixtures/pypi_recorded),
served by a local PEP 691 index on 127.0.0.1: deterministic, no network.

The recording (see record.py there, RECORDED.txt for the date) holds real simple-JSON pages and
real wheel METADATA; the expected documents were produced by this code and checked by hand
against the pages (the explicit assertions below are the hand-checked facts).
"""

from __future__ import annotations

import json

import pytest

from auditor.cli import main
from tests.requirements_server import RECORDED, RecordedIndex


@pytest.fixture()
def index(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    with RecordedIndex() as served:
        yield served


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    # The recording holds index pages and METADATA files, not wheels: binary verdicts come from
    # the census only (tests/test_requirements_deep.py reads real wheels through a local index).
    code = main(["requirements", *argv, "--no-download"])
    out = capsys.readouterr()
    return code, out.out, out.err


def normalized(doc_text: str, index: RecordedIndex) -> dict:
    text = doc_text.replace(index.url, "http://INDEX/simple").replace(str(RECORDED), "RECORDED")
    return json.loads(text)


@pytest.mark.parametrize("python", ["3.14t", "3.13t"])
def test_golden_json(index, capsys, python):
    code, out, err = run_cli(capsys, str(RECORDED / "requirements.txt"), "--target", python,
                             "--platform", "manylinux_2_28_x86_64", "--index-url", index.url,
                             "--format", "json", "--no-compat")
    doc = normalized(out, index)
    expected = json.loads((RECORDED / f"expected-{python}.json").read_text())
    assert doc == expected
    # The unknown project makes the run incomplete: exit 2, and stderr names where it came from.
    assert code == 2
    assert "requirements.txt:10" in err and "not-a-real-package-ft-audit-test" in err


def test_golden_hand_checked_facts(index, capsys):
    code, out, _ = run_cli(capsys, str(RECORDED / "requirements.txt"), "--target", "3.14t",
                           "--platform", "manylinux_2_28_x86_64", "--index-url", index.url,
                           "--format", "json", "--no-compat")
    doc = normalized(out, index)
    by_name = {p["name"]: p for p in doc["packages"]}
    assert doc["schema"] == "ft-audit/1"
    assert doc["target"]["abi"] == "cp314t" and doc["target"]["free_threaded"] is True
    # A pin that predates free-threaded wheels, with the upgrade that has them.
    assert by_name["markupsafe"]["version"] == "2.1.5"
    assert by_name["markupsafe"]["status"] == "sdist-only"
    assert by_name["markupsafe"]["min_ft_version"] == "3.0.3"
    assert by_name["markupsafe"]["suggestion"].startswith("markupsafe>=3.0.3 (first cp314t wheel: 3.0.3;")
    # abi3 wheels exist for manylinux, but a 3.14t interpreter cannot load abi3.
    assert by_name["bcrypt"]["status"] == "abi3-only"
    assert by_name["bcrypt"]["min_ft_version"] == "5.0.0"
    # A hyphenated name with no cp314t wheel in any release.
    assert by_name["psycopg2-binary"]["status"] == "sdist-only"
    assert by_name["psycopg2-binary"]["min_ft_version"] is None
    # A dotted name, normalised, with a real cp314t wheel.
    assert by_name["zope-interface"]["status"] == "ft-wheel"
    assert "cp314t" in by_name["zope-interface"]["wheel"]
    # Extras pull in their dependency; transitive packages say who asked for them.
    assert by_name["pysocks"]["requested_by"] == ["requests 2.34.2"]
    assert by_name["requests"]["extras"] == ["socks"]
    assert by_name["charset-normalizer"]["requested_by"] == ["requests 2.34.2"]
    # Markers are evaluated for the target (3.14), not the host (3.11): exceptiongroup is
    # required on the host but not on the target, typing-extensions the other way round.
    assert "exceptiongroup" not in by_name
    assert by_name["typing-extensions"]["status"] == "pure-python"
    assert any("exceptiongroup" in s["reason"] and "excludes 3.14t" in s["reason"] for s in doc["skipped"])
    # Nothing unknown is shown as clean.
    assert [i["where"] for i in doc["incomplete"]] == ["RECORDED/requirements.txt:10"]
    # Every package carries a verdict; a wheel the census did not inspect (and --no-download kept
    # unread) is "unknown" and listed in a note, never "ready".
    verdicts = {p["name"]: (p["free_threading"], p["verdict_source"]) for p in doc["packages"]}
    assert verdicts["msgpack"] == ("unknown", "not-read")
    assert verdicts["certifi"] == ("ready", "index") and verdicts["bcrypt"] == ("not-built-for-ft", "index")
    assert verdicts["markupsafe"] == ("unknown", "index")          # sdist-only: nothing compiled to inspect
    assert any("charset-normalizer, msgpack, zope-interface" in n for n in doc["notes"])
    assert code == 2


def test_golden_313t_pure_fallback(index, capsys):
    _, out, _ = run_cli(capsys, str(RECORDED / "requirements.txt"), "--target", "3.13t",
                        "--platform", "manylinux_2_28_x86_64", "--index-url", index.url,
                        "--format", "json", "--no-compat")
    by_name = {p["name"]: p for p in normalized(out, index)["packages"]}
    # charset-normalizer ships cp314t wheels but none for cp313t: only its pure fallback matches.
    assert by_name["charset-normalizer"]["status"] == "pure-fallback-only"
    assert by_name["charset-normalizer"]["wheel"] == "charset_normalizer-3.5.3-py3-none-any.whl"
    assert by_name["msgpack"]["status"] == "sdist-only"
    assert by_name["bcrypt"]["min_ft_version"] == "4.3.0"


def test_golden_text_and_markdown(index, capsys):
    args = [str(RECORDED / "requirements.txt"), "--target", "3.14t", "--platform", "manylinux_2_28_x86_64",
            "--index-url", index.url, "--no-compat"]
    code, text, err = run_cli(capsys, *args)
    assert code == 2
    assert text.startswith("Target 3.14t (cp314t) on manylinux_2_28_x86_64: 12 package(s), INCOMPLETE")
    assert "suggestion: markupsafe>=3.0.3" in text
    # what could not be checked: counted on stdout, each line once on stderr
    errors = err.splitlines()
    assert errors and all(line.startswith("ft-audit: error: ") for line in errors)
    assert text.endswith(f"\n{len(errors)} could not be checked (errors on stderr)\n")
    assert not {line.removeprefix("ft-audit: error: ") for line in errors} & {s.strip() for s in text.splitlines()}
    code, markdown, _ = run_cli(capsys, *args, "--format", "markdown")
    assert "| bcrypt | 4.1.2 | abi3-only | 5.0.0 |" in markdown


def test_offline_replays_cache_and_fails_without_it(index, capsys, tmp_path, monkeypatch):
    args = [str(RECORDED / "requirements.txt"), "--target", "3.14t", "--platform", "manylinux_2_28_x86_64",
            "--index-url", index.url, "--format", "json", "--no-compat"]
    _, online, _ = run_cli(capsys, *args)
    served = len(index.requests)
    _, offline, _ = run_cli(capsys, *args, "--offline")
    assert len(index.requests) == served                      # nothing asked of the server
    assert normalized(offline, index)["packages"] == normalized(online, index)["packages"]
    # Answers older than the freshness window are used offline but marked with their age.
    for meta in (tmp_path / "cache" / "http").rglob("*.meta.json"):
        doc = json.loads(meta.read_text())
        doc["fetched_at"] -= 3600
        meta.write_text(json.dumps(doc))
    _, aged, _ = run_cli(capsys, *args, "--offline")
    stale = {s["project"]: s["age_seconds"] for s in normalized(aged, index)["stale"]}
    assert set(stale) == {p["name"] for p in normalized(online, index)["packages"]}
    assert all(3600 <= age < 3700 for age in stale.values())
    assert len(index.requests) == served
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "empty-cache"))
    code, _out, err = run_cli(capsys, *args, "--offline")
    assert code == 2
    assert "not in the cache and --offline was given" in err
