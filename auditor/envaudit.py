"""Environment roll-up: module verdicts -> distribution verdicts -> environment verdict.

Pure logic, no I/O. Inputs are the environment snapshot (interpreter facts, distributions),
the extension files mapped to their owners, one ModuleReport per file, and optional extras
gathered at the edges (PyPI offers for the free-threaded interpreter, compatibility-tracker
records, runtime verification results). The output is an `EnvAudit` with the documented JSON
shape; formatters render it and never compute verdicts.

Blocked-by chains follow declared dependencies (Requires-Dist, markers evaluated for the
*audited* interpreter, extras off): a distribution is blocked when a dependency, at any depth,
has a module that refuses what the user wants (an own-GIL sub-interpreter; a GIL-free run).
The shortest chain to each blocking distribution is shown. The verdict orders, the worst-of
rule and the chain search are auditor.rollup's, shared with the wheel verdicts and `requirements`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name

from auditor import rollup
from auditor.finding_codes import Family, fail_on_tokens, finding_code
from auditor.model import Finding, FreeThreading, ModuleReport, StrEnum, Subinterpreters, Verdict
from auditor.sources.env import EnvSnapshot, ExtensionFile, InstalledDistribution, Interpreter

# Finding codes, severities and --fail-on tokens: the `env` family of auditor/finding_codes.json.
FAIL_ON_TOKENS = tuple(sorted(fail_on_tokens(Family.ENV)))
# Module verdicts that are findings, and their codes.
_FT_CODES: dict[str, str] = {FreeThreading.REENABLES_GIL: "FTE101", FreeThreading.NOT_BUILT_FOR_FT: "FTE102",
             FreeThreading.UNKNOWN: "FTE103"}
_SI_CODES: dict[str, str] = {Subinterpreters.NOT_SUPPORTED: "FTE201", Subinterpreters.SHARED_GIL_ONLY: "FTE202",
             Subinterpreters.UNKNOWN: "FTE203"}

PURE_REASON = "no extension modules (pure Python)"


@dataclass(frozen=True)
class FtOffer:
    """What PyPI offers one distribution for one free-threaded interpreter (e.g. cp314t)."""

    target: str                          # "cp314t"
    pinned_version: str | None
    pinned_has_wheel: bool | None        # None = unknown (PyPI unreachable, project missing)
    pinned_wheel: str | None = None
    first_version_with_wheel: str | None = None
    latest_version_with_wheel: str | None = None
    latest_version: str | None = None
    note: str = ""
    # The offered wheel's binary verdicts (auditor.wheel_verdicts), when there is one.
    free_threading: str | None = None
    subinterpreters: str | None = None
    evidence: str | None = None
    verdict_source: str | None = None

    @property
    def text(self) -> str:
        if self.pinned_has_wheel is None:
            return f"{self.target}: unknown ({self.note})" if self.note else f"{self.target}: unknown"
        if self.pinned_has_wheel:
            return f"{self.target}: {self.pinned_version} has a wheel{self._verdict_text()}"
        if self.first_version_with_wheel:
            return (f"{self.target}: none for {self.pinned_version}; first in {self.first_version_with_wheel},"
                    f" latest {self.latest_version_with_wheel}")
        if self.latest_version_with_wheel:
            return (f"{self.target}: none for {self.pinned_version} or later;"
                    f" last in {self.latest_version_with_wheel}")
        return f"{self.target}: no wheel in any release"

    def _verdict_text(self) -> str:
        """What the offered wheel's modules say, so a tag is never the whole answer."""
        ft, why = self.free_threading, self.evidence or ""
        if ft is None:
            return ""
        if ft == FreeThreading.READY:
            return " that keeps the GIL off"
        if ft == FreeThreading.REENABLES_GIL:
            return f", but it re-enables the GIL ({why})"
        if ft == FreeThreading.NOT_BUILT_FOR_FT:
            return f", but its modules are not built for the free-threaded ABI ({why})"
        return f"; its modules were not judged ({why})" if why else "; its modules were not judged"

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "pinned_version": self.pinned_version,
            "pinned_has_wheel": self.pinned_has_wheel,
            "pinned_wheel": self.pinned_wheel,
            "first_version_with_wheel": self.first_version_with_wheel,
            "latest_version_with_wheel": self.latest_version_with_wheel,
            "latest_version": self.latest_version,
            "note": self.note,
            "free_threading": self.free_threading,
            "subinterpreters": self.subinterpreters,
            "evidence": self.evidence,
            "verdict_source": self.verdict_source,
        }


