"""What each source says about one package, and where the evidence contradicts a source.

`load_compat()` reads the census (bundled or user-refreshed, whichever is newer) and the cached
community imports; it touches the network only when asked. `CompatData.lookup(name)` returns a
`CompatRecord` with one entry per source, each carrying its provenance (URL or file, date), and
`CompatRecord.disagreements()` lists the contradictions between the sources' claims and the
evidence (the census, its inspector verdicts, or the caller's own observation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from auditor import rollup
from auditor.compat.classifiers import classifier_level
from auditor.compat.community import SOURCE_TITLES, CommunityData, load_community
from auditor.compat.dataset import age_days, newest_census
from auditor.compat.names import canonicalize_name, display_key
from auditor.model import FreeThreading

STALE_AFTER_DAYS = 30
CP_TARGETS = ("3.13t", "3.14t", "3.15t")


@dataclass(frozen=True)
class Provenance:
    url: str            # URL, or the local file a community source was imported from
    date: str | None    # ISO 8601 (fetch date; for results.json the date its data was generated)

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "date": self.date}


@dataclass(frozen=True)
class TrackerEntry:
    """A row of the py-free-threading tracking table."""

    display_name: str
    status: str                      # "released" | "ci-only" | "tracked"
    first_version: str | None
    upstream_issue: str | None
    pypi_release: bool
    tested_in_ci: str                # "yes" | "footnote" | "no"
    not_on_pypi: str | None
    notes: tuple[str, ...]
    source: Provenance

    def to_json(self) -> dict[str, Any]:
        return {"display_name": self.display_name, "status": self.status, "first_version": self.first_version,
                "upstream_issue": self.upstream_issue, "pypi_release": self.pypi_release,
                "tested_in_ci": self.tested_in_ci, "not_on_pypi": self.not_on_pypi,
                "notes": list(self.notes), "source": self.source.to_json()}


@dataclass(frozen=True)
class WheelsListEntry:
    """A row of the free-threaded-wheels list (latest release only, abi3t not counted)."""

    free_threaded_wheel: bool
    css_class: str                   # "success" | "warning" | "pure-py"
    rank: int
    source: Provenance

    def to_json(self) -> dict[str, Any]:
        return {"free_threaded_wheel": self.free_threaded_wheel, "css_class": self.css_class,
                "rank": self.rank, "source": self.source.to_json()}


@dataclass(frozen=True)
class DeepVerdict:
    """The inspector's verdicts for one free-threaded wheel of the latest release."""

    target: str                      # "3.14t" ...
    wheel: str                       # file name
    free_threading: str              # FreeThreading.* over all modules (the worst one)
    subinterpreters: str             # Subinterpreters.* over all modules (the worst one)
    modules: int
    reenables_gil: tuple[str, ...]   # modules whose import re-enables the GIL
    verdicts: dict[str, int] = field(default_factory=dict)  # FreeThreading value -> module count
    url: str | None = None           # where the inspected wheel was downloaded from
    sha256: str | None = None        # of the inspected file (censuses from Dec 2026 on)
    inspected_at: str | None = None  # ISO 8601

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "wheel": self.wheel, "url": self.url, "free_threading": self.free_threading,
                "subinterpreters": self.subinterpreters, "modules": self.modules,
                "verdicts": dict(self.verdicts), "reenables_gil": list(self.reenables_gil)}


