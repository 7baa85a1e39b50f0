"""`ft-audit source PATH...`: lint C, C++ and Cython sources for free-threading and
sub-interpreter hazards. Rules: auditor.lint.rules; engine: auditor.lint.engine."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from auditor.config import exit_with
from auditor.errors import AuditError, InputError
from auditor.lint.engine import LintOptions, lint_paths
from auditor.lint.findings import FileResult, LintReport, SourceDiagnostic
from auditor.lint.rules import BY_ID
from auditor.output import is_quiet
from auditor.report import jsonout, sarif, source_text
from auditor.sources.sdist import fetch_sdist

NAME = "source"
HELP = ("lint C/C++ and Cython sources (.c .h .cc .cpp .hpp .pyx .pxd .pxi) for free-threading "
        "and sub-interpreter hazards: C-API calls without the GIL, borrowed references, missing "
        "Py_mod_gil, isolation breakers, Cython directives")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files or directories to check (directories are searched recursively)")
    parser.add_argument("--format", choices=("text", "json", "sarif"), default=None,
                        help="output format (default: [tool.ft-audit.source] format, else text)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    parser.add_argument("--ignore", action="append", default=[], metavar="RULES",
                        help="rule IDs to skip, comma-separated (repeatable); adds to [tool.ft-audit] ignore")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="skip paths matching GLOB, relative to the current directory (repeatable)")
    parser.add_argument("--select", action="append", default=[], metavar="RULES",
                        help="only these rule IDs, comma-separated (repeatable); replaces [tool.ft-audit.source] select")
    parser.add_argument("--pypi", action="append", default=[], metavar="NAME[==VERSION]",
                        help="download that release's sdist from PyPI (sha256-checked, cached) and check it "
                             "(repeatable; latest release without ==VERSION)")
    parser.add_argument("--offline", action="store_true", help="--pypi from the cache only")
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
    if not args.paths and not args.pypi:
        print("ft-audit source: error: give at least one PATH or --pypi NAME", file=sys.stderr)
        return 2
    ignore, select = _rule_ids(args.ignore, "--ignore"), _rule_ids(args.select, "--select")
    settings = args.settings
    output_format = args.format or settings.source.format or "text"
    options = LintOptions(ignore=ignore, exclude=tuple(args.exclude), use_config=not getattr(args, "no_config", False),
                          config_file=settings.path if getattr(args, "config", None) else None,
                          select=select or None)
    paths, failed = [Path(p) for p in args.paths], []
    for spec in args.pypi:
        try:
            sdist = fetch_sdist(spec, offline=args.offline)
        except AuditError as exc:
            reason = exc.reason if exc.where == spec else exc.one_line()
            failed.append(FileResult(f"--pypi {spec}", diagnostics=(
                SourceDiagnostic(f"--pypi {spec}", reason, checked=False),)))
            continue
        paths.append(sdist)
        options.names[sdist] = sdist.name
    report = lint_paths(paths, options) if paths else LintReport()
    if failed:
        report = dataclasses.replace(report, files=tuple(failed) + report.files)
    if output_format == "json":
        text = jsonout.dumps(report.to_json())
    elif output_format == "sarif":
        text = sarif.dumps(report)
    elif is_quiet():
        text = source_text.render(report, show_fix=False, notes=False) if exit_code(report) else ""
    else:
        text = source_text.render(report)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(args.output, f"cannot write: {exc.strerror or exc}") from exc
    else:
        sys.stdout.write(text)
    # What could not be checked goes to stderr once, whatever the format: the report on stdout
    # only counts it (source_text) or carries it as data (JSON errors, SARIF notifications).
    for line in source_text.error_lines(report):
        print(f"ft-audit: error: {line}", file=sys.stderr)
    for finding in report.config_findings:
        print(f"ft-audit: {finding.line()}", file=sys.stderr)
    return exit_with(exit_code(report), report.config_findings)


def _rule_ids(specs: list[str], flag: str) -> frozenset[str]:
    rules = frozenset(r.strip().upper() for spec in specs for r in spec.split(",") if r.strip())
    unknown = sorted(r for r in rules if r not in BY_ID)
    if unknown:
        raise InputError(flag, f"unknown rule ID(s): {', '.join(unknown)}")
    return rules
