"""The environment audit: inspect every extension file of a probed environment (in parallel,
with a per-file report cache), ask the index what free-threaded wheels it offers and judge
them, join the compatibility data and, on request, the runtime proof; auditor.envaudit rolls
the result up into an EnvAudit.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from packaging.version import InvalidVersion, Version

from auditor import envaudit, rollup
from auditor.cache import MARSHAL, PICKLE, CacheStore, inspector_fingerprint
from auditor.envaudit import NOT_ON_INDEX, FtOffer
from auditor.errors import AuditError, InputError
from auditor.model import FreeThreading, ModuleReport
from auditor.progress import Progress
from auditor.sources import env as envsource
from auditor.sources.env import EnvSnapshot, ExtensionFile, Interpreter
from auditor.target import FREE_THREADED, PythonTarget, is_free_threaded_abi, platform_tags

if TYPE_CHECKING:
    from auditor.project_index import ProjectIndex

__all__ = [
    "ReportCache",
    "audit_snapshot",
    "default_ft_targets",
    "ft_offer_for",
    "gather_compat",
    "gather_ft_offers",
    "inspect_files",
    "judge_offered_wheels",
    "platform_tags_for",
    "verify_files",
]

PARALLEL_THRESHOLD = 24          # below this, a process pool costs more than it saves


def audit_snapshot(snapshot: EnvSnapshot, *, cmd: Sequence[str] | None = None, verify: bool = False,
                   verify_timeout: float = 30.0, verify_env: Mapping[str, str] | None = None,
                   jobs: int | None = None, ask_pypi: bool = True, offline: bool = False,
                   ft_targets: Sequence[PythonTarget] | None = None, use_compat: bool = True, use_cache: bool = True,
                   notes: Sequence[str] = (), progress_stream=None) -> envaudit.EnvAudit:
    """The whole audit of one snapshot (the library entry point used by the CLI and tests)."""
    notes = list(notes)
    errors: list[str] = []
    files = envsource.collect_extension_files(snapshot)
    cache = ReportCache(snapshot.interpreter.environment_dirs) if use_cache else None
    reports = inspect_files(files, jobs=jobs, progress_stream=progress_stream, cache=cache)
    offers: dict[str, list[FtOffer]] = {}
    if ask_pypi:
        offers, pypi_notes = gather_ft_offers(snapshot, files, reports, ft_targets=ft_targets, offline=offline)
        notes.extend(pypi_notes)
    compat: dict[str, tuple[Any, list[str]]] = {}
    if use_compat:
        compat, compat_notes = gather_compat(snapshot, files, reports)
        notes.extend(compat_notes)
    runtime: dict[str, tuple[Any, Any]] = {}
    if verify:
        if cmd is None:
            notes.append("--verify needs an interpreter (--python); a folder audited with --path is not run")
        else:
            runtime = verify_files(cmd, snapshot.interpreter, files, reports, env=verify_env,
                                   timeout=verify_timeout, jobs=jobs, progress_stream=progress_stream)
            if snapshot.interpreter.free_threaded is False:
                notes.append("runtime proof on a GIL build: the GIL question is checked from the module "
                             "definitions' slots, not from sys._is_gil_enabled()")
    return envaudit.audit_environment(snapshot, files, reports, ft_offers=offers, compat=compat,
                                      runtime=runtime, notes=notes, errors=errors, verified=bool(verify and cmd),
                                      dependencies=dependency_names(snapshot) if use_cache else None)


# -- declared dependencies ------------------------------------------------------------------
DEPENDENCIES = CacheStore("env-dependencies", versioned=True)


def dependency_names(snapshot: EnvSnapshot) -> dict[tuple[str, ...], tuple[list[str], list[str]]]:
    """envaudit.requirement_names of every Requires-Dist list in the snapshot, for its
    interpreter, cached under a digest of the marker environment, the lists and packaging's
    version: parsing and evaluating a few hundred requirement lines (and importing packaging's
    marker parser) was a tenth of a warm run."""
    import hashlib

    from packaging import __version__ as packaging_version

    environment = envaudit.marker_environment(snapshot.interpreter)
    lists = sorted({d.requires_dist for d in snapshot.distributions})
    key = hashlib.sha256(repr((packaging_version, sorted(environment.items()), lists)).encode()).hexdigest()
    hit = DEPENDENCIES.get(key, MARSHAL, check=_is_dependency_entry)
    if hit is not None:
        return {tuple(lines): (names, problems) for lines, names, problems in hit}
    out = {lines: envaudit.requirement_names(lines, environment) for lines in lists}
    DEPENDENCIES.put(key, [[list(lines), names, problems] for lines, (names, problems) in out.items()], MARSHAL)
    return out


def _is_dependency_entry(value: Any) -> bool:
    return type(value) is list and all(
        type(row) is list and len(row) == 3 and all(type(part) is list and all(type(x) is str for x in part)
                                                   for part in row) for row in value)


# -- inspection in parallel -----------------------------------------------------------------
def _inspect_chunk(items: Sequence[tuple[str, str, str]]) -> list[tuple[str, ModuleReport]]:
    from auditor.inspect import inspect_module  # imported on use: other commands do not pay for it

    return [(path, inspect_module(path, display=rel, module_name=module)) for path, rel, module in items]


def _file_key(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class ReportCache:
    """Module reports of one environment, keyed by file identity (inode, size, mtime) and the
    inspector fingerprint, so a second audit of an unchanged environment re-reads nothing.

    One pickle entry of the "env-reports" store per set of environment folders (frozen
    dataclasses round-trip exactly), valid for one inspector fingerprint; a missing, truncated,
    foreign or wrongly-typed entry is a miss and is rewritten."""

    store = CacheStore("env-reports")

    def __init__(self, directories: Sequence[str]) -> None:
        self.fingerprint = inspector_fingerprint()
        self.key = "\0".join(directories)
        self.entries: dict[str, tuple[tuple[int, int, int], ModuleReport]] = \
            self.store.get(self.key, PICKLE, validity=self.fingerprint, check=_is_report_entries) or {}
        self.dirty = False

    def get(self, path: str) -> ModuleReport | None:
        hit = self.entries.get(path)
        if hit is None:
            return None
        return hit[1] if hit[0] == _file_key(path) else None

    def put(self, path: str, report: ModuleReport) -> None:
        key = _file_key(path)
        if key is not None and not report.errors:
            self.entries[path] = (key, report)
            self.dirty = True

    def save(self, keep: set[str]) -> None:
        if not self.dirty and set(self.entries) <= keep:
            return
        entries = {p: e for p, e in self.entries.items() if p in keep}
        self.store.put(self.key, entries, PICKLE, validity=self.fingerprint)   # False: only costs speed


def _is_report_entries(value: Any) -> bool:
    """path -> ((inode, size, mtime), ModuleReport): what `get` reads."""
    return isinstance(value, dict) and all(
        isinstance(path, str) and isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], tuple)
        and isinstance(entry[1], ModuleReport) for path, entry in value.items())


def inspect_files(files: Sequence[ExtensionFile], *, jobs: int | None = None, progress_stream=None,
                  cache: ReportCache | None = None) -> dict[str, ModuleReport]:
    """path -> ModuleReport, from the cache when the file is unchanged."""
    out: dict[str, ModuleReport] = {}
    todo = []
    for f in files:
        hit = cache.get(f.path) if cache is not None else None
        if hit is not None:
            out[f.path] = hit
        else:
            todo.append(f)
    fresh = _inspect_uncached(todo, jobs=jobs, progress_stream=progress_stream) if todo else {}
    out.update(fresh)
    if cache is not None:
        for path, report in fresh.items():
            cache.put(path, report)
        cache.save({f.path for f in files})
    return out


def _inspect_uncached(files: Sequence[ExtensionFile], *, jobs: int | None = None,
                      progress_stream=None) -> dict[str, ModuleReport]:
    """Parallel on large environments: threads when ft-audit itself runs with the GIL off
    (3.13t+), else worker processes (fork, before any thread starts), since the inspector is
    pure Python and threads would take turns on a GIL build. Chunks are balanced by file
    size so one huge module does not stall a worker."""
    items = [(f.path, f.relpath, f.module) for f in files]
    jobs = jobs or os.cpu_count() or 1
    out: dict[str, ModuleReport] = {}
    import multiprocessing
    from concurrent.futures import ThreadPoolExecutor

    gil_off = not getattr(sys, "_is_gil_enabled", lambda: True)()
    with Progress(len(items), "inspecting", stream=progress_stream) as progress:
        use_pool = jobs > 1 and len(items) >= PARALLEL_THRESHOLD and (
            gil_off or "fork" in multiprocessing.get_all_start_methods())
        if not use_pool:
            for item in items:
                out.update(_inspect_chunk([item]))
                progress.advance(1, item[2])
            return out
        sizes = {}
        for path, _, _ in items:
            try:
                sizes[path] = os.stat(path).st_size
            except OSError:
                sizes[path] = 0
        n_chunks = jobs * 4
        chunks: list[list[tuple[str, str, str]]] = [[] for _ in range(n_chunks)]
        loads = [0] * n_chunks
        for item in sorted(items, key=lambda i: -sizes[i[0]]):
            k = loads.index(min(loads))
            chunks[k].append(item)
            loads[k] += sizes[item[0]] + 65536   # fixed per-file cost
        from concurrent.futures import Executor, ProcessPoolExecutor, as_completed

        pool_type: Executor = (ThreadPoolExecutor(max_workers=jobs) if gil_off else
                               ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")))
        with pool_type as pool:
            futures = [pool.submit(_inspect_chunk, chunk) for chunk in chunks if chunk]
            for future in as_completed(futures):
                done = future.result()
                out.update(done)
                progress.advance(len(done))
    return out


# -- PyPI: what the free-threaded interpreter would get -----------------------------------
def default_ft_targets(interp: Interpreter, requested: Sequence[PythonTarget] | None) -> list[PythonTarget]:
    """The free-threaded interpreters to ask the index about: the requested ones, else the
    audited interpreter's own version when it has a free-threaded build, and 3.14 below it."""
    if requested:
        return list(requested)
    if interp.free_threaded:
        return [PythonTarget(3, interp.minor, True)]
    out = [PythonTarget(3, interp.minor, True)] if (3, interp.minor) in FREE_THREADED else []
    if interp.minor < 14:
        out.append(PythonTarget(3, 14, True))
    return out


