"""The findings model shared by every command.

One model flows from sources (wheels, environments, requirements) through the inspector and
the verdict rules to the formatters. Everything here is a frozen dataclass with a `to_json()`
that produces the documented, stable JSON contract (README, "JSON contract"); formatters never
compute verdicts, they only render these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = [
    "SCHEMA",
    "Abi",
    "Evidence",
    "Finding",
    "FreeThreading",
    "GilDeclaration",
    "InitStyle",
    "ModuleReport",
    "MultipleInterpreters",
    "Report",
    "Severity",
    "Subinterpreters",
    "Verdict",
    "WheelReport",
]

SCHEMA = "ft-audit/1"


class StrEnum(str, Enum):
    """A value set whose members are their values wherever text is made: JSON (they are str),
    `str()`, f-strings and `format()`.

    Not `enum.StrEnum`, which only exists from 3.11 (ft-audit runs on 3.10); and a bare
    `(str, Enum)` member prints as `Class.MEMBER` in `str()` and, from 3.11, in f-strings too.
    Members compare and hash equal to their values, so a value read back from JSON or a cache
    as a plain string still matches."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(str.__str__(self), format_spec)


class FreeThreading(StrEnum):
    """Would importing this module keep the GIL off on a free-threaded interpreter?"""

    READY = "ready"                      # built for the FT ABI and declares Py_MOD_GIL_NOT_USED
    REENABLES_GIL = "reenables-gil"      # built for the FT ABI but requires the GIL (USED or undeclared)
    NOT_BUILT_FOR_FT = "not-built-for-ft"  # GIL ABI or abi3: cannot be loaded by a 3.13t/3.14t interpreter
    UNKNOWN = "unknown"                  # the evidence does not decide; the reason always says why


class Subinterpreters(StrEnum):
    """What kind of sub-interpreter can import this module?"""

    OWN_GIL = "own-gil"                  # Py_MOD_PER_INTERPRETER_GIL_SUPPORTED
    SHARED_GIL_ONLY = "shared-gil-only"  # SUPPORTED (or the multi-phase default)
    NOT_SUPPORTED = "not-supported"      # NOT_SUPPORTED, single-phase init, or a framework guard
    UNKNOWN = "unknown"


class InitStyle(StrEnum):
    MULTI_PHASE = "multi-phase"      # PyInit_* returns PyModuleDef_Init(&def), def has m_slots
    SINGLE_PHASE = "single-phase"    # PyInit_* calls PyModule_Create2
    EXPORT_HOOK = "export-hook"      # 3.15 PyModExport_* (PEP 793)
    RUNTIME_DEF = "runtime-def"      # def / slots built at run time (pybind11 3, nanobind 3)
    UNKNOWN = "unknown"


class GilDeclaration(StrEnum):
    NOT_USED = "not-used"
    USED = "used"
    UNDECLARED = "undeclared"  # the binary declares nothing: CPython's default (GIL used) applies
    UNKNOWN = "unknown"


class MultipleInterpreters(StrEnum):
    """What the binary declares in Py_mod_multiple_interpreters, like GilDeclaration: never
    what CPython or a framework then does (that is the Subinterpreters verdict)."""

    NOT_SUPPORTED = "not-supported"
    SUPPORTED = "supported"
    PER_INTERPRETER_GIL = "per-interpreter-gil"
    UNDECLARED = "undeclared"
    UNKNOWN = "unknown"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Evidence:
    """One checkable fact: which file, symbol, slot or source said so.

    topic  -- what it bears on: "abi", "init", "gil", "multiple_interpreters", "framework",
              "free_threading", "subinterpreters", "hazard", "port", "compat"
    kind   -- how it was observed: "filename", "wheel-tag", "import", "export", "slot",
              "def-header", "abi-info", "dll", "string", "call", "framework-default",
              "loader-rule", "runtime", "tracker"
    detail -- human-readable and checkable by hand, e.g. "imports _Py_DecRefShared"
    source -- where the rule behind it comes from (knowledge-base entry), may be empty
    """

    topic: str
    kind: str
    detail: str
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"topic": self.topic, "kind": self.kind, "detail": self.detail, "source": self.source}


