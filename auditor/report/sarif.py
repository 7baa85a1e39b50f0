"""SARIF 2.1.0 output for `ft-audit source`, `wheel` and `env` (GitHub code scanning, VS Code
SARIF viewer).

One run per document, the command's family of the finding-code table as `tool.driver.rules`
(id, names, descriptions, help with the fix and the version that introduced it) built by
`reporting_descriptor` (`auditor.finding_codes`), one result per finding with its level from
the finding's own severity, and what could not be checked as
`invocations[0].toolExecutionNotifications` (source, env) or as results of the could-not-check
codes (wheel: FTW001-FTW005). Paths are relative URIs (forward slashes, percent-encoded) so code
scanning can map them onto the repository checkout; absolute paths are `file://` URIs.

Locations:
  source -- the file, with a region (1-based line and column, columns in Unicode code points);
            a file inside an sdist (`ARCHIVE!member`) as a wheel member is: the archive as the
            artifact, the member in `properties.member`;
  wheel  -- the wheel file as the artifact (the path it was given by), the member in the
            artifact location's `properties.member` and the module as a logical location
            (`kind: module`); a wheel-level finding has no member;
  env    -- the module file; a finding about a distribution (a blocked-by chain, a disagreeing
            tracker) has no file of its own and points at the environment's folder.
A binary has no lines, but code scanning places every alert on one and rejects a location
without a region, so wheel and env results carry `startLine: 1` (as container scanners do).
`partialFingerprints` name the finding without the version, so an alert follows a wheel from
one release to the next.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from auditor import __version__
from auditor.finding_codes import Family, FindingCode, codes_of
from auditor.lint.findings import LintReport
from auditor.model import Finding, WheelReport
from auditor.sources.sdist import split_member_path

if TYPE_CHECKING:
    from auditor.envaudit import EnvAudit

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


def _rules(family: Family) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The family's rules in the table's order, and ID -> ruleIndex."""
    codes = codes_of(family)
    return [reporting_descriptor(c) for c in codes], {c.id: k for k, c in enumerate(codes)}


def _document(family: Family, results: list[dict[str, Any]], *, successful: bool,
              notifications: Sequence[dict[str, Any]] = (), column_kind: bool = False) -> dict[str, Any]:
    rules, _ = _rules(family)
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "ft-audit",
            "version": __version__,
            "semanticVersion": __version__ if __version__.count(".") == 2 else None,
            "rules": rules,
        }},
        "automationDetails": {"id": f"ft-audit/{family.value}/"},
        "invocations": [{
            "executionSuccessful": successful,
            "toolExecutionNotifications": list(notifications),
        }],
        "results": results,
    }
    if column_kind:
        run["columnKind"] = "unicodeCodePoints"
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def to_sarif(report: LintReport) -> dict[str, Any]:
    """`ft-audit source --format sarif`."""
    _, index = _rules(Family.SOURCE)   # ruleIndex counts in the table's order
    results = []
    for f in report.findings:
        results.append({
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": _LEVEL.get(f.severity, "warning"),
            "message": {"text": f"{f.message}. Fix: {f.fix}"},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": _source_artifact(f.path),
                    "region": {"startLine": f.line, "startColumn": f.column},
                }
            }],
        })
    notifications = []
    for d in report.diagnostics:
        loc: dict[str, Any] = {"physicalLocation": {"artifactLocation": _source_artifact(d.path)}}
        if d.line:
            loc["physicalLocation"]["region"] = {"startLine": d.line}
        notifications.append({
            "level": "note" if d.checked else "error",
            "message": {"text": d.message},
            "locations": [loc],
        })
    return _document(Family.SOURCE, results, successful=report.unchecked_files == 0,
                     notifications=notifications, column_kind=True)


def _source_artifact(path: str) -> dict[str, Any]:
    """A source file's artifact location; a member of an sdist is located at the archive."""
    inside = split_member_path(path)
    if inside is None:
        return {"uri": _uri(path)}
    archive, member = inside
    return {"uri": _uri(archive), "properties": {"member": member}}


def _fingerprint(*parts: str | None) -> dict[str, str]:
    text = "\x00".join(p or "" for p in parts)
    return {"ftAuditFinding/v1": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def _binary_result(finding: Finding, index: dict[str, int], uri: str, *, member: str | None,
                   fingerprint: dict[str, str], properties: dict[str, Any]) -> dict[str, Any]:
    artifact: dict[str, Any] = {"uri": uri}
    if member:
        artifact["properties"] = {"member": member}
    location: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact, "region": {"startLine": 1}}}
    if finding.module:
        location["logicalLocations"] = [{"name": finding.module.rpartition(".")[2],
                                         "fullyQualifiedName": finding.module, "kind": "module"}]
    return {
        "ruleId": finding.code,
        "ruleIndex": index[finding.code],
        "level": _LEVEL.get(finding.severity, "warning"),
        "message": {"text": finding.message},
        "locations": [location],
        "partialFingerprints": fingerprint,
        "properties": {k: v for k, v in properties.items() if v is not None},
    }


def _wheel_identity(filename: str) -> str:
    """The wheel's project and tags without its version ("lxml-cp314-cp314t-manylinux..."), so a
    fingerprint survives a release; the file name itself when it is not a wheel name."""
    from auditor.wheel_gate import WheelTags

    tags = WheelTags.from_filename(Path(filename).name)
    if tags is None:
        return Path(filename).name
    return "-".join([tags.project, ".".join(sorted(tags.pythons)), ".".join(sorted(tags.abis)),
                     ".".join(sorted(tags.platforms))])


def wheel_sarif(reports: Sequence[WheelReport], paths: Sequence[str]) -> dict[str, Any]:
    """`ft-audit wheel --format sarif`: `paths[i]` is where `reports[i]` was read from (the path
    given on the command line, a file found in a given folder, or a downloaded file)."""
    if len(paths) != len(reports):
        raise ValueError("one path per wheel report")
    _, index = _rules(Family.WHEEL)
    results = []
    for report, path in zip(reports, paths):
        identity = _wheel_identity(report.filename)
        for f in report.findings:
            results.append(_binary_result(
                f, index, _uri(path), member=f.path,
                fingerprint=_fingerprint(f.code, identity, f.path, f.module),
                properties={"wheel": report.filename, "verdict": report.verdict, "member": f.path}))
    successful = all(r.verdict != "error" for r in reports)
    return _document(Family.WHEEL, results, successful=successful)


def env_sarif(audit: EnvAudit) -> dict[str, Any]:
    """`ft-audit env --format sarif`: module findings at the module file, the others at the
    environment's folder; the audit's own errors as notifications."""
    _, index = _rules(Family.ENV)
    interp = audit.interpreter
    folder = (interp.environment_dirs[0] if interp.environment_dirs else interp.executable) or "."
    results = []
    for f in audit.findings:
        results.append(_binary_result(
            f, index, _uri(f.path or folder), member=None,
            fingerprint=_fingerprint(f.code, interp.label, f.module, f.message if not f.module else None),
            properties={"interpreter": interp.label, "module": f.module}))
    notifications = [{"level": "error", "message": {"text": e}} for e in audit.errors]
    return _document(Family.ENV, results, successful=not audit.errors, notifications=notifications)


def render(doc: dict[str, Any]) -> str:
    """The document as text; a version that is not semantic (x.y) leaves `semanticVersion` out."""
    driver = doc["runs"][0]["tool"]["driver"]
    if driver.get("semanticVersion") is None:
        driver.pop("semanticVersion", None)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def dumps(report: LintReport) -> str:
    return render(to_sarif(report))
