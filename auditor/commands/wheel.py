"""`ft-audit wheel PATH... [--pypi NAME[==VERSION]]`: the build-time CI gate for wheels.

Parse, call (auditor.audit.wheels: read safely, inspect, assess), render (auditor.report.wheel),
exit. A wheel that cannot be read becomes an "error" report with a one-line reason and the
rest of the run goes on.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from datetime import date

from auditor.audit.wheels import AuditOptions, audit_paths, collect_local, fetch_pypi, filter_wheels, keep_freed_memory
from auditor.config import active_codes, exit_with, expired_findings, pick
from auditor.errors import AuditError, InputError
from auditor.model import WheelReport
from auditor.output import use_color, verbosity
from auditor.target import PythonTarget

NAME = "wheel"
HELP = ("audit wheels before publishing: tags against the binaries, every module's GIL "
        "declaration in free-threaded wheels, the Free Threading classifier, RECORD hashes")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="wheel files, or folders holding .whl files")
    parser.add_argument("--pypi", action="append", default=[], metavar="NAME[==VERSION]",
                        help="download and audit every wheel of that release from PyPI (latest if no version)")
    parser.add_argument("--platform", action="append", default=[], metavar="GLOB",
                        help="only wheels with a platform tag matching GLOB (e.g. 'manylinux*x86_64')")
    parser.add_argument("--abi", action="append", default=[], metavar="GLOB",
                        help="only wheels with an ABI tag matching GLOB (e.g. 'cp314*')")
    parser.add_argument("--target", "--require-ft", dest="require_ft", metavar="3.X",
                        help="the free-threaded interpreter the wheels are for (3.14 or 3.14t): every GIL wheel "
                             "for CPython 3.X needs a free-threaded sibling in the set (FTW501)")
    parser.add_argument("--ignore", action="append", default=[], metavar="CODE",
                        help="drop findings with this code (repeatable or comma-separated)")
    parser.add_argument("--select", action="append", default=[], metavar="CODE",
                        help="also list, in the text report, the findings of these codes that are only counted "
                             "by default (FTW402, the Free Threading classifier; repeatable or comma-separated; "
                             "default: [tool.ft-audit.wheel] select)")
    parser.add_argument("--format", choices=("text", "json", "markdown", "sarif"), default=None,
                        help="report format on stdout (default: [tool.ft-audit.wheel] format, else text; "
                             "sarif: SARIF 2.1.0 for code scanning)")
    parser.add_argument("--record-hashes", choices=("audited", "all"), default=None,
                        help="check the sha256 in RECORD of the extension modules and .dist-info files, the other "
                        "members by name and size (audited, default), or of every member (all: decompresses "
                        "the whole wheel, about 1.5x the time)")
    parser.add_argument("--jobs", type=int, default=0, metavar="N",
                        help="parallel workers (default: number of CPUs)")
    parser.add_argument("--offline", action="store_true", help="--pypi from the cache only")


def run(args: argparse.Namespace) -> int:
    from auditor.finding_codes import all_codes
    from auditor.report import jsonout
    from auditor.report.wheel import render_markdown, render_text
    from auditor.wheel_gate import exit_code, unreadable_wheel

    if not args.paths and not args.pypi:
        raise InputError("ft-audit wheel", "give wheel files or folders, or --pypi NAME")
    settings, today = args.settings, date.today()
    configured = settings.wheel
    require_ft_text = pick(args.require_ft, configured.require_ft, None)
    require_ft = PythonTarget.parse(
        require_ft_text, "--target" if args.require_ft else settings.where("wheel", "require-ft", "--target"),
        free_threaded=True) if require_ft_text else None
    output_format = pick(args.format, configured.format, "text")
    expired = expired_findings(configured.ignore, today)
    options = AuditOptions(
        ignore=frozenset(c.strip().upper() for item in args.ignore for c in item.split(",") if c.strip())
        | active_codes(configured.ignore, today),
        require_ft=require_ft,
        jobs=args.jobs,
        hashes=pick(args.record_hashes, configured.record_hashes, "audited"),
    )
    selected = [c.strip().upper() for item in args.select for c in item.split(",") if c.strip()]
    unknown = [c for c in selected if not c.startswith("FTW") or c not in all_codes()]
    if unknown:
        raise InputError("--select", f"unknown FTW finding code(s): {', '.join(unknown)}")
    inputs = collect_local(args.paths)
    for spec in args.pypi:
        try:
            fetched = fetch_pypi(spec, platforms=args.platform, abis=args.abi, offline=args.offline)
        except AuditError as exc:  # one release that cannot be had does not stop the others
            inputs.problems.append((f"--pypi {spec}", exc.one_line()))
            continue
        inputs.wheels += fetched.wheels
        inputs.problems += fetched.problems
    inputs.wheels = filter_wheels(inputs.wheels, platforms=args.platform, abis=args.abi)
    if not inputs.wheels and not inputs.problems:
        raise InputError("ft-audit wheel", "no wheel left to audit after the --platform / --abi filters")

    from auditor.progress import Progress

    # process-wide allocator setting, so here in the command rather than in the library call;
    # before the pool forks, so the workers inherit it
    keep_freed_memory()
    with Progress(len(inputs.wheels), "auditing wheels") as progress:
        reports = audit_paths(inputs.wheels, options, on_done=lambda r: progress.advance(1, r.filename))
    reports = [unreadable_wheel(name, reason, ignore=options.ignore) for name, reason in inputs.problems] + reports

    if output_format == "json":
        sys.stdout.write(jsonout.dumps({"wheels": [r.to_json() for r in reports],
                                        **({"config_findings": [f.to_json() for f in expired]} if expired else {})}))
    elif output_format == "sarif":
        from auditor.report import sarif

        paths = [name for name, _ in inputs.problems] + [str(p) for p in inputs.wheels]
        sys.stdout.write(sarif.render(sarif.wheel_sarif(reports, paths)))
    elif output_format == "markdown":
        sys.stdout.write(render_markdown(reports))
    else:
        sys.stdout.write(render_text(reports, level=verbosity(), color=use_color(sys.stdout), failed=bool(expired),
                                     select=frozenset(selected or configured.select or ())))
    # One line per thing that could not be checked, on stderr whatever the format, so a CI log
    # shows why the gate said 2 even when stdout goes to a JSON file.
    for line in could_not_check_lines(reports):
        print(f"ft-audit: error: {line}", file=sys.stderr)
    for finding in expired:
        print(f"ft-audit: {finding.line()}", file=sys.stderr)
    return exit_with(exit_code(reports), expired)


def could_not_check_lines(reports: Sequence[WheelReport]) -> Iterator[str]:
    from auditor.finding_codes import finding_code

    for report in reports:
        said = False
        for f in report.findings:
            if finding_code(f.code).could_not_check:
                said = True
                yield f"{report.filename}: {f.message}"
        if report.verdict == "error" and not said:
            yield f"{report.filename}: could not be checked (the reason was dropped by --ignore)"


# -- inputs ---------------------------------------------------------------------------------
