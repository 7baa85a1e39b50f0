"""Start-up cost of one worker: a thread, a forked process, a spawned process, a sub-interpreter.

Each measurement starts the worker, runs an empty task in it and tears it down, so it is the
price paid per worker when a pool is created (or per task without a pool).
"""

from __future__ import annotations

import multiprocessing
import statistics
import threading
import time
from collections.abc import Callable

from auditor.bench import workers as W
from auditor.bench.model import Startup
from auditor.bench.subinterp import find_api


def _timed(action: Callable[[], None], repeats: int) -> tuple[float, ...]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        action()
        times.append(time.perf_counter() - t0)
    return tuple(times)


def _thread() -> None:
    t = threading.Thread(target=W.noop)
    t.start()
    t.join()


def _process(method: str) -> Callable[[], None]:
    # Literal names pick the typed context (a str gives BaseContext, which has no Process).
    ctx = multiprocessing.get_context("fork") if method == "fork" else multiprocessing.get_context("spawn")

    def start() -> None:
        p = ctx.Process(target=W.noop)
        p.start()
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"{method} worker exited with {p.exitcode}")

    return start


def measure_startup(repeats: int) -> tuple[Startup, ...]:
    results = []
    kinds: list[tuple[str, Callable[[], None] | None, str | None]] = [("thread", _thread, None)]
    methods = multiprocessing.get_all_start_methods()
    for method in ("fork", "spawn"):
        if method in methods:
            kinds.append((method, _process(method), None))
        else:
            kinds.append((method, None, f"the {method!r} start method is not available here"))
    api, why = find_api()
    if api is None:
        kinds.append(("subinterpreter", None, why))
    else:
        def subinterpreter() -> None:
            interp = api.create()
            try:
                api.run(interp, "pass")
            finally:
                api.destroy(interp)

        kinds.append(("subinterpreter", subinterpreter, None))
    for kind, action, why in kinds:
        if action is None:
            results.append(Startup(kind, unavailable=why))
            continue
        try:
            action()  # warm-up: first-time imports and page faults are not start-up cost
            times = _timed(action, repeats)
        except Exception as exc:
            results.append(Startup(kind, unavailable=f"failed: {type(exc).__name__}: {exc}"))
            continue
        results.append(Startup(kind, times, statistics.median(times)))
    return tuple(results)