@dataclass(frozen=True)
class CensusEntry:
    """ft-audit's own census: what PyPI shows (files of every release, classifiers)."""

    latest_version: str | None
    compiled: bool                                    # latest release has compiled wheels
    first_ft_version: dict[str, str | None]           # "3.13t"/"3.14t"/"3.15t"/"abi3t" -> version
    first_ft_date: dict[str, str | None]
    ft_platforms: dict[str, tuple[str, ...]]          # latest release: target -> platform families
    ft_releases: dict[str, dict[str, tuple[str, ...]]]  # version -> target -> platforms
    releases_checked: int
    classifier: str | None                            # "3 - Stable", "declared", or None
    classifiers: tuple[str, ...]
    deep: tuple[DeepVerdict, ...]
    deep_version: str | None
    source: Provenance
    metadata_source: Provenance | None
    stale_reason: str | None = None                   # set when the last refresh could not re-read it

    @property
    def ever_ft(self) -> bool:
        return bool(self.ft_releases)

    def ft_wheels(self, version: str) -> dict[str, tuple[str, ...]]:
        """FT targets -> platforms of one release ({} when it has no FT wheel)."""
        if version in self.ft_releases:
            return self.ft_releases[version]
        from packaging.version import InvalidVersion, Version

        try:
            wanted = Version(version)
        except InvalidVersion:
            return {}
        for raw, targets in self.ft_releases.items():
            if Version(raw) == wanted:
                return targets
        return {}

    def deep_free_threading(self) -> str | None:
        """The worst FT verdict over the inspected wheels of the latest release, if inspected."""
        return rollup.worst((d.free_threading for d in self.deep), rollup.FREE_THREADING)

    def to_json(self) -> dict[str, Any]:
        return {
            "latest_version": self.latest_version,
            "compiled": self.compiled,
            "first_ft_version": self.first_ft_version,
            "first_ft_date": self.first_ft_date,
            "ft_platforms": {t: list(p) for t, p in self.ft_platforms.items()},
            "ft_releases": {v: {t: list(p) for t, p in ts.items()} for v, ts in self.ft_releases.items()},
            "releases_checked": self.releases_checked,
            "classifier": self.classifier,
            "classifiers": list(self.classifiers),
            "deep": [d.to_json() for d in self.deep],
            "deep_version": self.deep_version,
            "source": self.source.to_json(),
            "metadata_source": self.metadata_source.to_json() if self.metadata_source else None,
            "stale_reason": self.stale_reason,
        }


@dataclass(frozen=True)
class Disagreement:
    source: str        # "tracker" | "wheels-list" | "classifier" | "census"
    claim: str         # what the source says
    evidence: str      # what contradicts it, checkable by hand
    message: str       # one line for humans

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "claim": self.claim, "evidence": self.evidence, "message": self.message}


class EvidenceLike(Protocol):
    # Read-only (properties), so frozen dataclasses such as ObservedEvidence satisfy it.
    @property
    def observed_free_threading(self) -> str | None: ...   # a FreeThreading value

    @property
    def observed_version(self) -> str | None: ...


@dataclass(frozen=True)
class ObservedEvidence:
    """The caller's own observation of one installed / downloaded version (see EvidenceLike)."""

    observed_free_threading: str | None
    observed_version: str | None
    detail: str = ""


@dataclass(frozen=True)
class CompatRecord:
    name: str
    in_census: bool
    tracker: TrackerEntry | None
    wheels_list: WheelsListEntry | None
    census: CensusEntry | None
    version: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "in_census": self.in_census,
            "tracker": self.tracker.to_json() if self.tracker else None,
            "wheels_list": self.wheels_list.to_json() if self.wheels_list else None,
            "census": self.census.to_json() if self.census else None,
            "version_ft_wheels": ({t: list(p) for t, p in self.census.ft_wheels(self.version).items()}
                                  if self.census and self.version else None),
            "disagreements": [d.to_json() for d in self.disagreements()],
        }

    def disagreements(self, evidence: EvidenceLike | None = None) -> list[Disagreement]:
        return find_disagreements(self, evidence)


def _version_lt(a: str | None, b: str | None) -> bool | None:
    if not a or not b:
        return None
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) < Version(b)
    except InvalidVersion:
        return None


def _ft_summary(targets: dict[str, tuple[str, ...]]) -> str:
    return ", ".join(sorted(targets)) or "none"


