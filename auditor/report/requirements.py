"""Rendering for `ft-audit requirements`: JSON (the contract), text and Markdown.

Formatters only render the document built by auditor.audit.requirements; they compute
nothing but layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.report import jsonout, problems

READY = ("ft-wheel", "gil-wheel", "pure-python")


def render_json(doc: Mapping[str, Any]) -> str:
    return jsonout.dumps(dict(doc))


def _headline(doc: Mapping[str, Any]) -> str:
    target = doc["target"]
    packages = doc["packages"]
    blocking = [p for p in packages if p["status"] not in READY or p.get("free_threading") == "reenables-gil"]
    platforms = ", ".join(target.get("platforms") or [])
    state = "INCOMPLETE: some things could not be checked" if doc["incomplete"] else \
        ("ready" if not blocking else f"{len(blocking)} not ready")
    return (f"Target {target.get('python') or 'unknown'} ({target.get('abi') or 'unknown ABI'}) on {platforms or 'no platform'}: "
            f"{len(packages)} package(s), {state}")


VERDICT_KEYS = ("free_threading", "subinterpreters")


def _has_verdicts(doc: Mapping[str, Any]) -> bool:
    """Some package carries a verdict (always, unless nothing could be looked up)."""
    return any(p.get(k) is not None for p in doc["packages"] for k in VERDICT_KEYS)


def _ft_cell(p: Mapping[str, Any], inspected: bool = True) -> str:
    """The verdicts; a missing one says so and why ("not checked (...)"), never "None".
    Empty when no package of this document carries a verdict."""
    if not inspected and all(p.get(k) is None for k in VERDICT_KEYS):
        return ""
    missing = f"not checked ({p.get('evidence') or 'no wheel of this package was inspected'})"
    ft, si = p.get("free_threading"), p.get("subinterpreters")
    return (f"free-threading: {missing if ft is None else ft}, "
            f"sub-interpreters: {missing if si is None else si}")


def render_text(doc: Mapping[str, Any], *, only: set[str] | None = None) -> str:
    """`only` (--quiet): just these packages, with no skipped / notes / stale lines."""
    lines = [_headline(doc), ""]
    packages = [p for p in doc["packages"] if only is None or p["name"] in only]
    inspected = _has_verdicts(doc)
    width = max([len(f"{p['name']} {p['version']}") for p in packages] + [10])
    for p in sorted(packages, key=lambda p: (p["status"] in READY and p.get("free_threading") != "reenables-gil", p["name"])):
        head = f"  {p['name'] + ' ' + p['version']:<{width}}  {p['status']:<18}"
        detail = p.get("wheel") or p.get("status_detail") or ""
        lines.append(f"{head} {detail}".rstrip())
        if inspected:
            complete = all(p.get(k) is not None for k in VERDICT_KEYS)   # else the reason is in the cell
            lines.append(f"      binary: {_ft_cell(p)}" + (f" ({p['evidence']})" if complete and p.get("evidence") else ""))
        if p.get("suggestion"):
            lines.append(f"      suggestion: {p['suggestion']}")
        for chain in p.get("blocked_by") or ():
            lines.append(f"      blocked by: {chain}")
        if p["status"] not in READY:
            lines.append(f"      requested by: {', '.join(p['requested_by'])}")
        for plat, facts in (p.get("platforms") or {}).items():
            if facts["status"] != p["status"]:
                lines.append(f"      on {plat}: {facts['version']} {facts['status']}")
        for message in (p.get("compat") or {}).get("disagreements") or ():
            lines.append(f"      compat data disagrees: {message}")
    for item in doc.get("skipped") or () if only is None else ():
        lines.append(f"  skipped {item['where']}: {item['reason']}")
    for note in doc.get("notes") or () if only is None else ():
        lines.append(f"  note: {note}")
    for item in doc.get("stale") or () if only is None else ():
        lines.append(f"  stale: {item['project']} index page is {item['age_seconds']} s old (not revalidated)")
    if doc["incomplete"]:     # the lines themselves go to stderr, once (commands/requirements)
        lines.append("")
        lines.append(problems.summary(len(doc["incomplete"])))
    return "\n".join(lines) + "\n"


def _md(text: Any) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def render_markdown(doc: Mapping[str, Any]) -> str:
    inspected = _has_verdicts(doc)
    out = ["## ft-audit requirements", "", _headline(doc), "",
           "| package | version | status | min FT version | suggestion | GIL / sub-interpreters | blocked by |",
           "|---|---|---|---|---|---|---|"]
    for p in doc["packages"]:
        out.append("| " + " | ".join(_md(x) for x in (
            p["name"], p["version"], p["status"], p.get("min_ft_version") or "", p.get("suggestion") or "",
            _ft_cell(p, inspected), "; ".join(p.get("blocked_by") or ()))) + " |")
    if doc.get("skipped"):
        out += ["", "### Skipped", ""] + [f"- `{_md(s['where'])}`: {_md(s['reason'])}" for s in doc["skipped"]]
    if doc.get("notes"):
        out += ["", "### Notes", ""] + [f"- {_md(n)}" for n in doc["notes"]]
    if doc.get("stale"):
        out += ["", "### Stale index pages (not revalidated)", ""] + [
            f"- {_md(s['project'])}: {_md(s['age_seconds'])} s old" for s in doc["stale"]]
    if doc["incomplete"]:
        out += ["", "### Could not check", ""] + [f"- `{_md(i['where'])}`: {_md(i['reason'])}" for i in doc["incomplete"]]
    return "\n".join(out) + "\n"
