"""The code that runs inside bench workers: threads, processes and sub-interpreters.

It must import in an own-GIL sub-interpreter, so it needs nothing at module level beyond
the stdlib modules that support one (math, mmap, os). numpy and the ftaudit_ext kernels are
imported lazily, by the workloads that use them, so a sub-interpreter that cannot import
numpy can still run the pure-Python and ext workloads.

A "chunk" is the slice [start, stop) of the input a worker computes. Reductions return a
partial value (a sum, a sum of squares); element-wise workloads write `out[start:stop]`.
"""

from __future__ import annotations

import math
import mmap
import os
import sys

TYPE_CHECKING = False   # typing is imported by the checker only (see above)
if TYPE_CHECKING:
    from typing import Any

#: workload name -> (modules it needs, "reduction" or "elementwise", how partials combine)
WORKLOAD_KINDS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "py_loop": ((), "reduction", "sum"),
    "np_sincos": (("numpy",), "elementwise", ""),
    "np_norm": (("numpy",), "reduction", "sqrt_sum"),
    "c_sincos": (("ftaudit_ext._ckernels",), "elementwise", ""),
    "c_norm": (("ftaudit_ext._ckernels",), "reduction", "sqrt_sum"),
    "cy_sincos": (("ftaudit_ext._cykernels",), "elementwise", ""),
    "cy_norm": (("ftaudit_ext._cykernels",), "reduction", "sqrt_sum"),
    "np_object": (("numpy",), "reduction", "sqrt_sum"),
}


# setup.py leaves ftaudit_ext out when it cannot be compiled (no C compiler, or no Cython in a
# checkout); the install still succeeds, so the bench says how to get the kernels.
EXT_NOT_BUILT = ("ftaudit_ext was not built when ft-audit was installed (no working C compiler, "
                 "or no Cython, then): reinstall with a C compiler, e.g. `FTAUDIT_REQUIRE_EXT=1 "
                 "pip install --force-reinstall --no-cache-dir ft-audit` (or `pip install .` in a "
                 "checkout; the variable turns a failed build into an error), or install a wheel")


def missing_requirement(workload: str) -> str | None:
    """None if this interpreter can run `workload`, else why not (one line)."""
    modules, _kind, _combine = WORKLOAD_KINDS[workload]
    for name in modules:
        try:
            __import__(name)
        except ModuleNotFoundError as exc:
            if name.startswith("ftaudit_ext.") and exc.name in (name, "ftaudit_ext"):
                return f"cannot import {name}: {EXT_NOT_BUILT}"
            return f"cannot import {name}: {type(exc).__name__}: {short_reason(str(exc))}"
        except Exception as exc:  # ImportError, or an init failure in a sub-interpreter
            return f"cannot import {name}: {type(exc).__name__}: {short_reason(str(exc))}"
    return None


def short_reason(message: str) -> str:
    """One line: numpy's import error is a page of advice ending in the actual cause."""
    if "Original error was:" in message:
        message = message.rsplit("Original error was:", 1)[1]
    message = " ".join(message.split())
    return message if len(message) <= 300 else message[:297] + "..."


def compute(workload: str, src, out, obj, start: int, stop: int):
    """Run one chunk of `workload`. `src`/`out` are float64 buffers (numpy arrays or
    memoryviews of format 'd'); `obj` is the object-dtype copy of src (np_object only)."""
    if workload == "py_loop":
        # The quiz kernel as a plain Python loop: holds the GIL for every iteration.
        sin, cos = math.sin, math.cos
        total = 0.0
        for x in memoryview(src)[start:stop]:
            total += sin(x) ** 2 + cos(x) ** 2
        return total
    if workload == "np_sincos":
        import numpy as np

        a = src[start:stop]
        out[start:stop] = np.sin(a) ** 2 + np.cos(a) ** 2
        return None
    if workload == "np_norm":
        import numpy as np

        return float(np.linalg.norm(src[start:stop])) ** 2
    if workload == "c_sincos":
        from ftaudit_ext import _ckernels

        _ckernels.sincos_sq(src, out, start, stop)
        return None
    if workload == "c_norm":
        from ftaudit_ext import _ckernels

        return _ckernels.sumsq(src, start, stop)
    if workload == "cy_sincos":
        from ftaudit_ext import _cykernels

        _cykernels.sincos_sq(src, out, start, stop)
        return None
    if workload == "cy_norm":
        from ftaudit_ext import _cykernels

        return _cykernels.sumsq(src, start, stop)
    if workload == "np_object":
        # object dtype: every multiply and add is a Python-level call made with the GIL held.
        chunk = obj[start:stop]
        return float((chunk * chunk).sum())
    raise ValueError(f"unknown workload {workload!r}")


