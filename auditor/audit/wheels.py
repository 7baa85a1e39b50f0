"""The wheel audit (the build-time gate): collect wheels from paths or a PyPI release, read each
safely (auditor.sources.wheel), inspect its extension members (auditor.wheel_modules) and assess
it (auditor.wheel_gate), in parallel where it pays; an unreadable wheel becomes an "error"
report with a one-line reason and the rest goes on.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import InvalidWheelFilename

from auditor.errors import ArchiveError, AuditError, InputError
from auditor.model import Finding, WheelReport
from auditor.target import PythonTarget, WheelName
from auditor.wheel_modules import inspect_extensions

if TYPE_CHECKING:   # concurrent.futures (with logging, multiprocessing, pickle) is imported only for a pool
    from concurrent.futures import Executor

__all__ = [
    "AuditOptions", "Inputs", "WheelFailure", "audit_paths", "audit_wheel_file", "audit_wheel_part",
    "audit_wheel_task", "collect_local", "fetch_pypi", "filter_wheels", "finish_wheel", "keep_freed_memory",
]


@dataclass(frozen=True)
class AuditOptions:
    ignore: frozenset[str] = frozenset()
    require_ft: PythonTarget | None = None     # every GIL wheel for it needs a free-threaded sibling
    jobs: int = 0
    hashes: str = "audited"  # auditor.sources.wheel.HASH_AUDITED / HASH_ALL
    executor: str = ""   # "process" | "thread" | "serial"; "" = FT_AUDIT_WHEEL_EXECUTOR or the default


@dataclass
class Inputs:
    wheels: list[Path] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)   # (name, reason): inputs that are not wheels


def collect_local(paths: Sequence[str]) -> Inputs:
    inputs = Inputs()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.name.endswith(".whl") and p.is_file())
            if not found:
                inputs.problems.append((raw, "folder holds no .whl files"))
            inputs.wheels += found
        elif path.exists():
            inputs.wheels.append(path)
        else:
            inputs.problems.append((raw, "no such file or folder"))
    return inputs


def filter_wheels(paths: Sequence[Path], *, platforms: Sequence[str], abis: Sequence[str]) -> list[Path]:
    """Keep wheels with any platform / ABI tag matching any given glob. Names that cannot be
    parsed are kept, so that their problem is reported rather than silently filtered away."""
    if not platforms and not abis:
        return list(paths)
    kept = []
    for path in paths:
        try:
            name = WheelName.parse(path.name)
        except InvalidWheelFilename:
            kept.append(path)
            continue
        wheel_abis, wheel_platforms = name.abis, name.platforms
        if platforms and not any(fnmatch.fnmatchcase(p, g) for p in wheel_platforms for g in platforms):
            continue
        if abis and not any(fnmatch.fnmatchcase(a, g) for a in wheel_abis for g in abis):
            continue
        kept.append(path)
    return kept


def fetch_pypi(spec: str, *, platforms: Sequence[str] = (), abis: Sequence[str] = (), offline: bool = False) -> Inputs:
    """Download every wheel of one release (hash-checked, cached) into the cache's wheels/ folder."""
    from auditor.cache import cache_dir
    from auditor.progress import Progress
    from auditor.pypi import PyPIClient, release_files

    client = PyPIClient(offline=offline)
    files, version, wanted = release_files(client, spec, "wheel")
    if not wanted:
        raise InputError(spec, f"{files.name} {version} has no wheels (sdist only?)")
    names = filter_wheels([Path(f.filename) for f in wanted], platforms=platforms, abis=abis)
    keep = {p.name for p in names}
    wanted = [f for f in wanted if f.filename in keep]
    folder = cache_dir("wheels", files.name)
    inputs = Inputs()
    with Progress(len(wanted), f"downloading {files.name} {version}") as progress:
        for dist in wanted:
            if "/" in dist.filename or dist.filename.startswith("."):
                inputs.problems.append((dist.filename, "index served an unsafe file name"))
                continue
            try:
                inputs.wheels.append(client.http.download(dist.url, dist.sha256, folder / dist.filename))
            except AuditError as exc:
                inputs.problems.append((dist.filename, f"download failed: {exc.one_line()}"))
            progress.advance(1, dist.filename)
    return inputs


# -- auditing -------------------------------------------------------------------------------

# A wheel at least this large (compressed), and too large a part of the run for the pool to
# balance, is split into one share per worker, so a run on a single big wheel (the usual CI
# gate) still uses every core.
SPLIT_BYTES = 2 << 20

