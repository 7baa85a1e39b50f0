"""Command-line entry point: the only place that knows argparse, the terminal and exit codes.

Each sub-command lives in `auditor.commands.<name>` and exposes `NAME`, `HELP`,
`add_arguments(parser)` and `run(args) -> int`. The core returns data; commands render it.

Exit codes (all commands):
  0  checked, nothing to report
  1  checked, findings at or above the failing threshold
  2  could not check (bad input, service down, usage error); never 0 after checking nothing
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from auditor import __version__
from auditor.errors import AuditError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

COMMAND_MODULES = ("wheel", "env", "requirements", "source", "data", "bench")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ft-audit",
        description="Audit C extensions for free-threaded CPython (PEP 703) and "
        "per-interpreter-GIL sub-interpreters (PEP 684/734), from the compiled modules themselves.",
    )
    parser.add_argument("--version", action="version", version=f"ft-audit {__version__}")
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where downloads and HTTP responses are cached "
        "(default: $FT_AUDIT_CACHE_DIR or the user cache dir)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"auditor.commands.{name}")
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cache_dir:
        os.environ["FT_AUDIT_CACHE_DIR"] = args.cache_dir
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        return int(args._run(args))
    except AuditError as exc:
        print(f"ft-audit: error: {exc.one_line()}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("ft-audit: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_ERROR
