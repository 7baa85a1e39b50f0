"""`ft-audit env`: audit an installed environment (this interpreter's, another one's, or a
site-packages folder) for free-threading and sub-interpreter readiness.

Parse, call, render, exit: the probe (auditor.sources.env), the audit (auditor.audit.env, which
rolls up through auditor.envaudit) and a formatter (auditor.report.env).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date

from auditor import envaudit
from auditor.audit.env import audit_snapshot
from auditor.config import IgnoreKind, exit_with, expired_findings, pick
from auditor.envaudit import FAIL_ON_TOKENS
from auditor.errors import InputError
from auditor.output import is_quiet
from auditor.sources import env as envsource
from auditor.target import PythonTarget

NAME = "env"
HELP = ("audit an installed environment: would the GIL stay off on a free-threaded build, "
        "and can its packages load in own-GIL sub-interpreters?")

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--python", metavar="PATH",
                       help="audit the environment of this interpreter (a venv's python, a 3.14t build, 3.9-3.15); "
                            "default: the interpreter running ft-audit")
    where.add_argument("--path", metavar="DIR", help="audit a site-packages folder; needs --target")
    parser.add_argument("--target", action="append", metavar="VERSION",
                        help="the free-threaded interpreter(s) to ask PyPI about for a GIL environment, e.g. "
                             "3.14t (repeatable or comma-separated; default: the same minor version if 3.13+, "
                             "and 3.14); with --path: the one interpreter the folder is for, e.g. 3.13, 3.14t, cp315t")
    parser.add_argument("--target-platform", metavar="PLAT", default=None,
                        help="with --path: sysconfig platform, e.g. linux-x86_64 (default), macosx-11.0-arm64, win-amd64")
    parser.add_argument("--format", choices=("text", "json", "markdown", "sarif"), default=None,
                        help="report format on stdout (default: [tool.ft-audit.env] format, else text; "
                             "sarif: SARIF 2.1.0 for code scanning)")
    parser.add_argument("--fail-on", metavar="LIST", default=None,
                        help="comma-separated: exit 1 when any of these is found: " + ", ".join(FAIL_ON_TOKENS))
    parser.add_argument("--verify", action="store_true",
                        help="runtime proof: import each module in a fresh subprocess of the target interpreter "
                             "(runs audited code) and report every disagreement with the static answer")
    parser.add_argument("--verify-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="per-module timeout for --verify (default 30)")
    parser.add_argument("--jobs", type=int, default=None, metavar="N", help="parallel workers (default: CPU count)")
    parser.add_argument("--ft-target", action="append", metavar="3.X",
                        help="the old name of --target for the free-threaded interpreter(s) to ask PyPI about; "
                             "with --path, where --target names the folder's interpreter, the way to name them")
    parser.add_argument("--offline", action="store_true", help="PyPI answers from the cache only")
    parser.add_argument("--no-pypi", action="store_true", help="do not ask PyPI about free-threaded wheels")
    parser.add_argument("--no-compat", action="store_true", help="do not cross-reference the compatibility data")
    parser.add_argument("--no-cache", action="store_true",
                        help="probe the interpreter and inspect every module again (default: reuse the answers "
                             "for an unchanged interpreter, environment folders and module files)")
    parser.add_argument("--probe-timeout", type=float, default=envsource.PROBE_TIMEOUT, metavar="SECONDS",
                        help=argparse.SUPPRESS)


def parse_fail_on(value: str, where: str = "--fail-on") -> list[str]:
    tokens = [t.strip() for t in value.split(",") if t.strip()]
    bad = [t for t in tokens if t not in FAIL_ON_TOKENS]
    if bad:
        raise InputError(where, f"unknown value(s) {', '.join(bad)}; choose from {', '.join(FAIL_ON_TOKENS)}")
    return tokens


def parse_ft_targets(values: Sequence[str]) -> list[PythonTarget]:
    """`--target 3.14t,3.15 --target cp313t` -> 3.14t, 3.15t, 3.13t: free-threaded interpreters
    (the t may be left out), read by the one version parser (auditor.target)."""
    out: list[PythonTarget] = []
    for value in values:
        for item in value.split(","):
            if item.strip():
                target = PythonTarget.parse(item, "--target", free_threaded=True)
                if target not in out:
                    out.append(target)
    return out


def run(args: argparse.Namespace) -> int:
    settings, today = args.settings, date.today()
    configured = settings.env
    if args.fail_on is None and configured.fail_on is not None:
        fail_on = parse_fail_on(",".join(configured.fail_on), settings.where("env", "fail-on", "--fail-on"))
    else:
        fail_on = parse_fail_on(args.fail_on or "")
    output_format = pick(args.format, configured.format, "text")
    expired = expired_findings(configured.ignore, today)
    active = [i for i in configured.ignore if not i.expired(today)]
    notes: list[str] = []
    targets = pick(args.target, list(configured.target or ()), [])
    if args.path:
        if not targets:
            raise InputError("--path", "needs --target (the interpreter the folder is for, e.g. --target 3.14t)")
        if len(targets) > 1 or "," in targets[0]:
            raise InputError("--target", "with --path, one: the interpreter the folder is for (name the "
                                         "free-threaded ones to ask PyPI about with --ft-target)")
        snapshot = envsource.snapshot_from_path(args.path, targets[0], platform_tag=args.target_platform)
        ft_targets = parse_ft_targets(args.ft_target or [])
        cmd = None
    else:
        ft_targets = parse_ft_targets([*targets, *(args.ft_target or [])])
        cmd = envsource.interpreter_command(args.python) if args.python else envsource.current_python()
        snapshot = envsource.probe_interpreter(cmd, timeout=args.probe_timeout, cache=not args.no_cache)
        warning = envsource.active_environment_warning(snapshot.interpreter)
        if warning:
            notes.append(warning)
    audit = audit_snapshot(snapshot, cmd=cmd, verify=args.verify, verify_timeout=args.verify_timeout,
                           jobs=args.jobs, ask_pypi=not args.no_pypi, offline=args.offline,
                           ft_targets=ft_targets or None, use_compat=not args.no_compat,
                           use_cache=not args.no_cache, notes=notes,
                           progress_stream=sys.stderr)
    from auditor.report import env as report

    def sarif(audit: envaudit.EnvAudit) -> str:
        from auditor.report.sarif import env_sarif, render  # its finding tables: only for SARIF

        return render(env_sarif(audit))

    failures = envaudit.select_failures(
        audit, fail_on, ignore_codes=[i.value for i in active if i.kind is IgnoreKind.CODE],
        ignore_distributions=[i.value for i in active if i.kind is IgnoreKind.PACKAGE])
    if output_format == "text" and is_quiet():
        output = report.render_quiet(audit, failures)
    else:
        output = {"json": report.render_json, "markdown": report.render_markdown,
                  "sarif": sarif}.get(output_format, report.render_text)(audit)
    sys.stdout.write(output)
    for line in report.problem_lines(audit):
        print(f"ft-audit: error: {line}", file=sys.stderr)
    for finding in expired:
        print(f"ft-audit: {finding.line()}", file=sys.stderr)
    if not audit.all_modules() and not audit.distributions:
        print("ft-audit env: nothing to check: no distributions and no extension modules found", file=sys.stderr)
        return EXIT_ERROR
    return exit_with(EXIT_FINDINGS if failures else EXIT_OK, expired)
