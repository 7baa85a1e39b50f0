"""What every benchmark measures the same way: one fresh process (wall time, peak RSS, exit
code, stdout), commands alternated round by round so machine load hits them alike, medians.

    from benchmarks.measure import Command, alternate, report
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Run:
    wall: float        # seconds
    rss_mb: float      # peak RSS of the process, or of its largest reaped child (a worker) if larger (Linux wait4)
    code: int
    out: str
    err_tail: str = ""   # the last line on stderr


def run(argv: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> Run:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
        err.seek(0)
        lines = err.read().decode("utf-8", "replace").strip().splitlines()
    return Run(wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), text,   # kB -> MB on Linux
               lines[-1][:200] if lines else "")


@dataclass
class Command:
    label: str
    argv: list[str]
    env: dict[str, str] | None = None
    before: Callable[[], None] | None = None      # run untimed before each timed run (e.g. empty a cache)
    cwd: Path = ROOT                               # `python -m auditor` imports the auditor found here first
    runs: list[Run] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def best(self) -> float:
        return min(r.wall for r in self.runs)

    @property
    def rss(self) -> float:
        return statistics.median(r.rss_mb for r in self.runs)


def alternate(commands: list[Command], repeat: int) -> None:
    """`repeat` rounds, each running every command once, in order."""
    for _ in range(repeat):
        for command in commands:
            if command.before:
                command.before()
            command.runs.append(run(command.argv, command.env, command.cwd))


def report(commands: list[Command], repeat: int, ratios: list[tuple[str, str]]) -> None:
    """A table (median, best, peak RSS) and `ratios` (ours, peer): ours / peer, medians of the same run."""
    by_label = {c.label: c for c in commands}
    print(f"median of {repeat} alternating runs (best in brackets), wall seconds, peak RSS; "
          f"load average {os.getloadavg()[0]:.2f} at end")
    for c in commands:
        codes = sorted({r.code for r in c.runs})
        print(f"  {c.label:<58} {c.median:6.2f} s  [{c.best:.2f}]  {c.rss:6.0f} MB  exit {','.join(map(str, codes))}")
        for r in c.runs:
            if r.code not in (0, 1) and not c.label.startswith("abi3"):
                print(f"    exit {r.code}: {r.err_tail}")
    for ours, peer in ratios:
        if ours in by_label and peer in by_label:
            print(f"  ratio {ours} / {peer}: {by_label[ours].median / by_label[peer].median:.2f}")


def ft_audit_argv() -> list[str]:
    """The `ft-audit` a user types: the console script next to this interpreter (an installed
    ft-audit), else `python -m auditor`."""
    script = Path(sys.executable).with_name("ft-audit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "auditor"]


def byte_compile(checkout: Path = ROOT) -> None:
    """As `pip install` does for ft-audit and for the peers: otherwise, where
    PYTHONDONTWRITEBYTECODE is set, every timed run would compile the sources again."""
    import compileall

    compileall.compile_dir(str(checkout / "auditor"), quiet=1)