def find_disagreements(record: CompatRecord, evidence: EvidenceLike | None = None) -> list[Disagreement]:
    """Pure rules: each source's claim against the census and the observed verdict."""
    out: list[Disagreement] = []
    census = record.census
    observed = getattr(evidence, "observed_free_threading", None) if evidence is not None else None
    observed_version = getattr(evidence, "observed_version", None) if evidence is not None else None
    # Without the caller's observation, the census's own inspector verdicts are the evidence.
    if observed is None and census is not None and census.deep:
        observed, observed_version = census.deep_free_threading(), census.deep_version
    gil_note = ""
    if observed == FreeThreading.REENABLES_GIL:
        gil_note = f"; the modules of {observed_version or 'the observed version'} re-enable the GIL"
    elif observed == FreeThreading.READY:
        gil_note = f"; the modules of {observed_version or 'the observed version'} keep the GIL off"

    tracker = record.tracker
    if tracker and not tracker.not_on_pypi:
        claim = (f"supported since {tracker.first_version}" if tracker.pypi_release
                 else f"no release with support yet ({tracker.status}"
                 + (f", expected in {tracker.first_version})" if tracker.first_version else ")"))
        if tracker.pypi_release and census and census.compiled and not census.ever_ft:
            ev = (f"no cp313t/cp314t/cp315t/abi3t wheel in any of {census.releases_checked} releases on PyPI "
                  f"(latest {census.latest_version}, checked {(census.source.date or '')[:10]})")
            out.append(Disagreement("tracker", claim, ev,
                                    f"{record.name}: the tracking table says {claim}, but {ev}"))
        elif not tracker.pypi_release and census and census.ever_ft:
            first = min(((v, t) for t, v in census.first_ft_version.items() if v),
                        key=lambda vt: _sort_key(vt[0]), default=None)
            if first:
                ev = (f"PyPI has free-threaded wheels since {first[0]} ({first[1]}); latest "
                      f"{census.latest_version} ships {_ft_summary(census.ft_platforms)}{gil_note}")
                out.append(Disagreement("tracker", claim, ev,
                                        f"{record.name}: the tracking table says {claim}, but {ev}"))
        if (tracker.pypi_release and observed == FreeThreading.REENABLES_GIL
                and _version_lt(observed_version, tracker.first_version) is False):
            ev = f"{observed_version}'s free-threaded modules re-enable the GIL"
            out.append(Disagreement("tracker", claim, ev,
                                    f"{record.name}: the tracking table says {claim}, but {ev}"))

    wheels = record.wheels_list
    if wheels and census and census.latest_version:
        cp_ft = {t: p for t, p in census.ft_platforms.items() if t in CP_TARGETS}
        if not wheels.free_threaded_wheel and cp_ft:
            claim = f"no free-threaded wheel ({wheels.css_class}, as of {(wheels.source.date or '')[:10]})"
            ev = f"{census.latest_version} ships {_ft_summary(cp_ft)} wheels (uploaded {_first_date(census)})"
            out.append(Disagreement("wheels-list", claim, ev,
                                    f"{record.name}: the free-threaded-wheels list says {claim}, but {ev}"))
        elif wheels.free_threaded_wheel and not cp_ft:
            claim = f"has a free-threaded wheel (as of {(wheels.source.date or '')[:10]})"
            abi3t = " (only abi3t wheels, which that list does not count)" if census.ft_platforms else ""
            ev = f"the latest release {census.latest_version} has no cp3XYt wheel{abi3t}"
            out.append(Disagreement("wheels-list", claim, ev,
                                    f"{record.name}: the free-threaded-wheels list says {claim}, but {ev}"))

    if census and census.classifier and observed == FreeThreading.REENABLES_GIL \
            and (observed_version is None or observed_version == census.latest_version):
        claim = f"classifier 'Free Threading :: {census.classifier}'"
        ev = f"{observed_version or census.latest_version}'s free-threaded modules re-enable the GIL"
        out.append(Disagreement("classifier", claim, ev, f"{record.name}: declares {claim}, but {ev}"))
    if census and census.classifier and census.compiled and not census.ever_ft:
        claim = f"classifier 'Free Threading :: {census.classifier}'"
        ev = f"no free-threaded wheel in any of {census.releases_checked} releases on PyPI"
        out.append(Disagreement("classifier", claim, ev, f"{record.name}: declares {claim}, but {ev}"))

    if census and census.deep and evidence is not None and observed_version == census.deep_version:
        ours = census.deep_free_threading()
        theirs = getattr(evidence, "observed_free_threading", None)
        if ours and theirs and ours != theirs and FreeThreading.UNKNOWN not in (ours, theirs):
            out.append(Disagreement("census", f"{census.deep_version}: {ours} (census inspection)",
                                    f"observed: {theirs}",
                                    f"{record.name}: the census inspection says {ours}, this audit saw {theirs}"))
    return out


