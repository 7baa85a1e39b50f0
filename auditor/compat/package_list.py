"""`data packages` as a service: the census package list, derived from a download ranking.

The top-ranked projects whose latest release ships compiled wheels, checked live against the
index, in rank order, until `minimum` are found; written (atomically) with a header that says
where the list came from. The command (auditor.commands.data) renders the result; nothing here
prints or exits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from auditor.cache import atomic_write
from auditor.compat.census import has_compiled_wheels
from auditor.compat.refresh import DEFAULT_WORKERS
from auditor.errors import AuditError, InputError
from auditor.progress import BarFactory, no_progress
from auditor.pypi import PyPIClient

DEFAULT_MINIMUM = 300


@dataclass(frozen=True)
class PackageListOptions:
    ranking: Path                          # names in download-rank order (read_ranking)
    minimum: int = DEFAULT_MINIMUM         # stop once this many with compiled wheels are found
    output: Path | None = None             # where to write the list; None: only return its text
    workers: int = DEFAULT_WORKERS
    today: date = field(default_factory=date.today)   # the "Derived" date of the header


@dataclass(frozen=True)
class PackageList:
    selected: tuple[str, ...]              # the list, in rank order
    scanned: int                           # how many ranked names it took
    errors: tuple[str, ...]                # "name: reason" per name that could not be checked
    text: str                              # the file: header, then one name a line
    written: Path | None                   # options.output once written
    seconds: float
    minimum: int

    @property
    def short(self) -> bool:
        """Fewer packages than asked for: the ranking ran out (or the index failed too often)."""
        return len(self.selected) < self.minimum


def read_ranking(path: Path) -> tuple[list[str], str]:
    """Names in rank order from a plain list or a TSV with a 'name' and a 'rank...' column,
    and how the header describes the ranking's column ("" for a plain list)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(str(path), f"cannot read ({exc.strerror or exc})") from None
    if lines and "\t" in lines[0]:
        header = lines[0].split("\t")
        rank_col = next((i for i, h in enumerate(header) if h.startswith("rank")), None)
        if "name" not in header or rank_col is None:
            raise InputError(str(path), "a TSV ranking needs a 'name' and a 'rank...' column")
        name_col = header.index("name")
        ranked = []
        for line in lines[1:]:
            cells = line.split("\t")
            if len(cells) > max(name_col, rank_col) and cells[rank_col].strip().isdigit():
                ranked.append((int(cells[rank_col]), cells[name_col].strip()))
        return [name for _, name in sorted(ranked)], f", column {header[rank_col]}"
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()], ""


def derive_package_list(
    ranked: list[str],
    client: PyPIClient,
    *,
    minimum: int,
    workers: int = DEFAULT_WORKERS,
    on_checked: Callable[[str, bool | None], None] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The top-ranked names whose latest release ships compiled wheels, until `minimum` are found.

    Checks in rank-ordered batches so the result is the same as a sequential scan would give.
    """
    selected: list[str] = []
    errors: dict[str, str] = {}
    batch = max(workers * 4, 32)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for offset in range(0, len(ranked), batch):
            chunk = ranked[offset:offset + batch]
            results = list(pool.map(lambda n: _compiled(client, n), chunk))
            for name, (compiled, error) in zip(chunk, results):
                if error:
                    errors[name] = error
                if on_checked:
                    on_checked(name, compiled)
                if compiled:
                    selected.append(name)
                    if len(selected) >= minimum:
                        return selected, errors
    return selected, errors


def _compiled(client: PyPIClient, name: str) -> tuple[bool | None, str | None]:
    try:
        return has_compiled_wheels(client.project_index(name, entries=True)), None
    except AuditError as exc:
        return None, exc.one_line()


def package_list_text(selected: list[str], *, ranking: str, scanned: int, today: date) -> str:
    header = [
        "# ft-audit census package list: projects whose latest release ships compiled wheels,",
        f"# in download-rank order. Derived {today.isoformat()} by `ft-audit data packages` from",
        f"# the download ranking {ranking} (top {scanned} names scanned), the compiled-wheel",
        "# check made live against PyPI's simple JSON API. `ft-audit data refresh` re-checks it.",
    ]
    return "\n".join(header + selected) + "\n"


def build_package_list(options: PackageListOptions, *, client: PyPIClient | None = None,
                       progress: BarFactory = no_progress) -> PackageList:
    """Read the ranking, check its names against the index, and write the list to options.output
    (if given). Raises InputError for an unreadable ranking."""
    ranked, described = read_ranking(options.ranking)
    started = time.monotonic()
    with progress(len(ranked), "checking") as bar:
        selected, errors = derive_package_list(ranked, client or PyPIClient(), minimum=options.minimum,
                                               workers=options.workers,
                                               on_checked=lambda n, c: bar.advance(note=n))
    scanned = ranked.index(selected[-1]) + 1 if selected else len(ranked)
    text = package_list_text(selected, ranking=f"{options.ranking.name}{described}", scanned=scanned,
                             today=options.today)
    if options.output:
        atomic_write(options.output, text.encode("utf-8"), mode=0o644)   # a shipped list: not 0600
    return PackageList(selected=tuple(selected), scanned=scanned,
                       errors=tuple(f"{name}: {reason}" for name, reason in errors.items()),
                       text=text, written=options.output, seconds=time.monotonic() - started,
                       minimum=options.minimum)
