"""Turn the measurements into one paragraph in plain words.

Each workload has an expectation (does its code release the GIL?); the paragraph says what
the measurements show against it: threads scaling where the GIL is released and not where it
is held is stated as such, and a result that contradicts the expectation is named, with what
the other modes measured for the same workload (often: the second core was busy). On a
free-threaded build with the GIL off, every workload is expected to scale with threads.
"""

from __future__ import annotations

from auditor.bench.model import BenchReport, Cell

# With N workers a mode "scales" when it gets at least this share of the ideal N-fold speedup.
SCALES_SHARE = 0.65
# ... and "does not help" below this speedup.
NO_HELP = 1.15

PICKLED_MODES = ("fork", "spawn")
SEPARATE_GIL_MODES = ("fork", "spawn", "shm", "interpreters")
# What each workload's code does with the GIL on a GIL build (the expectation the numbers are
# held against). numpy ufuncs and BLAS release it around their loops; object dtype never does.
RELEASES_GIL = {
    "py_loop": False, "np_sincos": True, "np_norm": True, "c_sincos": True, "c_norm": True,
    "cy_sincos": True, "cy_norm": True, "np_object": False,
}
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


def _speeds(workloads: list[str], speed) -> str:
    return ", ".join(f"{speed(w, 'threads'):.2f}x" for w in workloads)


def _classify(ran: list[str], short: list[str], speed, top: int, gil_off: bool):
    """Workloads by expectation and outcome: (scale as expected, expected to scale but did not,
    flat as expected, scale although holding the GIL)."""
    scale_ok: list[str] = []
    scale_missing: list[str] = []
    flat_ok: list[str] = []
    flat_surprise: list[str] = []
    for w in ran:
        t = speed(w, "threads")
        if t is None or w in short:
            continue
        parallel_expected = gil_off or RELEASES_GIL.get(w, False)
        scaled = t >= SCALES_SHARE * top and top >= 2
        if parallel_expected:
            (scale_ok if scaled else scale_missing).append(w)
        else:
            (flat_ok if t < NO_HELP else flat_surprise).append(w)
    return scale_ok, scale_missing, flat_ok, flat_surprise


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
        parts.append(f"Sequential runs of {_names(short)} take under {fmt_time(TOO_SHORT)}, so handing "
                     "out chunks costs as much as the work: those speedups measure overhead, not parallelism.")
    # How much parallelism this run could get at all: the best speedup of any mode on any
    # workload. If nothing beat sequential, the cores were busy, and no statement about the GIL
    # can be drawn from the other numbers.
    capacity = max((c.speedup for c in report.cells if c.workers == top and c.mode != "sequential"
                    and c.speedup is not None and c.agrees and c.workload not in short), default=None)
    gil_off = bool(py.get("gil_disabled")) and not py.get("gil_enabled_now", True)
    load = next((n for n in report.notes if n.startswith("load average")), "")
    if top >= 2 and capacity is not None and capacity < NO_HELP:
        parts.append(f"No mode ran more than {capacity:.2f}x faster than sequential on any workload, so "
                     f"there was no free core to run a second worker on ({load or 'the machine was busy'}); "
                     "this run says nothing about which model scales here. Rerun on an idle machine.")
        scale_ok: list[str] = []
        scale_missing: list[str] = []
        flat_ok: list[str] = []
        flat_surprise: list[str] = []
    else:
        scale_ok, scale_missing, flat_ok, flat_surprise = _classify(ran, short, speed, top, gil_off)
    if scale_ok:
        t_best = max(speed(w, "threads") or 0 for w in scale_ok)
        what = "runs without the GIL on this build" if gil_off else "releases the GIL"
        parts.append(f"Threads scale for {_names(scale_ok)} (up to {t_best:.2f}x): that code {what} and "
                     "the threads share the input, so nothing is copied.")
        pickled = [b for w in scale_ok if (b := best(w, PICKLED_MODES))]
        if pickled:
            parts.append(f"For the same work, processes that pickle their chunks reach "
                         f"{_range([p[1] for p in pickled])}, because every chunk and every result crosses a pipe;")
            shm = [shm_speed for w in scale_ok if (shm_speed := speed(w, "shm"))]
            if shm:
                parts.append(f"with shared memory they reach {_range(shm)}.")
            else:
                parts[-1] = parts[-1].rstrip(";") + "."
    if scale_missing:
        elsewhere = {w: b for w in scale_missing
                     if (b := best(w, SEPARATE_GIL_MODES)) and b[1] >= SCALES_SHARE * top}
        verb = "releases" if len(scale_missing) == 1 else "release"
        text = (f"Against expectation, {_names(scale_missing)} {verb} the GIL, yet threads gave "
                f"{_speeds(scale_missing, speed)}")
        if elsewhere:
            text += (f", while {'; '.join(f'{w} {b[0]} {b[1]:.2f}x' for w, b in elsewhere.items())}: "
                     "the code can run in parallel, so during the thread runs the second core was taken "
                     f"by other work{f' ({load})' if load else ''}; rerun to check.")
        else:
            text += ", and no other mode did better: there was too little work per chunk or no free core."
        if "np_norm" in scale_missing and any("own thread pool" in n for n in report.notes):
            text += (" np.linalg.norm calls a BLAS with its own thread pool, which already spreads the "
                     "sequential run over the cores, so more workers only add contention.")
        parts.append(text)
    if flat_ok:
        helped = {w: b for w in flat_ok if (b := best(w, SEPARATE_GIL_MODES)) and b[1] >= NO_HELP}
        text = f"Where the code holds the GIL ({_names(flat_ok)}), threads take turns ({_speeds(flat_ok, speed)})"
        if helped:
            text += ("; a separate GIL per worker helps: "
                     + "; ".join(f"{w} {b[0]} {b[1]:.2f}x" for w, b in helped.items()))
        rest = [w for w in flat_ok if w not in helped]
        if rest:
            text += (f"; nothing beat sequential for {_names(rest)}: moving the data to another process "
                     "cost more than the work, or no second core was free")
        parts.append(text + ".")
    if flat_surprise:
        parts.append(f"Against expectation, threads gave {_speeds(flat_surprise, speed)} for "
                     f"{_names(flat_surprise)}, which holds the GIL: the sequential runs paired with them "
                     "were probably slowed by other load; rerun to check.")
    start = {s.kind: s for s in report.startup}
    if any(s.median is not None for s in report.startup):
        costs = [f"{fmt_time(s.median)} for a {kind if kind != 'subinterpreter' else 'sub-interpreter'}"
                 for kind in ("thread", "fork", "spawn", "subinterpreter")
                 if (s := start.get(kind)) and s.median is not None]
        parts.append(f"Starting one worker costs {_names(costs)}.".replace("a fork", "a forked process")
                     .replace("a spawn", "a spawned process"))
    interp = [(w, sp) for w in ran if (sp := speed(w, "interpreters")) is not None]
    if interp:
        parts.append("Own-GIL sub-interpreters on shared memory gave "
                     + ", ".join(f"{w} {sp:.2f}x" for w, sp in interp) + ".")
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
