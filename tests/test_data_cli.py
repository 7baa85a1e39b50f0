"""`ft-audit data show` / `data diff` on the bundled census and excerpts of the community sources."""

from __future__ import annotations

import json

import pytest

from auditor.cli import main
from tests.support.compat_sources import EXCERPTS


@pytest.fixture
def imported(tmp_path, monkeypatch, capsys):
    """A user cache with both community excerpts imported from local files (air-gapped path)."""
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path))
    assert main(["data", "refresh", "--no-census", "--from-file", f"tracking={EXCERPTS / 'tracking.md'}",
                 "--from-file", f"wheels={EXCERPTS / 'results.json'}"]) == 0
    capsys.readouterr()
    return tmp_path


def test_show_text(imported, capsys):
    assert main(["data", "show", "zstandard"]) == 0
    out, err = capsys.readouterr()
    assert "no free-threaded wheel in any release" in out
    assert "tracker      released (zstandard): first version 0.25.0; PyPI release" in out
    assert "wheels list  warning: no free-threaded wheel" in out
    assert "[tracker] zstandard: the tracking table says supported since 0.25.0, but no cp313t" in out
    assert "source: https://pypi.org/simple/zstandard/" in out
    # the June snapshot is old: said once, on stderr
    assert err.count("compatibility data is stale") == 1


def test_show_json_with_version(imported, capsys):
    assert main(["data", "show", "lxml", "--version", "6.1.3", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "ft-audit/1" and doc["kind"] == "compat-record"
    record = doc["record"]
    assert record["name"] == "lxml" and record["version"] == "6.1.3"
    assert set(record["version_ft_wheels"]) >= {"3.14t", "3.15t"}
    assert record["tracker"]["first_version"] == "7.0.0" and record["tracker"]["pypi_release"] is False
    assert record["census"]["first_ft_version"]["3.14t"] == "6.0.2"
    assert [d["source"] for d in record["disagreements"]] == ["tracker"]
    assert {s["source"] for s in doc["sources"]} == {"census", "tracking", "wheels"}
    assert any("stale" in n for n in doc["notes"])


def test_show_unknown_package(imported, capsys):
    assert main(["data", "show", "surely-not-a-package-xyz"]) == 2
    assert "no source knows this package" in capsys.readouterr().err


def test_diff_json_lists_the_known_disagreements(imported, capsys):
    assert main(["data", "diff", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    by = {(d["name"], d["source"]) for d in doc["disagreements"]}
    assert {("zstandard", "tracker"), ("tokenizers", "wheels-list"), ("lxml", "tracker")} <= by
    assert not any(name == "numpy" for name, _ in by)


def test_diff_text_filtered_by_source(imported, capsys):
    assert main(["data", "diff", "--source", "classifier"]) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "claims:" in line]
    assert lines and all("[classifier]" in line for line in lines)
    assert out.splitlines()[-1].endswith("package(s)")


def test_diff_without_community_data_still_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path))
    rc = main(["data", "diff", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc in (0, 1) and all(d["source"] in ("classifier", "census") for d in doc["disagreements"])


def test_data_without_action(capsys):
    assert main(["data"]) == 2
    assert "choose an action" in capsys.readouterr().err


@pytest.mark.network
def test_live_pypi_census_of_markupsafe(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    packages = tmp_path / "packages.txt"
    packages.write_text("markupsafe\n")
    assert main(["data", "refresh", "--no-community", "--packages", str(packages),
                 "--output", str(tmp_path / "census.json")]) == 0
    doc = json.loads((tmp_path / "census.json").read_text())
    entry = doc["packages"]["markupsafe"]
    assert entry["first_ft"]["3.13t"][0] == "3.0.0"
    assert entry["first_ft"]["3.14t"][0] == "3.0.3"
    assert entry["compiled"] is True
    assert entry["provenance"]["files"][0] == "https://pypi.org/simple/markupsafe/"
