"""The one cache component (auditor.cache): every cache of ft-audit treats a corrupt, truncated,
wrongly-typed or foreign entry as a miss and answers as if the cache were empty, never a crash
and never a verdict about the index ("no consistent set of versions")."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.cache import JSON, MARSHAL, PICKLE, CacheStore, atomic_write
from auditor.errors import ServiceError
from auditor.http import HttpClient
from auditor.pypi import PyPIClient
from tests.test_requirements_resolve import by_name, make_wheel, run, serve  # noqa: F401 - fixture

CODECS = {".json": JSON, ".marshal": MARSHAL, ".pickle": PICKLE}


def entries(folder: Path, suffix: str) -> list[Path]:
    found = sorted(folder.rglob(f"*{suffix}"))
    assert found, f"no {suffix} entries under {folder}"
    return found


def truncate(paths: list[Path]) -> None:
    for path in paths:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])


def replace_value(paths: list[Path], value) -> None:
    """Keep each entry's envelope (key, validity) and put `value` in it: a well-formed entry of
    the wrong shape, which only the reader's check can refuse."""
    for path in paths:
        codec = CODECS[path.suffix]
        envelope = codec.loads(path.read_bytes())
        path.write_bytes(codec.dumps(dict(envelope, value=value)))


# -- the store itself -----------------------------------------------------------------------

@pytest.mark.parametrize("codec", [JSON, MARSHAL, PICKLE], ids=lambda c: c.suffix)
def test_store_round_trips_and_refuses_every_bad_entry(tmp_path, codec):
    store = CacheStore("demo", root=tmp_path)
    value = {"3.0.4": ["markupsafe-3.0.4.tar.gz", None, []]}
    assert store.put("k", value, codec, validity="v1")
    assert store.get("k", codec, validity="v1") == value
    assert store.get("k", codec, validity="v2") is None                  # another inspector / ETag
    assert store.get("k", codec, validity="v1", check=lambda v: isinstance(v, list)) is None
    assert store.get("k", codec, validity="v1", check=lambda v: v["missing"]) is None   # a raising check
    path = store.path("k", codec.suffix)
    path.rename(store.path("other", codec.suffix))                      # a file copied under another key
    assert store.get("other", codec, validity="v1") is None
    for junk in (b"", b"\x00" * 7, codec.dumps([]), codec.dumps({"value": 1}), codec.dumps("value")):
        path.write_bytes(junk)
        assert store.get("k", codec, validity="v1") is None
    assert store.put("k", value, codec, validity="v1")
    truncate([path])
    assert store.get("k", codec, validity="v1") is None
    assert store.get("never-written", codec) is None
    assert store.misses == {"outdated": 1, "wrong type": 2, "foreign": 2, "corrupt": 5, "absent": 1}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []   # no temp files left


def test_a_store_that_cannot_write_only_costs_speed(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = CacheStore("demo", root=blocker / "sub")                      # a file where the folder goes
    assert store.put("k", [1], JSON) is False
    assert store.get("k", JSON) is None


def test_atomic_write_sets_the_mode_and_replaces_whole_files(tmp_path):
    target = tmp_path / "new" / "census.json"
    atomic_write(target, b"{}\n", mode=0o644)
    atomic_write(target, b'{"a":1}\n', mode=0o644)
    assert target.read_bytes() == b'{"a":1}\n'
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in target.parent.iterdir()) == ["census.json"]


# -- the HTTP cache -------------------------------------------------------------------------

