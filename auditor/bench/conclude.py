"""Turn the measurements into one paragraph in plain words.

Every statement is derived from the cells of this run (which workloads scale with threads is
measured, not assumed from the workload's name), so the paragraph changes when the build,
the core count or the data size changes the answer.
"""

from __future__ import annotations

from auditor.bench.model import BenchReport, Cell

# With N workers a mode "scales" when it gets at least this share of the ideal N-fold speedup.
SCALES_SHARE = 0.65
# ... and "does not help" below this speedup.
NO_HELP = 1.15

PICKLED_MODES = ("fork", "spawn")
SEPARATE_GIL_MODES = ("fork", "spawn", "shm", "interpreters")
# A sequential run shorter than this is too short to split: handing out chunks costs about as much.
TOO_SHORT = 0.02  # seconds


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def _names(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _range(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.2f}x" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}-{hi:.2f}x"


def _speeds(workloads: list[str], speed) -> str:  # type: ignore[no-untyped-def]
    return ", ".join(f"{speed(w, 'threads'):.2f}x" for w in workloads)


def _classify(ran: list[str], short: list[str], speed, top: int):  # type: ignore[no-untyped-def]
    """Workloads by what threads did for them: (scale, do not help, help partly)."""
    scaling, flat, middle = [], [], []
    for w in ran:
        t = speed(w, "threads")
        if t is None or w in short:
            continue
        if t >= SCALES_SHARE * top and top >= 2:
            scaling.append(w)
        elif t < NO_HELP:
            flat.append(w)
        else:
            middle.append(w)
    return scaling, flat, middle


def conclusion(report: BenchReport) -> str:
    py = report.python
    build = "free-threaded build" if py.get("gil_disabled") else "GIL build"
    top = max(report.workers) if report.workers else 1
    ran = [w.name for w in report.workloads if w.unavailable is None]
    cells = {(c.workload, c.mode, c.workers): c for c in report.cells}

    def speed(workload: str, mode: str) -> float | None:
        c = cells.get((workload, mode, top))
        return c.speedup if c is not None and c.speedup is not None and c.agrees else None

    def best(workload: str, modes: tuple[str, ...] | None = None) -> tuple[str, float] | None:
        options = [(c.mode, c.speedup) for c in report.cells
                   if c.workload == workload and c.workers == top and c.mode != "sequential"
                   and c.speedup is not None and c.agrees and (modes is None or c.mode in modes)]
        return max(options, key=lambda o: o[1]) if options else None

    parts = [f"On {py.get('implementation', 'python')} {py.get('version', '?')} ({build}) with "
             f"{report.cores} core{'s' if report.cores != 1 else ''} and {top} worker{'s' if top != 1 else ''}:"]
    if top < 2:
        parts.append("with a single worker no mode can beat sequential; the table shows only the overhead of each mode.")
    if report.quick:
        parts.append("(quick mode: the inputs are too small for the ranking to mean much; "
                     "run without --quick for numbers to draw conclusions from.)")
    seq_time = {c.workload: c.median for c in report.cells if c.mode == "sequential" and c.median}
    short = [w for w in ran if seq_time.get(w, 1.0) < TOO_SHORT]
    if short:
        parts.append(f"{_names(short)} take{'s' if len(short) == 1 else ''} under {fmt_time(TOO_SHORT)} "
                     "sequentially, so handing out chunks costs as much as the work: the speedups "
                     "measure overhead, not parallelism.")
    # How much parallelism this run could get at all: the best speedup of any mode on any
    # workload. If nothing beat sequential, the cores were busy, and no statement about the GIL
    # can be drawn from the other numbers.
    capacity = max((c.speedup for c in report.cells if c.workers == top and c.mode != "sequential"
                    and c.speedup is not None and c.agrees and c.workload not in short), default=None)
    if top >= 2 and capacity is not None and capacity < NO_HELP:
        load = next((n for n in report.notes if n.startswith("load average")), "")
        parts.append(f"no mode ran more than {capacity:.2f}x faster than sequential on any workload, so "
                     f"there was no free core to run a second worker on ({load or 'the machine was busy'}); "
                     "this run says nothing about which model scales here. Rerun on an idle machine.")
        scaling: list[str] = []
        flat: list[str] = []
        middle: list[str] = []
    else:
        scaling, flat, middle = _classify(ran, short, speed, top)
    if scaling:
        t_best = max(speed(w, "threads") or 0 for w in scaling)
        parts.append(f"threads scale for {_names(scaling)} (up to {t_best:.2f}x): that code runs without "
                     "holding the GIL and the threads share the input, so nothing is copied.")
        pickled = [b for w in scaling if (b := best(w, PICKLED_MODES))]
        if pickled:
            parts.append(f"For the same kernels, processes that pickle their chunks reach "
                         f"{_range([p[1] for p in pickled])}, because every chunk and every result crosses a pipe;")
            shm = [s for w in scaling if (s := speed(w, "shm"))]
            if shm:
                parts.append(f"with shared memory they reach {_range(shm)}.")
            else:
                parts[-1] = parts[-1].rstrip(";") + "."
    if middle:
        parts.append(f"Threads help only partly for {_names(middle)} "
                     f"({_speeds(middle, speed)}): part of that work holds the GIL, or the cores were "
                     "not free all the time.")
    # Threads do not help: the GIL is the reason only where a separate-GIL mode did help.
    gil_bound = [w for w in flat if (b := best(w, SEPARATE_GIL_MODES)) and b[1] >= NO_HELP]
    no_help = [w for w in flat if w not in gil_bound]
    if gil_bound:
        why = ("that code holds the GIL, so the threads take turns" if not py.get("gil_disabled")
               else "that code does not run in parallel in threads even on this build")
        items = [f"{w}: {b[0]} {b[1]:.2f}x" for w in gil_bound if (b := best(w, SEPARATE_GIL_MODES))]
        verb = "gets" if len(gil_bound) == 1 else "get"
        parts.append(f"{_names(gil_bound)} {verb} {_speeds(gil_bound, speed)} from threads: {why}; "
                     f"a separate GIL per worker helps ({'; '.join(items)}).")
    if no_help:
        parts.append(f"Nothing beat sequential for {_names(no_help)}: moving the data to another "
                     "process costs more than the work, and threads did not run in parallel.")
    start = {s.kind: s for s in report.startup}
    if any(s.median is not None for s in report.startup):
        costs = [f"{fmt_time(s.median)} for a {kind if kind != 'subinterpreter' else 'sub-interpreter'}"
                 for kind in ("thread", "fork", "spawn", "subinterpreter")
                 if (s := start.get(kind)) and s.median is not None]
        parts.append(f"Starting one worker costs {_names(costs)}.".replace("a fork", "a forked process")
                     .replace("a spawn", "a spawned process"))
    sub_missing = sorted({c.workload for c in report.cells if c.mode == "interpreters" and c.unavailable
                          and "numpy" in c.unavailable})
    if sub_missing:
        parts.append("numpy cannot be imported in an own-GIL sub-interpreter, so there only the pure-Python "
                     "loop and the ftaudit_ext kernels (which declare own-GIL support) run.")
    interp_mode = next((m for m in report.modes if m.name == "interpreters"), None)
    if interp_mode is not None and interp_mode.unavailable:
        parts.append(f"Sub-interpreters were not measured: {interp_mode.unavailable}.")
    bad = [c for c in report.cells if c.agrees is False]
    if bad:
        parts.append("WARNING: results differed from sequential for "
                     + ", ".join(f"{c.workload} in {c.mode} x{c.workers}" for c in bad) + ".")
    busy = [n for n in report.notes if n.startswith("the machine was busy")]
    if busy:
        parts.append(busy[0][0].upper() + busy[0][1:] + ".")
    parts.append("These numbers hold for this interpreter, build, core count and data size; measure your own.")
    return " ".join(parts)


def cell_label(cell: Cell) -> str:
    """'1.93x (1.85-1.99)' or 'n/a: reason'."""
    if cell.unavailable:
        return "unavailable"
    if cell.speedup is None:
        return "?"
    text = f"{cell.speedup:.2f}x ({cell.speedup_low:.2f}-{cell.speedup_high:.2f})"
    return text if cell.agrees else text + " MISMATCH"
