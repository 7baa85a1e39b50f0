"""What a warm `ft-audit env` run takes from its caches instead of recomputing, checked against
the computed answers on real index pages (tests/fixtures/pypi, recorded from PyPI) and real
requirement lines: the per-project offers (auditor.audit.env OFFERS) and the declared
dependencies (dependency_names)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import auditor.audit.env as env_audit
from auditor import envaudit, project_index
from auditor.http import HttpClient
from auditor.model import Abi, ModuleReport, Verdict
from auditor.model import FreeThreading as FT
from auditor.model import Subinterpreters as SI
from auditor.project_index import parse_index
from auditor.pypi import SIMPLE_JSON, PyPIClient
from auditor.sources.env import EnvSnapshot, ExtensionFile, InstalledDistribution, target_interpreter

FIXTURES = Path(__file__).parent / "fixtures" / "pypi"
SITE = "/env/site-packages"
INSTALLED = {"lxml": "6.0.0", "markupsafe": "3.0.2", "zstandard": "0.23.0", "cryptography": "44.0.0"}


def _dist(name: str, version: str, requires: tuple[str, ...] = ()) -> InstalledDistribution:
    return InstalledDistribution(name=name, version=version, location=SITE,
                                 metadata_dir=f"{SITE}/{name}-{version}.dist-info", requires_dist=requires, record=())


def _environment(target: str = "3.13", requires: dict[str, tuple[str, ...]] | None = None):
    interp = target_interpreter(target, directory=SITE)
    dists = tuple(_dist(n, v, (requires or {}).get(n, ())) for n, v in INSTALLED.items())
    files, reports = [], {}
    for name in INSTALLED:
        rel = f"{name}/_speedups.cpython-313-x86_64-linux-gnu.so"
        f = ExtensionFile(path=f"{SITE}/{rel}", relpath=rel, module=f"{name}._speedups",
                          suffix=".cpython-313-x86_64-linux-gnu.so", loadable=True, owner=name, ownership="record")
        files.append(f)
        reports[f.path] = ModuleReport(
            name=f.module, path=f.path, format="elf", arch="x86_64", abi=Abi("cp313", False), init="multi-phase",
            gil="undeclared", multiple_interpreters="undeclared", framework="c",
            free_threading=Verdict(FT.NOT_BUILT_FOR_FT, "built for the GIL"),
            subinterpreters=Verdict(SI.SHARED_GIL_ONLY, "single-phase"))
    return EnvSnapshot(interpreter=interp, distributions=dists), files, reports


@pytest.fixture
def cached_pages(tmp_path, monkeypatch):
    """The recorded index pages in the HTTP cache of an empty FT_AUDIT_CACHE_DIR (--offline
    then answers from them)."""
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path))
    http = HttpClient(offline=True)
    client = PyPIClient(http=http)
    for name in INSTALLED:
        http._store(client.page_url(name), SIMPLE_JSON, (FIXTURES / f"{name}.simple.json").read_bytes(), {})
    return client


def test_warm_offers_come_from_their_cache_and_equal_the_full_pages_answer(cached_pages, monkeypatch):
    snapshot, files, reports = _environment()
    cold, cold_notes = env_audit.gather_ft_offers(snapshot, files, reports, ft_targets=None, offline=True)

    # The same answers as ft_offer_for on each whole page, parsed here (no cache involved).
    targets = env_audit.default_ft_targets(snapshot.interpreter, None)
    platforms = env_audit.platform_tags_for(snapshot.interpreter)
    fields = ("target", "pinned_version", "pinned_has_wheel", "pinned_wheel", "first_version_with_wheel",
              "latest_version_with_wheel", "latest_version", "note")
    for name, version in INSTALLED.items():
        url = cached_pages.page_url(name)
        full = parse_index(name, json.loads((FIXTURES / f"{name}.simple.json").read_bytes()), url)
        expected = [env_audit.ft_offer_for(full, version, t, platforms) for t in targets]
        assert [[getattr(o, f) for f in fields] for o in cold[name]] == [[getattr(o, f) for f in fields] for o in expected]
    assert [o.target for o in cold["lxml"]] == ["cp313t", "cp314t"]
    assert cold["markupsafe"][0].pinned_has_wheel is True           # 3.0.2 has cp313t wheels
    assert cold["zstandard"][1].latest_version_with_wheel is None   # recorded page: no cp314t wheel

    # Warm: neither the packed pages nor ft_offer_for are touched, and nothing differs.
    def forbidden(*args, **kwargs):
        raise AssertionError("a warm run recomputed an offer")

    with monkeypatch.context() as m:
        m.setattr(project_index.COMPACT_PAGES, "get", forbidden)
        m.setattr(env_audit, "ft_offer_for", forbidden)
        warm, warm_notes = env_audit.gather_ft_offers(snapshot, files, reports, ft_targets=None, offline=True)
    assert warm == cold and warm_notes == cold_notes

    # Another installed version is another question: computed, not taken from the cache.
    other = _dist("markupsafe", "3.0.4")
    snapshot2 = EnvSnapshot(snapshot.interpreter, tuple(other if d.key == "markupsafe" else d for d in snapshot.distributions))
    again, _ = env_audit.gather_ft_offers(snapshot2, files, reports, ft_targets=None, offline=True)
    assert again["markupsafe"][0].pinned_version == "3.0.4" and again["lxml"] == cold["lxml"]


def test_dependencies_are_cached_per_interpreter_and_equal_the_evaluated_markers(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path))
    requires = {"lxml": ('markupsafe ; python_version >= "3.13"', 'zstandard ; python_version < "3.10"',
                         'cryptography ; extra == "fast"', "this is not a requirement !!")}
    for target, wanted in (("3.13", ["markupsafe"]), ("3.9", ["zstandard"])):
        snapshot, _, _ = _environment(target, requires)
        computed = env_audit.dependency_names(snapshot)
        names, problems = computed[requires["lxml"]]
        assert names == wanted
        assert len(problems) == 1 and problems[0].startswith("Requires-Dist 'this is not a requirement !!'")
        assert computed[()] == ([], [])

        with monkeypatch.context() as m:
            m.setattr(envaudit, "requirement_names", lambda *a: pytest.fail("a warm run parsed Requires-Dist"))
            assert env_audit.dependency_names(snapshot) == computed
