"""Text rendering of a BenchReport: one block per workload, one row per mode, one column
per worker count, each cell the median speedup over sequential with (slowest-fastest)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from auditor.bench.conclude import cell_label, fmt_time
from auditor.bench.model import BenchReport
from auditor.model import SCHEMA


def render_text(report: BenchReport) -> str:
    py = report.python
    build = "free-threaded" if py.get("gil_disabled") else "GIL"
    lines = [
        f"ft-audit bench: {py.get('implementation')} {py.get('version')} ({build} build), "
        f"{report.cores} cores, base size {report.size:,}{' (quick)' if report.quick else ''}, "
        f"{report.repeats} runs after one warm-up",
        f"  {py.get('executable')}",
        "  cells: speedup over a sequential run made next to each run: median (lowest-highest);"
        " MISMATCH = result differs",
        "",
    ]
    cells = {(c.workload, c.mode, c.workers): c for c in report.cells}
    width = 24
    header = f"  {'mode':<14}" + "".join(f"{f'{w} worker' + ('s' if w != 1 else ''):<{width}}" for w in report.workers)
    for wl in report.workloads:
        lines.append(f"{wl.name}: {wl.description} (n={wl.elements:,})")
        if wl.unavailable:
            lines.append(f"  unavailable: {wl.unavailable}")
            lines.append("")
            continue
        seq = cells.get((wl.name, "sequential", 1))
        if seq is not None:
            lines.append(f"  sequential: {fmt_time(seq.median)} per run (median)")
        rows: list[str] = []
        reasons: list[str] = []
        for mode in report.modes:
            if mode.name == "sequential":
                continue
            row = [cells.get((wl.name, mode.name, w)) for w in report.workers]
            if all(c is None for c in row):
                continue  # mode does not apply to this workload (e.g. openmp)
            labels = []
            for c in row:
                if c is None:
                    labels.append("-")
                elif c.unavailable:
                    if c.unavailable not in reasons:
                        reasons.append(c.unavailable)
                    labels.append(f"unavailable [{reasons.index(c.unavailable) + 1}]")
                else:
                    labels.append(cell_label(c))
            rows.append(f"  {mode.name:<14}" + "".join(f"{label:<{width}}" for label in labels).rstrip())
        if rows:
            lines.append(header.rstrip())
            lines.extend(rows)
        for k, reason in enumerate(reasons, 1):
            lines.append(f"    [{k}] {reason}")
        lines.append("")
    lines.append("worker start-up (start, run an empty task, stop):")
    for s in report.startup:
        if s.unavailable:
            lines.append(f"  {s.kind:<15} unavailable: {s.unavailable}")
        else:
            lines.append(f"  {s.kind:<15} {fmt_time(s.median)} (median; {fmt_time(min(s.times))}-{fmt_time(max(s.times))})")
    lines.append("")
    lines.append("modes:")
    for m in report.modes:
        lines.append(f"  {m.name:<14} {m.description}" + (f" -- unavailable: {m.unavailable}" if m.unavailable else ""))
    lines.append("")
    for note in report.notes:
        lines.append(f"note: {note}")
    if report.notes:
        lines.append("")
    lines.append("conclusion:")
    lines.append(report.conclusion)
    return "\n".join(lines) + "\n"


def emit(report: BenchReport, fmt: str, plot_path: str | None, prog: str) -> int:
    """Write the report (text or JSON) to stdout, draw the plot if asked, and return the exit
    code: 0 every mode agreed, 1 a mode returned a different result, 2 the plot failed.
    Shared by `ft-audit bench` and `python -m auditor.bench`."""
    if fmt == "json":
        json.dump({"schema": SCHEMA, **report.to_dict()}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(report))
    if plot_path:
        from auditor.bench.plot import PlotUnavailable, plot

        try:
            plot(report, Path(plot_path))
        except PlotUnavailable as exc:
            print(f"{prog}: error: {exc}", file=sys.stderr)
            return 2
    return 0 if report.all_agree else 1