# FtOffer.note of a project the index does not have (a local build, a private package): not a
# failed lookup, nothing published to check.
NOT_ON_INDEX = "not on the index"


class NextStep(StrEnum):
    """What the user must do about one distribution to run it GIL-free: the groups of the text
    and Markdown reports, worst first. Read from the installed modules' verdict on a
    free-threaded interpreter and from the PyPI offers (FtOffer) on a GIL build."""

    NO_WHEEL = "no-wheel"                  # no free-threaded wheel for this or a later version
    WHEEL_REENABLES_GIL = "reenables-gil"  # there is one (or it is installed), but the GIL comes back
    UNKNOWN = "unknown"                    # lookup failed, wheel not judged, module not judged, PyPI not asked
    UPGRADE = "upgrade"                    # a later version has a free-threaded wheel
    REINSTALL = "reinstall"                # the installed version has one that keeps the GIL off
    NOT_ON_INDEX = "not-on-index"          # built here or from another index: nothing published to check
    READY = "ready"                        # free-threaded interpreter: the installed modules keep the GIL off
    PURE_PYTHON = "pure-python"            # no extension module for this interpreter


def offer_step(offer: FtOffer) -> NextStep:
    if offer.pinned_has_wheel is None:
        return NextStep.NOT_ON_INDEX if offer.note == NOT_ON_INDEX else NextStep.UNKNOWN
    if offer.pinned_has_wheel:
        if offer.free_threading == FreeThreading.READY:
            return NextStep.REINSTALL
        if offer.free_threading in (FreeThreading.REENABLES_GIL, FreeThreading.NOT_BUILT_FOR_FT):
            return NextStep.WHEEL_REENABLES_GIL
        return NextStep.UNKNOWN
    return NextStep.UPGRADE if offer.first_version_with_wheel else NextStep.NO_WHEEL


def next_step(d: DistributionAudit, *, free_threaded: bool) -> NextStep:
    """The group of `d`: its installed modules' verdict on a free-threaded interpreter (the
    offers only say what to do with a module that cannot load), the worst of its offers over
    the free-threaded targets on a GIL build."""
    if not d.has_extensions:
        return NextStep.PURE_PYTHON
    steps = [offer_step(o) for o in d.ft_offers]
    if free_threaded:
        value = d.free_threading.value
        if value == FreeThreading.READY:
            return NextStep.READY
        if value == FreeThreading.REENABLES_GIL:
            return NextStep.WHEEL_REENABLES_GIL
        if value == FreeThreading.UNKNOWN or not steps:
            return NextStep.UNKNOWN
    if not steps:
        return NextStep.UNKNOWN
    order = list(NextStep)
    return min(steps, key=order.index)


@dataclass(frozen=True)
class BlockedBy:
    chain: tuple[str, ...]       # distribution names, from the blocked one to the blocker
    module: str                  # the blocker's module that decides it
    verdict: str

    @property
    def text(self) -> str:
        via = " -> ".join(self.chain[1:])
        return f"{self.chain[0]}: blocked by {via} ({self.module}: {self.verdict.upper().replace('-', '_')})"

    def to_json(self) -> dict[str, Any]:
        return {"chain": list(self.chain), "module": self.module, "verdict": self.verdict, "text": self.text}


@dataclass(frozen=True)
class ModuleEntry:
    file: ExtensionFile
    report: ModuleReport
    runtime: Any = None          # auditor.verify.RuntimeResult when --verify ran
    comparison: Any = None       # auditor.verify.Comparison

    @property
    def helper_library(self) -> bool:
        """No PyInit_/PyModExport_ export (pycryptodome's `_raw_aes.abi3.so`): no part in verdicts."""
        return not rollup.takes_part(self.report)

    @property
    def counts(self) -> bool:
        """Takes part in the verdicts: importable here and an extension module at all."""
        return self.file.loadable and not self.helper_library

    def to_json(self) -> dict[str, Any]:
        doc = self.report.to_json()
        doc["name"] = self.file.module
        doc["relpath"] = self.file.relpath
        doc["distribution"] = self.file.owner
        doc["ownership"] = self.file.ownership
        doc["loadable"] = self.file.loadable
        doc["helper_library"] = self.helper_library
        if self.file.note:
            doc["note"] = self.file.note
        if self.runtime is not None:
            doc["runtime"] = self.runtime.to_json()
        if self.comparison is not None:
            doc["static_vs_runtime"] = self.comparison.to_json()
        return doc


