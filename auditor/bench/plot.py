"""`--plot FILE.png`: speedup bars per workload and mode at each worker count (matplotlib)."""

from __future__ import annotations

from pathlib import Path

from auditor.bench.model import BenchReport


class PlotUnavailable(Exception):
    """matplotlib is not installed, or the file cannot be written."""


def plot(report: BenchReport, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailable(f"matplotlib is not installed ({exc}); pip install 'ft-audit[plot]'") from None
    workloads = [w.name for w in report.workloads if w.unavailable is None]
    modes = [m.name for m in report.modes if m.name != "sequential" and m.unavailable is None]
    top = max(report.workers)
    cells = {(c.workload, c.mode, c.workers): c for c in report.cells}
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(workloads)), 5))
    width = 0.8 / max(1, len(modes))
    for k, mode in enumerate(modes):
        xs, ys, lo, hi = [], [], [], []
        for i, w in enumerate(workloads):
            c = cells.get((w, mode, top))
            if c is None or c.speedup is None or not c.agrees:
                continue
            xs.append(i + (k - (len(modes) - 1) / 2) * width)
            ys.append(c.speedup)
            # No pair ratios recorded (a single repeat): no error bar.
            lo.append(c.speedup - (c.speedup if c.speedup_low is None else c.speedup_low))
            hi.append((c.speedup if c.speedup_high is None else c.speedup_high) - c.speedup)
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=mode)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(float(top), color="grey", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(workloads)))
    ax.set_xticklabels(workloads, rotation=20)
    ax.set_ylabel(f"speedup over sequential ({top} workers)")
    py = report.python
    build = "free-threaded" if py.get("gil_disabled") else "GIL"
    ax.set_title(f"{py.get('implementation')} {py.get('version')} ({build}), {report.cores} cores, n={report.size:,}")
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise PlotUnavailable(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
