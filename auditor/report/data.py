"""Text and JSON rendering for `ft-audit data show` / `data diff` / `data refresh` (no logic)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.compat.lookup import CompatData, CompatRecord, Disagreement
from auditor.report.jsonout import dumps

if TYPE_CHECKING:
    from auditor.compat.refresh_service import RefreshResult


def _date(value: str | None) -> str:
    return (value or "date unknown")[:10]


def _platforms(platforms: tuple[str, ...]) -> str:
    return " ".join(platforms) if platforms else "-"


def show_text(record: CompatRecord, data: CompatData) -> str:
    lines = [f"{record.name}" + (f" {record.version}" if record.version else "")]
    census = record.census
    if census:
        lines.append(f"  census       latest {census.latest_version or '?'}"
                     + (" (compiled wheels)" if census.compiled else " (no compiled wheels in the latest release)")
                     + f"; {census.releases_checked} releases checked")
        if census.first_ft_version:
            firsts = ", ".join(f"{t} {v} ({_date(census.first_ft_date.get(t))})"
                               for t, v in census.first_ft_version.items())
            lines.append(f"               first free-threaded wheels: {firsts}")
        else:
            lines.append("               no free-threaded wheel in any release")
        for target, platforms in census.ft_platforms.items():
            lines.append(f"               latest {target}: {_platforms(platforms)}")
        if record.version:
            ft_wheels = census.ft_wheels(record.version)
            lines.append(f"               {record.version}: " + (", ".join(
                f"{t} ({_platforms(p)})" for t, p in ft_wheels.items()) or "no free-threaded wheel"))
        lines.append("               classifier: "
                     + (", ".join(c.split(" :: ", 2)[-1] for c in census.classifiers) or "none"))
        for verdict in census.deep:
            modules = ", ".join(verdict.reenables_gil[:4]) + (" ..." if len(verdict.reenables_gil) > 4 else "")
            lines.append(f"               inspected {census.deep_version} {verdict.target}: {verdict.free_threading}"
                         f", sub-interpreters {verdict.subinterpreters}, {verdict.modules} module{'s' if verdict.modules != 1 else ''}"
                         + (f" (GIL re-enabled by {modules})" if modules else "") + f" [{verdict.wheel}]")
        lines.append(f"               source: {census.source.url} ({_date(census.source.date)})")
        if census.metadata_source:
            lines.append(f"               classifiers from: {census.metadata_source.url} "
                         f"({_date(census.metadata_source.date)})")
        if census.stale_reason:
            lines.append(f"               not refreshed last time: {census.stale_reason}")
    else:
        lines.append("  census       not in the census")
    tracker = record.tracker
    if tracker:
        release = "PyPI release" if tracker.pypi_release else "no PyPI release"
        first = f"first version {tracker.first_version}" if tracker.first_version else "no first version"
        lines.append(f"  tracker      {tracker.status} ({tracker.display_name}): {first}; {release}; "
                     f"tested in CI: {tracker.tested_in_ci}")
        if tracker.not_on_pypi:
            lines.append(f"               not a PyPI project: {tracker.not_on_pypi}")
        if tracker.upstream_issue:
            lines.append(f"               upstream issue: {tracker.upstream_issue}")
        for note in tracker.notes:
            lines.append(f"               note: {note}")
        lines.append(f"               source: {tracker.source.url} ({_date(tracker.source.date)})")
    else:
        lines.append("  tracker      not listed" if data.community.imports.get("tracking")
                     else "  tracker      not imported (run `ft-audit data refresh`)")
    wheels = record.wheels_list
    if wheels:
        lines.append(f"  wheels list  {wheels.css_class}: "
                     + ("has a free-threaded wheel" if wheels.free_threaded_wheel else "no free-threaded wheel")
                     + f" (rank {wheels.rank})")
        lines.append(f"               source: {wheels.source.url} ({_date(wheels.source.date)})")
    else:
        lines.append("  wheels list  not listed" if data.community.imports.get("wheels")
                     else "  wheels list  not imported (run `ft-audit data refresh`)")
    found = record.disagreements()
    if found:
        lines.append("  disagreements:")
        lines.extend(f"    [{d.source}] {d.message}" for d in found)
    return "\n".join(lines) + "\n"


def show_json(record: CompatRecord, data: CompatData, notes: list[str]) -> str:
    return dumps({"kind": "compat-record", "record": record.to_json(), "sources": data.sources(), "notes": notes})


def diff_text(rows: list[tuple[CompatRecord, list[Disagreement]]], data: CompatData) -> str:
    if not rows:
        return "no disagreements between the sources and the evidence\n"
    lines = []
    for record, found in rows:
        for d in found:
            lines.append(f"{record.name:<28} [{d.source}] claims: {d.claim}")
            lines.append(f"{'':<28} evidence: {d.evidence}")
    count = sum(len(f) for _, f in rows)
    lines.append(f"{count} disagreement(s) in {len(rows)} package(s)")
    return "\n".join(lines) + "\n"


def diff_json(rows: list[tuple[CompatRecord, list[Disagreement]]], data: CompatData, notes: list[str]) -> str:
    return dumps({
        "kind": "compat-diff",
        "sources": data.sources(),
        "disagreements": [dict(d.to_json(), name=r.name) for r, found in rows for d in found],
        "notes": notes,
    })


def refresh_summary(result: RefreshResult) -> str:
    lines = []
    census = result.census
    if census is not None:
        lines.append(f"census: {census.read} packages read from PyPI in {census.seconds:.1f} s"
                     + (f", {census.kept} kept from the previous data" if census.kept else "")
                     + (f", {census.failed} could not be read" if census.failed else "")
                     + (f", {census.inspected} inspected (--deep)" if census.inspected else ""))
        if census.written:
            lines.append(f"wrote {census.written}")
    for title, state in result.community.states if result.community else ():
        lines.append(f"{title}: {state}")
    return "\n".join(lines) + "\n"
