"""Execution modes: how the chunks of one workload are spread over workers.

Each engine is started once per (mode, worker count), warmed up, and reused for every
workload, so a timed run measures the work and the data movement, not the start-up
(start-up is measured separately, see startup.py).

An engine's `run(workload, n)` splits [0, n) into one chunk per worker and returns the
partial results in chunk order; element-wise workloads write into the shared `out` array.
"""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from auditor.bench import workers as W
from auditor.bench.subinterp import InterpreterAPI, SubinterpreterError

MODE_DESCRIPTIONS: dict[str, str] = {
    "sequential": "one call on the whole input in this process (the baseline)",
    "threads": "threading: a thread pool in this process; the input is shared, nothing is copied",
    "fork": "multiprocessing pool (fork): each chunk is pickled to a worker, the result pickled back",
    "spawn": "multiprocessing pool (spawn): each chunk is pickled to a worker, the result pickled back",
    "shm": "multiprocessing pool (spawn) on multiprocessing.shared_memory: only a float comes back",
    "interpreters": "own-GIL sub-interpreters, one per worker thread, on shared memory",
    "openmp": "one call to the Cython prange kernel running N OpenMP threads",
}

OBJECT_NOT_SHAREABLE = ("object arrays hold pointers into one interpreter's heap; "
                        "they cannot be put in shared memory")


