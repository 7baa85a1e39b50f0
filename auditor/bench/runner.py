"""Run the benchmark on the running interpreter and return a BenchReport.

Order of work: allocate the input once (in shared memory when possible), run every workload
sequentially to get the reference result, then for each mode and worker count start the
workers once and time each workload `repeats` times after one untimed warm-up run. Each
timed run is paired with a sequential run next to it (alternating which goes first), and the
speedup is the median of the pair ratios, so load from other processes that changes during
the bench does not show up as a speedup or a slowdown. Every timed run starts from an `out`
array filled with NaN, and the last run's result is compared with the sequential reference,
so a mode that computes nothing, or the wrong thing, shows up as a disagreement instead of a
fast time.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auditor.bench import workers as W
from auditor.bench.conclude import conclusion
from auditor.bench.engines import (
    MODE_DESCRIPTIONS,
    Arrays,
    Engine,
    InterpreterEngine,
    OpenMPEngine,
    PickleEngine,
    SequentialEngine,
    SharedMemoryEngine,
    ThreadEngine,
)
from auditor.bench.model import BenchReport, Cell, ModeInfo, WorkloadInfo
from auditor.bench.startup import measure_startup
from auditor.bench.subinterp import find_api

DEFAULT_SIZE = 10_000_000
QUICK_SIZE = 200_000
ALL_MODES = tuple(MODE_DESCRIPTIONS)

#: name -> (description, share of the base size). The pure-Python loop and the object-dtype op
#: are ~50-100x slower per element than the compiled kernels, so they get a smaller input to
#: keep every workload's sequential time in the same range.
WORKLOADS: dict[str, tuple[str, float]] = {
    "py_loop": ("pure-Python loop: sum of math.sin(x)**2 + math.cos(x)**2", 0.05),
    "np_sincos": ("numpy element-wise: np.sin(a)**2 + np.cos(a)**2", 1.0),
    "np_norm": ("numpy: np.linalg.norm(a) (squared partial norms, combined)", 1.0),
    "c_sincos": ("ftaudit_ext C kernel: sin^2+cos^2 into out, GIL released", 1.0),
    "c_norm": ("ftaudit_ext C kernel: sum of squares -> norm, GIL released", 1.0),
    "cy_sincos": ("ftaudit_ext Cython kernel: sin^2+cos^2 into out, in `with nogil`", 1.0),
    "cy_norm": ("ftaudit_ext Cython kernel: sum of squares -> norm, in `with nogil`", 1.0),
    "np_object": ("numpy object dtype: (a*a).sum() over Python floats (never releases the GIL)", 0.05),
}

# Bytes needed per element beyond the shared src/out arrays, per workload, at the peak of the
# most demanding mode (pickled copies on both ends, numpy temporaries, Python float objects).
EXTRA_BYTES_PER_ELEMENT = {
    "py_loop": 16, "np_sincos": 40, "np_norm": 24, "c_sincos": 32, "c_norm": 16,
    "cy_sincos": 32, "cy_norm": 16, "np_object": 8 + 24 + 8 + 24 + 64,
}

ELEMENTWISE_TOLERANCE = 1e-12   # sin^2+cos^2 is ~1; chunking must not change it beyond rounding
REDUCTION_REL_TOLERANCE = 1e-9  # partial sums change the summation order


class BenchUnavailable(Exception):
    """The bench cannot run at all on this interpreter (e.g. numpy is missing)."""


@dataclass(frozen=True)
class BenchConfig:
    size: int = DEFAULT_SIZE
    repeats: int = 5
    workers: tuple[int, ...] = ()            # () -> 1..cores
    modes: tuple[str, ...] = ALL_MODES
    workloads: tuple[str, ...] = tuple(WORKLOADS)
    quick: bool = False
    startup_repeats: int = 5


def cores() -> int:
    if hasattr(os, "process_cpu_count"):
        return os.process_cpu_count() or 1  # 3.13+: honours affinity
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def available_memory() -> int | None:
    """Bytes of memory available to new allocations, or None if this OS does not say."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def python_info() -> dict[str, Any]:
    gil_disabled = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    return {
        "implementation": sys.implementation.name,
        "version": platform.python_version(),
        "executable": sys.executable,
        "gil_disabled": gil_disabled,
        "gil_enabled_now": bool(getattr(sys, "_is_gil_enabled", lambda: True)()),
        "platform": platform.platform(),
    }