def platform_tags_for(interp: Interpreter) -> list[str]:
    """Platform tags of the audited interpreter. Same machine as ft-audit: packaging computes
    them (manylinux/musllinux); otherwise they are expanded from the interpreter's platform
    (glibc 2.17 when the probe did not say) by auditor.target.platform_tags."""
    import sysconfig

    from packaging import tags

    if interp.probed and interp.platform == sysconfig.get_platform() and interp.pointer_bits == (64 if sys.maxsize > 2**32 else 32):
        return list(tags.platform_tags())
    plat = interp.platform.replace("-", "_").replace(".", "_")
    name = plat
    if plat.startswith("linux_"):
        glibc = "_".join((interp.glibc or "2.17").split(".")[:2])
        name = f"manylinux_{glibc}_{plat[len('linux_'):]}"
    try:
        return list(platform_tags(name))
    except InputError:
        return [plat]          # a platform PyPI has no wheels for: only its own tag


@functools.lru_cache(maxsize=16)
def _supported_tags(target: PythonTarget, platforms: tuple[str, ...]) -> frozenset[str]:
    return frozenset(target.wheel_tags(list(platforms)))


def ft_offer_for(project: ProjectIndex, version: str | None, target: PythonTarget,
                 platforms: Sequence[str]) -> FtOffer:
    """Pure: does this project's index hold a wheel for the free-threaded `target` (cp3XYt, or
    abi3t from 3.15) on these platforms?"""
    supported = _supported_tags(target, tuple(platforms))
    versions_with: list[Version] = []
    pinned_wheel = None
    pinned = None
    try:
        pinned = Version(version) if version else None
    except InvalidVersion:
        pinned = None
    for f in project.free_threaded_wheels(supported):
        # A wheel that also runs on the GIL build (py3-none-any) says nothing about free threading.
        if f.yanked or f.version is None or not any(
                is_free_threaded_abi(t.abi) and str(t) in supported for t in f.tags):
            continue
        versions_with.append(f.version)
        if pinned is not None and f.version == pinned and pinned_wheel is None:
            pinned_wheel = f.filename
    finals = sorted({v for v in versions_with if not v.is_prerelease}) or sorted(set(versions_with))
    latest = max((v for v in project.versions if not v.is_prerelease), default=None)
    later = [v for v in finals if pinned is None or v >= pinned]
    return FtOffer(
        target=target.abi,
        pinned_version=version,
        pinned_has_wheel=pinned_wheel is not None,
        pinned_wheel=pinned_wheel,
        first_version_with_wheel=str(later[0]) if later else None,
        latest_version_with_wheel=str(finals[-1]) if finals else None,
        latest_version=str(latest) if latest else None,
        note="stale PyPI answer (offline or unreachable)" if project.stale else "",
    )


