"""`ft-audit requirements FILE...`: before migrating, which pins install as free-threaded wheels?

Parse, call (auditor.audit.requirements), render (auditor.report.requirements), exit. Exit
codes: 0 nothing selected by --fail-on, 1 something selected, 2 anything could not be checked
(the report then says "incomplete").
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import date
from typing import Any

from auditor.audit.requirements import audit_requirements
from auditor.config import active_codes, exit_with, expired_findings, pick
from auditor.errors import InputError
from auditor.output import is_quiet, note

NAME = "requirements"
HELP = ("before migrating: resolve requirements files / pyproject.toml / lock files for a free-threaded "
        "target and say which pins install as free-threaded wheels, what to upgrade to, and what blocks")

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
FAIL_ON_TOKENS = ("abi3-only", "gil-wheel", "no-release", "pure-fallback-only", "reenables-gil", "sdist-only",
                  "subinterp-not-supported")
DEFAULT_FAIL_ON = "abi3-only,no-release,pure-fallback-only,reenables-gil,sdist-only"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="FILE",
                        help="requirements files, pyproject.toml, pylock.toml or uv.lock")
    parser.add_argument("-r", "--requirement", dest="requirement_files", action="append", default=[],
                        metavar="FILE", help="a requirements file (as pip's -r; repeatable)")
    parser.add_argument("--target", metavar="VERSION", default=None,
                        help="target interpreter: 3.13t, 3.14t, 3.15t (or a GIL version such as 3.14 for comparison); "
                             "default: the newest free-threaded release (3.15t)")
    parser.add_argument("--platform", action="append", default=[], metavar="TAG",
                        help="target platform (repeatable): manylinux_2_28_x86_64, manylinux2014_aarch64, "
                             "musllinux_1_2_x86_64, macosx_14_0_arm64, win_amd64 ...; default: this machine")
    parser.add_argument("--no-download", action="store_true",
                        help="do not read wheels: binary verdicts come only from the census and earlier reads, and "
                             "the report lists which are missing (default: read each chosen wheel's extension "
                             "modules with HTTP range requests)")
    parser.add_argument("--deep", action="store_true",
                        help=argparse.SUPPRESS)   # the old opt-in spelling: reading wheels is now the default
    parser.add_argument("--no-deps", action="store_true", help="do not resolve transitive dependencies")
    parser.add_argument("--index-url", metavar="URL", default=None,
                        help="PEP 691 simple index (default: an --index-url line of the input, else PyPI)")
    parser.add_argument("--offline", action="store_true", help="answer from the cache only; stale answers show their age")
    parser.add_argument("--no-compat", action="store_true", help="do not cross-reference the compatibility data")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default=None,
                        help="output format (default: [tool.ft-audit.requirements] format, else text)")
    parser.add_argument("--fail-on", metavar="LIST", default=None,
                        help="comma-separated; exit 1 when a package has one of: " + ", ".join(FAIL_ON_TOKENS)
                             + f" ('none' never fails; default: {DEFAULT_FAIL_ON})")
    parser.add_argument("--jobs", type=int, default=0, metavar="N", help="concurrent HTTP requests (default 8)")
    parser.add_argument("--skip-editable", action="store_true",
                        help="skip editable (-e), VCS, URL and local-path requirements (listed under 'skipped') "
                             "instead of reporting them as not checked (exit 2)")


def parse_fail_on(value: str, where: str = "--fail-on") -> frozenset[str]:
    tokens = {t.strip() for t in value.split(",") if t.strip()}
    if tokens == {"none"}:
        return frozenset()
    bad = sorted(tokens - set(FAIL_ON_TOKENS))
    if bad:
        raise InputError(where, f"unknown value(s) {', '.join(bad)}; choose from {', '.join(FAIL_ON_TOKENS)} or none")
    return frozenset(tokens)


def run(args: argparse.Namespace) -> int:
    from auditor.report import problems
    from auditor.report import requirements as render

    settings, today = args.settings, date.today()
    configured = settings.requirements
    if args.fail_on is not None:
        fail_on = parse_fail_on(args.fail_on)
    elif configured.fail_on is not None:
        fail_on = parse_fail_on(",".join(configured.fail_on) or "none",
                                settings.where("requirements", "fail-on", "--fail-on"))
    else:
        fail_on = parse_fail_on(DEFAULT_FAIL_ON)
    ignored = active_codes(configured.ignore, today)
    expired = expired_findings(configured.ignore, today)
    output_format = pick(args.format, configured.format, "text")
    inputs = [*args.requirement_files, *args.inputs]
    if not inputs:
        raise InputError("ft-audit requirements", "nothing to check: give -r FILE, pyproject.toml, pylock.toml or uv.lock")
    audit = audit_requirements(inputs, python=pick(args.target, configured.target, None),
                               platforms=pick(args.platform, list(configured.platforms or ()), []),
                               download=not args.no_download,
                               transitive=not args.no_deps, index_url=pick(args.index_url, configured.index_url, None),
                               offline=args.offline, use_compat=not args.no_compat, workers=args.jobs or None,
                               skip_editable=args.skip_editable)
    doc = audit.to_json()
    code = exit_with(exit_code(doc, fail_on, ignored), expired)
    if output_format == "json":
        sys.stdout.write(render.render_json({**doc, **({"config_findings": [f.to_json() for f in expired]}
                                                        if expired else {})}))
    elif output_format == "markdown":
        sys.stdout.write(render.render_markdown(doc))
    elif is_quiet():
        if code != EXIT_OK:
            sys.stdout.write(render.render_text(doc, only={p["name"] for p in failing(doc, fail_on, ignored)}))
    else:
        sys.stdout.write(render.render_text(doc))
    for line in problems.lines(audit.incomplete):
        print(f"ft-audit: error: {line}", file=sys.stderr)
    for name in sorted(ignored & {p["name"] for p in doc["packages"]}):
        ignore = next(i for i in configured.ignore if i.value == name)
        note(f"{name}: ignored by {ignore.where} ({ignore.reason})")
    for finding in expired:
        print(f"ft-audit: {finding.line()}", file=sys.stderr)
    return code


def failing(doc: Mapping[str, Any], fail_on: frozenset[str], ignored: frozenset[str] = frozenset()) -> list:
    """The packages --fail-on selects, less those a [tool.ft-audit.requirements] ignore names."""
    return [p for p in doc["packages"] if failing_tokens(p) & fail_on and p["name"] not in ignored]


def exit_code(doc: Mapping[str, Any], fail_on: frozenset[str], ignored: frozenset[str] = frozenset()) -> int:
    if doc["incomplete"] or not doc["packages"]:
        return EXIT_ERROR
    return EXIT_FINDINGS if failing(doc, fail_on, ignored) else EXIT_OK


def failing_tokens(package: Mapping[str, Any]) -> set[str]:
    tokens = {package["status"]}
    if package.get("free_threading") == "reenables-gil":
        tokens.add("reenables-gil")
    if package.get("subinterpreters") == "not-supported":
        tokens.add("subinterp-not-supported")
    return tokens
