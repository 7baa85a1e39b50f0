"""Lookup and disagreement rules on real data: recorded PyPI pages and excerpts of the community sources."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from packaging.tags import Tag

from auditor.compat.census import census_facts, ft_target, platform_family
from auditor.compat.community import CommunityData, parse_source
from auditor.compat.dataset import CENSUS_SCHEMA
from auditor.compat.lookup import CompatData, ObservedEvidence, load_compat
from auditor.compat.refresh import PlatformSets
from auditor.http import CachedResponse
from auditor.model import FreeThreading
from auditor.project_index import parse_index
from auditor.pypi import parse_project_json
from tests.support.compat_sources import EXCERPTS

FIXTURES = Path(__file__).parent / "fixtures" / "pypi"
PACKAGES = ("markupsafe", "zstandard", "lxml", "tokenizers", "cryptography")


def _response(path: Path, url: str) -> CachedResponse:
    return CachedResponse(url, path.read_bytes(), time.time(), True, False)


def census_doc(*, generated_at: str | None = None, deep: dict | None = None) -> dict:
    intern = PlatformSets()
    packages = {}
    for name in PACKAGES:
        page = _response(FIXTURES / f"{name}.simple.json", f"https://pypi.org/simple/{name}/")
        files = parse_index(name, page.json(), page.url)
        info = parse_project_json(name, _response(FIXTURES / f"{name}.json", f"https://pypi.org/pypi/{name}/json"))
        entry = census_facts(files, info).to_json(intern)
        entry["provenance"] = {"files": [files.page_url, "2026-11-25T15:35:00+00:00"], "metadata": None}
        if deep and name in deep:
            entry["deep"] = deep[name]
        packages[name] = entry
    return {"schema": CENSUS_SCHEMA, "generated_at": generated_at or datetime.now(timezone.utc).isoformat(),
            "platform_sets": intern.sets, "packages": packages, "failures": {}}


def community(fetched_at: str | None = None) -> CommunityData:
    fetched = fetched_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    return CommunityData(imports={
        "tracking": parse_source("tracking", (EXCERPTS / "tracking.md").read_bytes(),
                                 origin="tracking.md", fetched_at=fetched),
        "wheels": parse_source("wheels", (EXCERPTS / "results.json").read_bytes(),
                               origin="results.json", fetched_at=fetched),
    })


LXML_DEEP = {"version": "6.1.3", "inspected_at": "2026-11-25T15:36:00+00:00", "skipped": [], "wheels": [
    {"target": "3.14t", "wheel": "lxml-6.1.3-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
     "free_threading": "reenables-gil", "subinterpreters": "not-supported", "modules": 7,
     "verdicts": {"reenables-gil": 7}, "reenables_gil": ["lxml.etree", "lxml.objectify"]}]}


@pytest.fixture(scope="module")
def data() -> CompatData:
    return CompatData(census_doc(), None, community())


def test_tags_and_platforms():
    assert ft_target(Tag("cp314", "cp314t", "manylinux_2_17_x86_64")) == "3.14t"
    assert ft_target(Tag("cp315", "abi3t", "win_amd64")) == "abi3t"
    assert ft_target(Tag("cp314", "cp314", "win_amd64")) is None
    assert ft_target(Tag("cp313", "abi3", "win_amd64")) is None
    assert ft_target(Tag("cp314", "cp313t", "win_amd64")) is None  # interpreter and ABI must agree
    assert platform_family("manylinux2014_aarch64") == "manylinux-aarch64"
    assert platform_family("macosx_10_9_universal2") == "macos-universal2"
    assert platform_family("win32") == "win-x86"


def test_lookup_reports_every_source_with_provenance(data):
    record = data.lookup("LXML", "6.1.3")
    assert record.name == "lxml" and record.in_census
    assert record.tracker.status == "ci-only" and record.tracker.first_version == "7.0.0"
    assert record.tracker.upstream_issue == "https://bugs.launchpad.net/lxml/+bug/2111289"
    assert record.tracker.source.url == "tracking.md"
    assert record.wheels_list.free_threaded_wheel is True and record.wheels_list.css_class == "success"
    assert record.wheels_list.source.date == "2026-06-14T11:03:57+00:00"
    census = record.census
    assert census.latest_version == "6.1.3"
    assert census.first_ft_version == {"3.14t": "6.0.2", "3.15t": "6.1.2"}
    assert census.first_ft_date["3.14t"] == "2025-09-22"
    assert set(census.ft_wheels("6.1.3")) == {"3.14t", "3.15t"}
    assert census.ft_wheels("5.4.0") == {}
    assert census.source.url == "https://pypi.org/simple/lxml/"
    doc = record.to_json()
    assert doc["version_ft_wheels"]["3.14t"] == list(census.ft_platforms["3.14t"])
    json.dumps(doc)


def test_display_names_resolve(data):
    assert data.lookup("ujson").tracker.display_name == "ultrajson"
    assert data.lookup("torch").tracker.display_name == "PyTorch"
    assert data.lookup("jaxlib").tracker.display_name == "JAX"
    assert data.lookup("ruamel.yaml.clib").wheels_list is not None


def test_zstandard_listed_as_supported_but_never_shipped_an_ft_wheel(data):
    found = data.lookup("zstandard").disagreements()
    sources = {d.source: d for d in found}
    assert set(sources) == {"tracker", "classifier"}
    assert sources["tracker"].claim == "supported since 0.25.0"
    assert sources["tracker"].evidence.startswith("no cp313t/cp314t/cp315t/abi3t wheel in any of 42 releases")
    assert sources["classifier"].claim == "classifier 'Free Threading :: 1 - Unstable'"


def test_tokenizers_wheels_list_and_tracker_lag_pypi(data):
    found = {d.source: d for d in data.lookup("tokenizers").disagreements()}
    assert found["wheels-list"].claim == "no free-threaded wheel (warning, as of 2026-06-14)"
    assert found["wheels-list"].evidence == "0.23.3 ships 3.14t wheels (uploaded 2026-10-09)"
    assert "PyPI has free-threaded wheels since 0.23.3 (3.14t)" in found["tracker"].evidence


def test_lxml_tracker_says_7_0_0_but_6_x_ships_cp314t_wheels_that_reenable_the_gil():
    data = CompatData(census_doc(deep={"lxml": LXML_DEEP}), None, community())
    record = data.lookup("lxml")
    assert record.census.deep_free_threading() == FreeThreading.REENABLES_GIL
    [tracker] = record.disagreements()
    assert tracker.claim == "no release with support yet (ci-only, expected in 7.0.0)"
    assert tracker.evidence.startswith("PyPI has free-threaded wheels since 6.0.2 (3.14t)")
    assert tracker.evidence.endswith("the modules of 6.1.3 re-enable the GIL")


def test_caller_evidence_contradicting_a_released_claim(data):
    observed = ObservedEvidence(FreeThreading.REENABLES_GIL, "3.0.4", "markupsafe/_speedups")
    found = data.lookup("markupsafe").disagreements(observed)
    assert [d.source for d in found] == ["tracker"]
    assert found[0].claim == "supported since 3.0.0"
    assert found[0].evidence == "3.0.4's free-threaded modules re-enable the GIL"
    # the same observation on a version before the claimed support is no contradiction
    assert data.lookup("markupsafe").disagreements(ObservedEvidence(FreeThreading.REENABLES_GIL, "2.1.5")) == []
    assert data.lookup("markupsafe").disagreements(ObservedEvidence(FreeThreading.READY, "3.0.4")) == []


def test_classifier_contradicted_by_observed_gil(data):
    found = data.lookup("cryptography").disagreements(ObservedEvidence(FreeThreading.REENABLES_GIL, "50.0.2"))
    assert {d.source for d in found} == {"tracker", "classifier"}
    classifier = next(d for d in found if d.source == "classifier")
    assert classifier.claim == "classifier 'Free Threading :: 3 - Stable'"


def test_agreeing_sources_give_no_disagreement(data):
    assert data.lookup("markupsafe").disagreements() == []
    assert data.lookup("cryptography").disagreements() == []


def test_unknown_package(data):
    record = data.lookup("no-such-package")
    assert (record.in_census, record.tracker, record.wheels_list, record.census) == (False, None, None, None)
    assert record.disagreements() == []


def test_non_pypi_rows_are_reachable_by_display_name(data):
    record = data.lookup("PyO3")
    assert record.tracker is not None and "crates.io" in record.tracker.not_on_pypi
    assert record.disagreements() == []
    assert data.lookup("swig").tracker.display_name == "SWIG"
    assert data.lookup("Bazel (rules-python)").tracker.first_version == "0.39.0"


def test_all_disagreements_lists_each_package_once(data):
    rows = data.all_disagreements()
    names = [r.name for r, _ in rows]
    assert names == sorted(set(names))
    assert {"zstandard", "tokenizers", "lxml"} <= set(names)


def test_staleness_note():
    tracking_only = CommunityData(imports={"tracking": community().imports["tracking"]})
    assert CompatData(census_doc(), None, tracking_only).staleness_note() is None
    # results.json states its own date (June 2026): that import is stale however recently fetched
    assert CompatData(census_doc(), None, community()).staleness_note() == (
        "compatibility data is stale: free-threaded-wheels list from 2026-06-14 "
        f"({int((datetime.now(timezone.utc) - datetime(2026, 6, 14, 11, 3, 57, tzinfo=timezone.utc)).days)} days old)"
        "; run `ft-audit data refresh`")
    old_date = (datetime.now(timezone.utc) - timedelta(days=45)).isoformat(timespec="seconds")
    old = CompatData(census_doc(generated_at=old_date), None, community())
    note = old.staleness_note()
    assert note.startswith(f"compatibility data is stale: census from {old_date[:10]} (45 days old)")
    assert "free-threaded-wheels list from 2026-06-14" in note  # results.json dates its own data
    assert CompatData(None, None, CommunityData()).staleness_note().startswith("no compatibility census")


def test_load_compat_reads_the_bundled_dataset_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path))

    def no_network(*args, **kwargs):
        raise AssertionError("load_compat() must not touch the network")

    monkeypatch.setattr("auditor.http.HttpClient.get", no_network)
    data = load_compat()
    assert data.census_doc is not None and len(data.census_doc["packages"]) >= 300
    assert data.census_path.name == "census.json"
    assert data.community.imports == {}
    numpy = data.lookup("numpy")
    assert numpy.in_census and numpy.census.first_ft_version["3.13t"] == "2.1.0"
    assert numpy.tracker is None  # nothing imported in this cache
    zstd = data.lookup("zstandard").census
    assert zstd.compiled and not zstd.ever_ft


def test_user_census_newer_than_bundled_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path))
    doc = census_doc(generated_at="2999-01-01T00:00:00+00:00")
    (tmp_path / "compat").mkdir()
    (tmp_path / "compat" / "census.json").write_text(json.dumps(doc))
    data = load_compat()
    assert data.census_path == tmp_path / "compat" / "census.json"
    assert set(data.census_doc["packages"]) == set(PACKAGES)
    (tmp_path / "compat" / "census.json").write_text("{not json")
    data = load_compat()
    assert data.census_path.name == "census.json" and data.census_path.parent != tmp_path / "compat"
    assert any("invalid JSON" in n for n in data.notes)