@pytest.mark.parametrize("meta", [
    [],                                                   # not an object
    {"fetched_at": "yesterday"},                          # a fetch time that is not a number
    {"fetched_at": None},
    {"size": "12"},
    {"url": "https://elsewhere.example/simple/lib/"},     # another URL's entry
    {"etag": 7},
    b'{"url": "https://x", "size": 1',                    # truncated
], ids=["list", "fetched_at-yesterday", "fetched_at-null", "size-string", "foreign-url", "etag-int", "truncated"])
def test_a_bad_meta_json_is_a_miss(serve, tmp_path, meta):
    d = tmp_path / "dists"
    d.mkdir()
    index = serve({"lib": [make_wheel(d, "lib", "1.0")]})
    cache = tmp_path / "http"
    first = PyPIClient(index.url, None, http=HttpClient(retries=0, cache_root=cache)).project_index("lib")
    asked = len(index.requests)
    for path in entries(cache, ".meta.json"):
        if isinstance(meta, bytes):
            path.write_bytes(meta)
        elif isinstance(meta, list):
            path.write_text(json.dumps(meta))
        else:
            path.write_text(json.dumps({**json.loads(path.read_text()), **meta}))
    offline = HttpClient(offline=True, retries=0, cache_root=cache)
    with pytest.raises(ServiceError, match="not in the cache and --offline was given"):
        PyPIClient(index.url, None, http=offline).project_index("lib")
    assert offline.fresh_meta(index.url + "lib/", "application/vnd.pypi.simple.v1+json") is None
    online = HttpClient(retries=0, cache_root=cache)
    again = PyPIClient(index.url, None, http=online).project_index("lib")
    assert len(index.requests) == asked + 1                               # fetched again ...
    assert again.files == first.files                                     # ... with the same answer
    # counted once per read: the loader asks "fresh in the cache?" before it asks for the page
    assert set(online.store.misses) == {"corrupt"} and online.store.misses["corrupt"] >= 1


def test_a_body_shorter_than_its_meta_json_is_a_miss(serve, tmp_path):
    d = tmp_path / "dists"
    d.mkdir()
    # a GIL-only wheel: its entry is not kept with the packed page, so `files` reads the page body
    index = serve({"lib": [make_wheel(d, "lib", "1.0", tag="cp314-cp314-manylinux_2_28_x86_64")]})
    cache = tmp_path / "http"
    first = PyPIClient(index.url, None, http=HttpClient(retries=0, cache_root=cache)).project_index("lib").files
    truncate(entries(cache, ".body"))
    online = HttpClient(retries=0, cache_root=cache)
    assert PyPIClient(index.url, None, http=online).project_index("lib").files == first
    assert online.store.misses["torn"] == 1


# -- the resolver's caches ------------------------------------------------------------------

def _two_packages(serve, tmp_path):
    d = tmp_path / "dists"
    d.mkdir()
    index = serve({"app": [make_wheel(d, "app", "1.0", ["lib>=1"])],
                   "lib": [make_wheel(d, "lib", "1.0"), make_wheel(d, "lib", "3.0.4")]})
    first = run(index, tmp_path, "app\n")
    assert by_name(first)["lib"]["version"] == "3.0.4" and first["incomplete"] == []
    return index, first


@pytest.mark.parametrize("damage", ["junk-release", "empty", "list", "truncated"])
def test_a_bad_compact_page_is_a_miss_not_an_index_problem(serve, tmp_path, damage):
    index, first = _two_packages(serve, tmp_path)
    cache = tmp_path / "cache"
    for path in (cache / "resolutions").glob("*.json"):
        path.unlink()                                  # so the pages are read, not the kept answer
    pages = entries(cache / "index-compact", ".marshal")
    if damage == "junk-release":
        replace_value(pages, {"3.0.4": "junk"})
    elif damage == "empty":
        replace_value(pages, {})
    elif damage == "list":
        replace_value(pages, [["lib-3.0.4-py3-none-any.whl", None, []]])
    else:
        truncate(pages)
    again = run(index, tmp_path, "app\n")
    assert again == first
    assert "no consistent set of versions" not in json.dumps(again)


@pytest.mark.parametrize("damage", ["wrong-type", "truncated"])
def test_bad_requires_dist_memos_and_resolutions_are_misses(serve, tmp_path, damage):
    index, first = _two_packages(serve, tmp_path)
    cache = tmp_path / "cache"
    memos = entries(cache / "requires-dist", ".json")
    resolutions = entries(cache / "resolutions", ".json")
    if damage == "wrong-type":
        replace_value(memos, {"requires_dist": "lib>=1"})
        replace_value(resolutions, {"pages": {}, "packages": "junk"})
    else:
        truncate(memos + resolutions)
    assert run(index, tmp_path, "app\n") == first