# Below this many compressed bytes in all, the wheels are audited in this process: starting a
# pool (importing concurrent.futures and multiprocessing, forking, sending reports back) costs
# more than a second core saves on so little work. Measured here (2 CPUs, load 3-5, medians of
# 7-9 alternating runs, wall s serial / process / thread): 20 pinned wheels of 2.3 MB 0.26 /
# 0.27 / 0.28; 5.3 MB 0.29 / 0.33 / 0.29; 13 MB 0.34 / 0.28 / 0.27; 46 MB 0.86 / 0.68 / 0.77.
# Above it the pool costs ~0.1 s more CPU (its imports, forks, shares re-reading a split wheel's
# central directory) and pays only with an idle core: at load 2 on the same 2 CPUs, 46 MB took
# 0.64 / 0.71 / 0.67 s.
POOL_MIN_BYTES = 8 << 20


def audit_paths(paths: Sequence[Path], options: AuditOptions,
                on_done: Callable[[WheelReport], None] | None = None) -> list[WheelReport]:
    """Audit wheels in parallel; reports come back in the order of `paths`."""
    from auditor.wheel_gate import sibling_findings, unreadable_wheel

    if not paths:
        return []
    extra: dict[str, list[Finding]] = {}
    if options.require_ft:
        extra = sibling_findings([p.name for p in paths], options.require_ft)
    sizes = [_size(p) for p in paths]
    kind = options.executor or os.environ.get("FT_AUDIT_WHEEL_EXECUTOR") or (
        "serial" if sum(sizes) < POOL_MIN_BYTES else DEFAULT_EXECUTOR)
    workers = max(1, options.jobs or os.cpu_count() or 1)
    parallel = kind != "serial" and workers > 1
    # Split only a wheel the pool cannot balance by itself: one above 1/(2*workers) of all the
    # bytes. Each share re-reads the central directory and re-checks every member name, so
    # splitting wheels among many costs CPU for nothing (42 pinned wheels on 2 workers:
    # 1.91 -> 1.80 s of worker CPU without splits).
    total = sum(sizes)
    shares = [workers if parallel and kind == "process" and size >= SPLIT_BYTES
              and size * 2 * workers > total else 1 for size in sizes]
    # (wheel, share) tasks, biggest first, so one large wheel does not start last and run alone.
    tasks = sorted(((i, k) for i in range(len(paths)) for k in range(shares[i])),
                   key=lambda t: -sizes[t[0]] / shares[t[0]])
    parts: list[dict[int, object]] = [{} for _ in paths]
    results: list[WheelReport | None] = [None] * len(paths)

    def collect(i: int, k: int, part) -> None:
        if isinstance(part, WheelReport):   # a whole wheel, assessed in the worker
            results[i] = part
            if on_done:
                on_done(part)
            return
        parts[i][k] = part
        if len(parts[i]) == shares[i]:
            report = results[i] = finish_wheel(paths[i].name, [parts[i][j] for j in range(shares[i])],
                                               extra=extra.get(paths[i].name, ()), ignore=options.ignore)
            parts[i] = {}
            if on_done:
                on_done(report)

    if not parallel or len(tasks) == 1:
        for i, k in tasks:
            collect(i, k, audit_wheel_part(str(paths[i]), k, shares[i], options.hashes))
        return results  # type: ignore[return-value]
    # Import the inspector (and its knowledge tables) once here, so forked workers inherit it.
    from concurrent.futures import as_completed

    import auditor.inspect  # noqa: F401

    with _executor(kind, min(workers, len(tasks))) as pool:
        futures = {pool.submit(audit_wheel_task, str(paths[i]), k, shares[i], options.hashes,
                               extra.get(paths[i].name, ()), options.ignore): (i, k)
                   for i, k in tasks}
        for future in as_completed(futures):
            i, k = futures[future]
            try:
                part = future.result()
            except Exception as exc:  # noqa: BLE001 - a crashed worker is reported, not raised
                part = WheelFailure(f"audit failed: {exc.__class__.__name__}: {exc}")
            collect(i, k, part)
    for i, report in enumerate(results):  # defensive: every wheel gets a report
        if report is None:
            results[i] = unreadable_wheel(paths[i].name, "audit did not finish", ignore=options.ignore)
    return results  # type: ignore[return-value]