def _sort_key(version: str) -> tuple:
    from packaging.version import InvalidVersion, Version

    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


def _first_date(census: CensusEntry) -> str:
    dates = [d for t in census.ft_platforms if (d := census.first_ft_date.get(t))]
    return min(dates) if dates else "date unknown"


@dataclass
class CompatData:
    census_doc: dict[str, Any] | None
    census_path: Path | None
    community: CommunityData
    notes: list[str] = field(default_factory=list)
    _tracker_index: dict[str, TrackerEntry] | None = None
    _wheels_index: dict[str, WheelsListEntry] | None = None

    # -- indexes, built on first use -------------------------------------------------------

    def _trackers(self) -> dict[str, TrackerEntry]:
        if self._tracker_index is None:
            index: dict[str, TrackerEntry] = {}
            imported = self.community.imports.get("tracking")
            if imported:
                source = Provenance(imported.origin, imported.fetched_at)
                for row in imported.rows:
                    entry = TrackerEntry(row.display_name, row.status, row.first_version, row.upstream_issue,
                                         row.pypi_release, row.tested_in_ci, row.not_on_pypi, row.notes, source)
                    # non-PyPI rows are found by their display name ("~swig", "~bazel-rules-python")
                    keys = row.pypi_names or (f"~{display_key(row.display_name)}",)
                    for key in keys:
                        index.setdefault(key, entry)
            self._tracker_index = index
        return self._tracker_index

    def _wheels(self) -> dict[str, WheelsListEntry]:
        if self._wheels_index is None:
            index: dict[str, WheelsListEntry] = {}
            imported = self.community.imports.get("wheels")
            if imported:
                source = Provenance(imported.origin, imported.content_date or imported.fetched_at)
                for row in imported.rows:
                    index.setdefault(row.name, WheelsListEntry(row.free_threaded_wheel, row.css_class,
                                                               row.rank, source))
            self._wheels_index = index
        return self._wheels_index

    def _census_entry(self, name: str) -> CensusEntry | None:
        if not self.census_doc:
            return None
        raw = self.census_doc["packages"].get(name)
        if raw is None:
            return None
        return decode_census_entry(raw, self.census_doc.get("platform_sets") or [])

    # -- public ---------------------------------------------------------------------------

    def lookup(self, name: str, version: str | None = None) -> CompatRecord:
        canonical = canonicalize_name(name)
        census = self._census_entry(canonical)
        tracker = self._trackers().get(canonical) or self._trackers().get(f"~{display_key(name)}")
        return CompatRecord(canonical, census is not None, tracker, self._wheels().get(canonical), census, version)

    def names(self) -> list[str]:
        """Every package any source speaks about (non-PyPI tracker rows as '~display-key')."""
        seen: dict[str, None] = {}
        for name in (self.census_doc or {}).get("packages", {}):
            seen[name] = None
        for name in self._trackers():
            seen[name] = None
        for name in self._wheels():
            seen[name] = None
        return list(seen)

    def community_names(self) -> list[str]:
        """Every PyPI name the community sources speak about."""
        return sorted(n for n in {**self._trackers(), **self._wheels()} if not n.startswith("~"))

    def community_names_outside_census(self) -> list[str]:
        """PyPI names the community sources speak about that the census has no evidence for."""
        census = (self.census_doc or {}).get("packages", {})
        return sorted(n for n in {**self._trackers(), **self._wheels()} if not n.startswith("~") and n not in census)

    def all_disagreements(self) -> list[tuple[CompatRecord, list[Disagreement]]]:
        out = []
        for name in sorted(self.names()):
            if name.startswith("~"):
                continue
            record = self.lookup(name)
            found = record.disagreements()
            if found:
                out.append((record, found))
        return out

    def generated_at(self) -> str | None:
        return (self.census_doc or {}).get("generated_at")

    def sources(self) -> list[dict[str, Any]]:
        """Provenance of every source in use."""
        out = []
        if self.census_doc:
            out.append({"source": "census", "title": "ft-audit census (PyPI)",
                        "origin": str(self.census_path), "date": self.census_doc.get("generated_at"),
                        "packages": len(self.census_doc.get("packages") or {}),
                        "generator": self.census_doc.get("generator")})
        for key, imported in self.community.imports.items():
            out.append({"source": key, "title": SOURCE_TITLES[key], "origin": imported.origin,
                        "date": imported.fetched_at, "content_date": imported.content_date,
                        "rows": len(imported.rows)})
        return out

    def staleness_note(self, *, max_age_days: float = STALE_AFTER_DAYS) -> str | None:
        """One line when the data used is older than `max_age_days`, else None."""
        old = []
        generated = self.generated_at()
        census_age = age_days(generated)
        if self.census_doc is None:
            return "no compatibility census is available; run `ft-audit data refresh`"
        if generated is not None and census_age is not None and census_age > max_age_days:
            old.append(f"census from {generated[:10]} ({int(census_age)} days old)")
        for key, imported in self.community.imports.items():
            date = imported.content_date or imported.fetched_at
            days = age_days(date)
            if days is not None and days > max_age_days:
                old.append(f"{SOURCE_TITLES[key]} from {date[:10]} ({int(days)} days old)")
        if not old:
            return None
        return "compatibility data is stale: " + "; ".join(old) + "; run `ft-audit data refresh`"


