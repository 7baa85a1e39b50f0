"""Module facts -> verdicts. Pure rules, no I/O: the inspector gathers ModuleFacts from a
binary, these rules turn them into the free-threading and sub-interpreter verdicts, each
with the one-line reason that decided it and the evidence behind it.

Rules (also in the README):

free_threading
  1. the file could not be read                         -> unknown (the read error)
  2. claimed ABI and the binary's ABI disagree          -> not-built-for-ft if the binary shows
                                                           the GIL ABI, else unknown (mismatch)
  3. binary shows the GIL ABI, or abi3 / a cp3XX tag
     with nothing to the contrary                       -> not-built-for-ft
  4. neither the binary nor the name shows an ABI       -> unknown
  5. free-threaded ABI and gil not-used                 -> ready
  6. free-threaded ABI and gil used / undeclared        -> reenables-gil
  7. free-threaded ABI and gil unknown                  -> unknown (why the gil is unknown)

subinterpreters (from the init style, the declaration and the framework's behaviour; the
`multiple_interpreters` fact is only what the binary declares)
  1. the file could not be read                         -> unknown
  2. single-phase init                                  -> not-supported
  3. Py_mod_multiple_interpreters = 2                   -> own-gil
  4. = 1                                                -> shared-gil-only
  5. no slot, and the framework refuses a second
     interpreter at run time (Cython's check)           -> not-supported
  6. no slot (CPython's default SUPPORTED)              -> shared-gil-only
  7. = 0                                                -> not-supported
  8. anything else                                      -> unknown (why)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.model import (
    Abi,
    Evidence,
    FreeThreading,
    GilDeclaration,
    InitStyle,
    MultipleInterpreters,
    Subinterpreters,
    Verdict,
)
from auditor.target import is_free_threaded_abi


@dataclass
class ModuleFacts:
    """What the inspector observed in one binary (one slice). Mutable while gathering."""

    name: str
    path: str
    format: str | None = None
    arch: str | None = None
    init: str = InitStyle.UNKNOWN
    init_reason: str = ""
    gil: str = GilDeclaration.UNKNOWN
    gil_reason: str = ""
    multiple_interpreters: str = MultipleInterpreters.UNKNOWN   # what the binary declares, only
    mi_reason: str = ""
    # A framework's run-time refusal of a second interpreter that no slot shows (Cython's
    # single-interpreter check): the one-line reason, or "" when there is none.
    subinterp_refusal: str = ""
    claimed: str | None = None
    shows_ft: bool | None = None        # what the binary shows about its ABI
    abi_reason: str = ""
    abi_mismatch: str | None = None
    abi_votes: list[tuple[bool, str]] = field(default_factory=list)   # (shows FT?, why)
    framework: str | None = None
    framework_version: str | None = None
    evidence: list[Evidence] = field(default_factory=list)
    abi_evidence: list[Evidence] = field(default_factory=list)
    gil_evidence: list[Evidence] = field(default_factory=list)
    mi_evidence: list[Evidence] = field(default_factory=list)          # the declaration
    subinterp_evidence: list[Evidence] = field(default_factory=list)   # loader rules, framework behaviour
    hazards: tuple[str, ...] = ()
    port_markers: tuple[str, ...] = ()
    errors: list[str] = field(default_factory=list)
    readable: bool = True
    extension_module: bool = True       # False: read, and no PyInit_/PyModExport_/HPyInit_ export


def claim_is_free_threaded(claimed: str | None) -> bool | None:
    """cp314t / abi3t -> True; cp314 / abi3 -> False; None -> None."""
    if claimed is None:
        return None
    return is_free_threaded_abi(claimed)


def abi_of(facts: ModuleFacts) -> Abi:
    return Abi(facts.claimed, facts.shows_ft, tuple(facts.abi_evidence))


def free_threading_verdict(f: ModuleFacts) -> Verdict:
    ev = tuple(f.abi_evidence) + tuple(f.gil_evidence)
    if not f.readable:
        return Verdict(FreeThreading.UNKNOWN, f"could not read the module: {_first(f.errors)}", ev)
    claim_ft = claim_is_free_threaded(f.claimed)
    if f.abi_mismatch:
        if f.shows_ft is False:
            return Verdict(FreeThreading.NOT_BUILT_FOR_FT, f.abi_mismatch, ev)
        return Verdict(FreeThreading.UNKNOWN, f.abi_mismatch, ev)
    built_ft = f.shows_ft if f.shows_ft is not None else claim_ft
    if built_ft is None:
        return Verdict(FreeThreading.UNKNOWN,
                       "neither the binary (no ABI-specific import, def header or ABI info) nor "
                       "its name shows which ABI it was built for", ev)
    if not built_ft:
        if f.shows_ft is False:
            why = f"built for the GIL ABI ({f.abi_reason})"
        elif f.claimed == "abi3":
            why = "stable ABI (abi3) module: free-threaded 3.13t/3.14t interpreters cannot load it"
        else:
            why = f"built for the GIL ABI (name claims {f.claimed}; the binary shows nothing to the contrary)"
        return Verdict(FreeThreading.NOT_BUILT_FOR_FT, why, ev)
    source = f.abi_reason if f.shows_ft else f"name claims {f.claimed}"
    if f.gil == GilDeclaration.NOT_USED:
        return Verdict(FreeThreading.READY,
                       f"free-threaded ABI ({source}) and declares the GIL not used ({f.gil_reason})", ev)
    if f.gil == GilDeclaration.USED:
        return Verdict(FreeThreading.REENABLES_GIL, f"declares the GIL used ({f.gil_reason})", ev)
    if f.gil == GilDeclaration.UNDECLARED:
        return Verdict(FreeThreading.REENABLES_GIL,
                       f"declares nothing about the GIL, so CPython enables it on import ({f.gil_reason})", ev)
    return Verdict(FreeThreading.UNKNOWN, f"GIL declaration unknown: {f.gil_reason or 'not found'}", ev)


def subinterpreters_verdict(f: ModuleFacts) -> Verdict:
    ev = tuple(f.mi_evidence) + tuple(f.subinterp_evidence)
    if not f.readable:
        return Verdict(Subinterpreters.UNKNOWN, f"could not read the module: {_first(f.errors)}", ev)
    mi = f.multiple_interpreters
    if f.init == InitStyle.SINGLE_PHASE:
        return Verdict(Subinterpreters.NOT_SUPPORTED,
                       f"single-phase init ({f.init_reason}): rejected by isolated and strict "
                       f"sub-interpreters", ev)
    if mi == MultipleInterpreters.PER_INTERPRETER_GIL:
        return Verdict(Subinterpreters.OWN_GIL, f.mi_reason, ev)
    if mi == MultipleInterpreters.SUPPORTED:
        return Verdict(Subinterpreters.SHARED_GIL_ONLY, f.mi_reason, ev)
    if mi == MultipleInterpreters.UNDECLARED and f.subinterp_refusal:
        return Verdict(Subinterpreters.NOT_SUPPORTED, f.subinterp_refusal, ev)
    if mi == MultipleInterpreters.UNDECLARED:
        return Verdict(Subinterpreters.SHARED_GIL_ONLY,
                       "no Py_mod_multiple_interpreters slot: CPython defaults to SUPPORTED "
                       "(shared GIL only)", ev)
    if mi == MultipleInterpreters.NOT_SUPPORTED:
        return Verdict(Subinterpreters.NOT_SUPPORTED, f.mi_reason, ev)
    return Verdict(Subinterpreters.UNKNOWN, f.mi_reason or f"init style {f.init}: no slots found", ev)


def _first(errors: list[str]) -> str:
    return errors[0] if errors else "unknown error"
