"""A test run as something to audit: which test first imported each extension module, whether
the GIL came back on while it ran, and what the static evidence says about that module.

Two halves:
* `ImportRecorder` (cheap, imports nothing of the inspector): sys.modules before and after each
  test, under a lock, so tests running in threads (pytest-run-parallel) or in worker processes
  (pytest-xdist: `ImportRecord.to_json` / `from_json` cross the process boundary) can feed it.
* `judge_imports` (once, at the end of the session): the inspector's ModuleReport of each
  file (the module is already imported by the test, this only reads its bytes), its
  distribution by the `env` ownership rule, and on a GIL build what the free-threaded wheel of
  the same version would do (the `env` offers, `auditor.audit.env.gather_ft_offers`).

auditor/pytest_plugin.py wires both into pytest; everything here is plain Python, so the
free-threaded-only inputs (`sys._is_gil_enabled()` before/after, the RuntimeWarning) are
parameters a test can set.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib.machinery import EXTENSION_SUFFIXES
from typing import Any

# Labels for imports that no single test made.
STARTUP = "startup"                    # before collection: pytest, its plugins, the initial conftest.py files
COLLECTION = "collection"              # while test modules were collected
BETWEEN_TESTS = "between tests"        # in a hook outside any test's setup/call/teardown
PARALLEL = "a parallel test"           # another test ran at the same time: cannot tell which

# What --ft-audit-fail counts (README "pytest plugin").
REENABLES_GIL = "reenables-gil"
REFUSES_SUBINTERPRETERS = "not-supported"
FAILING_KINDS = (REENABLES_GIL, REFUSES_SUBINTERPRETERS)

# CPython's warning when a module without Py_mod_gil = Py_MOD_GIL_NOT_USED turns the GIL back on
# (Python/import.c, _PyImport_CheckGILForModule, 3.13+). Only the module that flips it is named.
_GIL_WARNING = re.compile(r"The global interpreter lock \(GIL\) has been enabled to load module '([^']+)'")


def gil_warning_module(message: str) -> str | None:
    """The module a "GIL has been enabled to load module 'X'" RuntimeWarning names, else None."""
    match = _GIL_WARNING.search(message)
    return match.group(1) if match else None


def gil_enabled() -> bool | None:
    """sys._is_gil_enabled() on a free-threaded build (3.13t+); None on a GIL build."""
    import sysconfig

    if not sysconfig.get_config_var("Py_GIL_DISABLED"):
        return None
    probe = getattr(sys, "_is_gil_enabled", None)
    return bool(probe()) if probe is not None else None


def is_extension_file(path: str | None) -> bool:
    return bool(path) and str(path).endswith(tuple(EXTENSION_SUFFIXES))


def extension_modules(modules: Mapping[str, Any]) -> dict[str, str]:
    """name -> file of every extension module in `modules` (a copy of sys.modules)."""
    out = {}
    for name, module in modules.items():
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and is_extension_file(path):
            out[name] = path
    return out


@dataclass(frozen=True)
class ImportRecord:
    """One extension module and the test (or phase) that first imported it."""

    module: str
    path: str
    imported_by: str                           # a test's node id, or STARTUP / COLLECTION / ...
    gil_before: bool | None = None             # sys._is_gil_enabled() when that test started (None: GIL build)
    gil_after: bool | None = None              # ... and when it ended
    gil_warning: str | None = None             # the RuntimeWarning naming this module, if captured
    also_imported_by: tuple[str, ...] = ()     # the same module first imported in other xdist workers

    def to_json(self) -> dict[str, Any]:
        return {"module": self.module, "path": self.path, "imported_by": self.imported_by,
                "gil_before": self.gil_before, "gil_after": self.gil_after, "gil_warning": self.gil_warning,
                "also_imported_by": list(self.also_imported_by)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ImportRecord:
        return cls(module=str(doc["module"]), path=str(doc["path"]), imported_by=str(doc["imported_by"]),
                   gil_before=doc.get("gil_before"), gil_after=doc.get("gil_after"),
                   gil_warning=doc.get("gil_warning"), also_imported_by=tuple(doc.get("also_imported_by") or ()))


def merge_records(groups: Iterable[Sequence[ImportRecord]]) -> list[ImportRecord]:
    """One record per module from several processes (xdist workers): the first group's record,
    with the other importers in `also_imported_by` and any captured GIL warning kept."""
    merged: dict[str, ImportRecord] = {}
    for group in groups:
        for record in group:
            first = merged.get(record.module)
            if first is None:
                merged[record.module] = record
                continue
            others = tuple(dict.fromkeys((*first.also_imported_by, record.imported_by, *record.also_imported_by)))
            merged[record.module] = replace(first, also_imported_by=tuple(o for o in others if o != first.imported_by),
                                            gil_warning=first.gil_warning or record.gil_warning)
    return sorted(merged.values(), key=lambda r: r.module)


class ImportRecorder:
    """Bookkeeping of one process. Every test is a window (`begin` ... `end`): the extension
    modules that appeared in sys.modules while it was open are its imports. Windows may
    overlap (tests in threads): modules that appear while more than one window is open are
    attributed to PARALLEL, since sys.modules does not say which thread imported them."""

    def __init__(self, modules: Callable[[], Mapping[str, Any]] = lambda: sys.modules,
                 gil: Callable[[], bool | None] = gil_enabled) -> None:
        self._modules = modules
        self._gil = gil
        self._lock = threading.Lock()
        self._known: dict[str, str] = {}
        self._records: dict[str, ImportRecord] = {}
        self._open: dict[int, tuple[str, bool | None, bool]] = {}   # token -> (label, gil before, overlapped)
        self._next = 0
        self._warnings: dict[str, str] = {}
        self._outside = STARTUP          # the label of imports outside any window: STARTUP until the first
        self.gil_at_start = gil()
        self._sweep(STARTUP, self.gil_at_start, self.gil_at_start)

    def _snapshot(self) -> dict[str, str]:
        return extension_modules(dict(self._modules()))   # a copy: other threads may import meanwhile

    def _sweep(self, label: str, gil_before: bool | None, gil_after: bool | None) -> None:
        """Attribute every extension module not seen yet to `label` (caller holds the lock or is __init__)."""
        for name, path in self._snapshot().items():
            if name in self._known:
                continue
            self._known[name] = path
            self._records[name] = ImportRecord(name, path, label, gil_before, gil_after, self._warnings.get(name))

    def begin(self, label: str) -> int:
        gil = self._gil()
        with self._lock:
            self._sweep(self._outside, gil, gil)
            self._outside = BETWEEN_TESTS
            token = self._next
            self._next += 1
            overlapped = bool(self._open)
            for other in list(self._open):
                lbl, before, _ = self._open[other]
                self._open[other] = (lbl, before, True)
            self._open[token] = (label, gil, overlapped)
            return token

    def end(self, token: int) -> None:
        gil = self._gil()
        with self._lock:
            label, before, overlapped = self._open.pop(token)
            self._sweep(PARALLEL if overlapped or self._open else label, before, gil)

    def warning(self, message: str) -> None:
        """A captured warning: remember the module a GIL warning names (its import may still be
        in progress, so the record is completed when the module shows up)."""
        name = gil_warning_module(message)
        if name is None:
            return
        with self._lock:
            self._warnings[name] = message
            if name in self._records:
                self._records[name] = replace(self._records[name], gil_warning=message)

    def records(self) -> list[ImportRecord]:
        with self._lock:
            gil = self._gil()
            self._sweep(self._outside, gil, gil)
            return sorted(self._records.values(), key=lambda r: r.module)


# ---------------------------------------------------------------- the judged result
@dataclass(frozen=True)
class Problem:
    kind: str            # REENABLES_GIL | REFUSES_SUBINTERPRETERS
    text: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text}


@dataclass(frozen=True)
class ModuleVerdict:
    record: ImportRecord
    distribution: str | None
    version: str | None
    init: str                                  # the inspector's InitStyle / GilDeclaration values
    gil: str
    free_threading: str
    free_threading_reason: str
    subinterpreters: str
    subinterpreters_reason: str
    gil_reenabled: bool | None                 # observed at run time (free-threaded builds); None: cannot tell
    ft_offers: tuple[Any, ...] = ()            # auditor.envaudit.FtOffer (GIL builds)
    problems: tuple[Problem, ...] = ()
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {**self.record.to_json(), "distribution": self.distribution, "version": self.version,
                "init": self.init, "gil": self.gil, "free_threading": self.free_threading, "free_threading_reason": self.free_threading_reason,
                "subinterpreters": self.subinterpreters, "subinterpreters_reason": self.subinterpreters_reason,
                "gil_reenabled": self.gil_reenabled, "ft_offers": [o.to_json() for o in self.ft_offers],
                "problems": [p.to_json() for p in self.problems], "notes": list(self.notes)}


@dataclass(frozen=True)
class TestRunAudit:
    python: str                                # "3.13.1" / "3.14.0t"
    free_threaded: bool
    gil_at_start: bool | None
    offline: bool
    modules: tuple[ModuleVerdict, ...]
    notes: tuple[str, ...] = ()

    @property
    def problems(self) -> list[tuple[ModuleVerdict, Problem]]:
        """Each problem once, with the first module that has it (the offered wheel of a
        distribution is the same problem for every module of it)."""
        seen: dict[Problem, ModuleVerdict] = {}
        for m in self.modules:
            for p in m.problems:
                seen.setdefault(p, m)
        return [(m, p) for p, m in seen.items()]

    def failing(self, kinds: Sequence[str] = FAILING_KINDS) -> list[tuple[ModuleVerdict, Problem]]:
        return [(m, p) for m, p in self.problems if p.kind in kinds]

    def to_json(self) -> dict[str, Any]:
        return {"schema": "ft-audit/1", "kind": "pytest",
                "python": {"version": self.python, "free_threaded": self.free_threaded,
                           "gil_enabled_at_start": self.gil_at_start},
                "offline": self.offline,
                "modules": [m.to_json() for m in self.modules],
                "summary": {"modules": len(self.modules), "problems": len(self.problems),
                            "failing": len(self.failing())},
                "notes": list(self.notes)}


def runtime_gil_reenabled(record: ImportRecord, static_reenables: bool) -> bool | None:
    """Did importing this module turn the GIL back on? Free-threaded builds only: the warning
    names it, or the GIL was off when its test started and on when it ended and the module
    itself does not declare Py_MOD_GIL_NOT_USED; False when the GIL stayed off; None when the
    GIL was already on (an earlier module) or on a GIL build."""
    if record.gil_warning:
        return True
    if record.gil_before is False:
        return bool(record.gil_after) and static_reenables
    return None


def judge_imports(records: Sequence[ImportRecord], *, offline: bool = False, ask_pypi: bool = True,
                  gil_at_start: bool | None = None, use_cache: bool = True) -> TestRunAudit:
    """The end-of-session verdicts. Never raises for a network or metadata failure: those
    become notes and "unknown (reason)" offers."""
    from auditor.audit.env import ReportCache, inspect_files
    from auditor.model import FreeThreading, Subinterpreters
    from auditor.sources import probe

    notes: list[str] = []
    facts = probe.interpreter_facts()
    free_threaded = bool(facts.get("py_gil_disabled"))
    stdlib = [os.path.normpath(d) for d in facts.get("stdlib_dirs") or ()]
    records = [r for r in records if not _inside(r.path, stdlib) or "-packages" in r.path]
    snapshot, files = _installed_files(records, facts, notes)
    dirs = snapshot.interpreter.environment_dirs if snapshot is not None else ()
    reports = inspect_files(files, cache=ReportCache(dirs) if use_cache and dirs else None)
    offers: dict[str, list[Any]] = {}
    if ask_pypi and not free_threaded and snapshot is not None:
        offers = _offers(snapshot, files, reports, offline=offline, notes=notes)
    versions = {d.key: d.version for d in snapshot.distributions} if snapshot is not None else {}
    by_path = {f.path: f for f in files}
    out = []
    for record in records:
        file = by_path[os.path.normpath(record.path)]
        report = reports[file.path]
        ft = report.free_threading.value
        sub = report.subinterpreters.value
        reenabled = runtime_gil_reenabled(record, ft == FreeThreading.REENABLES_GIL) if free_threaded else None
        problems = []
        if reenabled or (free_threaded and ft == FreeThreading.REENABLES_GIL):
            seen = "re-enabled the GIL" if reenabled else "re-enables the GIL"
            problems.append(Problem(REENABLES_GIL, f"{record.module} {seen} ({report.free_threading.reason})"))
        if sub == Subinterpreters.NOT_SUPPORTED:
            problems.append(Problem(REFUSES_SUBINTERPRETERS,
                                    f"{record.module} refuses sub-interpreters ({report.subinterpreters.reason})"))
        module_offers = tuple(offers.get(file.owner, ())) if file.owner else ()
        dist_label = f"{file.owner} {versions.get(file.owner) or '?'}" if file.owner else record.module
        for offer in module_offers:
            if offer.free_threading == FreeThreading.REENABLES_GIL:
                problems.append(Problem(REENABLES_GIL, f"{dist_label} {offer.target} re-enables the GIL "
                                                       f"({offer.evidence or 'the offered wheel'})"))
        module_notes = () if file.owner or snapshot is None else (
            "no installed distribution owns this file: the free-threaded wheel cannot be looked up",)
        out.append(ModuleVerdict(
            record=record, distribution=file.owner, version=versions.get(file.owner) if file.owner else None,
            init=report.init, gil=report.gil,
            free_threading=ft, free_threading_reason=report.free_threading.reason,
            subinterpreters=sub, subinterpreters_reason=report.subinterpreters.reason,
            gil_reenabled=reenabled, ft_offers=module_offers, problems=tuple(problems),
            notes=module_notes if not free_threaded and ask_pypi else ()))
    version = ".".join(str(v) for v in sys.version_info[:3]) + ("t" if free_threaded else "")
    out.sort(key=lambda m: (not m.problems, m.record.module))
    return TestRunAudit(python=version, free_threaded=free_threaded, gil_at_start=gil_at_start,
                        offline=offline, modules=tuple(out), notes=tuple(notes))


def _inside(path: str, folders: Sequence[str]) -> bool:
    norm = os.path.normpath(path)
    return any(norm.startswith(f + os.sep) for f in folders)


def _installed_files(records: Sequence[ImportRecord], facts: Mapping[str, Any], notes: list[str]):
    """(EnvSnapshot of the folders holding these modules, one ExtensionFile per module). The
    distributions are read the way `env` reads them (probe.read_distributions, RECORD first)."""
    from auditor.sources import env as envsource
    from auditor.sources import probe

    try:
        interpreter = envsource.interpreter_from_facts(facts)
    except ValueError as exc:
        notes.append(f"distributions not looked up: {exc}")
        interpreter = None
    entries = sorted({os.path.normpath(p) for p in sys.path if p and os.path.isdir(p)}, key=len, reverse=True)
    homes: dict[str, str] = {}
    for record in records:
        norm = os.path.normpath(record.path)
        homes[norm] = next((e for e in entries if norm.startswith(e + os.sep)), os.path.dirname(norm))
    folders = sorted(set(homes.values()))
    snapshot = None
    owners = None
    if interpreter is not None:
        dists, errors = envsource.distributions_from_json(probe.read_distributions(folders))
        snapshot = envsource.EnvSnapshot(interpreter=replace(interpreter, environment_dirs=tuple(folders)),
                                         distributions=dists, errors=errors)
        owners = envsource.Owners.of(dists)
    files = []
    for record in records:
        norm = os.path.normpath(record.path)
        rel = os.path.relpath(norm, homes[norm]).replace(os.sep, "/")
        suffix = next((s for s in sorted(EXTENSION_SUFFIXES, key=len, reverse=True) if norm.endswith(s)), "")
        owner, ownership = owners.owner_of(norm, homes[norm], rel, record.module) if owners else (None, "orphan")
        files.append(envsource.ExtensionFile(path=norm, relpath=rel, module=record.module, suffix=suffix,
                                             loadable=True, owner=owner, ownership=ownership))
    return snapshot, files


def _offers(snapshot, files, reports, *, offline: bool, notes: list[str]) -> dict[str, list[Any]]:
    """The `env` offers of the free-threaded wheels; any failure is "unknown (reason)"."""
    from auditor.audit.env import default_ft_targets, gather_ft_offers
    from auditor.envaudit import FtOffer

    try:
        offers, offer_notes = gather_ft_offers(snapshot, files, reports, ft_targets=None, offline=offline)
        notes.extend(offer_notes)
        return offers
    except Exception as exc:   # a network or index failure must never fail the test session
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}".rstrip(": ")
        notes.append(f"free-threaded wheels not looked up: {reason}")
        targets = default_ft_targets(snapshot.interpreter, None)
        owned = {f.owner for f in files if f.owner}
        versions = {d.key: d.version for d in snapshot.distributions}
        return {key: [FtOffer(t.abi, versions.get(key), None, note=reason) for t in targets] for key in owned}