@dataclass(frozen=True)
class Verdict:
    """A verdict value and the one-line reason that decided it (never empty for 'unknown')."""

    value: str
    reason: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Abi:
    claimed: str | None            # from file name / wheel tag: "cp314t", "cp314", "abi3", "abi3t", None
    free_threaded: bool | None     # what the binary shows; None when it shows nothing decisive
    evidence: tuple[Evidence, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "claimed": self.claimed,
            "free_threaded": self.free_threaded,
            "evidence": [e.to_json() for e in self.evidence],
        }


@dataclass(frozen=True)
class Finding:
    code: str          # stable code, e.g. "FTA101"; documented in the README
    severity: str      # Severity.*
    message: str
    module: str | None = None
    path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message,
                "module": self.module, "path": self.path}


@dataclass(frozen=True)
class ModuleReport:
    """Everything known about one compiled extension module, with verdicts and their evidence."""

    name: str
    path: str
    format: str | None             # "elf" | "macho" | "pe" | None when unreadable
    arch: str | None
    abi: Abi
    init: str                      # InitStyle.*
    gil: str                       # GilDeclaration.*
    multiple_interpreters: str     # MultipleInterpreters.*
    framework: str | None          # "c", "cython", "pybind11", "nanobind", "pyo3", "mypyc", "hpy", "cffi", None
    free_threading: Verdict
    subinterpreters: Verdict
    evidence: tuple[Evidence, ...] = ()
    framework_version: str | None = None
    hazards: tuple[str, ...] = ()        # imported borrowed-reference / isolation-hazard APIs (information)
    port_markers: tuple[str, ...] = ()   # imported critical-section / PyMutex / *Ref APIs (information)
    errors: tuple[str, ...] = ()         # one-line read errors; verdicts are then "unknown"
    # Set when the ABI claimed by the file name / wheel tag and the ABI the binary shows
    # disagree (one line, names both); the wheel gate turns it into an error finding.
    abi_mismatch: str | None = None
    # False when the inspector read the binary and found no PyInit_/PyModExport_/HPyInit_
    # export: a helper shared library (ctypes/cffi, `torch/lib/libtorch.so`), never imported
    # as a module, so it takes no part in verdicts. True when unreadable: not shown otherwise.
    extension_module: bool = True

    def to_json(self) -> dict[str, Any]:
        evidence = list(self.evidence)
        for verdict in (self.free_threading, self.subinterpreters):
            evidence.extend(e for e in verdict.evidence if e not in evidence)
        return {
            "name": self.name,
            "path": self.path,
            "format": self.format,
            "arch": self.arch,
            "abi": self.abi.to_json(),
            "init": self.init,
            "gil": self.gil,
            "multiple_interpreters": self.multiple_interpreters,
            "framework": self.framework,
            "framework_version": self.framework_version,
            "free_threading": self.free_threading.value,
            "free_threading_reason": self.free_threading.reason,
            "subinterpreters": self.subinterpreters.value,
            "subinterpreters_reason": self.subinterpreters.reason,
            "evidence": [e.to_json() for e in evidence],
            "hazards": list(self.hazards),
            "port_markers": list(self.port_markers),
            "errors": list(self.errors),
            "abi_mismatch": self.abi_mismatch,
            "extension_module": self.extension_module,
        }


@dataclass(frozen=True)
class WheelReport:
    filename: str
    tags: tuple[str, ...]
    verdict: str                   # "pass" | "fail" | "error"
    findings: tuple[Finding, ...] = ()
    modules: tuple[ModuleReport, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "tags": list(self.tags),
            "verdict": self.verdict,
            "findings": [f.to_json() for f in self.findings],
            "modules": [m.to_json() for m in self.modules],
        }


@dataclass(frozen=True)
class Report:
    """Top-level document wrapper: `{"schema": "ft-audit/1", ...payload}`."""

    payload: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **self.payload}