def compute_openmp(workload: str, src, start: int, stop: int, num_threads: int) -> float:
    """The OpenMP variant (only cy_norm has one): one call, `num_threads` OpenMP threads."""
    if workload != "cy_norm":
        raise ValueError(f"{workload} has no OpenMP variant")
    from ftaudit_ext import _cykernels

    return _cykernels.sumsq_parallel(src, start, stop, num_threads)


# --- pickled tasks (fork / spawn process pools) -------------------------------------------

def run_pickled_task(task: tuple):
    """(workload, src_chunk) -> (partial, out_chunk or None). The chunk came through a pipe
    as a pickle; an element-wise result goes back the same way."""
    workload, chunk = task
    _modules, kind, _combine = WORKLOAD_KINDS[workload]
    if workload == "np_object":
        return compute(workload, None, None, chunk, 0, len(chunk)), None
    out = None
    if kind == "elementwise":
        import numpy as np

        out = np.empty_like(chunk)
    return compute(workload, chunk, out, None, 0, len(chunk)), out


def warm_process(modules: tuple[str, ...]) -> None:
    """Pool initializer: import what the workloads need before anything is timed."""
    for name in modules:
        try:
            __import__(name)
        except Exception:
            pass  # the workload was already marked unavailable by the parent


# --- shared-memory tasks (shm process pool and sub-interpreters) --------------------------

_shared: dict[str, Any] = {}


def attach(name: str, nbytes: int) -> mmap.mmap:
    """Map the shared-memory block `name` (made by multiprocessing.shared_memory in the parent)
    without registering it with the resource tracker: the parent owns and unlinks it, and
    an own-GIL sub-interpreter may not start the tracker process."""
    if sys.platform == "win32":
        return mmap.mmap(-1, nbytes, tagname=name)
    import _posixshmem

    fd = _posixshmem.shm_open("/" + name.lstrip("/"), os.O_RDWR, mode=0o600)
    try:
        return mmap.mmap(fd, nbytes)
    finally:
        os.close(fd)


def init_shared(src_name: str, out_name: str, results_name: str, n: int, n_results: int,
                modules: tuple[str, ...] = (), use_numpy: bool = True) -> None:
    """Attach the input, output and result blocks once per worker (process or interpreter)."""
    warm_process(modules)
    maps = [attach(src_name, n * 8), attach(out_name, n * 8), attach(results_name, n_results * 8)]
    views: list[Any] = [memoryview(m).cast("d") for m in maps]   # or numpy arrays over the same maps
    if use_numpy:
        try:
            import numpy as np

            views[0] = np.frombuffer(maps[0], dtype=np.float64, count=n)
            views[1] = np.frombuffer(maps[1], dtype=np.float64, count=n)
        except ImportError:
            pass
    _shared.update(maps=maps, src=views[0], out=views[1], results=views[2])


def release_shared() -> None:
    """Drop the views and unmap (a sub-interpreter must do this before it is destroyed)."""
    maps = _shared.get("maps", [])
    _shared.clear()
    import gc

    gc.collect()
    for m in maps:
        try:
            m.close()
        except BufferError:
            pass  # a view is still alive somewhere; the process exit unmaps it


def run_shared_task(task: tuple):
    """(workload, start, stop, slot) -> partial. Reads src and writes out in shared memory;
    also stores the partial in results[slot] for callers that cannot receive a return value
    (sub-interpreters)."""
    workload, start, stop, slot = task
    value = compute(workload, _shared["src"], _shared["out"], None, start, stop)
    results = _shared["results"]
    results[slot] = math.nan if value is None else value
    return value


def noop() -> None:
    """Target for the process start-up measurement."""
