"""`data refresh`: build the census from PyPI with bounded concurrency, keeping old data on failure.

For every package of the list: the simple JSON API (every file of every release) and the
project JSON API (classifiers of the latest release), through the shared HttpClient cache, on a
small thread pool. A package that cannot be read keeps its previous entry (marked with the
reason) or, with none, is listed under `failures`; the document is written atomically, and not
at all when nothing could be read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from auditor import __version__
from auditor.compat.census import FT_TARGETS, census_facts
from auditor.compat.dataset import CENSUS_SCHEMA, now_iso
from auditor.errors import AuditError
from auditor.pypi import PyPIClient

DEFAULT_WORKERS = 12


class PlatformSets:
    """Interns platform lists so the dataset stores each distinct list once."""

    def __init__(self) -> None:
        self.sets: list[str] = []
        self._index: dict[str, int] = {}
        self._lock = threading.Lock()  # called from the census worker threads

    def __call__(self, platforms: tuple[str, ...] | str) -> int:
        key = platforms if isinstance(platforms, str) else " ".join(platforms)
        with self._lock:
            if key not in self._index:
                self._index[key] = len(self.sets)
                self.sets.append(key)
            return self._index[key]


@dataclass
class CensusOutcome:
    document: dict[str, Any] | None
    read: list[str] = field(default_factory=list)              # packages read fresh from PyPI
    kept: dict[str, str] = field(default_factory=dict)         # name -> why the previous entry was kept
    failed: dict[str, str] = field(default_factory=dict)       # name -> why there is no entry
    warnings: list[str] = field(default_factory=list)
    inspected: list[str] = field(default_factory=list)        # packages whose FT wheels were inspected now
    seconds: float = 0.0


def _fetched_date(age_seconds: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=age_seconds)).isoformat(timespec="seconds")


def census_entry(client: PyPIClient, name: str, intern: PlatformSets, *, deep: bool = False,
                 deep_max_bytes: int | None = None) -> tuple[dict[str, Any], list[str]]:
    """One package's census entry (raises AuditError when its files cannot be read)."""
    files = client.project_index(name, entries=True)   # the census reads every file
    warnings: list[str] = []
    info = None
    info_url = f"{client.json_url}{files.name}/json" if client.json_url else None
    try:
        info = client.project_info(name)
    except AuditError as exc:
        warnings.append(f"{name}: classifiers unavailable ({exc.one_line()})")
    facts = census_facts(files, info)
    fetched = _fetched_date(files.age_seconds)
    entry = facts.to_json(intern)
    entry["provenance"] = {
        "files": [files.page_url, fetched],
        "metadata": [info_url, now_iso()] if info is not None else None,
    }
    if deep and facts.latest_ft:
        from auditor.compat.deep import DEFAULT_MAX_WHEEL_BYTES, deep_entry

        result = deep_entry(client, files, info, max_bytes=deep_max_bytes or DEFAULT_MAX_WHEEL_BYTES)
        if result:
            entry["deep"] = result
            warnings.extend(f"{name}: --deep skipped {s}" for s in result["skipped"])
    return entry, warnings


def reintern(entry: dict[str, Any], old_sets: list[str], intern: PlatformSets) -> dict[str, Any]:
    """Carry an entry from a previous document over to a new platform-set table."""
    entry = dict(entry)
    entry["latest_ft"] = {t: intern(old_sets[i]) for t, i in (entry.get("latest_ft") or {}).items()}
    entry["ft_releases"] = {v: {t: intern(old_sets[i]) for t, i in targets.items()}
                            for v, targets in (entry.get("ft_releases") or {}).items()}
    return entry


def run_census(
    names: list[str],
    client: PyPIClient,
    *,
    previous: dict[str, Any] | None = None,
    workers: int = DEFAULT_WORKERS,
    on_done: Callable[[str], None] | None = None,
    package_list: dict[str, Any] | None = None,
    deep_names: frozenset[str] = frozenset(),
    deep_max_bytes: int | None = None,
) -> CensusOutcome:
    start = time.monotonic()
    intern = PlatformSets()
    outcome = CensusOutcome(document=None)
    fresh: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(census_entry, client, name, intern, deep=name in deep_names,
                               deep_max_bytes=deep_max_bytes): name for name in names}
        for future in as_completed(futures):
            name = futures[future]
            try:
                entry, warnings = future.result()
                fresh[name] = entry
                outcome.warnings.extend(warnings)
            except AuditError as exc:
                errors[name] = exc.one_line()
            except Exception as exc:  # a parser bug on one package must not end the census
                errors[name] = f"{exc.__class__.__name__}: {str(exc)[:120]}"
            if on_done:
                on_done(name)

    old_packages = (previous or {}).get("packages") or {}
    old_sets = (previous or {}).get("platform_sets") or []
    packages: dict[str, dict[str, Any]] = {}
    for name in names:  # list order: the document reads like the package list
        if name in fresh:
            entry = fresh[name]
            if "deep" in entry:
                outcome.inspected.append(name)
            old = old_packages.get(name)
            if "deep" not in entry and old and old.get("deep") and old["deep"].get("version") == entry.get("latest"):
                entry["deep"] = old["deep"]  # the inspector's verdicts still describe this release
            packages[name] = entry
            outcome.read.append(name)
        elif name in old_packages:
            packages[name] = dict(reintern(old_packages[name], old_sets, intern), stale_reason=errors[name])
            outcome.kept[name] = errors[name]
        else:
            outcome.failed[name] = errors[name]
    outcome.seconds = time.monotonic() - start
    if not outcome.read:
        return outcome  # nothing new: do not write a document
    outcome.document = {
        "schema": CENSUS_SCHEMA,
        "generator": f"ft-audit {__version__}",
        "generated_at": now_iso(),
        "sources": {"pypi_simple": client.index_url, "pypi_json": client.json_url},
        "package_list": package_list or {"count": len(names)},
        "targets": list(FT_TARGETS),
        "platform_sets": intern.sets,
        "packages": packages,
        "failures": outcome.failed,
    }
    return outcome

