"""The GitHub Action's logic: `action.yml` runs `python -m auditor.ci.github` after installing
ft-audit from the action's own checkout.

One audit of the dist folder by the wheel gate (the same calls as `ft-audit wheel`), rendered
three ways:
  - Markdown appended to `$GITHUB_STEP_SUMMARY` (the job's summary page);
  - SARIF 2.1.0 written to `--sarif-file`, for github/codeql-action/upload-sarif;
  - `--format` (text by default) on stdout, the job log;
and `exit-code` / `sarif-file` appended to `$GITHUB_OUTPUT`, so the action can upload the SARIF
before it fails the job. The exit code is the wheel gate's (0 pass, 1 findings, 2 could not
check), with `--fail-on`: `error` (the gate's own rule: an error-severity finding fails),
`warning` (warnings fail too) or `never` (findings never fail the step; could-not-check still
does). Without the GitHub variables (a local run) the summary and outputs are skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from auditor.errors import AuditError, InputError
from auditor.model import Severity, WheelReport

FAIL_ON = ("error", "warning", "never")
FORMATS = ("text", "json", "markdown", "sarif")
# GitHub refuses a step summary over 1 MiB; keep well inside it.
SUMMARY_LIMIT = 1_000_000


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m auditor.ci.github",
                                     description="ft-audit wheel for a GitHub Actions job")
    parser.add_argument("--path", default="dist",
                        help="wheel files or folders holding them; several separated by newlines (default: dist)")
    parser.add_argument("--require-ft", default="", metavar="3.X",
                        help="every GIL wheel for CPython 3.X needs a free-threaded sibling (FTW501)")
    parser.add_argument("--ignore", default="", metavar="CODES", help="finding codes to drop, comma-separated")
    parser.add_argument("--fail-on", default="error", choices=FAIL_ON,
                        help="what fails the step: error-severity findings (default), warnings too, or never")
    parser.add_argument("--format", default="text", choices=FORMATS, help="the report in the job log")
    parser.add_argument("--sarif-file", default="ft-audit.sarif", metavar="FILE",
                        help="where to write SARIF (empty: do not write it)")
    return parser


def split_paths(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def audit(paths: Sequence[str], *, require_ft: str, ignore: str) -> tuple[list[WheelReport], list[str]]:
    """(reports, the path each was read from), as `ft-audit wheel PATH...` audits them."""
    from auditor.audit.wheels import AuditOptions, audit_paths, collect_local
    from auditor.target import PythonTarget
    from auditor.wheel_gate import unreadable_wheel

    if not paths:
        raise InputError("--path", "give wheel files or folders")
    target = PythonTarget.parse(require_ft, "--require-ft", free_threaded=True) if require_ft.strip() else None
    options = AuditOptions(ignore=frozenset(c.strip().upper() for c in ignore.split(",") if c.strip()),
                           require_ft=target)
    inputs = collect_local(paths)
    reports = [unreadable_wheel(name, reason, ignore=options.ignore) for name, reason in inputs.problems]
    reports += audit_paths(inputs.wheels, options)
    return reports, [name for name, _ in inputs.problems] + [str(p) for p in inputs.wheels]


def step_exit_code(reports: Sequence[WheelReport], fail_on: str) -> int:
    from auditor.wheel_gate import exit_code

    code = exit_code(reports)
    if code == 2:
        return 2
    if fail_on == "never":
        return 0
    if fail_on == "warning" and any(f.severity == Severity.WARNING for r in reports for f in r.findings):
        return 1
    return code


def _append(path: str, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from exc


def summary_markdown(reports: Sequence[WheelReport]) -> str:
    from auditor.report.wheel import render_markdown

    text = render_markdown(reports)
    if len(text.encode("utf-8")) > SUMMARY_LIMIT:
        cut = text.encode("utf-8")[:SUMMARY_LIMIT].decode("utf-8", "ignore")
        text = cut[:cut.rfind("\n") + 1] + "\n*(cut to fit the step summary: see the SARIF file or the job log)*\n"
    return text


def run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    from auditor.report import jsonout, sarif
    from auditor.report.wheel import render_markdown, render_text

    reports, paths = audit(split_paths(args.path), require_ft=args.require_ft, ignore=args.ignore)
    document = sarif.render(sarif.wheel_sarif(reports, paths))
    if args.sarif_file:
        try:
            Path(args.sarif_file).parent.mkdir(parents=True, exist_ok=True)
            Path(args.sarif_file).write_text(document, encoding="utf-8")
        except OSError as exc:
            raise InputError(args.sarif_file, f"cannot write: {exc.strerror or exc}") from exc
    if environ.get("GITHUB_STEP_SUMMARY"):
        _append(environ["GITHUB_STEP_SUMMARY"], summary_markdown(reports))
    log = {"json": lambda: jsonout.dumps({"wheels": [r.to_json() for r in reports]}),
           "markdown": lambda: render_markdown(reports), "sarif": lambda: document}
    sys.stdout.write(log.get(args.format, lambda: render_text(reports))())
    from auditor.commands.wheel import could_not_check_lines

    for line in could_not_check_lines(reports):
        print(f"ft-audit: error: {line}", file=sys.stderr)
    code = step_exit_code(reports, args.fail_on)
    if environ.get("GITHUB_OUTPUT"):
        _append(environ["GITHUB_OUTPUT"], f"exit-code={code}\nsarif-file={args.sarif_file}\n")
    return code


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    try:
        return run(args, environ)
    except AuditError as exc:
        code, line = 2, f"ft-audit: error: {exc.one_line()}"
    except Exception as exc:  # noqa: BLE001 - as the CLI's outer guard: a crash is "could not check", never 1
        from auditor.cli import internal_error_line

        code, line = 2, f"ft-audit: internal error: {internal_error_line(exc)}"
    print(line, file=sys.stderr)
    if environ.get("GITHUB_OUTPUT"):
        try:
            _append(environ["GITHUB_OUTPUT"], f"exit-code={code}\n")
        except AuditError:
            pass
    return code


if __name__ == "__main__":
    sys.exit(main())
