"""Plain-text rendering of `ft-audit source` results: one `path:line:col: RULE message` per
finding (the format compilers use, so editors and CI log parsers jump to it), the fix on the
next line, then diagnostics and a one-line summary."""

from __future__ import annotations

from auditor.lint.findings import LintReport
from auditor.lint.rules import BY_ID


def render(report: LintReport, *, show_fix: bool = True, notes: bool = True) -> str:
    """`notes=False` (--quiet): findings, what could not be checked and the summary line only."""
    out: list[str] = []
    for f in report.findings:
        out.append(f"{f.path}:{f.line}:{f.column}: {f.rule} {f.message}")
        if show_fix:
            rule = BY_ID.get(f.rule)
            since = f" (since {rule.since})" if rule and rule.since and rule.since not in f.fix else ""
            docs = f"; see {rule.docs}" if rule else ""
            out.append(f"    fix: {f.fix}{since}{docs}")
    for d in report.diagnostics:
        if d.checked and not notes:
            continue
        where = f"{d.path}:{d.line}" if d.line else d.path
        kind = "note" if d.checked else "error"
        out.append(f"{where}: {kind}: {d.message}")
    for note in report.config_notes if notes else ():
        out.append(f"note: {note}")
    n = len(report.findings)
    out.append(f"{n} finding{'s' if n != 1 else ''} in {report.checked_files} checked file"
               f"{'s' if report.checked_files != 1 else ''}"
               + (f"; {report.unchecked_files} file(s) could not be checked" if report.unchecked_files else ""))
    return "\n".join(out) + "\n"


def render_rules() -> str:
    lines = []
    for r in BY_ID.values():
        since = r.since or "-"
        lines.append(f"{r.id}  {r.severity:<7}  since {since:<10}  {r.title}")
    return "\n".join(lines) + "\n"
