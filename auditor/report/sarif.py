"""SARIF 2.1.0 output for `ft-audit source` (GitHub code scanning, VS Code SARIF viewer).

One run, the rule table as `tool.driver.rules` (id, names, descriptions, help with the fix and
the version that introduced it) built by `reporting_descriptor` from the finding-code table
(`auditor.finding_codes`, which also holds the wheel and env codes), one result per finding
with a region (1-based line and column, columns in Unicode code points), and files that could
not be checked as `invocations[0].toolExecutionNotifications`. Paths are relative URIs (forward slashes,
percent-encoded) so code scanning can map them onto the repository checkout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from auditor import __version__
from auditor.finding_codes import Family, FindingCode, codes_of
from auditor.lint.findings import LintReport

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _uri(path: str) -> str:
    if os.path.isabs(path):
        return Path(path).as_uri()
    return quote(path.replace(os.sep, "/"), safe="/._-~")


def reporting_descriptor(code: FindingCode) -> dict[str, Any]:
    """A SARIF rule (`reportingDescriptor`) for one entry of the finding-code table, whatever its
    family; wheel and env codes have no why / fix, so their description is the title."""
    since = f" (since {code.since})" if code.since else ""
    fix_text = f"Fix: {code.fix}{since}. " if code.fix else ""
    fix_markdown = f"**Fix:** {code.fix}{since}\n\n" if code.fix else ""
    return {
        "id": code.id,
        "name": "".join(w.capitalize() for w in code.title.replace("`", "").replace("*", "").split()
                        if w.isalnum())[:100] or code.id,
        "shortDescription": {"text": code.title},
        "fullDescription": {"text": code.why or code.title},
        "help": {"text": f"{fix_text}Docs: {code.docs}",
                 "markdown": f"{fix_markdown}Docs: `{code.docs}`"},
        "defaultConfiguration": {"level": _LEVEL.get(code.severity, "warning")},
        "properties": {"since": code.since, "anchor": code.anchor},
    }


def to_sarif(report: LintReport) -> dict[str, Any]:
    rules = codes_of(Family.SOURCE)   # ruleIndex counts in the table's order
    index = {r.id: k for k, r in enumerate(rules)}
    results = []
    for f in report.findings:
        results.append({
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": _LEVEL.get(f.severity, "warning"),
            "message": {"text": f"{f.message}. Fix: {f.fix}"},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(f.path)},
                    "region": {"startLine": f.line, "startColumn": f.column},
                }
            }],
        })
    notifications = []
    for d in report.diagnostics:
        loc: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": _uri(d.path)}}}
        if d.line:
            loc["physicalLocation"]["region"] = {"startLine": d.line}
        notifications.append({
            "level": "note" if d.checked else "error",
            "message": {"text": d.message},
            "locations": [loc],
        })
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "ft-audit",
                "version": __version__,
                "semanticVersion": __version__ if __version__.count(".") == 2 else None,
                "rules": [reporting_descriptor(r) for r in rules],
            }},
            "columnKind": "unicodeCodePoints",
            "invocations": [{
                "executionSuccessful": report.unchecked_files == 0,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    }


def dumps(report: LintReport) -> str:
    doc = to_sarif(report)
    driver = doc["runs"][0]["tool"]["driver"]
    if driver.get("semanticVersion") is None:
        driver.pop("semanticVersion", None)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