class PagePackers:
    """Worker processes that parse and pack index pages (project_index.pack_page) in a cold run.

    A cold `env` is CPU-bound on a GIL build: parsing and packing the pages (73 MB of JSON for
    the 374-module benchmark venv, ~0.6 s of CPU) ran in the fetch threads one at a time under
    the interpreter lock, while the second core idled. Started only on a GIL build (a free-threaded
    one parses on every core in threads), with fork, at least 2 CPUs and enough pages, and only
    from a process with no other thread: the workers are forked here, before any fetch thread
    starts (forking while threads hold locks can leave the child deadlocked)."""

    MIN_PAGES = 4

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    def start(cls, pages: int) -> PagePackers | None:
        import multiprocessing
        import threading

        cpus = os.cpu_count() or 1
        if (pages < cls.MIN_PAGES or cpus < 2 or not getattr(sys, "_is_gil_enabled", lambda: True)()
                or "fork" not in multiprocessing.get_all_start_methods() or threading.active_count() > 1):
            return None
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(max_workers=min(2, cpus), mp_context=multiprocessing.get_context("fork"),
                                   initializer=_ignore_sigint)
        pool.submit(int).result()      # the fork context starts every worker on the first task: now
        return cls(pool)

    def pack(self, body: bytes, url: str) -> dict:
        from auditor.project_index import pack_page

        return self._pool.submit(pack_page, body, url).result()

    def close(self) -> None:
        from auditor.http import requests_aborted

        self._pool.shutdown(wait=not requests_aborted(), cancel_futures=True)


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group: the parent reports it once and stops the workers.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def gather_ft_offers(snapshot: EnvSnapshot, files: Sequence[ExtensionFile], reports: Mapping[str, ModuleReport],
                     *, ft_targets: Sequence[PythonTarget] | None, offline: bool) -> tuple[dict[str, list[FtOffer]], list[str]]:
    interp = snapshot.interpreter
    targets = default_ft_targets(interp, ft_targets)
    if not targets:
        return {}, []
    needs: dict[str, str | None] = {}
    versions = {d.key: d.version for d in snapshot.distributions}
    for f in files:
        if f.owner is None or not f.loadable or not reports[f.path].extension_module:
            continue
        if interp.free_threaded and reports[f.path].free_threading.value == FreeThreading.READY:
            continue
        needs.setdefault(f.owner, versions.get(f.owner))
    if not needs:
        return {}, []
    from concurrent.futures import ThreadPoolExecutor

    from auditor.project_index import cached_index, fresh_page_key
    from auditor.pypi import ONE_DAY, ProjectNotFound, PyPIClient
    from auditor.wheel_verdicts import WheelFile

    client = PyPIClient(offline=offline)
    platforms = platform_tags_for(interp)
    failures: list[str] = []
    # project -> {file name: WheelFile} of the offered (pinned) wheels, for their binary verdicts
    pinned: dict[str, dict[str, Any]] = {}

    packers: PagePackers | None = None     # started below, for the pages to fetch

    def one(key: str) -> tuple[str, list[FtOffer]]:
        try:
            project = client.project_index(key, max_age=ONE_DAY, packer=packers.pack if packers else None)
        except ProjectNotFound:  # built here or from another index: a quiet group, not a failure
            return key, [FtOffer(t.abi, needs[key], None, note=NOT_ON_INDEX) for t in targets]
        except AuditError as exc:
            failures.append(exc.one_line())
            return key, [FtOffer(t.abi, needs[key], None, note=exc.reason[:120]) for t in targets]
        key_offers = [ft_offer_for(project, needs[key], t, platforms) for t in targets]
        pinned[key] = _pinned_wheels(key, project, key_offers)
        answer = fresh_page_key(client, key, max_age=ONE_DAY)
        if answer is not None:
            OFFERS.put(_offers_key(answer[0], needs[key], targets, platforms),
                       _offers_entry(key_offers, pinned[key]), MARSHAL)
        return key, key_offers

    # A warm run: each project's offers were derived from the same cached page before (one
    # small metadata read and one small entry each; no page loaded, no version parsed).
    # Threads only for the projects whose page must be fetched or revalidated.
    results: dict[str, list[FtOffer]] = {}
    missing = []
    for key in sorted(needs):
        answer = fresh_page_key(client, key, max_age=ONE_DAY)
        question = _offers_key(answer[0], needs[key], targets, platforms) if answer else None
        hit = OFFERS.get(question, MARSHAL, check=_is_offers_entry) if question else None
        if answer is not None and hit is not None:
            note = "stale PyPI answer (offline or unreachable)" if answer[1]["stale"] else ""
            results[key] = [FtOffer(t, version, has, wheel, first, latest_with, latest, note)
                            for t, version, has, wheel, first, latest_with, latest in hit["offers"]]
            pinned[key] = {name: WheelFile(key, name, *where) for name, where in hit["wheels"].items()}
            continue
        project = cached_index(client, key, max_age=ONE_DAY) if answer else None
        if project is None:
            missing.append(key)
            continue
        results[key] = [ft_offer_for(project, needs[key], t, platforms) for t in targets]
        pinned[key] = _pinned_wheels(key, project, results[key])
        if question:
            OFFERS.put(question, _offers_entry(results[key], pinned[key]), MARSHAL)
    if missing:
        packers = PagePackers.start(len(missing))
        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                results.update(pool.map(one, missing))
        finally:
            if packers is not None:
                packers.close()
    results = {key: results[key] for key in sorted(results)}
    notes = []
    if failures:
        notes.append(f"PyPI: {len(failures)} of {len(needs)} lookups failed, shown as unknown "
                     f"(first: {failures[0]})")
    results, verdict_notes = judge_offered_wheels(results, pinned, client, offline=offline)
    return results, notes + verdict_notes