def chunks(n: int, parts: int) -> list[tuple[int, int]]:
    """Split [0, n) into `parts` contiguous slices whose sizes differ by at most one."""
    base, extra = divmod(n, parts)
    bounds, start = [], 0
    for k in range(parts):
        stop = start + base + (1 if k < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


@dataclass
class Arrays:
    """The data every mode works on; `shared_names` is set when src/out/results live in
    multiprocessing.shared_memory blocks (needed by shm and interpreters)."""

    src: Any                      # float64 numpy array, length n
    out: Any                      # float64 numpy array, length n
    obj: Any                      # object-dtype copy of a prefix of src (np_object)
    results: Any                  # float64 array for partials written by shared-memory workers
    shared_names: tuple[str, str, str] | None = None
    shared_unavailable: str | None = None


class Engine:
    mode = ""

    def __init__(self, arrays: Arrays, workers: int) -> None:
        self.arrays = arrays
        self.workers = workers

    def applies(self, workload: str) -> bool:
        """False when the mode has no version of this workload at all (not even a row)."""
        return True

    def unavailable(self, workload: str) -> str | None:
        return None

    def run(self, workload: str, n: int) -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SequentialEngine(Engine):
    mode = "sequential"

    def run(self, workload: str, n: int) -> list[Any]:
        a = self.arrays
        return [W.compute(workload, a.src, a.out, a.obj, 0, n)]


class ThreadEngine(Engine):
    mode = "threads"

    def __init__(self, arrays: Arrays, workers: int) -> None:
        super().__init__(arrays, workers)
        self.pool = ThreadPoolExecutor(max_workers=workers)

    def run(self, workload: str, n: int) -> list[Any]:
        a = self.arrays
        futures = [self.pool.submit(W.compute, workload, a.src, a.out, a.obj, s, e)
                   for s, e in chunks(n, self.workers)]
        return [f.result() for f in futures]

    def close(self) -> None:
        self.pool.shutdown(wait=True)


class PickleEngine(Engine):
    """fork or spawn pool; the data goes through pipes as pickles, both ways."""

    def __init__(self, arrays: Arrays, workers: int, method: str, modules: tuple[str, ...]) -> None:
        super().__init__(arrays, workers)
        self.mode = method
        ctx = multiprocessing.get_context(method)
        self.pool = ctx.Pool(processes=workers, initializer=W.warm_process, initargs=(modules,))

    def run(self, workload: str, n: int) -> list[Any]:
        a = self.arrays
        bounds = chunks(n, self.workers)
        source = a.obj if workload == "np_object" else a.src
        tasks = [(workload, source[s:e]) for s, e in bounds]
        results = self.pool.map(W.run_pickled_task, tasks, chunksize=1)
        partials = []
        for (s, e), (partial, out_chunk) in zip(bounds, results):
            if out_chunk is not None:
                a.out[s:e] = out_chunk
            partials.append(partial)
        return partials

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


class SharedMemoryEngine(Engine):
    """spawn pool whose workers map the parent's shared-memory blocks once."""

    mode = "shm"

    def __init__(self, arrays: Arrays, workers: int, modules: tuple[str, ...]) -> None:
        super().__init__(arrays, workers)
        if arrays.shared_names is None:
            raise RuntimeError(arrays.shared_unavailable or "shared memory is not available")
        ctx = multiprocessing.get_context("spawn")
        src_name, out_name, res_name = arrays.shared_names
        self.pool = ctx.Pool(
            processes=workers, initializer=W.init_shared,
            initargs=(src_name, out_name, res_name, len(arrays.src), len(arrays.results), modules),
        )

    def unavailable(self, workload: str) -> str | None:
        return OBJECT_NOT_SHAREABLE if workload == "np_object" else None

    def run(self, workload: str, n: int) -> list[Any]:
        tasks = [(workload, s, e, k) for k, (s, e) in enumerate(chunks(n, self.workers))]
        return self.pool.map(W.run_shared_task, tasks, chunksize=1)

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


class InterpreterEngine(Engine):
    """One own-GIL sub-interpreter per worker, each driven by its own thread. Partials come
    back through the shared `results` block (exec() returns no value)."""

    mode = "interpreters"

    def __init__(self, arrays: Arrays, workers: int, api: InterpreterAPI) -> None:
        super().__init__(arrays, workers)
        if arrays.shared_names is None:
            raise RuntimeError(arrays.shared_unavailable or "shared memory is not available")
        self.api = api
        self.interps: list[Any] = []
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self._missing: dict[str, str | None] = {}
        src_name, out_name, res_name = arrays.shared_names
        bootstrap = (
            "import sys\n"
            f"sys.path[:0] = [p for p in {list(sys.path)!r} if p not in sys.path]\n"
            "from auditor.bench import workers as _ftw\n"
            f"_ftw.init_shared({src_name!r}, {out_name!r}, {res_name!r}, {len(arrays.src)}, "
            f"{len(arrays.results)}, use_numpy=False)\n"
        )
        try:
            for _ in range(workers):
                interp = api.create()
                self.interps.append(interp)
                api.run(interp, bootstrap)
        except BaseException:
            self.close()
            raise

    def unavailable(self, workload: str) -> str | None:
        if workload == "np_object":
            return OBJECT_NOT_SHAREABLE
        if workload not in self._missing:
            probe = (f"_why = _ftw.missing_requirement({workload!r})\n"
                     "if _why: raise ImportError(_why)\n")
            try:
                self.api.run(self.interps[0], probe)
                self._missing[workload] = None
            except SubinterpreterError as exc:
                self._missing[workload] = f"in a sub-interpreter: {exc}"
        return self._missing[workload]

    def run(self, workload: str, n: int) -> list[Any]:
        bounds = chunks(n, self.workers)
        futures = [
            self.pool.submit(self.api.run, interp, f"_ftw.run_shared_task(({workload!r}, {s}, {e}, {k}))\n")
            for k, (interp, (s, e)) in enumerate(zip(self.interps, bounds))
        ]
        for f in futures:
            f.result()
        kind = W.WORKLOAD_KINDS[workload][1]
        return [None if kind == "elementwise" else float(self.arrays.results[k]) for k in range(len(bounds))]

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for interp in self.interps:
            try:
                self.api.run(interp, "_ftw.release_shared()\n")
            except Exception:
                pass
            try:
                self.api.destroy(interp)
            except Exception:
                pass
        self.interps = []


class OpenMPEngine(Engine):
    mode = "openmp"

    def applies(self, workload: str) -> bool:
        return workload == "cy_norm"  # the only kernel with a prange variant

    def unavailable(self, workload: str) -> str | None:
        missing = W.missing_requirement(workload)
        if missing:
            return missing
        from ftaudit_ext import _cykernels

        if not _cykernels.HAVE_OPENMP:
            return "ftaudit_ext._cykernels was built without OpenMP (the compiler had no -fopenmp)"
        return None

    def run(self, workload: str, n: int) -> list[Any]:
        return [W.compute_openmp(workload, self.arrays.src, 0, n, self.workers)]
