"""PyPI client: parsing on recorded documents, and the live index (network)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from packaging.version import Version

from auditor.errors import ServiceError
from auditor.http import CachedResponse, HttpClient
from auditor.pypi import ProjectNotFound, PyPIClient, parse_project_json, parse_simple_json


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
    files = parse_simple_json("demo", _response(doc))
    assert files.versions == (Version("1.0"), Version("2.0"))
    sdist, wheel = files.files
    assert sdist.kind == "sdist" and sdist.url == "https://index.example/files/demo-1.0.tar.gz"
    assert wheel.kind == "wheel" and wheel.abi_tags == {"cp314t"} and wheel.yanked and wheel.has_metadata
    assert files.files_for(Version("2.0")) == (wheel,)


def test_garbage_json_is_a_service_error_naming_the_url():
    with pytest.raises(ServiceError) as info:
        parse_simple_json("demo", _response(b"<html>oops"))
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
        client.project_files("markupsafe")
    assert "--offline" in info.value.one_line()


@pytest.mark.network
def test_live_markupsafe_has_free_threaded_wheels_and_offline_reuses_the_cache(tmp_path):
    client = PyPIClient(http=HttpClient(cache_root=tmp_path))
    files = client.project_files("MarkupSafe")
    assert files.name == "markupsafe"
    release = files.files_for(Version("3.0.4"))
    assert any("cp314t" in f.abi_tags for f in release)
    sdist = next(f for f in release if f.kind == "sdist")
    assert sdist.sha256 == "2e9ad7dd851bf45fab9f75cbff4cb493fee9979e8d8c7c9c3ee119022518edd6"
    offline = PyPIClient(http=HttpClient(offline=True, cache_root=tmp_path, max_age=0))
    again = offline.project_files("markupsafe")
    assert again.stale and len(again.files) == len(files.files)


@pytest.mark.network
def test_live_unknown_project_is_not_found(tmp_path):
    client = PyPIClient(http=HttpClient(cache_root=tmp_path))
    with pytest.raises(ProjectNotFound):
        client.project_files("this-project-does-not-exist-ft-audit-zz")


FIXTURES = Path(__file__).parent / "fixtures" / "pypi"


@pytest.mark.parametrize("name", ["cryptography", "lxml", "markupsafe", "tokenizers", "zstandard"])
def test_free_threaded_answer_matches_the_full_page_and_a_warm_run_reads_no_page(tmp_path, name):
    from auditor.audit.env import _supported_tags, ft_offer_for
    from auditor.pypi import SIMPLE_JSON
    from auditor.target import PythonTarget

    http = HttpClient(offline=True, cache_root=tmp_path / "http")
    client = PyPIClient(http=http)
    http._store(client.page_url(name), SIMPLE_JSON, (FIXTURES / f"{name}.simple.json").read_bytes(), {})
    full = client.project_files(name)
    targets = [PythonTarget(3, 13, True), PythonTarget(3, 14, True)]
    for platforms in (("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "linux_x86_64"),
                      ("macosx_14_0_arm64", "macosx_11_0_arm64"), ("win_amd64",)):
        tags = frozenset(tag for t in targets for tag in _supported_tags(t, platforms))
        compact = client.free_threaded_files(name, tags)
        assert compact.versions == full.versions
        assert set(compact.files) <= set(full.wheels())
        pins = [None, *(str(v) for v in full.versions[-6:])]
        for target in targets:
            for pinned in pins:
                assert ft_offer_for(compact, pinned, target, platforms) == ft_offer_for(full, pinned, target, platforms)
    linux = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64")
    linux_tags = frozenset(_supported_tags(targets[1], linux))
    latest = ft_offer_for(client.free_threaded_files(name, linux_tags), None, targets[1], linux).latest_version_with_wheel
    assert latest == {"cryptography": "50.0.2", "lxml": "6.1.3", "markupsafe": "3.0.4", "tokenizers": "0.23.3",
                      "zstandard": None}[name]
    # Warm: the compact answer comes from its own cache; the page body is not read.
    for body in (tmp_path / "http").rglob("*.body"):
        body.write_bytes(b"")
    again = client.cached_free_threaded_files(name, tags)
    assert again is not None and again.files == compact.files and again.versions == full.versions
