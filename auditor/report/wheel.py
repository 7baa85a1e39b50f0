"""Text and Markdown rendering of wheel-gate reports (JSON goes through report.jsonout).

Formatters only render WheelReport objects; verdicts and findings are decided in wheel_gate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from auditor.model import ModuleReport, WheelReport
from auditor.output import Verbosity, paint

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def _sorted_findings(report: WheelReport):
    return sorted(report.findings, key=lambda f: (_SEVERITY_ORDER.get(f.severity, 3), f.code, f.path or ""))


def summary_line(reports: Sequence[WheelReport]) -> str:
    counts = Counter(r.verdict for r in reports)
    modules = sum(len(r.modules) for r in reports)
    return (f"{len(reports)} wheel{'s' if len(reports) != 1 else ''}, {modules} extension module"
            f"{'s' if modules != 1 else ''}: {counts['pass']} pass, {counts['fail']} fail, "
            f"{counts['error']} could not be checked")


def _module_line(module: ModuleReport) -> str:
    ft = module.free_threading
    sub = module.subinterpreters
    return f"{module.name}: free-threading {ft.value} ({ft.reason}); sub-interpreters {sub.value}"


_VERDICT_COLOUR = {"pass": "green", "fail": "red", "error": "yellow"}


def _modules_summary(report: WheelReport) -> str:
    """`2 modules: free-threading ready; sub-interpreters own-gil` (counts when they differ)."""
    if not report.modules:
        return "no extension modules"

    def values(aspect: str) -> str:
        counts = Counter(getattr(m, aspect).value for m in report.modules)
        if len(counts) == 1:
            return next(iter(counts))
        return ", ".join(f"{n} {value}" for value, n in counts.most_common())

    n = len(report.modules)
    return (f"{n} module{'s' if n != 1 else ''}: free-threading {values('free_threading')}; "
            f"sub-interpreters {values('subinterpreters')}")


def _on_request(code: str, selected: frozenset[str]) -> bool:
    """A finding the text lists only when selected (auditor/finding_codes.json `on_request`)."""
    from auditor.finding_codes import finding_code

    return code not in selected and finding_code(code).on_request


def render_text(reports: Sequence[WheelReport], *, level: Verbosity = Verbosity.NORMAL, color: bool = False,
                failed: bool = False, select: frozenset[str] = frozenset()) -> str:
    """NORMAL: one line per passing wheel (its modules' verdicts, its info codes), with its
    warnings under it; a wheel that did not pass with its findings. QUIET: nothing when every
    wheel passed (and `failed`, another reason to fail, is False), else the wheels that did not
    pass with their errors, and the summary line. VERBOSE: every finding and every module's
    verdict line, with its evidence. Findings of an on-request code (FTW402) are listed only
    when `select` names them, else counted in one line."""
    quiet, verbose = level is Verbosity.QUIET, level is Verbosity.VERBOSE
    if quiet and not failed and all(r.verdict == "pass" for r in reports):
        return ""
    lines: list[str] = []
    held: dict[str, int] = Counter()
    for report in reports:
        if quiet and report.verdict == "pass":
            continue
        findings = []
        for f in _sorted_findings(report):
            if _on_request(f.code, select):
                held[f.code] += 1
            elif not quiet or f.severity == "error":
                findings.append(f)
        word = paint(f"{report.verdict.upper():5}", _VERDICT_COLOUR.get(report.verdict, "bold"), color)
        if report.verdict == "pass" and not verbose and not quiet:
            infos = sorted({f.code for f in findings if f.severity == "info" and f.code not in select})
            lines.append(f"{word} {report.filename}  {_modules_summary(report)}"
                         + (f"; info {', '.join(infos)}" if infos else ""))
            lines += [f"  {f.severity:7} {f.code}  {f.message}" for f in findings
                      if f.severity != "info" or f.code in select]
            continue
        lines.append(f"{word} {report.filename}")
        lines += [f"  {f.severity:7} {f.code}  {f.message}" for f in findings]
        if not verbose:
            continue
        for module in report.modules:
            lines.append(f"  module  {_module_line(module)}")
            lines += [f"          evidence: {e.topic}: {e.detail}" + (f" [{e.source}]" if e.source else "")
                      for e in _evidence(module)]
    if held.get("FTW402"):
        n = held["FTW402"]
        lines.append(f"{n} wheel{'s' if n != 1 else ''} could declare the Free Threading classifier (FTW402): "
                     "--select FTW402 lists them")
    for code, n in sorted(held.items()):
        if code != "FTW402":
            lines.append(f"{n} more {code} finding{'s' if n != 1 else ''}: --select {code} lists them")
    lines.append(summary_line(reports))
    return "\n".join(lines) + "\n"


def _evidence(module: ModuleReport) -> list:
    out = list(module.evidence)
    for verdict in (module.free_threading, module.subinterpreters):
        out.extend(e for e in verdict.evidence if e not in out)
    return out


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(reports: Sequence[WheelReport]) -> str:
    out = ["# ft-audit wheel", "", summary_line(reports), "",
           "| Wheel | Verdict | Errors | Warnings | Modules |", "|---|---|---|---|---|"]
    for report in reports:
        sev = Counter(f.severity for f in report.findings)
        out.append(f"| `{_md(report.filename)}` | **{report.verdict}** | {sev['error']} | {sev['warning']} "
                   f"| {len(report.modules)} |")
    for report in reports:
        if not report.findings and not report.modules:
            continue
        out += ["", f"## `{_md(report.filename)}`: {report.verdict}", ""]
        if report.findings:
            out += ["| Code | Severity | Module | Message |", "|---|---|---|---|"]
            for f in _sorted_findings(report):
                out.append(f"| {f.code} | {f.severity} | {_md(f.module or '')} | {_md(f.message)} |")
            out.append("")
        if report.modules:
            out += ["| Module | Free threading | Reason | Sub-interpreters |", "|---|---|---|---|"]
            for m in report.modules:
                out.append(f"| `{_md(m.name)}` | {m.free_threading.value} | {_md(m.free_threading.reason)} "
                           f"| {m.subinterpreters.value} |")
    return "\n".join(out) + "\n"