def load_average() -> float | None:
    """1-minute load average (Unix), to flag runs where other processes competed for the CPU."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


def blas_note(np: Any) -> str | None:
    """Which BLAS numpy calls for np.linalg.norm, and whether its own thread pool is limited:
    a multi-threaded BLAS already uses several cores in the "sequential" run."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        name = f"{blas['name']} {blas.get('version', '')}".strip()
    except Exception:  # older numpy, or a build without that section
        return None
    limit = next((f"{v}={os.environ[v]}" for v in BLAS_THREAD_VARIABLES if os.environ.get(v)), None)
    if limit:
        return f"numpy's BLAS is {name}, its threads limited by {limit}"
    return (f"numpy's BLAS is {name} with its own thread pool: np.linalg.norm may already use "
            "several cores in the sequential run (OPENBLAS_NUM_THREADS=1 turns that off)")


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def allocate(n: int, np: Any, object_elements: int) -> tuple[Arrays, list[Any]]:
    """Input, output and results arrays; in shared memory when the platform allows it.
    Returns the arrays and the SharedMemory blocks the caller must close and unlink."""
    blocks: list[Any] = []
    shared_names = None
    shared_unavailable = None
    try:
        from multiprocessing import shared_memory

        for nbytes in (n * 8, n * 8, 64 * 8):
            blocks.append(shared_memory.SharedMemory(create=True, size=max(nbytes, 8)))
        src = np.ndarray((n,), dtype=np.float64, buffer=blocks[0].buf)
        out = np.ndarray((n,), dtype=np.float64, buffer=blocks[1].buf)
        results = np.ndarray((64,), dtype=np.float64, buffer=blocks[2].buf)
        shared_names = tuple(b.name for b in blocks)
    except (ImportError, OSError) as exc:
        for b in blocks:
            b.close()
            b.unlink()
        blocks = []
        shared_unavailable = f"multiprocessing.shared_memory is unavailable: {exc}"
        src = np.empty(n, dtype=np.float64)
        out = np.empty(n, dtype=np.float64)
        results = np.zeros(64, dtype=np.float64)
    # A fixed, seeded input so runs and interpreters compare like with like.
    src[:] = np.random.default_rng(20261125).uniform(-10.0, 10.0, n)
    out.fill(np.nan)
    obj = src[:object_elements].astype(object)
    arrays = Arrays(src=src, out=out, obj=obj, results=results,
                    shared_names=shared_names, shared_unavailable=shared_unavailable)
    return arrays, blocks


def combine(workload: str, partials: list[Any]) -> float | None:
    how = W.WORKLOAD_KINDS[workload][2]
    if how == "sum":
        return math.fsum(partials)
    if how == "sqrt_sum":
        return math.sqrt(math.fsum(partials))
    return None


def compare(workload: str, value: float | None, reference: Any, arrays: Arrays, n: int, np: Any) -> tuple[bool, float]:
    """(agrees, difference) of one run's result against the sequential reference."""
    if W.WORKLOAD_KINDS[workload][1] == "elementwise":
        got = arrays.out[:n]
        if np.isnan(got).any():
            return False, math.inf
        diff = float(np.max(np.abs(got - reference))) if n else 0.0
        return diff <= ELEMENTWISE_TOLERANCE, diff
    if value is None or reference is None:
        return False, math.inf
    diff = abs(value - reference) / max(abs(reference), 1e-300)
    return diff <= REDUCTION_REL_TOLERANCE, diff


def _timed_run(engine: Engine, workload: str, n: int, reset: Callable[[], None]) -> tuple[float, float | None]:
    reset()
    t0 = time.perf_counter()
    value = combine(workload, engine.run(workload, n))
    return time.perf_counter() - t0, value


