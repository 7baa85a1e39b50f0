"""python -m tests.fuzz TARGET --seconds N [--seed S] [--crashes DIR] | TARGET --replay FILE | --list"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.fuzz.runner import default_engine, fuzz, run_one
from tests.fuzz.targets import TARGETS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("target", nargs="?", choices=sorted(TARGETS))
    parser.add_argument("--list", action="store_true", help="list the targets and their seeds")
    parser.add_argument("--seconds", type=float, default=60.0, help="fuzzing time (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="mutation seed (default 0)")
    parser.add_argument("--crashes", type=Path, help="folder for crashing inputs (default: a temp dir)")
    parser.add_argument("--engine", choices=("auto", "mutate", "atheris"), default="auto",
                        help="auto: atheris when installed, else the built-in seeded mutator")
    parser.add_argument("--timeout", type=float, default=2.0, help="per-input time limit, s (default 2)")
    parser.add_argument("--memory-mb", type=int, default=512, help="address-space growth limit (default 512)")
    parser.add_argument("--replay", type=Path, metavar="FILE", help="run one saved input and show the result")
    args = parser.parse_args(argv)
    if args.list:
        for name, target in TARGETS.items():
            seeds = target.seeds()
            print(f"{name:13s} {len(seeds):2d} seeds, {sum(map(len, seeds)) >> 10:6d} KiB  {target.doc}")
        return 0
    if args.target is None:
        parser.error("a target is required (or --list)")
    target = TARGETS[args.target]
    if args.replay:
        found = run_one(target, args.replay.read_bytes(), args.timeout)
        if found is None:
            print(f"{args.replay}: no crash")
            return 0
        print(found[1], file=sys.stderr)
        print(f"signature: {found[0]}")
        return 1
    engine = default_engine() if args.engine == "auto" else args.engine
    summary = fuzz(args.target, args.seconds, seed=args.seed, crash_dir=args.crashes, engine=engine,
                   timeout=args.timeout, memory_mb=args.memory_mb, progress=lambda line: print(line, flush=True))
    print(summary.render())
    return 1 if summary.signatures else 0


if __name__ == "__main__":
    sys.exit(main())
