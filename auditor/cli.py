"""Command-line entry point: the only place that knows argparse, the terminal and exit codes.

Each sub-command lives in `auditor.commands.<name>` and exposes `NAME`, `HELP`,
`add_arguments(parser)` and `run(args) -> int`. The core returns data; commands render it.

Exit codes (all commands):
  0  checked, nothing to report
  1  checked, findings at or above the failing threshold
  2  could not check (bad input, service down, usage error, an internal error); never 0 after
     checking nothing, and never 1: a crash is not a finding
  130 interrupted (Ctrl-C)
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
EXIT_INTERRUPTED = 130       # 128 + SIGINT, as shells report it

COMMAND_MODULES = ("wheel", "env", "requirements", "source", "data", "bench")


COMMAND_HELP = {
    "wheel": "gate built wheels: tags vs. contents, every module's GIL declaration, RECORD",
    "env": "audit an installed environment (this interpreter, --python PATH or --path DIR)",
    "requirements": "check requirements for a target interpreter before migrating",
    "source": "lint C/C++/Cython sources for free-threading and isolation hazards",
    "data": "show, diff and refresh the compatibility data",
    "bench": "time parallelism models (threads, processes, sub-interpreters) on this interpreter",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser, with sub-command `only` fully built and the others as named placeholders.

    Importing every command module costs a quarter of a second (each pulls in its own sources
    and formatters), so a run imports only the command it runs; `--help` and `--version` import
    none. `only="*"` builds every command (for tests and documentation)."""
    parser = argparse.ArgumentParser(
        prog="ft-audit",
        description="Audit C extensions for free-threaded CPython (PEP 703) and "
        "per-interpreter-GIL sub-interpreters (PEP 684/734), from the compiled modules themselves.",
    )
    parser.add_argument("--version", action="version", version=f"ft-audit {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="on an internal error, show the Python traceback")
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where downloads and HTTP responses are cached "
        "(default: $FT_AUDIT_CACHE_DIR or the user cache dir)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        if only != "*" and name != only:
            sub.add_parser(name, help=COMMAND_HELP[name], add_help=False)
            continue
        module = importlib.import_module(f"auditor.commands.{name}")
        cmd = sub.add_parser(module.NAME, help=COMMAND_HELP[name], description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command named in argv, skipping the global options before it."""
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--debug":
            i += 1
            continue
        if arg == "--cache-dir":
            i += 2
            continue
        if arg.startswith("--cache-dir="):
            i += 1
            continue
        if arg.startswith("-"):
            return None  # --help / --version / unknown options: no command to build
        return arg if arg in COMMAND_MODULES else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=_chosen_command(argv))
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
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the outer guard: a crash must read as "could not check"
        if args.debug:
            import traceback

            traceback.print_exc()
        print(f"ft-audit: internal error: {internal_error_line(exc)} "
              "(a bug in ft-audit: please report it with the output of --debug)", file=sys.stderr)
        return EXIT_ERROR


def internal_error_line(exc: BaseException) -> str:
    """`ValueError: ... (in auditor/sources/requirements.py:120)`: the exception and the last
    ft-audit frame, so a report names where it happened without a traceback."""
    import traceback

    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if "auditor" in frame.filename.replace("\\", "/").split("/") and not frame.filename.endswith("cli.py"):
            parts = frame.filename.replace("\\", "/").split("/")
            where = f" (in {'/'.join(parts[parts.index('auditor'):])}:{frame.lineno})"
            break
    text = str(exc).replace("\n", " ")
    if len(text) > 200:
        text = text[:200] + "…"
    return f"{exc.__class__.__name__}: {text}{where}"
