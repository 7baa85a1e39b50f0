"""PyPI client: parsing on recorded documents, and the live index (network)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from packaging.version import Version

from auditor.errors import ServiceError
from auditor.http import CachedResponse, HttpClient
from auditor.project_index import index_from_response, parse_index
from auditor.pypi import ProjectNotFound, PyPIClient, parse_project_json


def _response(doc, url="https://index.example/simple/demo/"):
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return CachedResponse(url, body, time.time(), False, False)


def test_simple_json_files_tags_and_relative_urls():
    doc = {
        "meta": {"api-version": "1.1"},
        "name": "demo",
        "versions": ["1.0", "2.0"],
        "files": [
            {"filename": "demo-1.0.tar.gz", "url": "../../files/demo-1.0.tar.gz", "hashes": {"sha256": "ab"}},
            {"filename": "demo-2.0-cp314-cp314t-manylinux_2_28_x86_64.whl", "url": "https://f/x.whl",
             "hashes": {"sha256": "cd"}, "core-metadata": {"sha256": "ef"}, "yanked": "broken", "size": 10},
            {"filename": "garbage"},  # no url: skipped, the rest still parses
        ],
    }
    response = _response(doc)
    files = parse_index("demo", response.json(), response.url)
    assert files.versions == (Version("1.0"), Version("2.0"))
    sdist, wheel = files.files
    assert sdist.kind == "sdist" and sdist.url == "https://index.example/files/demo-1.0.tar.gz"
    assert wheel.kind == "wheel" and wheel.abi_tags == {"cp314t"} and wheel.yanked and wheel.has_metadata
    assert files.files_for(Version("2.0")) == (wheel,)
    assert files.free_threaded_wheels() == (wheel,)
    assert files.serves_metadata           # the wheel's core-metadata: the resolver may look for it
    doc["files"][1].pop("core-metadata")
    assert not parse_index("demo", doc, response.url).serves_metadata
    assert files.free_threaded_wheels(frozenset({"cp314-cp314t-manylinux_2_28_x86_64"})) == (wheel,)
    assert files.free_threaded_wheels(frozenset({"cp314-cp314t-win_amd64"})) == ()


def test_garbage_json_is_a_service_error_naming_the_url(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path))
    with pytest.raises(ServiceError) as info:
        index_from_response("demo", _response(b"<html>oops"))
    assert "https://index.example/simple/demo/" in info.value.one_line()
    assert "invalid JSON" in info.value.one_line()


def test_project_json_classifiers_and_first_upload_times():
    doc = {"info": {"version": "2.0", "classifiers": ["Programming Language :: Python :: Free Threading :: 2 - Beta"]},
           "releases": {"1.0": [{"upload_time_iso_8601": "2024-01-02T00:00:00Z"},
                                 {"upload_time_iso_8601": "2024-01-01T00:00:00Z"}], "2.0": []}}
    info = parse_project_json("demo", _response(doc))
    assert info.version == "2.0"
    assert info.classifiers[0].endswith("2 - Beta")
    assert info.release_upload_times == {"1.0": "2024-01-01T00:00:00Z"}


def test_offline_without_cache_is_a_clear_error(tmp_path):
    client = PyPIClient(http=HttpClient(offline=True, cache_root=tmp_path))
    with pytest.raises(ServiceError) as info:
        client.project_index("markupsafe")
    assert "--offline" in info.value.one_line()


@pytest.mark.network
def test_live_markupsafe_has_free_threaded_wheels_and_offline_reuses_the_cache(tmp_path):
    client = PyPIClient(http=HttpClient(cache_root=tmp_path))
    files = client.project_index("MarkupSafe")
    assert files.name == "markupsafe"
    release = files.files_for(Version("3.0.4"))
    assert any("cp314t" in f.abi_tags for f in release)
    sdist = next(f for f in release if f.kind == "sdist")
    assert sdist.sha256 == "2e9ad7dd851bf45fab9f75cbff4cb493fee9979e8d8c7c9c3ee119022518edd6"
    offline = PyPIClient(http=HttpClient(offline=True, cache_root=tmp_path, max_age=0))
    again = offline.project_index("markupsafe")
    assert again.stale and len(again.files) == len(files.files)


@pytest.mark.network
def test_live_unknown_project_is_not_found(tmp_path):
    client = PyPIClient(http=HttpClient(cache_root=tmp_path))
    with pytest.raises(ProjectNotFound):
        client.project_index("this-project-does-not-exist-ft-audit-zz")


FIXTURES = Path(__file__).parent / "fixtures" / "pypi"


@pytest.mark.parametrize("name", ["cryptography", "lxml", "markupsafe", "tokenizers", "zstandard"])
def test_free_threaded_wheels_match_the_full_page_and_a_warm_run_reads_no_page(tmp_path, monkeypatch, name):
    """The packed page's free-threaded wheels (string operations, kept with the releases) are
    exactly the wheels packaging's parser finds with a free-threaded ABI and a wanted tag."""
    from auditor.audit.env import _supported_tags, ft_offer_for
    from auditor.project_index import cached_index
    from auditor.pypi import ONE_DAY, SIMPLE_JSON
    from auditor.target import PythonTarget, is_free_threaded_abi

    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    http = HttpClient(offline=True, cache_root=tmp_path / "http")
    client = PyPIClient(http=http)
    http._store(client.page_url(name), SIMPLE_JSON, (FIXTURES / f"{name}.simple.json").read_bytes(), {})
    index = client.project_index(name, max_age=ONE_DAY)
    every_file = index.files
    assert every_file
    targets = [PythonTarget(3, 13, True), PythonTarget(3, 14, True)]
    for platforms in (("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "linux_x86_64"),
                      ("macosx_14_0_arm64", "macosx_11_0_arm64"), ("win_amd64",)):
        tags = frozenset(tag for t in targets for tag in _supported_tags(t, platforms))
        expected = {f for f in every_file if f.kind == "wheel"
                    and any(is_free_threaded_abi(t.abi) and str(t) in tags for t in f.tags)}
        assert set(index.free_threaded_wheels(tags)) == expected
    assert set(index.free_threaded_wheels()) == {f for f in every_file if f.kind == "wheel"
                                                 and any(is_free_threaded_abi(t.abi) for t in f.tags)}
    assert set(index.versions) >= {f.version for f in every_file if f.version}
    # what comes with the packed page: the wheels a free-threaded interpreter can install
    assert set(index.kept_entries) == {f.filename for f in every_file if f.kind == "wheel" and any(
        is_free_threaded_abi(t.abi) or t.abi == "none" for t in f.tags)}
    linux = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64")
    latest = ft_offer_for(index, None, targets[1], linux).latest_version_with_wheel
    assert latest == {"cryptography": "50.0.2", "lxml": "6.1.3", "markupsafe": "3.0.4", "tokenizers": "0.23.3",
                      "zstandard": None}[name]
    # Warm: the packed page comes from its own cache; the page body is not read.
    for body in (tmp_path / "http").rglob("*.body"):
        body.write_bytes(b"")
    again = cached_index(client, name, max_age=ONE_DAY)
    assert again is not None and again.from_cache
    assert again.versions == index.versions
    assert again.free_threaded_wheels() == index.free_threaded_wheels()
    pins = [None, *(str(v) for v in index.versions[-6:])]
    for target in targets:
        for pinned in pins:
            assert ft_offer_for(again, pinned, target, linux) == ft_offer_for(index, pinned, target, linux)


def test_a_page_read_for_every_file_is_parsed_once(tmp_path, monkeypatch):
    """The census reads every file of every page (entries=True): the parse that packs the page
    also keeps the entries, and `files` does not parse it again."""
    from auditor import project_index
    from auditor.pypi import SIMPLE_JSON

    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    http = HttpClient(offline=True, cache_root=tmp_path / "http")
    client = PyPIClient(http=http)
    http._store(client.page_url("lxml"), SIMPLE_JSON, (FIXTURES / "lxml.simple.json").read_bytes(), {})
    expected = client.project_index("lxml").files       # packs the page, then parses it for `files`
    monkeypatch.setattr(project_index, "COMPACT_PAGES", project_index.CacheStore("index-compact-2", versioned=True))
    parses = []
    real = CachedResponse.json
    monkeypatch.setattr(CachedResponse, "json", lambda self: parses.append(self.url) or real(self))
    index = client.project_index("lxml", entries=True)
    assert index.files == expected and len(expected) == 400
    assert parses == [client.page_url("lxml")]