# glibc mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> None:
    """Let glibc reuse the memory of one decompressed module for the next. By default every
    block over 128 KiB (up to 32 MiB as the threshold adapts) is a fresh mmap, and the freed
    heap top goes back to the kernel, so each module's bytes cost page faults and zeroing
    again: ~100k minor faults and 0.27 s of system time for the 42 pinned wheels; with these
    settings ~80k and 0.20 s. The process keeps its peak heap (bounded by the per-wheel
    memory limit) until it exits. A no-op off glibc; results do not depend on it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
        mallopt(_M_MMAP_THRESHOLD, 32 << 20)   # the largest value glibc accepts on 64-bit
        mallopt(_M_TRIM_THRESHOLD, 512 << 20)
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        pass


def _default_executor() -> str:
    """Forked processes on Linux with the GIL, which serialises the inspector's pure-Python
    parsing across threads; threads on a free-threaded interpreter (the GIL is off) and where
    workers would have to be spawned (macOS, Windows: each would re-import the inspector).
    Decompression and hashing release the GIL either way. Compare with
    benchmarks/bench_wheels.py; FT_AUDIT_WHEEL_EXECUTOR=thread|process|serial overrides."""
    gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)()
    return "process" if gil_enabled and sys.platform.startswith("linux") else "thread"


DEFAULT_EXECUTOR = _default_executor()


def _executor(kind: str, workers: int) -> Executor:
    if kind == "thread":
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(workers)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers inherit the imported inspector (no threads run in this process yet).
    method = "fork" if sys.platform.startswith("linux") else None
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


@dataclass(frozen=True)
class WheelFailure:
    """A wheel (share) that could not be read: the one-line reason."""

    reason: str


def audit_wheel_part(path: str, share: int = 0, shares: int = 1, hashes: str = "audited"):
    """Read and inspect share `share` of `shares` of one wheel (in a worker). Returns
    (WheelContents without member bytes, [(member, ModuleReport, claimed ABI), ...]) or a
    WheelFailure; never raises for a bad wheel."""
    from auditor.sources.wheel import read_wheel

    name = Path(path).name
    try:
        contents = read_wheel(path, hashes=hashes, part=(share, shares))
    except ArchiveError as exc:
        return WheelFailure(exc.reason if exc.where == name else exc.one_line())
    with contents:
        modules = inspect_extensions(contents)
    for member in contents.extensions:  # facts only cross back to the parent, not bytes
        member.data = member.file = None
    return contents, modules


def audit_wheel_task(path: str, share: int, shares: int, hashes: str, extra: Sequence[Finding],
                     ignore: frozenset[str]):
    """A pool task: a whole wheel comes back assessed (a WheelReport is a third of the pickled
    bytes of its contents and module facts, and the parent, which shares the cores with the
    workers, then only unpickles it: 42 pinned wheels, 0.09 -> 0.01 s of parent CPU); a share
    of a split wheel comes back as audit_wheel_part's part, for finish_wheel to join."""
    part = audit_wheel_part(path, share, shares, hashes)
    if shares > 1:
        return part
    return finish_wheel(Path(path).name, [part], extra=extra, ignore=ignore)


def finish_wheel(name: str, parts: Sequence, *, extra: Sequence[Finding] = (),
                 ignore: frozenset[str] = frozenset()) -> WheelReport:
    """Join a wheel's shares and run the gate's checks on it."""
    from auditor.sources.wheel import merge_parts
    from auditor.wheel_gate import assess_wheel, unreadable_wheel

    failure = next((p for p in parts if isinstance(p, WheelFailure)), None)
    if failure is not None:
        return unreadable_wheel(name, failure.reason, extra=extra, ignore=ignore)
    contents = merge_parts([c for c, _ in parts]) if len(parts) > 1 else parts[0][0]
    order = {member: i for i, member in enumerate(contents.members)}
    modules = sorted((m for _, ms in parts for m in ms), key=lambda m: order.get(m[0].name, len(order)))
    return assess_wheel(contents, modules, extra=extra, ignore=ignore)


def audit_wheel_file(path: str, extra: Sequence[Finding] = (), ignore: frozenset[str] = frozenset(),
                     hashes: str = "audited") -> WheelReport:
    """Read, inspect and assess one wheel in this process; never raises for a bad wheel."""
    return finish_wheel(Path(path).name, [audit_wheel_part(path, 0, 1, hashes)], extra=extra, ignore=ignore)