def test_a_warm_run_reads_the_chosen_wheels_entry_without_parsing_the_page(serve, tmp_path, monkeypatch):
    from auditor import project_index

    d = tmp_path / "dists"
    d.mkdir()
    wheel = make_wheel(d, "lib", "1.0", tag="cp314-cp314t-manylinux_2_28_x86_64")
    index = serve({"lib": [make_wheel(d, "lib", "0.9", tag="cp314-cp314t-manylinux_2_28_x86_64"), wheel]})
    first = by_name(run(index, tmp_path, "lib\n"))["lib"]
    assert first["wheel"] == wheel.name and first["verdict_source"] == "download"   # a small wheel: whole
    # A free-threaded wheel's entry comes with the packed page: no entry of its own.
    assert not list((tmp_path / "cache").rglob("index-entries/**/*.marshal"))
    monkeypatch.setattr(project_index, "_entries_by_name", lambda *a: pytest.fail("a whole page parsed on a warm run"))
    again = by_name(run(index, tmp_path, "lib\n"))["lib"]
    assert again["verdict_source"] == "cache"
    assert {k: v for k, v in again.items() if k not in ("verdict_source", "bytes_read")} == \
        {k: v for k, v in first.items() if k not in ("verdict_source", "bytes_read")}


def test_an_entry_outside_the_packed_page_is_kept_on_its_own(serve, tmp_path, monkeypatch):
    """A file that is neither a free-threaded nor a pure wheel (here a GIL-only wheel) is read
    from the full page once, then from its own entry: a second process parses no page."""
    from auditor import project_index

    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    d = tmp_path / "dists"
    d.mkdir()
    gil_only = make_wheel(d, "lib", "1.0", tag="cp314-cp314-manylinux_2_28_x86_64")
    index = serve({"lib": [gil_only]})
    client = PyPIClient(index.url, None, http=HttpClient(retries=0))
    first = client.project_index("lib")
    assert first.free_threaded_wheels() == ()
    assert first.kept_entries == {}
    dist = first.dist_file(gil_only.name)
    assert dist.filename == gil_only.name and dist.url.endswith(gil_only.name) and dist.sha256
    assert len(entries(tmp_path / "cache" / "index-entries", ".marshal")) == 1
    monkeypatch.setattr(project_index, "_entries_by_name", lambda *a: pytest.fail("the whole page parsed again"))
    warm = PyPIClient(index.url, None, http=HttpClient(retries=0)).project_index("lib")
    assert warm.from_cache and warm.dist_file(gil_only.name) == dist


@pytest.mark.parametrize("damage", [None, "truncated", "wrong-type"])
def test_a_warm_run_takes_release_facts_from_their_cache(serve, tmp_path, monkeypatch, damage):
    from auditor import migration

    d = tmp_path / "dists"
    d.mkdir()
    index = serve({"lib": [make_wheel(d, "lib", "0.9", tag="cp314-cp314t-manylinux_2_28_x86_64"),
                           make_wheel(d, "lib", "1.0", tag="cp314-cp314-manylinux_2_28_x86_64")]})
    first = by_name(run(index, tmp_path, "lib\n"))["lib"]
    # 1.0 has no wheel a 3.14t interpreter installs: 0.9 is chosen
    assert (first["version"], first["status"], first["min_ft_version"], first["newest_ft_version"]) == \
        ("0.9", "ft-wheel", "0.9", "0.9")
    facts = entries(tmp_path / "cache" / "requirements-release-facts", ".marshal")
    assert len(facts) == 1
    if damage is None:   # the facts are not computed again
        monkeypatch.setattr(migration, "classify", lambda *a: pytest.fail("classified again on a warm run"))
        monkeypatch.setattr(migration, "ft_versions", lambda *a: pytest.fail("ft_versions again on a warm run"))
    elif damage == "truncated":
        truncate(facts)
    else:
        replace_value(facts, {"status": "ready"})
    again = by_name(run(index, tmp_path, "lib\n"))["lib"]
    assert {k: v for k, v in again.items() if k not in ("verdict_source", "bytes_read")} == \
        {k: v for k, v in first.items() if k not in ("verdict_source", "bytes_read")}


