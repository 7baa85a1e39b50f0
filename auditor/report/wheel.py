"""Text and Markdown rendering of wheel-gate reports (JSON goes through report.jsonout).

Formatters only render WheelReport objects; verdicts and findings are decided in wheel_gate.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

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


def render_text(reports: Sequence[WheelReport], *, level: Verbosity = Verbosity.NORMAL, color: bool = False,
                failed: bool = False) -> str:
    """QUIET: nothing when every wheel passed (and `failed`, another reason to fail, is False),
    else the wheels that did not pass with their errors, and the summary line. VERBOSE: every
    module's verdict line, with its evidence, also for modules a finding names."""
    quiet, verbose = level is Verbosity.QUIET, level is Verbosity.VERBOSE
    if quiet and not failed and all(r.verdict == "pass" for r in reports):
        return ""
    lines: list[str] = []
    for report in reports:
        if quiet and report.verdict == "pass":
            continue
        lines.append(f"{paint(f'{report.verdict.upper():5}', _VERDICT_COLOUR.get(report.verdict, 'bold'), color)} "
                     f"{report.filename}")
        for f in _sorted_findings(report):
            if not quiet or f.severity == "error":
                lines.append(f"  {f.severity:7} {f.code}  {f.message}")
        if quiet:
            continue
        # Modules a finding already names are not repeated; the others get their verdict line.
        named = {f.module for f in report.findings}
        for module in report.modules:
            if verbose or module.name not in named:
                lines.append(f"  module  {_module_line(module)}")
            if verbose:
                lines += [f"          evidence: {e.topic}: {e.detail}" + (f" [{e.source}]" if e.source else "")
                          for e in _evidence(module)]
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