# project page (page_cache_key) + installed version + targets + platforms -> ft_offer_for's
# answers (without the note, which follows the page's staleness) and the offered wheels' files.
OFFERS = CacheStore("env-ft-offers", versioned=True)


def _offers_key(answer: str, version: str | None, targets: Sequence[PythonTarget], platforms: Sequence[str]) -> str:
    return "\0".join([answer, version or "", ",".join(t.abi for t in targets), ",".join(platforms)])


def _offers_entry(offers: Sequence[FtOffer], wheels: Mapping[str, Any]) -> dict:
    return {"offers": [[o.target, o.pinned_version, o.pinned_has_wheel, o.pinned_wheel, o.first_version_with_wheel,
                        o.latest_version_with_wheel, o.latest_version] for o in offers],
            "wheels": {name: [w.url, w.sha256, w.size] for name, w in wheels.items()}}


def _is_offers_entry(value: Any) -> bool:
    return (type(value) is dict and type(value.get("offers")) is list and type(value.get("wheels")) is dict
            and all(type(o) is list and len(o) == 7 for o in value["offers"])
            and all(type(w) is list and len(w) == 3 and type(w[0]) is str for w in value["wheels"].values()))


def _pinned_wheels(key: str, project: ProjectIndex, offers: Sequence[FtOffer]) -> dict[str, Any]:
    """{file name: WheelFile} of the wheels `offers` name (the installed version's)."""
    from auditor.wheel_verdicts import WheelFile

    names = {o.pinned_wheel for o in offers if o.pinned_wheel}
    return {name: WheelFile(key, name, f.url, f.sha256, f.size)
            for name in sorted(names) for f in [project.dist_file(name)]}


