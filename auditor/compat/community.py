"""The two community sources: fetch (live, cached) or read (local file), parse, store.

Parsed imports are kept in the user cache (`<cache>/compat/community.json`), never in the
repository: each source entry records where it came from (URL or file), when it was fetched,
the date of its content and its sha256. A source that cannot be fetched or parsed leaves the
previous import of that source untouched; the caller gets one line saying why.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from auditor.cache import cache_dir
from auditor.compat.dataset import age_days, now_iso, write_json_atomic
from auditor.compat.tracking import TRACKING_URL, TrackingRow, parse_tracking
from auditor.compat.wheels_list import WHEELS_URL, WheelsListRow, parse_wheels_list
from auditor.errors import AuditError, ServiceError

COMMUNITY_SCHEMA = "ft-audit-community/1"
COMMUNITY_FILE = "community.json"
SOURCES = ("tracking", "wheels")
SOURCE_TITLES = {
    "tracking": "py-free-threading tracking table",
    "wheels": "free-threaded-wheels list",
}
DEFAULT_URLS = {"tracking": TRACKING_URL, "wheels": WHEELS_URL}
# Each source's URL can be redirected (a mirror, or a local server in tests).
URL_ENV = {"tracking": "FT_AUDIT_TRACKING_URL", "wheels": "FT_AUDIT_WHEELS_URL"}
LIVE_MAX_AGE = 86400.0  # both sources change at most daily


@dataclass(frozen=True)
class SourceImport:
    """One imported community source."""

    source: str                 # "tracking" | "wheels"
    origin: str                 # URL or local path it was read from
    fetched_at: str             # ISO 8601
    content_date: str | None    # the data's own date when it states one (results.json last_update)
    sha256: str
    rows: tuple[Any, ...]       # TrackingRow | WheelsListRow

    def to_json(self) -> dict[str, Any]:
        return {"origin": self.origin, "fetched_at": self.fetched_at, "content_date": self.content_date,
                "sha256": self.sha256, "rows": [r.to_json() for r in self.rows]}

    @classmethod
    def from_json(cls, source: str, doc: dict[str, Any]) -> SourceImport:
        row_type = TrackingRow if source == "tracking" else WheelsListRow
        return cls(source, doc["origin"], doc["fetched_at"], doc.get("content_date"), doc.get("sha256", ""),
                   tuple(row_type.from_json(r) for r in doc["rows"]))


@dataclass
class CommunityData:
    imports: dict[str, SourceImport] = field(default_factory=dict)
    path: Path | None = None
    unreachable: dict[str, str] = field(default_factory=dict)  # source -> ISO time of the last failed fetch


def community_path() -> Path:
    return cache_dir("compat") / COMMUNITY_FILE


def load_community(path: Path | None = None) -> tuple[CommunityData, list[str]]:
    """The stored imports (possibly none), and problems reading them (never raises)."""
    path = path or community_path()
    data = CommunityData(path=path)
    if not path.is_file():
        return data, []
    try:
        doc = json.loads(path.read_bytes())
        if doc.get("schema") != COMMUNITY_SCHEMA:
            return data, [f"{path}: not an ft-audit community import; ignored"]
        for source in SOURCES:
            if isinstance(doc.get(source), dict):
                data.imports[source] = SourceImport.from_json(source, doc[source])
        data.unreachable = {k: v for k, v in (doc.get("unreachable") or {}).items() if k in SOURCES}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return CommunityData(path=path), [f"{path}: unreadable community import ({exc.__class__.__name__}); ignored"]
    return data, []


def save_community(data: CommunityData) -> None:
    doc: dict[str, Any] = {"schema": COMMUNITY_SCHEMA}
    for source, imported in data.imports.items():
        doc[source] = imported.to_json()
    if data.unreachable:
        doc["unreachable"] = data.unreachable
    write_json_atomic(data.path or community_path(), doc)


def parse_source(source: str, body: bytes, *, origin: str, fetched_at: str) -> SourceImport:
    """Parse one source's raw bytes; raises an AuditError naming `origin` when it cannot."""
    import hashlib  # only imports need it; loading stays cheap

    digest = hashlib.sha256(body).hexdigest()
    if source == "tracking":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            from auditor.compat.tracking import TrackingFormatError

            raise TrackingFormatError(origin, "not UTF-8 text") from None
        rows = parse_tracking(text, where=origin)
        return SourceImport(source, origin, fetched_at, None, digest, rows)
    if source == "wheels":
        parsed = parse_wheels_list(body, where=origin)
        return SourceImport(source, origin, fetched_at, parsed.last_update or parsed.last_update_raw, digest,
                            parsed.rows)
    raise ValueError(f"unknown community source {source!r}")


