"""Importer for hugovk's "Free-Threaded Wheels" tracker data (`results.json` on its gh-pages).

Format: `{"data": [{"downloads", "name", "css_class", "icon", "free_threaded_wheel"}...],
"last_update": "Sunday, 14 June 2026, 11:03:57 UTC"}`. Its rule (from the tracker's utils.py)
looks only at the latest release's wheels: `success` = any cp31Xt wheel, `warning` = binary
wheels only, `pure-py` = binary and pure wheels; abi3t wheels are not counted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

from auditor.compat.names import canonicalize_name
from auditor.errors import InputError

WHEELS_URL = "https://hugovk.github.io/free-threaded-wheels/results.json"
CSS_CLASSES = frozenset({"success", "warning", "pure-py"})


class WheelsListFormatError(InputError):
    """results.json is not in the shape this importer knows; nothing from it was used."""


@dataclass(frozen=True)
class WheelsListRow:
    name: str                  # canonical PyPI name
    free_threaded_wheel: bool
    css_class: str             # "success" | "warning" | "pure-py"
    downloads: int | None
    rank: int                  # 1-based position in the list (download order)

    def to_json(self) -> dict:
        return {"name": self.name, "free_threaded_wheel": self.free_threaded_wheel,
                "css_class": self.css_class, "downloads": self.downloads, "rank": self.rank}

    @classmethod
    def from_json(cls, doc: dict) -> WheelsListRow:
        return cls(doc["name"], bool(doc["free_threaded_wheel"]), doc["css_class"],
                   doc.get("downloads"), int(doc.get("rank", 0)))


@dataclass(frozen=True)
class WheelsList:
    rows: tuple[WheelsListRow, ...]
    last_update: str | None    # ISO 8601 when the human-readable date could be read
    last_update_raw: str | None


def parse_wheels_list(body: bytes | str, *, where: str = "results.json") -> WheelsList:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        hint = " (truncated download?)" if "Expecting" in str(exc) or "Unterminated" in str(exc) else ""
        raise WheelsListFormatError(where, f"invalid JSON: {str(exc)[:80]}{hint}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise WheelsListFormatError(where, "expected an object with a 'data' list")
    problems: list[str] = []
    rows: list[WheelsListRow] = []
    for index, item in enumerate(doc["data"]):
        if not isinstance(item, dict):
            problems.append(f"data[{index}]: not an object")
            continue
        missing = [k for k in ("name", "css_class", "free_threaded_wheel") if k not in item]
        if missing:
            problems.append(f"data[{index}]: missing {', '.join(missing)}")
            continue
        if not isinstance(item["name"], str) or not isinstance(item["free_threaded_wheel"], bool):
            problems.append(f"data[{index}]: 'name' must be a string and 'free_threaded_wheel' a boolean")
            continue
        if item["css_class"] not in CSS_CLASSES:
            problems.append(f"data[{index}] ({item['name']}): unknown css_class {item['css_class']!r}")
            continue
        downloads = item.get("downloads")
        rows.append(WheelsListRow(canonicalize_name(item["name"]), item["free_threaded_wheel"],
                                  item["css_class"], downloads if isinstance(downloads, int) else None,
                                  index + 1))
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise WheelsListFormatError(where, shown)
    if not rows:
        raise WheelsListFormatError(where, "the 'data' list is empty")
    raw = doc.get("last_update") if isinstance(doc.get("last_update"), str) else None
    return WheelsList(tuple(rows), _parse_last_update(raw), raw)


def _parse_last_update(raw: str | None) -> str | None:
    """'Sunday, 14 June 2026, 11:03:57 UTC' (strftime '%A, %d %B %Y, %X %Z') -> ISO 8601."""
    if not raw:
        return None
    try:
        day = raw.split(", ", 1)[1]          # drop the weekday name
        stamp = datetime.strptime(day.replace(" UTC", ""), "%d %B %Y, %H:%M:%S")
    except (IndexError, ValueError):
        return None
    return stamp.replace(tzinfo=timezone.utc).isoformat(timespec="seconds")
