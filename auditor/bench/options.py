"""Command-line options of the bench, shared by `ft-audit bench` and `python -m auditor.bench`."""

from __future__ import annotations

import argparse

from auditor.bench.runner import ALL_MODES, DEFAULT_SIZE, QUICK_SIZE, WORKLOADS, BenchConfig


def _size(text: str) -> int:
    try:
        value = float(text)  # accepts 1e8
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"size must be a positive whole number, got {text!r}")
    return int(value)


def _choices(allowed: tuple[str, ...]):
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(t.strip() for t in text.split(",") if t.strip())
        unknown = [t for t in items if t not in allowed]
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(allowed)}")
        return items
    return parse


def _workers(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(t) for t in text.split(",") if t.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"worker counts must be integers, got {text!r}") from None
    if not values or values[0] < 1 or values[-1] > 64:
        raise argparse.ArgumentTypeError(f"worker counts must be 1..64, got {text!r}")
    return values


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help=f"small sizes and 3 repeats (base size {QUICK_SIZE:,}); for a smoke test")
    parser.add_argument("--size", type=_size, metavar="N",
                        help=f"base number of float64 elements (default {DEFAULT_SIZE:,})")
    parser.add_argument("--repeats", type=int, metavar="R", help="timed runs per cell (default 5, --quick 3)")
    parser.add_argument("--workers", type=_workers, metavar="N[,N...]", help="worker counts (default 1..cores)")
    parser.add_argument("--modes", type=_choices(ALL_MODES), metavar="LIST",
                        help=f"comma-separated subset of: {', '.join(ALL_MODES)} (sequential always runs)")
    parser.add_argument("--workloads", type=_choices(tuple(WORKLOADS)), metavar="LIST",
                        help=f"comma-separated subset of: {', '.join(WORKLOADS)}")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument("--plot", metavar="FILE.png", help="also draw the speedups (needs matplotlib: ft-audit[plot])")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    size = args.size or (QUICK_SIZE if args.quick else DEFAULT_SIZE)
    repeats = args.repeats or (3 if args.quick else 5)
    if repeats < 1:
        raise ValueError(f"--repeats must be at least 1, got {repeats}")
    return BenchConfig(
        size=size, repeats=repeats, workers=args.workers or (), quick=bool(args.quick),
        modes=args.modes or ALL_MODES, workloads=args.workloads or tuple(WORKLOADS),
        startup_repeats=3 if args.quick else 7,
    )


def forwarded_arguments(args: argparse.Namespace) -> list[str]:
    """The options to pass to `python -m auditor.bench` in another interpreter."""
    argv: list[str] = []
    if args.quick:
        argv.append("--quick")
    if args.size:
        argv += ["--size", str(args.size)]
    if args.repeats:
        argv += ["--repeats", str(args.repeats)]
    if args.workers:
        argv += ["--workers", ",".join(map(str, args.workers))]
    if args.modes:
        argv += ["--modes", ",".join(args.modes)]
    if args.workloads:
        argv += ["--workloads", ",".join(args.workloads)]
    if args.no_progress:
        argv.append("--no-progress")
    return argv
