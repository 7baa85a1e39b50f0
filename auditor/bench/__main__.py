"""`python -m auditor.bench`: run the bench in this interpreter (what `ft-audit bench --python
PATH` runs in PATH). Needs only the stdlib and numpy, not the rest of ft-audit."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from auditor.bench.options import add_bench_arguments, config_from_args
    from auditor.bench.render import emit
    from auditor.bench.runner import BenchUnavailable, run_bench

    parser = argparse.ArgumentParser(prog="python -m auditor.bench",
                                     description="Time threads, processes and sub-interpreters on this interpreter.")
    add_bench_arguments(parser)
    args = parser.parse_args(argv)
    progress = (lambda m: None) if args.no_progress else (lambda m: print(f"bench: {m}", file=sys.stderr, flush=True))
    try:
        report = run_bench(config_from_args(args), progress)
    except (BenchUnavailable, ValueError) as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 2
    return emit(report, args.format, args.plot, "bench")

if __name__ == "__main__":
    sys.exit(main())
