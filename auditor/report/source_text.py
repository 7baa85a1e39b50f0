"""Plain-text rendering of `ft-audit source` results: one `path:line:col: RULE message` per
finding (the format compilers use, so editors and CI log parsers jump to it), the fix and the
rule's documentation link on the next lines, then notes and a one-line summary."""

from __future__ import annotations

from auditor.lint.findings import LintReport, SourceDiagnostic
from auditor.lint.rules import BY_ID


def render(report: LintReport, *, show_fix: bool = True, notes: bool = True) -> str:
    """`notes=False` (--quiet): findings, what could not be checked and the summary line only."""
    out: list[str] = []
    for f in report.findings:
        out.append(f"{f.path}:{f.line}:{f.column}: {f.rule} {f.message}")
        if show_fix:
            rule = BY_ID.get(f.rule)
            since = f" (since {rule.since})" if rule and rule.since and rule.since not in f.fix else ""
            out.append(f"    fix: {f.fix}{since}")
            if rule:
                out.append(f"    see {rule.docs}")
    for d in report.diagnostics if notes else ():
        if d.checked:    # a partial result; what could not be checked at all is on stderr
            out.append(f"{_where(d)}: note: {d.message}")
    for note in report.config_notes if notes else ():
        out.append(f"note: {note}")
    n = len(report.findings)
    out.append(f"{n} finding{'s' if n != 1 else ''} in {report.checked_files} checked file"
               f"{'s' if report.checked_files != 1 else ''}"
               + (f"; {report.unchecked_files} could not be checked (errors on stderr)" if report.unchecked_files else ""))
    return "\n".join(out) + "\n"


def error_lines(report: LintReport) -> list[str]:
    """`PATH[:LINE]: reason` for each file that could not be checked: the command prints them
    on stderr, once."""
    return [f"{_where(d)}: {d.message}" for d in report.diagnostics if not d.checked]


def _where(d: SourceDiagnostic) -> str:
    return f"{d.path}:{d.line}" if d.line else d.path


def render_rules() -> str:
    lines = []
    for r in BY_ID.values():
        since = r.since or "-"
        lines.append(f"{r.id}  {r.severity:<7}  since {since:<10}  {r.title}")
    return "\n".join(lines) + "\n"
