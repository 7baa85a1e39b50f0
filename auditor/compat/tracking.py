"""Importer for the py-free-threading "Compatibility Status Tracking" table (docs/tracking.md).

The table is hand-edited Markdown inside an MkDocs page: one pipe table with icon shortcodes
(`:material-check-bold:`, `:simple-github:` ...), footnote markers on names and in cells, and
Markdown footnote definitions after it (one continues on indented lines). Nothing states a
status; it follows from which columns are filled:

    released  -- "PyPI release" checked (a first version is then given)
    ci-only   -- "Tested in CI" checked (or a CI footnote) but no release
    tracked   -- neither: an upstream issue is being followed

The parser is strict about the shape it knows (required columns, known icons, defined
footnotes) because a silently mis-read row would be worse than keeping the previous import:
every problem is collected with its line number and raised together as TrackingFormatError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditor.compat.names import pypi_names_for
from auditor.errors import InputError

TRACKING_URL = (
    "https://raw.githubusercontent.com/Quansight-Labs/free-threaded-compatibility/main/docs/tracking.md"
)

REQUIRED_COLUMNS = ("project", "upstream issue", "tested in ci", "pypi release", "first version with support")
OPTIONAL_COLUMNS = ("nightly wheels", "nightly link")

# The msgpack row spells the check icon ":meterial-check-bold:"; accept both spellings.
CHECK_ICONS = frozenset({"material-check-bold", "meterial-check-bold"})
ISSUE_ICONS = {"simple-github": "github", "simple-ubuntu": "launchpad", "simple-sourceforge": "sourceforge",
               "simple-gitlab": "gitlab"}
PLATFORM_ICONS = {"simple-linux": "linux", "simple-apple": "macos", "material-microsoft-windows": "windows"}
KNOWN_ICONS = CHECK_ICONS | set(ISSUE_ICONS) | set(PLATFORM_ICONS)

_ICON = re.compile(r":([a-z][a-z0-9-]*):")
_FOOTNOTE_REF = re.compile(r"\[\^([^\]\s]+)\]")
_FOOTNOTE_DEF = re.compile(r"^\[\^([^\]\s]+)\]:\s?(.*)$")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")


class TrackingFormatError(InputError):
    """The tracking table is not in the shape this importer knows; nothing from it was used."""


@dataclass(frozen=True)
class TrackingRow:
    display_name: str
    pypi_names: tuple[str, ...]       # empty for rows that are not PyPI projects
    not_on_pypi: str | None           # why the row is not a PyPI project, or None
    status: str                       # "released" | "ci-only" | "tracked"
    tested_in_ci: str                 # "yes" | "footnote" | "no"
    pypi_release: bool
    first_version: str | None
    upstream_issue: str | None
    issue_tracker: str | None         # "github" | "launchpad" | "sourceforge" | None
    nightly_platforms: tuple[str, ...]
    nightly_link: str | None
    notes: tuple[str, ...]            # footnote texts attached anywhere in the row
    line: int

    def to_json(self) -> dict:
        return {
            "display_name": self.display_name,
            "pypi_names": list(self.pypi_names),
            "not_on_pypi": self.not_on_pypi,
            "status": self.status,
            "tested_in_ci": self.tested_in_ci,
            "pypi_release": self.pypi_release,
            "first_version": self.first_version,
            "upstream_issue": self.upstream_issue,
            "issue_tracker": self.issue_tracker,
            "nightly_platforms": list(self.nightly_platforms),
            "nightly_link": self.nightly_link,
            "notes": list(self.notes),
            "line": self.line,
        }

    @classmethod
    def from_json(cls, doc: dict) -> TrackingRow:
        return cls(
            display_name=doc["display_name"],
            pypi_names=tuple(doc.get("pypi_names") or ()),
            not_on_pypi=doc.get("not_on_pypi"),
            status=doc["status"],
            tested_in_ci=doc.get("tested_in_ci", "no"),
            pypi_release=bool(doc.get("pypi_release")),
            first_version=doc.get("first_version"),
            upstream_issue=doc.get("upstream_issue"),
            issue_tracker=doc.get("issue_tracker"),
            nightly_platforms=tuple(doc.get("nightly_platforms") or ()),
            nightly_link=doc.get("nightly_link"),
            notes=tuple(doc.get("notes") or ()),
            line=int(doc.get("line", 0)),
        )


def parse_tracking(text: str, *, where: str = "tracking.md") -> tuple[TrackingRow, ...]:
    """Every row of the table, or TrackingFormatError listing each problem with its line."""
    lines = text.splitlines()
    problems: list[str] = []
    header_index = _find_header(lines)
    if header_index is None:
        raise TrackingFormatError(where, "no Markdown table with a 'Project' column found")
    header = [_norm_header(c) for c in _cells(lines[header_index])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise TrackingFormatError(
            where, f"line {header_index + 1}: table header lacks column(s) {', '.join(repr(m) for m in missing)}"
            f" (found: {', '.join(header)})")
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        problems.append(f"line {header_index + 1}: unknown column(s) {', '.join(repr(u) for u in unknown)}")
    column = {name: i for i, name in enumerate(header)}

    footnotes = _footnotes(lines)
    raw_rows: list[tuple[int, list[str]]] = []
    index = header_index + 1
    if index < len(lines) and set(lines[index].replace("|", "").strip()) <= set(":- "):
        index += 1  # the alignment row
    while index < len(lines) and lines[index].lstrip().startswith("|"):
        cells = _cells(lines[index])
        if len(cells) != len(header):
            problems.append(f"line {index + 1}: {len(cells)} cells, the header has {len(header)}")
        else:
            raw_rows.append((index + 1, cells))
        index += 1

    rows = []
    for line_no, cells in raw_rows:
        try:
            rows.append(_row(line_no, cells, column, footnotes))
        except ValueError as exc:
            problems.append(f"line {line_no}: {exc}")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise TrackingFormatError(where, shown)
    if not rows:
        raise TrackingFormatError(where, "the table has no rows")
    return tuple(rows)


def _find_header(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if line.lstrip().startswith("|") and "project" in [_norm_header(c) for c in _cells(line)]:
            return i
    return None


def _cells(line: str) -> list[str]:
    stripped = line.strip()
    if stripped.startswith("|"):
        stripped = stripped[1:]
    if stripped.endswith("|"):
        stripped = stripped[:-1]
    return [c.strip() for c in stripped.split("|")]


def _norm_header(cell: str) -> str:
    return " ".join(cell.lower().split())


def _footnotes(lines: list[str]) -> dict[str, str]:
    notes: dict[str, str] = {}
    current: str | None = None
    for line in lines:
        match = _FOOTNOTE_DEF.match(line)
        if match:
            current = match.group(1)
            notes[current] = match.group(2).strip()
        elif current and line.startswith(("    ", "\t")) and line.strip():
            notes[current] += " " + line.strip()  # an indented continuation line
        elif not line.strip():
            continue
        else:
            current = None
    return notes


def _icons(cell: str) -> list[str]:
    return _ICON.findall(_LINK.sub(lambda m: m.group(1), cell))


def _check_icons(cell: str, what: str) -> list[str]:
    icons = _icons(cell)
    unknown = [i for i in icons if i not in KNOWN_ICONS]
    if unknown:
        raise ValueError(f"unknown icon(s) {', '.join(':' + u + ':' for u in unknown)} in {what!r}")
    return icons


def _row(line_no: int, cells: list[str], column: dict[str, int], footnotes: dict[str, str]) -> TrackingRow:
    def cell(name: str) -> str:
        return cells[column[name]] if name in column else ""

    notes: list[str] = []
    for text in cells:
        for ref in _FOOTNOTE_REF.findall(text):
            if ref not in footnotes:
                raise ValueError(f"footnote [^{ref}] is used but not defined")
            if footnotes[ref] not in notes:
                notes.append(footnotes[ref])

    display = _FOOTNOTE_REF.sub("", cell("project")).strip()
    if not display:
        raise ValueError("empty project name")
    pypi_names, not_on_pypi = pypi_names_for(display)

    issue_cell = cell("upstream issue")
    issue_icons = _check_icons(issue_cell, "upstream issue")
    link = _LINK.search(issue_cell)
    tracker = next((ISSUE_ICONS[i] for i in issue_icons if i in ISSUE_ICONS), None)

    ci_cell = cell("tested in ci")
    ci_icons = _check_icons(ci_cell, "tested in ci")
    if any(i in CHECK_ICONS for i in ci_icons):
        tested = "yes"
    elif _FOOTNOTE_REF.search(ci_cell):
        tested = "footnote"     # "functional, CI flaky/disabled"
    elif _FOOTNOTE_REF.sub("", ci_cell).strip():
        raise ValueError(f"cannot read 'tested in ci' cell {ci_cell!r}")
    else:
        tested = "no"

    release_cell = cell("pypi release")
    release_icons = _check_icons(release_cell, "pypi release")
    released = any(i in CHECK_ICONS for i in release_icons)
    if not released and _FOOTNOTE_REF.sub("", release_cell).strip():
        raise ValueError(f"cannot read 'pypi release' cell {release_cell!r}")

    first = _FOOTNOTE_REF.sub("", cell("first version with support")).strip() or None
    platforms = tuple(PLATFORM_ICONS[i] for i in _check_icons(cell("nightly wheels"), "nightly wheels")
                      if i in PLATFORM_ICONS)
    nightly = _LINK.search(cell("nightly link"))  # its icon only decorates the link: any is fine

    status = "released" if released else "ci-only" if tested != "no" else "tracked"
    return TrackingRow(
        display_name=display,
        pypi_names=pypi_names,
        not_on_pypi=not_on_pypi,
        status=status,
        tested_in_ci=tested,
        pypi_release=released,
        first_version=first,
        upstream_issue=link.group(2) if link else None,
        issue_tracker=tracker,
        nightly_platforms=platforms,
        nightly_link=nightly.group(2) if nightly else None,
        notes=tuple(notes),
        line=line_no,
    )