@dataclass(frozen=True)
class DistributionAudit:
    name: str
    version: str | None
    key: str
    location: str
    installer: str | None
    free_threading: Verdict
    subinterpreters: Verdict
    blocked_by_free_threading: tuple[BlockedBy, ...]
    blocked_by_subinterpreters: tuple[BlockedBy, ...]
    requires: tuple[str, ...]            # installed dependencies (canonical), for the target
    missing_requires: tuple[str, ...]    # declared for the target but not installed
    modules: tuple[ModuleEntry, ...]
    ft_offers: tuple[FtOffer, ...] = ()
    compat: Mapping[str, Any] | None = None
    tracker_disagreements: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def has_extensions(self) -> bool:
        return any(m.counts for m in self.modules)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "location": self.location,
            "installer": self.installer,
            "free_threading": self.free_threading.value,
            "free_threading_reason": self.free_threading.reason,
            "subinterpreters": self.subinterpreters.value,
            "subinterpreters_reason": self.subinterpreters.reason,
            "blocked_by": {
                "free_threading": [b.to_json() for b in self.blocked_by_free_threading],
                "subinterpreters": [b.to_json() for b in self.blocked_by_subinterpreters],
            },
            "requires": list(self.requires),
            "missing_requires": list(self.missing_requires),
            "ft_offers": [o.to_json() for o in self.ft_offers],
            "compat": dict(self.compat) if self.compat is not None else None,
            "tracker_disagreements": list(self.tracker_disagreements),
            "errors": list(self.errors),
            "modules": [m.to_json() for m in self.modules],
        }


@dataclass(frozen=True)
class EnvAudit:
    interpreter: Interpreter
    distributions: tuple[DistributionAudit, ...]
    orphans: tuple[ModuleEntry, ...]
    findings: tuple[Finding, ...]
    summary: Mapping[str, Any]
    notes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    verified: bool = False

    def all_modules(self) -> list[ModuleEntry]:
        out = [m for d in self.distributions for m in d.modules]
        out.extend(self.orphans)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "interpreter": self.interpreter.to_json(),
            "distributions": [d.to_json() for d in self.distributions],
            "orphans": [m.to_json() for m in self.orphans],
            "summary": dict(self.summary),
            "findings": [f.to_json() for f in self.findings],
            "notes": list(self.notes),
            "errors": list(self.errors),
        }


# -- module -> distribution ----------------------------------------------------------------

def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _names(names: Sequence[str], limit: int = 3) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(sorted(names)[:limit]) + more


def distribution_verdict(modules: Sequence[ModuleEntry], aspect: str) -> Verdict:
    """The worst verdict among loadable modules (auditor.rollup), with a reason naming the deciding ones."""
    best = rollup.WORST_FIRST[aspect][-1]
    relevant = [m for m in modules if m.counts]
    if not relevant:
        if any(m.helper_library for m in modules):
            return Verdict(best, "no extension modules (only helper libraries loaded with ctypes/cffi)")
        if modules:
            return Verdict(best, "only files tagged for other interpreters (never imported here)")
        return Verdict(best, PURE_REASON)
    verdict = rollup.package_verdict([m.report for m in relevant], aspect)
    if verdict.value == best:
        return Verdict(verdict.value, f"all {_plural(verdict.modules, 'module')} {verdict.value}")
    return Verdict(verdict.value, f"{len(verdict.same)} of {_plural(verdict.modules, 'module')} {verdict.value}: "
                                  f"{_names(verdict.same)}")


# -- dependency graph ---------------------------------------------------------------------

def marker_environment(interpreter: Interpreter) -> dict[str, str]:
    env = dict(interpreter.markers)
    env["extra"] = ""
    return env


