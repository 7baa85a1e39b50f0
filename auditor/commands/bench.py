"""`ft-audit bench`: which parallelism model pays off on this machine and interpreter.

Times sequential, threads, multiprocessing (fork, spawn, shared memory), own-GIL
sub-interpreters and OpenMP on a pure-Python loop, the numpy quiz kernels, the bundled
ftaudit_ext C and Cython kernels and an object-dtype numpy op; checks every mode returns the
sequential result; prints speedups with their spread, worker start-up costs and a conclusion.

`--python PATH` runs the same bench (`python -m auditor.bench`) in another interpreter and
renders its JSON here. Exit codes: 0 all modes agree, 1 a mode returned a different result,
2 the bench could not run (no numpy, bad --python, unwritable plot).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from auditor.errors import InputError

NAME = "bench"
HELP = ("time threads, processes, shared memory and sub-interpreters on eight small compute kernels "
        "(pure Python, numpy, the bundled C/Cython ext, object dtype) on this interpreter; needs numpy: "
        "pip install 'ft-audit[bench]'")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from auditor.bench.options import add_bench_arguments

    parser.add_argument("--python", metavar="PATH",
                        help="run the bench in this interpreter instead (it needs numpy; "
                        "the ftaudit_ext workloads need ft-audit installed there)")
    add_bench_arguments(parser)
    from auditor.bench.runner import WORKLOADS

    # What is timed, since the names alone (np_norm, cy_sincos) do not say it.
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = ("workloads (--workloads; each checked against the sequential result):\n"
                     + "\n".join(f"  {name:10} {description}" for name, (description, _) in WORKLOADS.items())
                     + "\n\nEvery workload reads its input from a numpy float64 array (shared between the "
                       "modes), so the bench needs numpy:\n  pip install 'ft-audit[bench]'   "
                       "(in a checkout: pip install '.[bench]')")


def run_in(python: str, args: argparse.Namespace):  # -> BenchReport
    """Run `python -m auditor.bench --format json` in another interpreter and read its report."""
    from auditor.bench.model import BenchReport
    from auditor.bench.options import forwarded_arguments

    # The bench code of this ft-audit goes first on the path; ftaudit_ext and numpy come from
    # the target interpreter's own site-packages.
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    cmd = [python, "-m", "auditor.bench", "--format", "json", *forwarded_arguments(args)]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, env=env, text=True)
    except OSError as exc:
        raise InputError(python, f"cannot run: {exc.strerror or exc}") from None
    if proc.returncode == 2 or not proc.stdout.strip():
        raise InputError(python, f"the bench did not run there (exit {proc.returncode}; see the messages above)")
    try:
        return BenchReport.from_dict(json.loads(proc.stdout))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(python, f"unreadable bench report: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from auditor.bench.options import config_from_args
    from auditor.bench.render import emit
    from auditor.bench.runner import BenchUnavailable, run_bench

    if args.python:
        report = run_in(args.python, args)
    else:
        from auditor.output import is_quiet

        progress = ((lambda m: None) if args.no_progress or is_quiet()
                    else (lambda m: print(f"bench: {m}", file=sys.stderr, flush=True)))
        try:
            report = run_bench(config_from_args(args), progress)
        except (BenchUnavailable, ValueError) as exc:
            raise InputError(sys.executable, str(exc)) from None
    return emit(report, args.format, args.plot, "ft-audit")