def time_workload(engine: Engine, workload: str, n: int, repeats: int, arrays: Arrays,
                  reset: Callable[[], None], baseline: Engine | None = None,
                  ) -> tuple[list[float], list[float], float | None]:
    """One warm-up run, then `repeats` timed runs of `engine`, each paired with a sequential run
    made next to it (when `baseline` is given), so a change in machine load between cells
    cannot pass for a speedup: the speedup is taken per pair. Returns (times, baseline
    times, the last result of `engine`)."""
    _timed_run(engine, workload, n, reset)
    times: list[float] = []
    base_times: list[float] = []
    value = None
    for i in range(repeats):
        # Alternate which run of a pair goes first, so "the second run is faster" (warm
        # allocator, caches) cancels out; the last pair runs the engine last, so its result is
        # the one compared with the reference.
        engine_first = baseline is not None and (repeats - 1 - i) % 2 == 1
        if engine_first:
            elapsed, value = _timed_run(engine, workload, n, reset)
            times.append(elapsed)
        if baseline is not None:
            base_times.append(_timed_run(baseline, workload, n, reset)[0])
        if not engine_first:
            elapsed, value = _timed_run(engine, workload, n, reset)
            times.append(elapsed)
    return times, base_times, value


def make_engine(mode: str, arrays: Arrays, workers: int, modules: tuple[str, ...]) -> Engine:
    if mode == "sequential":
        return SequentialEngine(arrays, 1)
    if mode == "threads":
        return ThreadEngine(arrays, workers)
    if mode in ("fork", "spawn"):
        return PickleEngine(arrays, workers, mode, modules)
    if mode == "shm":
        return SharedMemoryEngine(arrays, workers, modules)
    if mode == "interpreters":
        api, why = find_api()
        if api is None:
            raise RuntimeError(why)
        return InterpreterEngine(arrays, workers, api)
    if mode == "openmp":
        return OpenMPEngine(arrays, workers)
    raise ValueError(f"unknown mode {mode!r}")


def mode_unavailable(mode: str, arrays: Arrays) -> str | None:
    """Why a whole mode cannot run here, before trying to start it."""
    import multiprocessing

    if mode in ("fork", "spawn") and mode not in multiprocessing.get_all_start_methods():
        return f"the {mode!r} start method is not available on {sys.platform}"
    if mode in ("shm", "interpreters") and arrays.shared_names is None:
        return arrays.shared_unavailable
    if mode == "shm" and "spawn" not in multiprocessing.get_all_start_methods():
        return f"the 'spawn' start method is not available on {sys.platform}"
    if mode == "interpreters":
        return find_api()[1]
    return None