def judge_offered_wheels(offers: dict[str, list[FtOffer]], pinned: Mapping[str, Mapping[str, Any]], client, *,
                         offline: bool) -> tuple[dict[str, list[FtOffer]], list[str]]:
    """Each offered wheel gets its modules' verdicts (auditor.wheel_verdicts: census of the same
    file, verdict cache, range reads of the extension members): a tag alone is a claim.
    `pinned` maps a project to {file name: WheelFile} of its offered wheels."""
    import dataclasses

    from auditor.wheel_verdicts import NOT_READ, census_entries, wheel_verdicts

    wanted: dict[tuple[str, str], Any] = {}
    for key, key_offers in offers.items():
        files = pinned.get(key, {})
        for offer in key_offers:
            wheel = files.get(offer.pinned_wheel) if offer.pinned_wheel else None
            if wheel is not None:
                wanted[(key, offer.target)] = wheel
    if not wanted:
        return offers, []
    verdicts = wheel_verdicts(wanted.values(), http=client.http, census=census_entries({k for k, _ in wanted}),
                              download=not offline)
    judged: dict[str, list[FtOffer]] = {}
    errors, not_read = [], []
    for key, key_offers in offers.items():
        judged[key] = []
        for offer in key_offers:
            wheel = wanted.get((key, offer.target))
            if wheel is None:
                judged[key].append(offer)
                continue
            verdict = verdicts[wheel.filename]
            if verdict.error:
                errors.append(verdict.error)
            elif verdict.source == NOT_READ:
                not_read.append(f"{key} {offer.target}")
            judged[key].append(dataclasses.replace(
                offer, free_threading=verdict.free_threading, subinterpreters=verdict.subinterpreters,
                evidence=verdict.evidence, verdict_source=verdict.source))
    notes = []
    if errors:
        notes.append(f"{len(errors)} offered wheel(s) could not be read, shown as not judged (first: {errors[0]})")
    if not_read:
        notes.append(f"--offline: {len(not_read)} offered wheel(s) not judged (no census or cached verdict): "
                     + ", ".join(not_read))
    return judged, notes