def source_url(source: str, overrides: dict[str, str] | None = None) -> str:
    if overrides and source in overrides:
        return overrides[source]
    return os.environ.get(URL_ENV[source]) or DEFAULT_URLS[source]


@dataclass
class CommunityRefresh:
    """What happened to each source during a refresh."""

    updated: list[str] = field(default_factory=list)      # sources imported anew
    unchanged: list[str] = field(default_factory=list)    # fetched, same content as before
    notes: list[str] = field(default_factory=list)        # stored data problems, stale copies
    unreachable: list[str] = field(default_factory=list)  # one line per live source not fetched (or not retried)
    errors: list[str] = field(default_factory=list)       # unreadable input: format changed, bad file

    def nothing_read(self) -> bool:
        """Sources were tried and not one could be read (fetched or from a file)."""
        return bool(self.unreachable or self.errors) and not (self.updated or self.unchanged)


def refresh_community(
    *,
    from_files: dict[str, Path] | None = None,
    urls: dict[str, str] | None = None,
    http=None,
    sources: tuple[str, ...] = SOURCES,
    path: Path | None = None,
    on_source: Callable[[str], None] | None = None,
    quiet_after_failure: float | None = None,
    max_age: float = LIVE_MAX_AGE,
) -> tuple[CommunityData, CommunityRefresh]:
    """Import each source from its local file (if given) or live URL; keep the old import on failure.

    `quiet_after_failure` (seconds): do not try a live source again that failed this recently
    (lookups ask for it so that an unreachable host costs its timeout once, not on every run).
    """
    from auditor.http import HttpClient

    data, problems = load_community(path)
    outcome = CommunityRefresh(notes=list(problems))
    from_files = from_files or {}
    changed = False
    for source in sources:
        previous = data.imports.get(source)
        keep = (f"; keeping the previous import from {previous.fetched_at[:10]}" if previous
                else "; no previous import to fall back on")
        try:
            if source in from_files:
                file_path = from_files[source]
                try:
                    body = file_path.read_bytes()
                except OSError as exc:
                    raise ServiceError(str(file_path), f"cannot read ({exc.strerror or exc})") from None
                imported = parse_source(source, body, origin=str(file_path.resolve()), fetched_at=now_iso())
            else:
                url = source_url(source, urls)
                failed_at = data.unreachable.get(source)
                if quiet_after_failure and failed_at and (age_days(failed_at) or 0) * 86400 < quiet_after_failure:
                    outcome.unreachable.append(f"{SOURCE_TITLES[source]} was unreachable at {failed_at[:16]}; "
                                         f"not retried{keep}")
                    continue
                client = http or HttpClient()
                try:
                    response = client.get(url, max_age=max_age)
                except ServiceError as exc:
                    outcome.unreachable.append(f"{SOURCE_TITLES[source]} unreachable ({exc.one_line()}){keep}")
                    data.unreachable[source] = now_iso()
                    changed = True
                    continue
                if data.unreachable.pop(source, None):
                    changed = True
                fetched = datetime.fromtimestamp(response.fetched_at, timezone.utc).isoformat(timespec="seconds")
                imported = parse_source(source, response.body, origin=url, fetched_at=fetched)
                if response.stale:
                    outcome.notes.append(f"{SOURCE_TITLES[source]}: {url} could not be revalidated; "
                                         f"using the copy fetched {fetched[:10]}")
        except AuditError as exc:
            outcome.errors.append(f"{SOURCE_TITLES[source]}: {exc.one_line()}{keep}")
            continue
        finally:
            if on_source:
                on_source(source)
        if previous and previous.sha256 == imported.sha256 and previous.origin == imported.origin:
            outcome.unchanged.append(source)
            if previous.fetched_at != imported.fetched_at:
                data.imports[source] = imported
                changed = True
            continue
        data.imports[source] = imported
        outcome.updated.append(source)
        changed = True
    if changed:
        save_community(data)
    return data, outcome
