"""SARIF 2.1.0 output for `ft-audit source` (GitHub code scanning, VS Code SARIF viewer).

One run, the rule table as `tool.driver.rules` (id, names, descriptions, help with the fix and
the version that introduced it), one result per finding with a region (1-based line and
column, columns in Unicode code points), and files that could not be checked as
`invocations[0].toolExecutionNotifications`. Paths are relative URIs (forward slashes,
percent-encoded) so code scanning can map them onto the repository checkout.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from auditor import __version__
from auditor.lint.findings import LintReport
from auditor.lint.rules import RULES

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _uri(path: str) -> str:
    if os.path.isabs(path):
        return Path(path).as_uri()
    return quote(path.replace(os.sep, "/"), safe="/._-~")


def _rule(r) -> dict[str, Any]:
    since = f" (since {r.since})" if r.since else ""
    return {
        "id": r.id,
        "name": "".join(w.capitalize() for w in r.title.replace("`", "").replace("*", "").split()
                        if w.isalnum())[:100] or r.id,
        "shortDescription": {"text": r.title},
        "fullDescription": {"text": r.why},
        "help": {"text": f"Fix: {r.fix}{since}. Docs: {r.docs}",
                 "markdown": f"**Fix:** {r.fix}{since}\n\nDocs: `{r.docs}`"},
        "defaultConfiguration": {"level": _LEVEL.get(r.severity, "warning")},
        "properties": {"since": r.since, "anchor": r.anchor},
    }


def to_sarif(report: LintReport) -> dict[str, Any]:
    index = {r.id: k for k, r in enumerate(RULES)}
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
                "rules": [_rule(r) for r in RULES],
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
