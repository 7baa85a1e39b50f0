"""`ft-audit source PATH...`: lint C, C++ and Cython sources for free-threading and
sub-interpreter hazards. Rules: auditor.lint.rules; engine: auditor.lint.engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from auditor.errors import InputError
from auditor.lint.engine import LintOptions, lint_paths
from auditor.lint.findings import LintReport
from auditor.lint.rules import BY_ID
from auditor.report import jsonout, sarif, source_text

NAME = "source"
HELP = ("lint C/C++ and Cython sources (.c .h .cc .cpp .hpp .pyx .pxd .pxi) for free-threading "
        "and sub-interpreter hazards: C-API calls without the GIL, borrowed references, missing "
        "Py_mod_gil, isolation breakers, Cython directives")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files or directories to check (directories are searched recursively)")
    parser.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                        help="output format (default: text)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    parser.add_argument("--ignore", action="append", default=[], metavar="RULES",
                        help="rule IDs to skip, comma-separated (repeatable); adds to [tool.ft-audit] ignore")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="skip paths matching GLOB, relative to the current directory (repeatable)")
    parser.add_argument("--config", metavar="PYPROJECT",
                        help="read [tool.ft-audit] from this pyproject.toml instead of the nearest one")
    parser.add_argument("--no-config", action="store_true", help="ignore pyproject.toml configuration")
    parser.add_argument("--list-rules", action="store_true", help="print the rule table and exit")


def exit_code(report: LintReport) -> int:
    if report.findings:
        return 1
    if report.unchecked_files or not report.files:
        return 2
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list_rules:
        sys.stdout.write(source_text.render_rules())
        return 0
    if not args.paths:
        print("ft-audit source: error: give at least one PATH", file=sys.stderr)
        return 2
    ignore = frozenset(r.strip().upper() for spec in args.ignore for r in spec.split(",") if r.strip())
    unknown = sorted(r for r in ignore if r not in BY_ID)
    if unknown:
        raise InputError("--ignore", f"unknown rule ID(s): {', '.join(unknown)}")
    config = Path(args.config) if args.config else None
    if config is not None and not config.is_file():
        raise InputError(str(config), "no such file")
    options = LintOptions(ignore=ignore, exclude=tuple(args.exclude), use_config=not args.no_config,
                          config_file=config)
    report = lint_paths([Path(p) for p in args.paths], options)
    if args.format == "json":
        text = jsonout.dumps(report.to_json())
    elif args.format == "sarif":
        text = sarif.dumps(report)
    else:
        text = source_text.render(report)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(args.output, f"cannot write: {exc.strerror or exc}") from exc
    else:
        sys.stdout.write(text)
    if args.format != "text" or args.output:
        # keep machine output clean; still say what could not be checked
        for d in report.diagnostics:
            if not d.checked:
                print(f"ft-audit source: {d.path}: {d.message}", file=sys.stderr)
    return exit_code(report)