def run_bench(config: BenchConfig, progress: Callable[[str], None] = lambda _m: None) -> BenchReport:
    try:
        import numpy as np
    except ImportError as exc:
        raise BenchUnavailable(f"every bench workload runs on numpy arrays and numpy is not installed ({exc}): "
                               "pip install 'ft-audit[bench]'") from None
    ncores = cores()
    load_before = load_average()
    worker_counts = config.workers or tuple(range(1, ncores + 1))
    n = config.size
    sizes = {w: max(1, int(n * WORKLOADS[w][1])) for w in config.workloads}

    # Workloads this interpreter cannot run at all, and those that do not fit in memory.
    workload_missing = {w: W.missing_requirement(w) for w in config.workloads}
    memory = available_memory()
    base_bytes = 16 * n
    if memory is not None and base_bytes > 0.8 * memory:
        raise BenchUnavailable(f"the input needs {_gib(base_bytes)} (size {n:,}), only {_gib(memory)} "
                               "of memory is available; use --size or --quick")
    for w in config.workloads:
        need = base_bytes + EXTRA_BYTES_PER_ELEMENT[w] * sizes[w]
        if workload_missing[w] is None and memory is not None and need > 0.8 * memory:
            workload_missing[w] = (f"needs about {_gib(need)} at size {sizes[w]:,}, "
                                   f"{_gib(memory)} available; use --size or --quick")
    runnable = [w for w in config.workloads if workload_missing[w] is None]
    modules = tuple(sorted({m for w in runnable for m in W.WORKLOAD_KINDS[w][0]}))

    object_elements = sizes.get("np_object", 0) if "np_object" in runnable else 0
    progress(f"allocating {n:,} float64 elements")
    arrays, blocks = allocate(n, np, object_elements)
    cells: list[Cell] = []
    mode_infos: list[ModeInfo] = []
    try:
        reset_cache: dict[int, Callable[[], None]] = {}

        def reset_for(size: int) -> Callable[[], None]:
            if size not in reset_cache:
                reset_cache[size] = lambda: arrays.out[:size].fill(np.nan)
            return reset_cache[size]

        # Sequential first: the reference result (and the sequential row of the table).
        reference: dict[str, Any] = {}
        seq = SequentialEngine(arrays, 1)
        for w in runnable:
            progress(f"sequential: {w}")
            times, _, value = time_workload(seq, w, sizes[w], config.repeats, arrays, reset_for(sizes[w]))
            kind = W.WORKLOAD_KINDS[w][1]
            reference[w] = arrays.out[:sizes[w]].copy() if kind == "elementwise" else value
            cells.append(_cell(w, "sequential", 1, times, times, True, 0.0))
        mode_infos.append(ModeInfo("sequential", MODE_DESCRIPTIONS["sequential"]))

        for mode in config.modes:
            if mode == "sequential":
                continue
            why = mode_unavailable(mode, arrays)
            mode_infos.append(ModeInfo(mode, MODE_DESCRIPTIONS[mode], why))
            for workers in worker_counts:
                if why is not None:
                    cells.extend(Cell(w, mode, workers, unavailable=why) for w in runnable)
                    continue
                progress(f"{mode} x{workers}: starting workers")
                try:
                    engine = make_engine(mode, arrays, workers, modules)
                except Exception as exc:  # a mode that cannot start is reported, the rest runs
                    reason = f"could not start: {type(exc).__name__}: {exc}".replace("\n", " ")
                    cells.extend(Cell(w, mode, workers, unavailable=reason) for w in runnable)
                    continue
                try:
                    for w in runnable:
                        if not engine.applies(w):
                            continue
                        skip = engine.unavailable(w)
                        if skip is not None:
                            cells.append(Cell(w, mode, workers, unavailable=skip))
                            continue
                        progress(f"{mode} x{workers}: {w}")
                        try:
                            times, base_times, value = time_workload(
                                engine, w, sizes[w], config.repeats, arrays, reset_for(sizes[w]), baseline=seq)
                        except Exception as exc:
                            reason = f"failed: {type(exc).__name__}: {exc}".replace("\n", " ")
                            cells.append(Cell(w, mode, workers, unavailable=reason))
                            continue
                        agrees, diff = compare(w, value, reference[w], arrays, sizes[w], np)
                        cells.append(_cell(w, mode, workers, times, base_times, agrees, diff))
                finally:
                    engine.close()
    finally:
        # Drop every numpy view on the shared blocks so they can be unmapped and unlinked.
        arrays.src = arrays.out = arrays.results = arrays.obj = None
        import gc

        gc.collect()
        for b in blocks:
            try:
                b.close()
            except BufferError:
                pass  # a numpy view still holds it; unlink still frees the name
            b.unlink()

    progress("measuring worker start-up")
    startup = measure_startup(config.startup_repeats)
    load_after = load_average()
    notes = []
    blas = blas_note(np) if "np_norm" in runnable else None
    if blas:
        notes.append(blas)
    if load_before is not None and load_after is not None:
        notes.append(f"load average {load_before:.2f} at start and {load_after:.2f} at end, on {ncores} cores")
        if max(load_before, load_after) > 0.5 * ncores + 1:
            notes.append("the machine was busy: other processes competed for the cores, so the "
                         "parallel speedups are understated and the spread is wide; rerun on an idle machine")
    workload_infos = tuple(WorkloadInfo(w, WORKLOADS[w][0], sizes[w], workload_missing[w])
                           for w in config.workloads)
    report = BenchReport(
        python=python_info(), cores=ncores, size=n, quick=config.quick, repeats=config.repeats,
        workers=tuple(worker_counts), workloads=workload_infos, modes=tuple(mode_infos),
        cells=tuple(cells), startup=startup, notes=tuple(notes),
    )
    return BenchReport(**{**report.__dict__, "conclusion": conclusion(report)})


def _cell(workload: str, mode: str, workers: int, times: list[float], base_times: list[float],
          agrees: bool, diff: float) -> Cell:
    """Speedup = median over the pairs of (sequential time / mode time); the spread is the
    lowest and highest pair ratio."""
    ratios = [b / t for b, t in zip(base_times, times) if t > 0]
    return Cell(
        workload=workload, mode=mode, workers=workers, times=tuple(times), median=statistics.median(times),
        baseline_times=tuple(base_times),
        speedup=statistics.median(ratios) if ratios else None,
        speedup_low=min(ratios) if ratios else None,
        speedup_high=max(ratios) if ratios else None,
        agrees=agrees, difference=diff if math.isfinite(diff) else None,
    )
