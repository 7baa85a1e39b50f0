"""What ft-audit knows about CPython, as data: slot IDs and values per version, ABI tells,
PyModuleDef header bytes per producer, hazard APIs, port markers, framework fingerprints
and documented defaults.

The facts live in the JSON files next to this module (package data `knowledge/*.json`);
every entry carries a "source" (a section of the C-API reference it was checked against)
and the versions it applies to. This module only loads them into typed, immutable values,
once per process (functools.lru_cache).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

# Slot names used by the inspector (keys into slot_ids()).
PY_MOD_CREATE = "Py_mod_create"
PY_MOD_EXEC = "Py_mod_exec"
PY_MOD_MULTIPLE_INTERPRETERS = "Py_mod_multiple_interpreters"
PY_MOD_GIL = "Py_mod_gil"
PY_SLOT_SUBSLOTS = "Py_slot_subslots"
PY_MOD_SLOTS = "Py_mod_slots"
PY_MOD_NAME = "Py_mod_name"
PY_MOD_ABI = "Py_mod_abi"


@functools.cache
def load(name: str) -> dict[str, Any]:
    """The parsed JSON document `auditor/knowledge/<name>.json`."""
    text = resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


@dataclass(frozen=True)
class SlotId:
    id: int
    name: str
    numbering: str        # "legacy" (1-4, up to 3.14 and limited API < 3.15) or "3.15"
    source: str


@functools.cache
def slot_ids() -> dict[int, SlotId]:
    """Every known module-slot ID (both the legacy 1-4 and the 3.15 numbering) -> SlotId."""
    out: dict[int, SlotId] = {}
    for entry in load("slots")["module_slots"]:
        for numbering, sid in entry["ids"].items():
            out[sid] = SlotId(sid, entry["name"], numbering, entry["source"])
    return out


@functools.cache
def slot_value_names(slot: str) -> dict[int, tuple[str, str, str]]:
    """value -> (macro name, meaning, source) for Py_mod_gil / Py_mod_multiple_interpreters."""
    return {v["value"]: (v["name"], v["meaning"], v["source"])
            for v in load("slots")["values"].get(slot, ())}


def absent_default(key: str) -> tuple[str, str]:
    """(meaning, source) CPython applies when a declaration is absent."""
    entry = load("slots")["absent_defaults"][key]
    return entry["meaning"], entry["source"]


@dataclass(frozen=True)
class SymbolTell:
    symbol: str
    meaning: str
    source: str


@functools.cache
def ft_only_imports() -> dict[str, SymbolTell]:
    return {e["symbol"]: SymbolTell(e["symbol"], e["meaning"], e["source"])
            for e in load("abi")["ft_only_imports"]}


@functools.cache
def gil_only_imports() -> dict[str, SymbolTell]:
    return {e["symbol"]: SymbolTell(e["symbol"], e["meaning"], e["source"])
            for e in load("abi")["gil_only_imports"]}


@dataclass(frozen=True)
class DefHeader:
    """Bytes of a static PyModuleDef_HEAD_INIT (plus the three zero m_base fields after it)."""

    id: str
    pointer_size: int
    header: bytes          # PyObject header bytes as stored on disk (little-endian)
    free_threaded: bool
    versions: str
    source: str
    minor_min: int = 0        # CPython 3.<minor> headers that write these bytes
    minor_max: int = 99

    @property
    def pattern(self) -> bytes:
        """Header followed by m_init, m_index, m_copy (always zero on disk)."""
        return self.header + b"\0" * (3 * self.pointer_size)


@functools.cache
def def_headers(pointer_size: int, little_endian: bool = True) -> tuple[DefHeader, ...]:
    # Only little-endian bytes were measured; big-endian targets (s390x, ppc64) get no
    # patterns rather than guessed ones, so their defs are reported as not found.
    if not little_endian:
        return ()
    out = []
    for e in load("abi")["def_headers"]:
        if e["pointer_size"] != pointer_size:
            continue
        raw = bytes.fromhex(e["hex"].replace(" ", ""))
        out.append(DefHeader(e["id"], pointer_size, raw, e["build"] == "ft", e["versions"],
                             e["source"], e.get("minor_min", 0), e.get("minor_max", 99)))
    return tuple(out)


@dataclass(frozen=True)
class DefLayout:
    size: int
    m_name: int
    m_size: int
    m_slots: int


def def_layout(pointer_size: int, free_threaded: bool) -> DefLayout:
    e = load("abi")["def_layout"][str(pointer_size)]["ft" if free_threaded else "gil"]
    return DefLayout(e["size"], e["m_name"], e["m_size"], e["m_slots"])


def abi_info_flags() -> dict[str, int]:
    return {k: v for k, v in load("abi")["abi_info_flags"].items() if k != "source"}


@functools.cache
def dll_builds() -> tuple[tuple[re.Pattern[str], str, str], ...]:
    """(regex on the lower-cased DLL name, "ft"|"gil"|"abi3"|"abi3t", source)."""
    return tuple((re.compile(e["pattern"]), e["build"], e["source"]) for e in load("abi")["dlls"])


@dataclass(frozen=True)
class ApiEntry:
    symbol: str
    topic: str
    why: str
    replacement: str
    source: str


@functools.cache
def hazard_apis() -> dict[str, ApiEntry]:
    return {e["symbol"]: ApiEntry(e["symbol"], e["topic"], e["why"], e["replacement"], e["source"])
            for e in load("hazards")["hazards"]}


@functools.cache
def port_markers() -> dict[str, ApiEntry]:
    return {e["symbol"]: ApiEntry(e["symbol"], "port", f"added in {e['since']}", "", e["source"])
            for e in load("hazards")["port_markers"]}


@dataclass(frozen=True)
class Framework:
    name: str
    strings: tuple[bytes, ...]
    exports_prefix: tuple[str, ...]
    version_prefix: bytes            # searched for first; the regex is matched where it occurs
    version_regex: re.Pattern[bytes] | None
    version_label: str
    source: str


@functools.cache
def frameworks() -> tuple[Framework, ...]:
    out = []
    for e in load("frameworks")["frameworks"]:
        rx = e.get("version_regex")
        out.append(Framework(
            e["name"], tuple(s.encode() for s in e.get("strings", ())),
            tuple(e.get("exports_prefix", ())), e.get("version_prefix", "").encode(),
            re.compile(rx.encode()) if rx else None, e.get("version_label", ""), e["source"]))
    return tuple(out)


@functools.cache
def framework_export_prefixes() -> tuple[str, ...]:
    """Every framework's exports_prefix, for one pass over a module's exports."""
    return tuple(dict.fromkeys(p for fw in frameworks() for p in fw.exports_prefix))


@dataclass(frozen=True)
class FrameworkDefault:
    framework: str
    when: str        # "runtime-def" | "single-phase" | "no-multiple-interpreters-slot"
    field: str       # "gil" | "multiple_interpreters"
    value: str
    why: str
    marker: bytes | None
    source: str
    abi_tag_marker: str | None = None    # nanobind: "_ft" in the ABI tag string


@functools.cache
def framework_defaults() -> tuple[FrameworkDefault, ...]:
    return tuple(FrameworkDefault(e["framework"], e["when"], e["field"], e["value"], e["why"],
                                  e["marker"].encode() if e.get("marker") else None, e["source"],
                                  e.get("abi_tag_marker"))
                 for e in load("frameworks")["defaults"])


@dataclass(frozen=True)
class CffiRule:
    """How a cffi-generated out-of-line module gets created (frameworks.json cffi_external_module)."""

    strings: tuple[bytes, ...]       # all must be in the file
    imports: tuple[str, ...]         # all must be imported
    init_why: str
    gil_abi_why: str
    ft_abi_why: str
    source: str


@functools.cache
def cffi_rule() -> CffiRule:
    e = load("frameworks")["cffi_external_module"]
    return CffiRule(tuple(s.encode() for s in e["strings"]), tuple(e["imports"]), e["init_why"],
                    e["gil_abi_why"], e["ft_abi_why"], e["source"])