# -- the env caches -------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["truncated", "wrong-type", "list"])
def test_a_bad_probe_answer_is_a_miss(tmp_path, monkeypatch, damage):
    from auditor.sources import env as envsource

    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    first = envsource.probe_interpreter([sys.executable], cache=True)
    stored = entries(tmp_path / "cache" / "env-probe", ".json")
    if damage == "truncated":
        truncate(stored)
    elif damage == "wrong-type":
        replace_value(stored, {"stamps": [], "stdout": "{not json"})
    else:
        replace_value(stored, [])
    calls = []
    real_run = subprocess.run
    monkeypatch.setattr(envsource.subprocess, "run", lambda *a, **k: calls.append(a) or real_run(*a, **k))
    again = envsource.probe_interpreter([sys.executable], cache=True)
    assert len(calls) == 1 and again == first


@pytest.mark.parametrize("damage", ["truncated", "wrong-type", "foreign-pickle"])
def test_a_bad_module_report_cache_is_a_miss(tmp_path, monkeypatch, damage):
    from auditor.audit import env as envcmd
    from auditor.sources import env as envsource
    from tests.test_env_probe import make_site

    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    snap = envsource.snapshot_from_path(str(make_site(tmp_path)), "3.14t")
    files = envsource.collect_extension_files(snap)
    first = envcmd.inspect_files(files, cache=envcmd.ReportCache(snap.interpreter.environment_dirs))
    stored = entries(tmp_path / "cache" / "env-reports", ".pickle")
    if damage == "truncated":
        truncate(stored)
    elif damage == "wrong-type":
        replace_value(stored, {path: ("not a stat key", "not a report") for path in first})
    else:
        for path in stored:
            path.write_bytes(pickle.dumps({"fingerprint": "x", "entries": {}}))   # the old layout
    cache = envcmd.ReportCache(snap.interpreter.environment_dirs)
    assert cache.entries == {}
    assert envcmd.inspect_files(files, cache=cache) == first


# -- the wheel-verdict cache ----------------------------------------------------------------

@pytest.mark.parametrize("damage", ["truncated", "wrong-type", "other-inspector"])
def test_a_bad_wheel_verdict_is_a_miss(tmp_path, monkeypatch, damage):
    from auditor import wheel_verdicts as wv

    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    wheel = wv.WheelFile("demo", "demo-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl", "https://x/demo.whl",
                         "AB" * 32, 10)
    verdict = wv.WheelVerdict(wheel.filename, "ready", "own-gil", "all 1 extension module(s) keep the GIL off",
                              wv.FROM_RANGE_READ, ({"name": "demo._speedups"},), 100, ())
    wv._store(wheel, verdict)
    cached = wv._cached(wheel)
    assert (cached.free_threading, cached.source, cached.modules) == ("ready", wv.FROM_CACHE, ({"name": "demo._speedups"},))
    stored = entries(tmp_path / "cache" / "wheel-verdicts", ".json")
    if damage == "truncated":
        truncate(stored)
    elif damage == "wrong-type":
        replace_value(stored, {"wheel": wheel.filename, "free_threading": 1, "subinterpreters": None,
                               "evidence": "x", "modules": "m"})
    else:
        monkeypatch.setattr(wv, "inspector_fingerprint", lambda: "another-inspector")
    assert wv._cached(wheel) is None


def test_a_versioned_store_forgets_entries_written_by_other_code(tmp_path, monkeypatch):
    """Values ft-audit derives with its own code (compact pages, offers, resolutions) are only
    valid for the code that wrote them: after an upgrade or a fix, an old entry is a miss."""
    from auditor import cache

    store = cache.CacheStore("derived", root=tmp_path / "derived", versioned=True)
    assert store.put("k", {"a": 1}, validity="page-1")
    assert store.get("k", validity="page-1") == {"a": 1}
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "another-version")
    assert store.get("k", validity="page-1") is None
    assert store.misses["outdated"] == 1