def decode_census_entry(raw: dict[str, Any], platform_sets: list[str]) -> CensusEntry:
    def platforms(index: int) -> tuple[str, ...]:
        return tuple(platform_sets[index].split()) if 0 <= index < len(platform_sets) else ()

    provenance = raw.get("provenance") or {}
    files = provenance.get("files") or ["", None]
    metadata = provenance.get("metadata")
    classifiers = tuple(raw.get("classifiers") or ())
    deep = raw.get("deep") or {}
    return CensusEntry(
        latest_version=raw.get("latest"),
        compiled=bool(raw.get("compiled")),
        first_ft_version={t: v[0] for t, v in (raw.get("first_ft") or {}).items()},
        first_ft_date={t: v[1] for t, v in (raw.get("first_ft") or {}).items()},
        ft_platforms={t: platforms(i) for t, i in (raw.get("latest_ft") or {}).items()},
        ft_releases={v: {t: platforms(i) for t, i in ts.items()} for v, ts in (raw.get("ft_releases") or {}).items()},
        releases_checked=int(raw.get("releases_checked") or 0),
        classifier=classifier_level(classifiers),
        classifiers=classifiers,
        deep=tuple(DeepVerdict(d["target"], d["wheel"], d["free_threading"], d["subinterpreters"],
                               int(d.get("modules", 0)), tuple(d.get("reenables_gil") or ()),
                               dict(d.get("verdicts") or {}), d.get("url"), d.get("sha256"),
                               deep.get("inspected_at"))
                   for d in deep.get("wheels") or ()),
        deep_version=deep.get("version"),
        source=Provenance(files[0], files[1]),
        metadata_source=Provenance(metadata[0], metadata[1]) if metadata else None,
        stale_reason=raw.get("stale_reason"),
    )


def load_compat(*, allow_network: bool = False) -> CompatData:
    """The census (bundled or user-refreshed, the newer) and the cached community imports.

    With allow_network=True the community sources are refreshed live first (cached for a day);
    an unreachable source is noted once in `notes` and the previous import is used (and it is
    not retried for an hour, so an air-gapped machine pays the timeout once).
    """
    notes: list[str] = []
    doc, path, problems = newest_census()
    notes.extend(problems)
    if allow_network:
        from auditor.compat.community import refresh_community
        from auditor.http import HttpClient

        community, outcome = refresh_community(http=HttpClient(retries=1, timeout=10),
                                               quiet_after_failure=3600)
        notes.extend(outcome.notes)
        notes.extend(outcome.unreachable)
        notes.extend(outcome.errors)
    else:
        community, problems = load_community()
        notes.extend(problems)
    return CompatData(doc, path, community, notes)
