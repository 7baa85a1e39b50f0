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
import signal
import sys
import threading
import time
from collections.abc import Sequence

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
    add_common_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        if only != "*" and name != only:
            sub.add_parser(name, help=COMMAND_HELP[name], add_help=False)
            continue
        module = importlib.import_module(f"auditor.commands.{name}")
        cmd = sub.add_parser(module.NAME, help=COMMAND_HELP[name], description=module.HELP)
        module.add_arguments(cmd)
        _add_common_options_everywhere(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """-q / -v / --config / --no-config: accepted before the command and after it (on every
    command and `data` action). SUPPRESS as the default, so a later parser that does not see
    the flag leaves the value an earlier one set."""
    talk = parser.add_mutually_exclusive_group()
    talk.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                      help="only errors and the verdict line; nothing on success (text format); no progress bars")
    talk.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                      help="more evidence: per-module evidence lines, the config file read, cache misses, timing")
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="read [tool.ft-audit] from this pyproject.toml (default: the nearest one with a "
                             "[tool.ft-audit] table, from the current folder upwards)")
    parser.add_argument("--no-config", action="store_true", default=argparse.SUPPRESS,
                        help="ignore [tool.ft-audit] configuration")


def _add_common_options_everywhere(parser: argparse.ArgumentParser) -> None:
    add_common_options(parser)
    for action in parser._actions:   # the actions of `data` (show, diff, ...) take them too
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_common_options_everywhere(child)


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The sub-command named in argv, skipping the global options before it."""
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--debug", "-q", "--quiet", "-v", "--verbose", "--no-config"):
            i += 1
            continue
        if arg in ("--cache-dir", "--config"):
            i += 2
            continue
        if arg.startswith(("--cache-dir=", "--config=")):
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
    from auditor import output

    quiet, verbose = getattr(args, "quiet", False), getattr(args, "verbose", False)
    if quiet and verbose:   # one given before the command, the other after it
        parser.error("-q/--quiet and -v/--verbose exclude each other")
    output.set_verbosity(output.Verbosity.QUIET if quiet else
                         output.Verbosity.VERBOSE if verbose else output.Verbosity.NORMAL)
    started = time.monotonic()
    previous_handler = _interrupts_abort_requests()
    try:
        from auditor import config

        args.settings = config.load_for(getattr(args, "config", None), getattr(args, "no_config", False))
        if args.settings.path is not None:
            output.detail(f"config: {args.settings.path} [tool.ft-audit]")
        code = int(args._run(args))
        _report_run(started)
        return code
    except AuditError as exc:
        print(f"ft-audit: error: {exc.one_line()}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("ft-audit: interrupted", file=sys.stderr)
        _end_after_interrupt()
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
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGINT, previous_handler)


def _interrupts_abort_requests():
    """Ctrl-C raises KeyboardInterrupt as usual, and first cuts every HTTP request in flight and
    refuses new ones (auditor.http.abort_requests): the worker threads of the fetch pools then
    end at once, so the `with` blocks and the interpreter's exit do not wait for them. Returns
    the handler it replaced (None when not on the main thread, where no handler can be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_interrupt(signum, frame):
        _SIGNALLED.set()
        http = sys.modules.get("auditor.http")
        if http is not None:
            http.abort_requests()
        raise KeyboardInterrupt

    return signal.signal(signal.SIGINT, on_interrupt)


_SIGNALLED = threading.Event()


def _end_after_interrupt(grace: float = 1.0) -> None:
    """After a real Ctrl-C, give the pools' threads `grace` seconds to end (their requests were
    cut), then end the process without waiting for the rest: a worker still waiting for a
    server's first byte is out of reach of a socket shutdown and would hold the interpreter's
    exit until its timeout. Nothing is half-written by then: cache writes are atomic renames."""
    if not _SIGNALLED.is_set():
        return
    end = time.monotonic() + grace
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    for thread in others:
        thread.join(max(0.0, end - time.monotonic()))
    if any(thread.is_alive() for thread in others):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)


def _report_run(started: float) -> None:
    """--verbose: the cache misses of this run, by namespace and reason, and its time."""
    from auditor import output
    from auditor.cache import ALL_MISSES

    if not output.is_verbose():
        return
    for (namespace, reason), count in sorted(ALL_MISSES.items()):
        output.detail(f"cache: {namespace}: {count} miss(es) ({reason})")
    output.detail(f"took {time.monotonic() - started:.2f} s")


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
