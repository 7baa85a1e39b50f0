"""The requirements audit: resolve inputs for a target, classify each resolved release, attach
binary verdicts, blocked-by chains and the compatibility data.

auditor.sources.requirements reads the inputs, auditor.resolve resolves them per target platform,
auditor.migration classifies (pure), auditor.wheel_verdicts judges the chosen wheels; this module
joins them into a RequirementsAudit that auditor.report.requirements renders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from auditor import migration, rollup

__all__ = [
    "RequirementsAudit",
    "assess_resolution",
    "attach_binary_verdicts",
    "attach_blockers",
    "audit_requirements",
    "blocking_reason",
    "merge_targets",
]


# ------------------------------------------------------------------ the audit
@dataclass
class RequirementsAudit:
    targets: list[Any]
    packages: list[PackageAssessment]
    incomplete: list[tuple[str, str]]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    stale: dict[str, float] = field(default_factory=dict)      # project -> age in seconds (offline / outage)
    index_url: str = ""
    inputs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        target = self.targets[0].to_json() if self.targets else {}
        target["platforms"] = [t.platform for t in self.targets]
        return {
            "schema": "ft-audit/1",
            "target": target,
            "inputs": self.inputs,
            "index_url": self.index_url,
            "packages": [p.to_json() for p in self.packages],
            "skipped": [{"where": w, "reason": r} for w, r in self.skipped],
            "stale": [{"project": n, "age_seconds": round(a)} for n, a in sorted(self.stale.items())],
            "notes": list(self.notes),
            "incomplete": [{"where": w, "reason": r} for w, r in self.incomplete],
        }


# ------------------------------------------------------------------ the package rows
@dataclass(frozen=True)
class PlatformFacts:
    """A package on one platform, when several are audited together (`platforms` in JSON)."""

    version: str
    status: str
    wheel: str | None
    min_ft_version: str | None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "status": self.status, "wheel": self.wheel,
                "min_ft_version": self.min_ft_version}


@dataclass(frozen=True)
class CompatFacts:
    """What the compatibility data (tracker, wheels list, census) says of a package (`compat`)."""

    tracker_status: str | None
    tracker_first_version: str | None
    wheels_list_free_threaded_wheel: bool | None
    in_census: bool
    census_first_ft_version: Mapping[str, str | None] | None
    disagreements: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "tracker_status": self.tracker_status,
            "tracker_first_version": self.tracker_first_version,
            "wheels_list_free_threaded_wheel": self.wheels_list_free_threaded_wheel,
            "in_census": self.in_census,
            "census_first_ft_version": dict(self.census_first_ft_version)
            if self.census_first_ft_version is not None else None,
            "disagreements": list(self.disagreements),
        }


@dataclass(frozen=True)
class PackageAssessment:
    """One resolved package: its status for the target, the binary verdicts of the wheel that
    would be installed, what blocks it, and the compatibility data (one row of `packages`)."""

    name: str
    version: str
    extras: tuple[str, ...]
    requested_by: tuple[str, ...]
    status: str                            # migration.STATUS_ORDER
    status_detail: str
    wheel: str | None                      # the file that would be installed
    min_ft_version: str | None
    newest_ft_version: str | None
    suggestion: str | None
    # binary verdicts: attach_binary_verdicts
    free_threading: str | None = None      # FreeThreading.*
    subinterpreters: str | None = None     # Subinterpreters.*
    evidence: str | None = None
    verdict_source: str | None = None
    bytes_read: int = 0
    blocked_by: tuple[str, ...] = ()       # attach_blockers: "a 1.0 -> b 2.0 (why)"
    modules: tuple[dict[str, Any], ...] = ()   # ModuleReport.to_json() of each module read
    platforms: Mapping[str, PlatformFacts] | None = None   # only when several platforms are audited
    not_read: tuple[str, ...] = ()         # wheel members not inspected, with the reason
    compat: CompatFacts | None = None      # None: --no-compat, or no data for it

    def to_json(self) -> dict[str, Any]:
        """The JSON contract's package object; `platforms`, `not_read` and `compat` only when
        there is something to say."""
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "extras": list(self.extras),
            "requested_by": list(self.requested_by),
            "status": self.status,
            "status_detail": self.status_detail,
            "wheel": self.wheel,
            "min_ft_version": self.min_ft_version,
            "newest_ft_version": self.newest_ft_version,
            "suggestion": self.suggestion,
            "free_threading": self.free_threading,
            "subinterpreters": self.subinterpreters,
            "evidence": self.evidence,
            "verdict_source": self.verdict_source,
            "bytes_read": self.bytes_read,
            "blocked_by": list(self.blocked_by),
            "modules": list(self.modules),
        }
        if self.platforms is not None:
            out["platforms"] = {plat: facts.to_json() for plat, facts in self.platforms.items()}
        if self.not_read:
            out["not_read"] = list(self.not_read)
        if self.compat is not None:
            out["compat"] = self.compat.to_json()
        return out


@dataclass(frozen=True)
class TargetPackages:
    """The package rows of one target (or of several merged) and the dependency graph between
    them, which the blocked-by chains walk and which is not part of any row."""

    packages: dict[str, PackageAssessment]          # name -> row, sorted by name
    children: dict[str, tuple[str, ...]]            # name -> its direct dependencies, sorted


def audit_requirements(inputs: Sequence[str | Path], *, python: str | None = None, platforms: Sequence[str] = (),
                       download: bool = True, transitive: bool = True, index_url: str | None = None,
                       offline: bool = False, use_compat: bool = True, client=None, workers: int | None = None,
                       progress: bool | None = None, skip_editable: bool = False) -> RequirementsAudit:
    from auditor.http import HttpClient
    from auditor.progress import Progress
    from auditor.pypi import DEFAULT_INDEX_URL, DEFAULT_JSON_URL, PyPIClient
    from auditor.resolve import MAX_WORKERS, Fetcher, resolve
    from auditor.sources.requirements import read_inputs
    from auditor.target import make_target

    reqs = read_inputs(list(inputs))
    targets = [make_target(python, p) for p in platforms] if platforms else [make_target(python)]
    incomplete: list[tuple[str, str]] = list(reqs.problems)
    not_on_index: list[tuple[str, str]] = []     # editable / VCS / URL / local path, with --skip-editable
    for entry in reqs.unchecked:
        if skip_editable:
            not_on_index.append((entry.origin, f"{entry.raw}: {entry.unchecked} (--skip-editable)"))
        else:
            incomplete.append((entry.origin, f"cannot check {entry.raw}: {entry.unchecked} "
                                             "(--skip-editable skips such requirements)"))
    notes = list(reqs.notes) + [f"--extra-index-url {url} ignored: only one index is consulted (a project found "
                                "only there is reported as unknown)" for url in reqs.extra_index_urls]
    if client is None:
        chosen = index_url or reqs.index_url or DEFAULT_INDEX_URL
        client = PyPIClient(chosen, DEFAULT_JSON_URL if chosen == DEFAULT_INDEX_URL else None,
                            http=HttpClient(offline=offline, pool_size=workers or MAX_WORKERS))
    with Progress(1, "resolving", enabled=progress) as bar:
        fetcher: Fetcher = Fetcher(client, workers=workers or MAX_WORKERS,
                                   on_fetch=lambda key: _tick(bar, fetcher, key))
        try:
            resolutions = [resolve(reqs.requirements, reqs.constraints, t, fetcher, transitive=transitive)
                           for t in targets] if reqs.requirements else []
        finally:
            fetcher.close()
    if not reqs.requirements and not incomplete:
        incomplete.append((", ".join(map(str, inputs)), "no requirement to check" + (
            f" ({len(not_on_index)} skipped by --skip-editable)" if not_on_index else "")))
    per_target = [assess_resolution(r) for r in resolutions]
    merged = merge_targets(per_target, [t.platform for t in targets])
    packages = attach_binary_verdicts(list(merged.packages.values()), resolutions, client, incomplete, notes,
                                      download=download)
    packages = attach_blockers(packages, merged.children, free_threaded=all(t.free_threaded for t in targets))
    if use_compat:
        packages = _compat(packages, incomplete)
    seen = set()
    for resolution in resolutions:
        for item in resolution.incomplete:
            if item not in seen:
                seen.add(item)
                incomplete.append(item)
    skipped = list(not_on_index)
    for resolution in resolutions:
        skipped += [s for s in resolution.skipped if s not in skipped]
    if not packages and not incomplete:
        incomplete.append((", ".join(map(str, inputs)),
                           "nothing to check for this target: every requirement is excluded by its markers"))
    stale = {name: idx.age_seconds for r in resolutions for name, idx in r.indexes.items() if idx.stale}
    return RequirementsAudit(targets, packages, incomplete, skipped, stale, client.index_url.rstrip("/"),
                             [str(p) for p in inputs], notes)


def _tick(bar, fetcher, key) -> None:
    bar.total = max(bar.total, len(fetcher._futures))
    bar.advance(1, f"{key[1]}")


# ------------------------------------------------------------------ per target -> per package
def assess_resolution(resolution) -> TargetPackages:
    """The package rows and their dependency graph for one target (pure over the resolution
    and the index pages)."""
    target = resolution.target
    out: dict[str, PackageAssessment] = {}
    children: dict[str, tuple[str, ...]] = {}
    for name, pkg in sorted(resolution.packages.items()):
        index = resolution.indexes.get(name)
        if pkg.version is None or index is None:
            continue          # could not be looked up: listed under "incomplete"
        verdict, ft = _release_facts(index, pkg.version, target)
        spec = pkg.user_specifier if pkg.user_specifier is not None else pkg.specifier
        required_by = None if pkg.user_specifier is not None else ", ".join(pkg.requested_by) or None
        out[name] = PackageAssessment(
            name=name,
            version=str(pkg.version),
            extras=tuple(sorted(pkg.extras)),
            requested_by=tuple(pkg.requested_by),
            status=verdict.status,
            status_detail=verdict.detail,
            wheel=verdict.wheel,
            min_ft_version=str(ft.first) if ft.first else None,
            newest_ft_version=str(ft.newest) if ft.newest else None,
            suggestion=migration.suggestion(name, pkg.version, verdict.status, spec, ft, target, required_by),
        )
        children[name] = tuple(sorted(pkg.children))
    return TargetPackages(out, children)


# The index page's cache entry + version + target -> what migration says about them: a warm run
# neither unpacks a page's releases nor parses their versions (classify, ft_versions).
RELEASE_FACTS_SCHEMA = 1


def _release_facts(index, version, target) -> tuple[migration.Classification, migration.FtVersions]:
    """(classify of the release, ft_versions of the project) for `target`, from the cache when the
    page is the same (its page_key); computed and stored otherwise."""
    from packaging.version import Version

    from auditor.cache import MARSHAL, CacheStore

    store = CacheStore("requirements-release-facts", versioned=True)
    key = (f"{RELEASE_FACTS_SCHEMA}\0{index.page_key}\0{version}\0{target.major}.{target.minor}"
           f"{'t' if target.free_threaded else ''}\0{target.platform}") if index.page_key else None
    hit = store.get(key, MARSHAL, check=_is_release_facts) if key else None
    if hit is not None:
        status, wheel, detail, first, newest, first_tag = hit
        return (migration.Classification(status, wheel, detail),
                migration.FtVersions(Version(first) if first else None, Version(newest) if newest else None,
                                     first_tag))
    verdict = migration.classify(index.releases.get(version, []), target)
    ft = migration.ft_versions(index.releases, target)
    if key:
        store.put(key, [verdict.status, verdict.wheel, verdict.detail, str(ft.first) if ft.first else None,
                        str(ft.newest) if ft.newest else None, ft.first_tag], MARSHAL)
    return verdict, ft


def _is_release_facts(value: Any) -> bool:
    return type(value) is list and len(value) == 6 and type(value[0]) is str and type(value[2]) is str and all(
        v is None or type(v) is str for v in value)


def merge_targets(per_target: Sequence[TargetPackages], platforms: Sequence[str]) -> TargetPackages:
    """One row per package; with several platforms, the worst status leads and each platform is listed."""
    if len(per_target) == 1:
        return per_target[0]
    names = sorted({n for facts in per_target for n in facts.packages})
    merged: dict[str, PackageAssessment] = {}
    children: dict[str, tuple[str, ...]] = {}
    for name in names:
        present = [(plat, facts.packages[name]) for plat, facts in zip(platforms, per_target)
                   if name in facts.packages]
        worst_status = migration.worst_status(f.status for _, f in present)
        lead = next(f for _, f in present if f.status == worst_status)
        firsts = [f.min_ft_version for _, f in present if f.min_ft_version is not None]
        merged[name] = replace(
            lead,
            platforms={plat: PlatformFacts(f.version, f.status, f.wheel, f.min_ft_version) for plat, f in present},
            requested_by=tuple(sorted({r for _, f in present for r in f.requested_by})),
            # A version ships FT wheels "for the target" only if it does on every platform.
            min_ft_version=max(firsts, key=_version_key) if len(firsts) == len(present) else None,
        )
        children[name] = tuple(sorted({c for facts in per_target if name in facts.packages
                                       for c in facts.children[name]}))
    return TargetPackages(merged, children)


def _version_key(text: str):
    from packaging.version import Version

    return Version(text)


def blocking_reason(package: PackageAssessment, free_threaded: bool) -> str | None:
    """Why a package blocks the packages that depend on it, or None: no release ready for the
    target, or modules whose verdict blocks dependents (auditor.rollup.ft_blocking)."""
    from auditor.model import FreeThreading

    verdict = package.free_threading
    if verdict == FreeThreading.REENABLES_GIL:
        return "re-enables the GIL"
    if package.status not in migration.READY_STATUSES:
        return package.status
    if verdict in rollup.ft_blocking(free_threaded):
        return "not built for the free-threaded ABI"
    return None


def attach_blockers(packages: Sequence[PackageAssessment], children: Mapping[str, Sequence[str]], *,
                    free_threaded: bool) -> list[PackageAssessment]:
    """The packages with `blocked_by`: the shortest chain through `children` (name -> direct
    dependencies) to every transitive dependency that blocks the migration
    (auditor.rollup.blocked_by_chains, the search `env` uses), as "a 1.0 -> b 2.0 (why)"."""
    by_name = {p.name: p for p in packages}
    graph = {name: children.get(name, ()) for name in by_name}   # only rows: a chain names versions
    reasons = {name: why for name, p in by_name.items() if (why := blocking_reason(p, free_threaded))}
    return [replace(package, blocked_by=tuple(
        " -> ".join(f"{name} {by_name[name].version}" for name in chain[1:]) + f" ({reasons[chain[-1]]})"
        for chain in rollup.blocked_by_chains(package.name, graph, reasons)))
        for package in packages]


# ------------------------------------------------------------------ binary verdicts
def attach_binary_verdicts(packages: Sequence[PackageAssessment], resolutions, client,
                           incomplete: list[tuple[str, str]], notes: list[str], *,
                           download: bool) -> list[PackageAssessment]:
    """The packages with `free_threading` / `subinterpreters`, `evidence` and `verdict_source`.

    A package with a wheel for the target is judged by that wheel's modules (auditor.wheel_verdicts:
    census of the same file, verdict cache, range reads, download); the others by what the
    index shows (pure Python, no free-threaded wheel, only an sdist).
    """
    from auditor.model import FreeThreading, Subinterpreters
    from auditor.wheel_verdicts import FROM_CENSUS, NOT_READ, WheelFile, census_entries, wheel_verdicts

    lead = resolutions[0] if resolutions else None
    wanted: dict[str, WheelFile] = {}
    out: list[PackageAssessment] = []
    for package in packages:
        status = package.status
        package = replace(package, free_threading=None, subinterpreters=None, evidence=None, verdict_source=None,
                          bytes_read=0)
        if status in (migration.PURE_PYTHON, migration.PURE_FALLBACK_ONLY):
            package = replace(package, free_threading=FreeThreading.READY, subinterpreters=Subinterpreters.OWN_GIL,
                              evidence="no extension modules (pure Python)", verdict_source="index")
        elif status in (migration.ABI3_ONLY, migration.NO_RELEASE) or (
                status == migration.GIL_WHEEL and lead and lead.target.free_threaded):
            package = replace(package, free_threading=FreeThreading.NOT_BUILT_FOR_FT, subinterpreters=None,
                              evidence="no wheel built for the free-threaded ABI", verdict_source="index")
        elif status == migration.SDIST_ONLY:
            package = replace(package, free_threading=FreeThreading.UNKNOWN, subinterpreters=Subinterpreters.UNKNOWN,
                              evidence="only an sdist: nothing compiled to inspect", verdict_source="index")
        out.append(package)
        if package.wheel and status in (migration.FT_WHEEL, migration.GIL_WHEEL):
            index = next((r.indexes[package.name] for r in resolutions if package.name in r.indexes), None)
            if index is not None and index.entry(package.wheel) is not None:
                dist = index.dist_file(package.wheel)
                wanted[package.name] = WheelFile(package.name, dist.filename, dist.url, dist.sha256, dist.size)
    if not wanted:
        return out
    verdicts = wheel_verdicts(wanted.values(), http=client.http, census=census_entries(wanted),
                              download=download and not client.http.offline)
    missing = []
    for i, package in enumerate(out):
        wheel = wanted.get(package.name)
        if wheel is None:
            continue
        verdict = verdicts[wheel.filename]
        out[i] = replace(package, free_threading=verdict.free_threading, subinterpreters=verdict.subinterpreters,
                         evidence=verdict.evidence, verdict_source=verdict.source, bytes_read=verdict.bytes_read,
                         modules=tuple(verdict.modules), not_read=tuple(verdict.not_read))
        if verdict.error:
            incomplete.append((wheel.filename, verdict.error))
        elif verdict.source == NOT_READ:
            missing.append(package.name)
    if missing:
        notes.append(f"no binary verdict for {len(missing)} package(s) without downloads (--no-download / "
                     f"--offline; the census did not inspect those files): {', '.join(sorted(missing))}")
    read = [v for v in verdicts.values() if v.bytes_read]
    if read:
        total = sum(v.bytes_read for v in read)
        notes.append(f"read {len(read)} wheel(s) for their modules: {_size(total)} fetched; "
                     f"{sum(1 for v in verdicts.values() if v.source == FROM_CENSUS)} verdict(s) from the census")
    return out


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB" if n >= 1 << 20 else f"{n / 1024:.0f} kB"


# ------------------------------------------------------------------ compatibility data
def _compat(packages: list[PackageAssessment], incomplete: list[tuple[str, str]]) -> list[PackageAssessment]:
    try:
        from auditor.compat.lookup import ObservedEvidence, load_compat
    except ImportError:
        return packages
    try:
        data = load_compat(allow_network=False)
    except Exception:  # broken bundled data must not end the audit; the rest stands on PyPI evidence
        return packages
    out = []
    for package in packages:
        try:
            record = data.lookup(package.name, package.version)
            observed = package.free_threading
            messages = [d.message for d in record.disagreements(ObservedEvidence(observed, package.version))]
        except Exception:
            out.append(package)
            continue
        tracker = record.tracker
        out.append(replace(package, compat=CompatFacts(
            tracker_status=tracker.status if tracker else None,
            tracker_first_version=tracker.first_version if tracker else None,
            wheels_list_free_threaded_wheel=record.wheels_list.free_threaded_wheel if record.wheels_list else None,
            in_census=record.in_census,
            census_first_ft_version=dict(record.census.first_ft_version) if record.census else None,
            disagreements=tuple(messages),
        )))
    return out