def requirement_names(requires_dist: Iterable[str], environment: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(canonical names that apply to the target, one-line problems). Extras are off."""
    # Imported here: a warm `env` run takes these from auditor.audit.env's cache.
    from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName
    from packaging.requirements import InvalidRequirement, Requirement

    names: list[str] = []
    problems: list[str] = []
    for line in requires_dist:
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            problems.append(f"Requires-Dist {line!r}: {str(exc).splitlines()[0]}")
            continue
        if req.marker is not None:
            try:
                if not req.marker.evaluate(dict(environment)):
                    continue
            except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName) as exc:
                problems.append(f"Requires-Dist {line!r}: marker not evaluable ({exc})")
                continue
        key = canonicalize_name(req.name)
        if key not in names:
            names.append(key)
    return names, problems


def blocked_chains(start: str, graph: Mapping[str, Sequence[str]],
                   blockers: Mapping[str, tuple[str, str]], names: Mapping[str, str]) -> tuple[BlockedBy, ...]:
    """Shortest chain from `start` to every dependency in `blockers` (key -> (module, verdict)),
    over installed dependencies (auditor.rollup.blocked_by_chains), with display names."""
    return tuple(BlockedBy(tuple(names.get(k, k) for k in chain), *blockers[chain[-1]])
                 for chain in rollup.blocked_by_chains(start, graph, blockers))


def _blocking_module(modules: Sequence[ModuleEntry], aspect: str, values: Sequence[str]) -> tuple[str, str] | None:
    """(module, verdict) naming why a distribution blocks its dependents, or None."""
    report = rollup.deciding_module([m.report for m in modules if m.counts], aspect, among=values)
    return (report.name, getattr(report, aspect).value) if report is not None else None


# -- the whole environment ------------------------------------------------------------------

def audit_environment(
    snapshot: EnvSnapshot,
    files: Sequence[ExtensionFile],
    reports: Mapping[str, ModuleReport],
    *,
    ft_offers: Mapping[str, Sequence[FtOffer]] | None = None,
    compat: Mapping[str, tuple[Mapping[str, Any] | None, Sequence[str]]] | None = None,
    runtime: Mapping[str, tuple[Any, Any]] | None = None,
    notes: Sequence[str] = (),
    errors: Sequence[str] = (),
    verified: bool = False,
    dependencies: Mapping[tuple[str, ...], tuple[list[str], list[str]]] | None = None,
) -> EnvAudit:
    """Roll module reports up to distributions and the environment.

    reports: absolute file path -> ModuleReport. runtime: path -> (RuntimeResult, Comparison).
    compat: distribution key -> (tracker JSON or None, disagreement messages).
    dependencies: a Requires-Dist list -> its requirement_names for this interpreter, when the
    caller has them; the others are computed here."""
    interp = snapshot.interpreter
    runtime = runtime or {}
    entries: dict[str | None, list[ModuleEntry]] = {}
    for f in files:
        rt = runtime.get(f.path, (None, None))
        entry = ModuleEntry(file=f, report=reports[f.path], runtime=rt[0], comparison=rt[1])
        entries.setdefault(f.owner, []).append(entry)

    # The import system sees the first of two same-named distributions on sys.path.
    dists: dict[str, InstalledDistribution] = {}
    shadow_notes: list[str] = []
    for d in snapshot.distributions:
        if d.key in dists:
            shadow_notes.append(f"{d.name} {d.version} in {d.location} is shadowed by "
                                f"{dists[d.key].version} in {dists[d.key].location}")
            continue
        dists[d.key] = d

    env_markers = marker_environment(interp)
    graph: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    dep_problems: dict[str, list[str]] = {}
    for key, d in dists.items():
        known = dependencies.get(d.requires_dist) if dependencies is not None else None
        names, problems = known if known is not None else requirement_names(d.requires_dist, env_markers)
        graph[key] = [n for n in names if n in dists and n != key]
        missing[key] = [n for n in names if n not in dists]
        dep_problems[key] = problems

    own_ft: dict[str, Verdict] = {}
    own_si: dict[str, Verdict] = {}
    for key in dists:
        mods = entries.get(key, [])
        own_ft[key] = distribution_verdict(mods, rollup.FREE_THREADING)
        own_si[key] = distribution_verdict(mods, rollup.SUBINTERPRETERS)

    ft_blocking = rollup.ft_blocking(interp.free_threaded)
    si_blockers: dict[str, tuple[str, str]] = {}
    ft_blockers: dict[str, tuple[str, str]] = {}
    for key in dists:
        mods = entries.get(key, [])
        hit = _blocking_module(mods, rollup.SUBINTERPRETERS, rollup.SUBINTERP_BLOCKING)
        if hit:
            si_blockers[key] = hit
        hit = _blocking_module(mods, rollup.FREE_THREADING, ft_blocking)
        if hit:
            ft_blockers[key] = hit
    display = {k: d.name for k, d in dists.items()}

    audits: list[DistributionAudit] = []
    for key, d in sorted(dists.items(), key=lambda kv: kv[0]):
        compat_doc, compat_msgs = (compat or {}).get(key, (None, ()))
        audits.append(DistributionAudit(
            name=d.name, version=d.version, key=key, location=d.location, installer=d.installer,
            free_threading=own_ft[key], subinterpreters=own_si[key],
            blocked_by_free_threading=blocked_chains(key, graph, ft_blockers, display),
            blocked_by_subinterpreters=blocked_chains(key, graph, si_blockers, display),
            requires=tuple(graph[key]), missing_requires=tuple(missing[key]),
            modules=tuple(sorted(entries.get(key, []), key=lambda m: m.file.module)),
            ft_offers=tuple((ft_offers or {}).get(key, ())),
            compat=compat_doc, tracker_disagreements=tuple(compat_msgs),
            errors=tuple(d.errors) + tuple(dep_problems[key]),
        ))
    orphans = tuple(sorted(entries.get(None, []), key=lambda m: m.file.module))
    # Files owned (by RECORD) by a distribution that is shadowed still belong to nobody visible.
    for owner, mods in entries.items():
        if owner is not None and owner not in dists:
            orphans += tuple(mods)

    all_errors = list(errors) + list(snapshot.errors)
    findings = build_findings(interp, audits, orphans)
    summary = summarize(interp, audits, orphans, verified=verified)
    return EnvAudit(interpreter=interp, distributions=tuple(audits), orphans=orphans,
                    findings=tuple(findings), summary=summary,
                    notes=tuple(notes) + tuple(snapshot.notes) + tuple(shadow_notes),
                    errors=tuple(all_errors), verified=verified)


def build_findings(interp: Interpreter, audits: Sequence[DistributionAudit],
                   orphans: Sequence[ModuleEntry]) -> list[Finding]:
    out: list[Finding] = []
    ft = interp.free_threaded
    for d in audits:
        for m in [*d.modules]:
            out.extend(_module_findings(m, ft))
        for b in d.blocked_by_subinterpreters[:1]:
            out.append(env_finding("FTE204", b.text + " [sub-interpreters]"))
        for b in d.blocked_by_free_threading[:1]:
            out.append(env_finding("FTE204", b.text + " [free-threading]"))
        for msg in d.tracker_disagreements:
            out.append(env_finding("FTE302", f"{d.name} {d.version}: {msg}"))
        for err in d.errors:
            out.append(env_finding("FTE402", err, path=d.location))
    for m in orphans:
        out.extend(_module_findings(m, ft))
        out.append(env_finding("FTE401", f"{m.file.relpath}: no installed distribution owns it",
                               module=m.file.module, path=m.file.path))
    return out


def env_finding(code: str, message: str, *, free_threaded: bool = True, module: str | None = None,
                path: str | None = None) -> Finding:
    """A finding with the table's severity for `code` on a free-threaded (or GIL) interpreter;
    UnknownFindingCode when the table has no such code."""
    entry = finding_code(code)
    return Finding(entry.id, entry.severity_for(free_threaded_interpreter=free_threaded), message, module, path)


def _module_findings(m: ModuleEntry, free_threaded: bool) -> list[Finding]:
    out: list[Finding] = []
    if not m.counts:
        return out
    r = m.report
    module, path = m.file.module, m.file.path
    if r.free_threading.value in _FT_CODES:
        out.append(env_finding(_FT_CODES[r.free_threading.value],
                               f"{m.file.module}: {r.free_threading.value} ({r.free_threading.reason})",
                               free_threaded=free_threaded, module=module, path=path))
    if r.subinterpreters.value in _SI_CODES:
        out.append(env_finding(_SI_CODES[r.subinterpreters.value],
                               f"{m.file.module}: {r.subinterpreters.value} ({r.subinterpreters.reason})",
                               free_threaded=free_threaded, module=module, path=path))
    for err in r.errors:
        out.append(env_finding("FTE402", f"{m.file.relpath}: {err}", module=module, path=path))
    cmp = m.comparison
    if cmp is not None and getattr(cmp, "disagreements", None):
        for diff in cmp.disagreements:
            out.append(env_finding("FTE301", f"{m.file.module}: static and runtime disagree: {diff}",
                                   module=module, path=path))
    return out


def summarize(interp: Interpreter, audits: Sequence[DistributionAudit], orphans: Sequence[ModuleEntry],
              *, verified: bool) -> dict[str, Any]:
    modules = [m for d in audits for m in d.modules] + list(orphans)
    loadable = [m for m in modules if m.counts]

    def count(items, aspect):
        return rollup.count_verdicts((getattr(item.report if isinstance(item, ModuleEntry) else item, aspect).value
                                      for item in items), aspect)

    with_ext = [d for d in audits if d.has_extensions]
    ft_mod = count(loadable, rollup.FREE_THREADING)
    si_mod = count(loadable, rollup.SUBINTERPRETERS)
    reenabling = sorted({m.file.owner or m.file.module for m in loadable
                         if m.report.free_threading.value == FreeThreading.REENABLES_GIL})
    gil_stays_off: bool | None
    if not interp.free_threaded:
        gil_stays_off = None      # not a free-threaded interpreter: the question is hypothetical
    elif ft_mod.get(FreeThreading.REENABLES_GIL) or ft_mod.get(FreeThreading.NOT_BUILT_FOR_FT):
        gil_stays_off = False
    elif ft_mod.get(FreeThreading.UNKNOWN):
        gil_stays_off = None
    else:
        gil_stays_off = True
    own_gil_ok = [d.name for d in with_ext if d.subinterpreters.value == Subinterpreters.OWN_GIL
                  and not d.blocked_by_subinterpreters]
    own_gil_blocked = [d.name for d in audits if d.blocked_by_subinterpreters]
    offers: dict[str, dict[str, int]] = {}
    for d in with_ext:
        for o in d.ft_offers:
            slot = offers.setdefault(o.target, {"pinned_has_wheel": 0, "pinned_wheel_reenables_gil": 0,
                                                "newer_version_has_wheel": 0, "no_wheel": 0, "unknown": 0})
            if o.pinned_has_wheel is None:
                slot["unknown"] += 1
            elif o.pinned_has_wheel:
                slot["pinned_has_wheel"] += 1
                if o.free_threading == FreeThreading.REENABLES_GIL:
                    slot["pinned_wheel_reenables_gil"] += 1
            elif o.first_version_with_wheel:
                slot["newer_version_has_wheel"] += 1
            else:
                slot["no_wheel"] += 1
    summary: dict[str, Any] = {
        "interpreter": interp.label,
        "modules": len(modules),
        "loadable_modules": len(loadable),
        "orphans": len(orphans),
        "unreadable_modules": sum(1 for m in modules if m.report.errors),
        "helper_libraries": sum(1 for m in modules if m.helper_library),
        "distributions": len(audits),
        "distributions_with_extensions": len(with_ext),
        "free_threading": {"modules": ft_mod, "distributions": count(with_ext, rollup.FREE_THREADING),
                           "gil_stays_off": gil_stays_off, "reenabling": reenabling},
        "subinterpreters": {"modules": si_mod, "distributions": count(with_ext, rollup.SUBINTERPRETERS),
                            "own_gil_distributions": len(own_gil_ok),
                            "blocked_distributions": len(own_gil_blocked)},
        "ft_offers": offers,
    }
    if verified:
        agree = sum(1 for m in loadable if m.comparison is not None and m.comparison.agrees is True)
        disagree = sum(1 for m in loadable if m.comparison is not None and m.comparison.agrees is False)
        unverified = len(loadable) - agree - disagree
        summary["verify"] = {"agree": agree, "disagree": disagree, "unverified": unverified}
    return summary


def select_failures(audit: EnvAudit, fail_on: Iterable[str], *, ignore_codes: Iterable[str] = (),
                    ignore_distributions: Iterable[str] = ()) -> list[Finding]:
    """The findings --fail-on selects, less those of ignored codes and those about the modules
    (or the dist-info folder) of ignored distributions (canonical names): [tool.ft-audit.env]."""
    tokens = set(fail_on)
    out = [f for f in audit.findings if finding_code(f.code).fail_on in tokens]
    if "error" in tokens and audit.errors:
        out.extend(env_finding("FTE402", e) for e in audit.errors)
    codes, names = set(ignore_codes), {canonicalize_name(n) for n in ignore_distributions}
    modules = {m.file.module for d in audit.distributions if canonicalize_name(d.name) in names for m in d.modules}
    locations = {d.location for d in audit.distributions if canonicalize_name(d.name) in names}
    return [f for f in out if f.code not in codes and not (f.module and f.module in modules)
            and not (f.module is None and f.path in locations)]