# -- compatibility data ---------------------------------------------------------------------
def gather_compat(snapshot: EnvSnapshot, files: Sequence[ExtensionFile],
                  reports: Mapping[str, ModuleReport]) -> tuple[dict[str, tuple[Any, list[str]]], list[str]]:
    try:
        from auditor.compat.lookup import ObservedEvidence, load_compat
    except ImportError as exc:  # the data layer is optional for an env audit
        return {}, [f"compatibility data unavailable ({exc})"]
    try:
        data = load_compat(allow_network=False)
    except Exception as exc:  # broken data must not end the audit
        return {}, [f"compatibility data unreadable: {str(exc).splitlines()[0][:160]}"]
    notes = list(getattr(data, "notes", []) or [])[:3]
    stale = data.staleness_note()
    if stale:
        notes.append(stale)
    interp = snapshot.interpreter
    owned: dict[str, list[ModuleReport]] = {}
    for f in files:
        if f.owner and f.loadable and reports[f.path].extension_module:
            owned.setdefault(f.owner, []).append(reports[f.path])
    worst = {owner: rollup.package_verdict(mods, rollup.FREE_THREADING).value for owner, mods in owned.items()}
    out: dict[str, tuple[Any, list[str]]] = {}
    for d in snapshot.distributions:
        if d.key not in worst:
            continue     # pure Python: the tracker's view adds nothing to the evidence
        try:
            record = data.lookup(d.name, d.version)
        except Exception as exc:
            notes.append(f"compatibility lookup of {d.name} failed: {exc}")
            continue
        observed = worst[d.key] if interp.free_threaded else None
        try:
            messages = [x.message for x in record.disagreements(ObservedEvidence(observed, d.version))]
        except Exception as exc:
            messages = []
            notes.append(f"compatibility check of {d.name} failed: {exc}")
        tracker = record.tracker
        census = record.census
        doc = {
            "tracker_status": tracker.status if tracker else None,
            "tracker_first_version": tracker.first_version if tracker else None,
            "wheels_list_free_threaded_wheel": record.wheels_list.free_threaded_wheel if record.wheels_list else None,
            "census_first_ft_version": dict(census.first_ft_version) if census else None,
            "in_census": record.in_census,
        }
        if any(v for k, v in doc.items() if k != "in_census") or messages:
            out[d.key] = (doc, messages)
    return out, notes


# -- runtime proof ------------------------------------------------------------------------
def verify_files(cmd: Sequence[str], interp: Interpreter, files: Sequence[ExtensionFile],
                 reports: Mapping[str, ModuleReport], *, env: Mapping[str, str] | None, timeout: float,
                 jobs: int | None, progress_stream=None) -> dict[str, tuple[Any, Any]]:
    from auditor import verify

    todo = [(f.module, f.path) for f in files if f.loadable and reports[f.path].extension_module]
    with Progress(len(todo), "verifying", stream=progress_stream) as progress:
        results = verify.run_many(cmd, todo, env=env, timeout=timeout, jobs=jobs,
                                  on_done=lambda name: progress.advance(1, name))
    out: dict[str, tuple[Any, Any]] = {}
    for path, result in results.items():
        out[path] = (result, verify.compare(reports[path], result, free_threaded=interp.free_threaded))
    return out
