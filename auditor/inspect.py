"""Binary facts -> ModuleReport: what one compiled extension module declares.

Gathers facts only (init style, slots, SetGIL argument, ABI tells, framework, hazard APIs)
through the BinaryImage interface and hands them to auditor.verdicts for the rules.
Never raises for bad input: an unreadable file gives a ModuleReport whose verdicts are
"unknown" with the one-line error as the reason and in `errors`.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from operator import methodcaller

from auditor import knowledge as kb
from auditor.binary import disasm, x86_heap
from auditor.binary.base import BSS, DATA, RODATA, TEXT, BinaryImage
from auditor.binary.loader import open_images
from auditor.errors import BinaryFormatError
from auditor.model import (
    Evidence,
    FreeThreading,
    GilDeclaration,
    InitStyle,
    ModuleReport,
    MultipleInterpreters,
    Subinterpreters,
    Verdict,
)
from auditor.target import PythonTarget
from auditor.verdicts import (
    ModuleFacts,
    abi_of,
    claim_is_free_threaded,
    free_threading_verdict,
    subinterpreters_verdict,
)

MAX_SLOTS = 64          # entries read per slot array
MAX_SLOT_DEPTH = 4      # Py_slot_subslots / Py_mod_slots nesting
MAX_DEF_CANDIDATES = 4096

_CPYTHON_SUFFIX = re.compile(r"\.cpython-(\d)(\d+)([a-z]*)-[^.]+\.(?:so|dylib)$")
_WIN_SUFFIX = re.compile(r"\.cp(\d)(\d+)([a-z]*)-win[^.]*\.pyd$", re.IGNORECASE)
_ABI3_SUFFIX = re.compile(r"\.(abi3t?)(?:-[^.]+)?\.so$")


# ------------------------------------------------------------------ names
def claimed_abi_from_filename(name: str) -> str | None:
    """ABI the file name claims: "cp314t", "cp314", "abi3", "abi3t", or None (plain .so/.pyd)."""
    base = os.path.basename(name.replace("\\", "/"))
    for rx in (_CPYTHON_SUFFIX, _WIN_SUFFIX):
        m = rx.search(base)
        if m:
            return f"cp{m.group(1)}{m.group(2)}{'t' if 't' in m.group(3) else ''}"
    m = _ABI3_SUFFIX.search(base)
    if m:
        return m.group(1)
    return None


def module_name_from_path(relpath: str) -> str:
    """"numpy/_core/_multiarray_umath.cpython-314t-x86_64-linux-gnu.so" -> "numpy._core._multiarray_umath"."""
    parts = [p for p in relpath.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts:
        return ""
    parts[-1] = parts[-1].split(".", 1)[0]
    if parts[-1] == "__init__" and len(parts) > 1:     # pkg/__init__.so is imported as "pkg"
        parts.pop()
    return ".".join(parts)


def _decode_export_name(raw: str, unicode: bool) -> str:
    """PyInitU_/PyModExportU_ names are punycode with the last '-' written as '_' (PEP 489)."""
    if not unicode:
        return raw
    head, sep, tail = raw.rpartition("_")
    try:
        return (head + "-" + tail if sep else raw).encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return raw


@dataclass(frozen=True)
class InitExport:
    kind: str        # "PyInit" | "PyModExport" | "HPyInit"
    symbol: str
    name: str
    addr: int


def find_init_exports(exports, stem: str | None = None) -> list[InitExport]:
    """Init functions, best first: PyModExport before PyInit before HPyInit, and within a
    kind the one named like the file (`stem`) first (mypyc stubs export several PyInit_*)."""
    out = []
    for sym, addr in exports.items():
        if not sym.startswith(("PyInit", "PyModExport", "HPyInit")):
            continue
        for prefix, kind in (("PyModExportU_", "PyModExport"), ("PyModExport_", "PyModExport"),
                             ("PyInitU_", "PyInit"), ("PyInit_", "PyInit"), ("HPyInit_", "HPyInit")):
            if sym.startswith(prefix) and len(sym) > len(prefix):
                out.append(InitExport(kind, sym, _decode_export_name(sym[len(prefix):],
                                                                    prefix.endswith("U_")), addr))
                break
    order = {"PyModExport": 0, "PyInit": 1, "HPyInit": 2}
    return sorted(out, key=lambda e: (order[e.kind], e.name != stem, e.symbol))


# ------------------------------------------------------------------ slots
@dataclass(frozen=True)
class SlotEntry:
    addr: int
    id: int
    flags: int
    value: int | None
    name: str | None            # knowledge name, None for an unknown ID
    as_pyslot: bool             # read from a PySlot array (or a PySlot seen through m_slots)


def parse_slots(image: BinaryImage, addr: int, pyslot: bool, depth: int = 0,
                seen: set[int] | None = None) -> tuple[list[SlotEntry], list[str]]:
    """Entries of a PyModuleDef_Slot[] (pyslot=False) or PySlot[] array, following
    Py_slot_subslots / Py_mod_slots nesting. Returns (entries, problems)."""
    ids = kb.slot_ids()
    seen = set() if seen is None else seen
    entries: list[SlotEntry] = []
    problems: list[str] = []
    if addr in seen or depth > MAX_SLOT_DEPTH:
        problems.append(f"slot array at {addr:#x} nested too deep or cyclic")
        return entries, problems
    seen.add(addr)
    e = "<" if image.little_endian else ">"
    ptr = image.pointer_size
    stride = 16 if pyslot else 2 * ptr
    value_off = 8 if pyslot else ptr
    for i in range(MAX_SLOTS):
        at = addr + i * stride
        head = image.read(at, 8 if pyslot else 4)
        if head is None:
            problems.append(f"slot array at {addr:#x} runs off the mapped image")
            break
        if pyslot:
            sid, flags, _reserved = struct.unpack(e + "HHI", head)
            raw_id = sid
        else:
            (raw_id,) = struct.unpack(e + "i", head)
            sid, flags = raw_id & 0xFFFF, (raw_id >> 16) & 0xFFFF
        if raw_id == 0:
            break
        value = image.read_pointer(at + value_off)
        known = ids.get(sid)
        seen_as_pyslot = pyslot or (flags != 0 and known is not None and known.numbering == "3.15")
        if not pyslot and flags and not seen_as_pyslot:
            known = None
        entries.append(SlotEntry(at, sid, flags, value, known.name if known else None, seen_as_pyslot))
        if known and known.name in (kb.PY_SLOT_SUBSLOTS, kb.PY_MOD_SLOTS) and value:
            sub, subprob = parse_slots(image, value, known.name == kb.PY_SLOT_SUBSLOTS, depth + 1, seen)
            entries.extend(sub)
            problems.extend(subprob)
    else:
        problems.append(f"slot array at {addr:#x} has no terminator within {MAX_SLOTS} entries")
    return entries, problems


def _slots_written_by_code(image: BinaryImage, init: int, slots: int) -> bool | None:
    """Does PyInit_* (or a direct callee, or a load-time constructor) address the first slot
    of this zero-filled array? None when the reader cannot tell on this architecture."""
    functions = [init, *image.constructors()[:16]]
    answers = [disasm.code_references(image, fn, slots, slots + 16) for fn in functions]
    if any(answers):
        return True
    return None if None in answers else False


_CRT_IMPORTS = frozenset({"__cxa_finalize"})


def _is_cplusplus(image: BinaryImage, imports: frozenset[str]) -> bool:
    """C++ modules (C++ runtime imports or libstdc++/libc++): only C++ can fill a static
    slot array from a load-time constructor; C requires constant initialisers.
    __cxa_finalize does not count: GCC's crtstuff (__do_global_dtors_aux) imports it weakly
    into every shared object, C ones included (coverage.tracer, pandas_parser)."""
    if any(s.startswith(("__cxa_", "_Zn", "_ZdlPv", "__gxx_personality")) and s not in _CRT_IMPORTS
           for s in imports):
        return True
    return any("libstdc++" in lib or "libc++" in lib for lib in image.needed_libraries())


def _written_at_load_time(image: BinaryImage, lo: int, hi: int, cplusplus: bool) -> bool:
    """Does a load-time constructor form an address in [lo, hi)? A constructor whose extent
    is unknown (no symbol size, no unwind-table bound) is scanned with a fixed window that
    runs into the functions after it, so it only counts in a C++ module, where dynamic
    initialisation of a static slot array is expected (frame_dummy in a C module is not)."""
    ctors = [fn for fn in image.constructors()[:16] if cplusplus or image.function_size(fn)]
    return any(disasm.code_references(image, fn, lo, hi, follow_callees=False) for fn in ctors)


def slots_from_code(image: BinaryImage, init: int, slots: int) -> tuple[list[SlotEntry], bool]:
    """A PyModuleDef_Slot[] in zero-filled data, rebuilt from the constant stores the init
    code makes into it (pybind11 3's function-local static). Returns (entries, complete):
    complete only when the walk ends on a terminator stored as the constant 0; an ID stored
    from a register (or not stored) ends the walk early, and what follows is unknown."""
    if image.pointer_size != 8:
        return [], False
    stores: dict[int, disasm.CodeStore] = {}
    for st in disasm.slot_stores(image, init, slots, slots + MAX_SLOTS * 16):
        if st.value is not None or st.addr not in stores:    # a known value wins
            stores[st.addr] = st
    ids = kb.slot_ids()
    entries: list[SlotEntry] = []
    for i in range(MAX_SLOTS):
        at = slots + 16 * i
        id_store = stores.get(at)
        if id_store is None or id_store.value is None:
            return entries, False
        if id_store.value & 0xFFFFFFFF == 0:
            return entries, True
        value_store = stores.get(at + 8)
        value = value_store.value if value_store is not None else None
        sid = id_store.value & 0xFFFF
        known = ids.get(sid)
        entries.append(SlotEntry(at, sid, 0, value, known.name if known else None, False))
    return entries, False


# ------------------------------------------------------------------ PyModuleDef
@dataclass(frozen=True)
class FoundDef:
    addr: int
    header: kb.DefHeader
    m_name: str
    m_size: int
    m_slots: int
    name_matches: bool


def find_module_def(image: BinaryImage, names: set[str]) -> tuple[FoundDef | None, list[FoundDef]]:
    """Scan writable data for static PyModuleDef headers (knowledge def_headers) whose m_name
    is the module's name. Returns (the def, all plausible candidates)."""
    ptr = image.pointer_size
    e = "<" if image.little_endian else ">"
    candidates: list[FoundDef] = []
    for header in kb.def_headers(ptr, image.little_endian):
        layout = kb.def_layout(ptr, header.free_threaded)
        for addr in image.find_all(header.pattern, kinds=(DATA,), align=ptr, limit=MAX_DEF_CANDIDATES):
            name_ptr = image.read_pointer(addr + layout.m_name)
            if not name_ptr or image.section_kind(name_ptr) not in (RODATA, DATA, TEXT):
                continue
            m_name = image.read_cstring(name_ptr, 256)
            if not m_name or not m_name.isprintable():
                continue
            raw_size = image.read(addr + layout.m_size, ptr)
            m_size = struct.unpack(e + ("q" if ptr == 8 else "i"), raw_size)[0] if raw_size else 0
            if not -1 <= m_size < 1 << 30:
                continue
            slots = image.read_pointer(addr + layout.m_slots) or 0
            matches = m_name in names or any(m_name.endswith("." + n) for n in names)
            candidates.append(FoundDef(addr, header, m_name, m_size, slots, matches))
    for cand in candidates:
        if cand.name_matches:
            return cand, candidates
    return None, candidates


def export_hook_slots(image: BinaryImage, func: int) -> int | None:
    """Address of the PySlot array a PyModExport_* function returns (`return slots;`):
    x86-64 `lea rax, [rip+disp32]`, aarch64 `adrp x0; add x0, x0, #lo`. None otherwise."""
    code = disasm.read_code(image, func, 48)
    if not code:
        return None
    if image.arch == "x86_64":
        for i in range(len(code) - 7):
            if code[i:i + 3] == b"\x48\x8d\x05":             # lea rax, [rip+disp32]
                return func + i + 7 + struct.unpack_from("<i", code, i + 3)[0]
            if code[i:i + 3] == b"\x48\x8b\x05":             # mov rax, [rip+disp32] (PyO3)
                return image.read_pointer(func + i + 7 + struct.unpack_from("<i", code, i + 3)[0])
    elif image.arch == "aarch64":
        for i in range(0, len(code) - 7, 4):
            w0, w1 = struct.unpack_from("<II", code, i)
            if w0 & 0x9F00001F != 0x90000000:                  # adrp x0, page
                continue
            imm = ((w0 >> 5) & 0x7FFFF) << 2 | (w0 >> 29) & 3
            if imm & (1 << 20):
                imm -= 1 << 21
            page = ((func + i) & ~0xFFF) + (imm << 12)
            if w1 & 0xFFC003FF == 0x91000000:                  # add x0, x0, #lo
                return page + ((w1 >> 10) & 0xFFF)
            if w1 & 0xFFC003FF == 0xF9400000:                  # ldr x0, [x0, #lo]
                return image.read_pointer(page + ((w1 >> 10) & 0xFFF) * 8)
    return None


@dataclass(frozen=True)
class HeapDef:
    """A PyModuleDef the init code builds in an allocated block and passes to PyModuleDef_Init."""
    call: int                   # address of the PyModuleDef_Init call
    header: kb.DefHeader
    m_name: str
    m_size: int | None
    slots: str                  # "block" | "null" | "unknown" | "touched" (a call could rewrite it)
    entries: tuple[SlotEntry, ...]
    complete: bool              # the slot walk ended on a terminator stored as the constant 0


def heap_module_def(image: BinaryImage, init: int, names: set[str]) -> HeapDef | None:
    """The def orjson-style init code (pyo3-ffi without macros) allocates, fills with
    constants and hands to PyModuleDef_Init; None unless every identifying field (header
    bytes, m_name) was stored with a known value. x86-64 System V (ELF) only."""
    if image.arch != "x86_64" or image.format != "elf":
        return None
    code = disasm.read_code(image, init, min(image.function_size(init) or disasm.DEFAULT_WINDOW,
                                            disasm.DEFAULT_WINDOW))
    if not code:
        return None
    traces, complete = x86_heap.trace(code, init, image.read)
    if not complete:
        return None          # a path not followed could build another def
    found = {_heap_def_on_path(image, tr, call, names) for tr, call in
             x86_heap.calls_to(traces, image.call_stubs(), "PyModuleDef_Init")}
    found.discard(None)
    # every path that reaches PyModuleDef_Init must build the same def, or nothing is claimed
    return found.pop() if len(found) == 1 else None


def _heap_def_on_path(image: BinaryImage, tr: x86_heap.HeapTrace, call: x86_heap.HeapCall,
                      names: set[str]) -> HeapDef | None:
    if not isinstance(call.rdi, x86_heap.Block) or call.rdi.n == x86_heap.STACK or call.rdi.off:
        return None
    block = call.rdi.n
    for header in kb.def_headers(8, image.little_endian):
        pattern = header.pattern
        if tr.read_int(block, 0, len(pattern)) != int.from_bytes(pattern, "little"):
            continue
        layout = kb.def_layout(8, header.free_threaded)
        name_ref = tr.ref(block, layout.m_name)
        m_name = image.read_cstring(name_ref.addr, 256) if isinstance(name_ref, x86_heap.Addr) else None
        if not m_name or not (m_name in names or any(m_name.endswith("." + n) for n in names)):
            continue
        raw_size = tr.read_int(block, layout.m_size, 8)
        m_size = raw_size - (1 << 64) if raw_size is not None and raw_size >> 63 else raw_size
        slots_ref = tr.ref(block, layout.m_slots)
        if isinstance(slots_ref, x86_heap.Block) and slots_ref.n != x86_heap.STACK and not slots_ref.off:
            if not x86_heap.untouched_by_calls(tr, call, {block, slots_ref.n}):
                return HeapDef(call.at, header, m_name, m_size, "touched", (), False)
            entries, complete = _heap_slots(tr, slots_ref.n)
            return HeapDef(call.at, header, m_name, m_size, "block", tuple(entries), complete)
        if not x86_heap.untouched_by_calls(tr, call, {block}):
            return HeapDef(call.at, header, m_name, m_size, "touched", (), False)
        if tr.read_int(block, layout.m_slots, 8) == 0:
            return HeapDef(call.at, header, m_name, m_size, "null", (), True)
        return HeapDef(call.at, header, m_name, m_size, "unknown", (), False)
    return None


def _heap_slots(tr: x86_heap.HeapTrace, block: int) -> tuple[list[SlotEntry], bool]:
    ids = kb.slot_ids()
    entries: list[SlotEntry] = []
    for i in range(MAX_SLOTS):
        sid = tr.read_int(block, 16 * i, 4)
        if sid is None:
            return entries, False
        if sid == 0:
            return entries, True
        known = ids.get(sid & 0xFFFF)
        entries.append(SlotEntry(16 * i, sid & 0xFFFF, 0, tr.read_int(block, 16 * i + 8, 8),
                                 known.name if known else None, False))
    return entries, False


# ------------------------------------------------------------------ the inspector
def inspect_module(source, *, display: str | None = None, claimed: str | None = None,
                   module_name: str | None = None) -> ModuleReport:
    """Inspect one extension module file (path) or its bytes. Never raises for bad input."""
    if display is None:
        display = "<bytes>" if isinstance(source, (bytes, bytearray, memoryview)) else os.fspath(source)
    if claimed is None:
        claimed = claimed_abi_from_filename(display)
    fallback_name = module_name or module_name_from_path(os.path.basename(display))
    try:
        images = open_images(source, display)
    except BinaryFormatError as exc:
        return _unreadable(fallback_name, display, claimed, exc.one_line(), None, None)
    try:
        facts = []
        for image in images:
            try:
                facts.append(_gather(image, display, claimed, module_name))
            except BinaryFormatError as exc:
                facts.append(_unreadable_facts(fallback_name, display, claimed, exc.one_line(),
                                               image.format, image.arch))
            except (struct.error, ValueError, IndexError, OverflowError) as exc:
                facts.append(_unreadable_facts(fallback_name, display, claimed,
                                               f"{display}: corrupt binary: {exc}",
                                               image.format, image.arch))
            except Exception as exc:  # noqa: BLE001 - a reader bug must not stop the run
                facts.append(_unreadable_facts(fallback_name, display, claimed,
                                               f"{display}: internal error while inspecting: "
                                               f"{type(exc).__name__}: {exc}".replace("\n", " "),
                                               image.format, image.arch))
    finally:
        for image in images:
            image.close()
    if len(facts) == 1:
        return _report(facts[0])
    return _merge_slices(facts)


def _unreadable_facts(name, display, claimed, error, fmt, arch) -> ModuleFacts:
    f = ModuleFacts(name=name, path=display, format=fmt, arch=arch, claimed=claimed, readable=False)
    f.errors.append(error)
    f.init_reason = f.gil_reason = f.mi_reason = error
    return f


def _unreadable(name, display, claimed, error, fmt, arch) -> ModuleReport:
    return _report(_unreadable_facts(name, display, claimed, error, fmt, arch))


def _report(f: ModuleFacts) -> ModuleReport:
    return ModuleReport(
        name=f.name, path=f.path, format=f.format, arch=f.arch, abi=abi_of(f), init=f.init,
        gil=f.gil, multiple_interpreters=f.multiple_interpreters, framework=f.framework,
        free_threading=free_threading_verdict(f), subinterpreters=subinterpreters_verdict(f),
        evidence=tuple(f.evidence), framework_version=f.framework_version, hazards=f.hazards,
        port_markers=f.port_markers, errors=tuple(f.errors), abi_mismatch=f.abi_mismatch,
        extension_module=f.extension_module,
    )


def _merge_slices(facts: list[ModuleFacts]) -> ModuleReport:
    reports = [_report(f) for f in facts]
    first = reports[0]
    arch = f"universal2({','.join(str(f.arch) for f in facts)})"
    keys = ("init", "gil", "multiple_interpreters")
    disagree = [k for k in keys if len({getattr(r, k) for r in reports}) > 1]
    verdict_keys = [k for k in ("free_threading", "subinterpreters")
                    if len({getattr(r, k).value for r in reports}) > 1]
    errors = [e for r in reports for e in r.errors]
    evidence = list(first.evidence)
    ft, sub = first.free_threading, first.subinterpreters
    if disagree or verdict_keys:
        detail = "; ".join(
            f"{k}: " + ", ".join(f"{f.arch}={getattr(r, k) if k in keys else getattr(r, k).value}"
                                 for f, r in zip(facts, reports))
            for k in disagree + verdict_keys)
        msg = f"{first.path}: universal binary slices disagree: {detail}"
        errors.append(msg)
        evidence.append(Evidence("init", "slice", f"slices disagree: {detail}"))
        if "free_threading" in verdict_keys or "gil" in disagree:
            ft = Verdict(FreeThreading.UNKNOWN, msg, ft.evidence)
        if "subinterpreters" in verdict_keys or "multiple_interpreters" in disagree:
            sub = Verdict(Subinterpreters.UNKNOWN, msg, sub.evidence)
    else:
        evidence.append(Evidence("init", "slice",
                                 f"{len(facts)} slices ({', '.join(str(f.arch) for f in facts)}) agree"))
    return ModuleReport(
        name=first.name, path=first.path, format=first.format, arch=arch, abi=first.abi,
        init=first.init, gil=first.gil, multiple_interpreters=first.multiple_interpreters,
        framework=first.framework, free_threading=ft, subinterpreters=sub,
        evidence=tuple(evidence), framework_version=first.framework_version,
        hazards=tuple(sorted({h for r in reports for h in r.hazards})),
        port_markers=tuple(sorted({p for r in reports for p in r.port_markers})),
        errors=tuple(dict.fromkeys(errors)),
        abi_mismatch=next((r.abi_mismatch for r in reports if r.abi_mismatch), None),
        extension_module=any(r.extension_module for r in reports),
    )


def _gather(image: BinaryImage, display: str, claimed: str | None,
            module_name: str | None) -> ModuleFacts:
    exports = image.exports()
    imports = image.imports()
    stem = module_name_from_path(os.path.basename(display))
    inits = find_init_exports(exports, stem)
    short = inits[0].name if inits else stem
    f = ModuleFacts(name=module_name or short, path=display, format=image.format,
                    arch=image.arch, claimed=claimed)
    if claimed:
        f.abi_evidence.append(Evidence("abi", "filename", f"{os.path.basename(display)} claims {claimed}"))
    _framework(image, exports, f)
    _hazards(imports, f)
    _abi_from_imports(image, imports, f)

    if not inits:
        f.extension_module = False
        f.init = InitStyle.UNKNOWN
        f.init_reason = f.gil_reason = f.mi_reason = \
            "exports no PyInit_*/PyModExport_* function (not an extension module, or a helper library)"
        f.evidence.append(Evidence("init", "export", f.init_reason))
        _finish_abi(f)
        return f
    names = {short, module_name_from_path(display).rpartition(".")[2]}
    if module_name:
        names.add(module_name)
    f.evidence.append(Evidence("init", "export", f"exports {inits[0].symbol} at {inits[0].addr:#x}"))

    found, _candidates = find_module_def(image, names)
    if found is not None:
        hdr = found.header
        f.abi_evidence.append(Evidence(
            "abi", "def-header",
            f"PyModuleDef '{found.m_name}' at {found.addr:#x} has the {'free-threaded' if hdr.free_threaded else 'GIL'} "
            f"header {hdr.id} (CPython {hdr.versions})", hdr.source))
        f.abi_votes.append((hdr.free_threaded, f"PyModuleDef '{found.m_name}' at {found.addr:#x} has the "
                                               f"{'free-threaded' if hdr.free_threaded else 'GIL'} header {hdr.id}"))
        _header_version_check(hdr, claimed, f)

    if inits[0].kind == "HPyInit":
        f.init = InitStyle.UNKNOWN
        f.init_reason = f.gil_reason = f.mi_reason = (
            f"HPy universal module ({inits[0].symbol}): loaded by hpy.universal, which declares "
            f"no CPython slots; HPy has no free-threading or sub-interpreter declaration (UNCONFIRMED)")
        f.evidence.append(Evidence("init", "export", f.init_reason, "capi-reference 3.1 HPy"))
        _finish_abi(f)
        return f
    hook = next((i for i in inits if i.kind == "PyModExport"), None)
    entries: list[SlotEntry] = []
    load_time_slots = partial_slots = False
    if hook is not None:
        f.init = InitStyle.EXPORT_HOOK
        arr = export_hook_slots(image, hook.addr)
        if arr is None:
            f.init_reason = f"{hook.symbol} returns a PySlot array this reader cannot locate on {image.arch}"
            f.gil_reason = f.mi_reason = f.init_reason
            f.errors.append(f"{display}: {f.init_reason}")
        else:
            entries, problems = parse_slots(image, arr, pyslot=True)
            f.errors.extend(f"{display}: {p}" for p in problems)
            f.init_reason = f"{hook.symbol} returns PySlot[] at {arr:#x}"
        f.evidence.append(Evidence("init", "export", f.init_reason, "capi-reference 1.4 (PEP 793)"))
    elif found is not None and found.m_slots:
        kind = image.section_kind(found.m_slots)
        from_code, code_complete = (slots_from_code(image, inits[0].addr, found.m_slots)
                                    if kind == BSS else ([], False))
        written = (_slots_written_by_code(image, inits[0].addr, found.m_slots)
                   if kind == BSS and not from_code else None)
        if kind == BSS and written is False:
            # all zeros and never touched by the init code: a static {{0, NULL}} array
            f.init = InitStyle.MULTI_PHASE
            f.init_reason = (f"PyModuleDef '{found.m_name}' m_slots points to a zero-filled array "
                             f"({found.m_slots:#x}) that {inits[0].symbol} never writes: an empty "
                             f"slot array (terminator only)")
        elif kind == BSS:
            f.init = InitStyle.RUNTIME_DEF
            f.init_reason = (f"PyModuleDef '{found.m_name}' m_slots points into zero-filled data "
                             f"({found.m_slots:#x}): the slots are built at run time")
            entries = from_code
            if entries:
                f.init_reason += (f"; {inits[0].symbol} stores them with constants "
                                  f"({len(entries)} entries read from the code"
                                  f"{'' if code_complete else ', then a value set at run time: the rest is unknown'})")
                partial_slots = not code_complete
        else:
            f.init = InitStyle.MULTI_PHASE
            entries, problems = parse_slots(image, found.m_slots, pyslot=False)
            f.errors.extend(f"{display}: {p}" for p in problems)
            f.init_reason = f"PyModuleDef '{found.m_name}' at {found.addr:#x} has m_slots at {found.m_slots:#x}"
            if _written_at_load_time(image, found.m_slots, found.m_slots + 16 * (len(entries) + 1),
                                     _is_cplusplus(image, imports)):
                load_time_slots = True
                f.init_reason += ("; a load-time constructor (C++ dynamic initialisation) writes "
                                  "into the array, so the values in the file are not final")
        f.evidence.append(Evidence("init", "slot", f.init_reason, "capi-reference 2.2, 2.5"))
    elif "PyModule_Create2" in imports and (found is None or found.m_size == -1 or
                                            "PyModuleDef_Init" not in imports):
        f.init = InitStyle.SINGLE_PHASE
        f.init_reason = "imports PyModule_Create2" + (
            f"; PyModuleDef '{found.m_name}' has m_slots NULL, m_size {found.m_size}" if found else "")
        f.evidence.append(Evidence("init", "import", f.init_reason, "capi-reference 3.1 (hand-written C)"))
    elif found is not None:
        f.init = InitStyle.MULTI_PHASE
        f.init_reason = f"PyModuleDef '{found.m_name}' at {found.addr:#x} has no slots (m_slots NULL)"
        f.evidence.append(Evidence("init", "slot", f.init_reason, "capi-reference 2.2"))
    elif "PyModuleDef_Init" in imports and f.framework in ("pybind11", "nanobind"):
        f.init = InitStyle.RUNTIME_DEF
        f.init_reason = (f"imports PyModuleDef_Init but no static PyModuleDef named {short!r}: "
                         f"{f.framework} builds its def at run time")
        f.evidence.append(Evidence("init", "framework-default", f.init_reason, "capi-reference 2.5"))
    elif found is None and "PyModuleDef_Init" in imports and (
            heap := heap_module_def(image, inits[0].addr, names)) is not None:
        hdr = heap.header
        what = "free-threaded" if hdr.free_threaded else "GIL"
        f.abi_evidence.append(Evidence(
            "abi", "def-header",
            f"the PyModuleDef '{heap.m_name}' {inits[0].symbol} builds on the heap gets the {what} "
            f"header {hdr.id} ({hdr.versions})", hdr.source))
        f.abi_votes.append((hdr.free_threaded, f"heap PyModuleDef '{heap.m_name}' has the {what} header {hdr.id}"))
        built = (f"{inits[0].symbol} builds PyModuleDef '{heap.m_name}' (m_size {heap.m_size}) in an "
                 f"allocated block with constant stores and passes it to PyModuleDef_Init at {heap.call:#x}")
        if heap.slots == "block":
            f.init = InitStyle.RUNTIME_DEF
            entries = list(heap.entries)
            partial_slots = not heap.complete
            f.init_reason = (f"{built}; m_slots is another such block ({len(entries)} entries read from "
                             f"the code{'' if heap.complete else ', then a value not stored as a constant: the rest is unknown'})")
        elif heap.slots == "null":
            f.init = InitStyle.MULTI_PHASE
            f.init_reason = f"{built}; m_slots NULL"
        elif heap.slots == "touched":
            f.init = InitStyle.RUNTIME_DEF
            f.init_reason = (f"{built}; but a call receives the def or its slot block before that "
                             f"(or the code stores into them after it), so the slots read are not final")
        else:
            f.init = InitStyle.RUNTIME_DEF
            f.init_reason = f"{built}; m_slots is not stored as a constant or a block address"
        f.evidence.append(Evidence("init", "slot", f.init_reason, "capi-reference 2.5"))
    elif found is None and _is_cffi_module(image, imports):
        rule = kb.cffi_rule()
        f.framework = "cffi"
        f.evidence.append(Evidence(
            "framework", "string",
            f"contains {' and '.join(repr(s.decode()) for s in rule.strings)}, imports "
            f"{', '.join(rule.imports)}: a cffi-generated out-of-line module", rule.source))
        f.init = InitStyle.SINGLE_PHASE
        f.init_reason = f"cffi module: {inits[0].symbol} has _cffi_backend create it; {rule.init_why}"
        f.evidence.append(Evidence("init", "framework-default", f.init_reason, rule.source))
    else:
        f.init = InitStyle.UNKNOWN
        f.init_reason = f"no static PyModuleDef named {short!r} found and no PyModule_Create2 import"
        delegate = _mypyc_delegate(image) if f.framework == "mypyc" else None
        if delegate:
            f.init_reason = (f"mypyc stub: {inits[0].symbol} takes the module from the shared "
                             f"library {delegate.split('.')[0]!r} at run time (capsule {delegate!r}); "
                             f"inspect that library")
        f.evidence.append(Evidence("init", "string" if delegate else "slot", f.init_reason,
                                   "capi-reference 3.1 mypyc" if delegate else ""))

    if (f.init in (InitStyle.MULTI_PHASE, InitStyle.EXPORT_HOOK) and
            (entries or f.init == InitStyle.MULTI_PHASE)) or (f.init == InitStyle.RUNTIME_DEF and entries):
        _from_slots(image, entries, f)
        if partial_slots:
            if f.gil == GilDeclaration.UNDECLARED:
                f.gil, f.gil_reason = GilDeclaration.UNKNOWN, f.init_reason
            if f.multiple_interpreters == MultipleInterpreters.UNDECLARED:
                f.multiple_interpreters, f.mi_reason = MultipleInterpreters.UNKNOWN, f.init_reason
        if load_time_slots:
            for field in ("gil", "multiple_interpreters"):
                if getattr(f, field) in (GilDeclaration.USED, GilDeclaration.NOT_USED, "not-supported",
                                         "supported", "per-interpreter-gil"):
                    setattr(f, field, "unknown")
            f.gil_reason = f.mi_reason = f.init_reason
    elif f.init == InitStyle.SINGLE_PHASE and f.framework == "cffi":
        _cffi_declarations(f)
    elif f.init == InitStyle.SINGLE_PHASE:
        _single_phase(image, inits[0], imports, f)
    elif f.init == InitStyle.RUNTIME_DEF:
        _runtime_def(image, f)
    else:
        f.gil_reason = f.gil_reason or f.init_reason
        f.mi_reason = f.mi_reason or f.init_reason
    _framework_guards(image, f)
    _finish_abi(f)
    return f


# ------------------------------------------------------------------ slots -> facts
def _from_slots(image: BinaryImage, entries: list[SlotEntry], f: ModuleFacts) -> None:
    gil_vals = kb.slot_value_names(kb.PY_MOD_GIL)
    mi_vals = kb.slot_value_names(kb.PY_MOD_MULTIPLE_INTERPRETERS)
    gil_seen = mi_seen = False
    listing = ", ".join(f"{e.name or 'unknown'}({e.id})" + (f"={e.value}" if e.name in (
        kb.PY_MOD_GIL, kb.PY_MOD_MULTIPLE_INTERPRETERS) else "") for e in entries)
    f.evidence.append(Evidence("init", "slot", f"slots: {listing or 'none'}", "capi-reference 1.1"))
    for e in entries:
        if e.as_pyslot and e.flags:
            f.evidence.append(Evidence("init", "slot",
                                       f"PySlot entry at {e.addr:#x}: id {e.id} flags {e.flags:#x}",
                                       "capi-reference 2.2 (PySlot read as PyModuleDef_Slot)"))
        if e.name is None:
            f.evidence.append(Evidence("init", "slot", f"unknown slot ID {e.id} at {e.addr:#x}"))
            f.errors.append(f"{f.path}: unknown module slot ID {e.id} at {e.addr:#x}")
        elif e.name in (kb.PY_MOD_GIL, kb.PY_MOD_MULTIPLE_INTERPRETERS) and e.value is None:
            runtime = f"{e.name}({e.id}) at {e.addr:#x} gets its value at run time"
            if e.name == kb.PY_MOD_GIL:
                gil_seen = True
                f.gil, f.gil_reason = GilDeclaration.UNKNOWN, runtime
                f.gil_evidence.append(Evidence("gil", "slot", runtime))
            else:
                mi_seen = True
                f.multiple_interpreters, f.mi_reason = MultipleInterpreters.UNKNOWN, runtime
                f.mi_evidence.append(Evidence("multiple_interpreters", "slot", runtime))
        elif e.name == kb.PY_MOD_GIL and e.value is not None:    # (None: the branch above)
            gil_seen = True
            named = gil_vals.get(e.value)
            detail = f"{e.name}({e.id}) = {e.value}" + (f" {named[0]}" if named else "")
            f.gil_evidence.append(Evidence("gil", "slot", f"{detail} at {e.addr:#x}", "capi-reference 1.1, 1.2"))
            if named:
                f.gil, f.gil_reason = named[1], detail
            else:
                f.gil = GilDeclaration.UNKNOWN
                f.gil_reason = (f"invalid {e.name} value {e.value} (3.13/3.14 read it as not used, "
                                f"3.15 as used)")
                f.errors.append(f"{f.path}: {f.gil_reason}")
        elif e.name == kb.PY_MOD_MULTIPLE_INTERPRETERS and e.value is not None:
            mi_seen = True
            named = mi_vals.get(e.value)
            detail = f"{e.name}({e.id}) = {e.value}" + (f" {named[0]}" if named else "")
            f.mi_evidence.append(Evidence("multiple_interpreters", "slot", f"{detail} at {e.addr:#x}",
                                          "capi-reference 1.1, 1.2"))
            if named:
                f.multiple_interpreters, f.mi_reason = named[1], detail
            else:
                f.multiple_interpreters = MultipleInterpreters.UNKNOWN
                f.mi_reason = f"invalid {e.name} value {e.value} (expected 0, 1 or 2)"
                f.errors.append(f"{f.path}: {f.mi_reason}")
        elif e.name == kb.PY_MOD_ABI and e.value:
            _abi_info(image, e.value, f)
    if not gil_seen:
        f.gil = GilDeclaration.UNDECLARED
        meaning, src = kb.absent_default("Py_mod_gil")
        f.gil_reason = "no Py_mod_gil slot"
        f.gil_evidence.append(Evidence("gil", "loader-rule", f"no Py_mod_gil slot: CPython assumes GIL {meaning}", src))
    if not mi_seen:
        f.multiple_interpreters = MultipleInterpreters.UNDECLARED
        meaning, src = kb.absent_default("Py_mod_multiple_interpreters")
        f.mi_reason = "no Py_mod_multiple_interpreters slot"
        f.mi_evidence.append(Evidence("multiple_interpreters", "loader-rule",
                                      f"no Py_mod_multiple_interpreters slot: CPython defaults to {meaning}", src))


def _abi_info(image: BinaryImage, addr: int, f: ModuleFacts) -> None:
    raw = image.read(addr, 12)
    if raw is None:
        f.errors.append(f"{f.path}: Py_mod_abi points outside the image ({addr:#x})")
        return
    e = "<" if image.little_endian else ">"
    major, minor, flags, build, abi_version = struct.unpack(e + "BBHII", raw)
    names = [n.replace("PyABIInfo_", "") for n, bit in kb.abi_info_flags().items() if flags & bit]
    detail = (f"PyABIInfo {{{major}, {minor}, flags {flags:#06x} ({'|'.join(names) or 'none'}), "
              f"build {build:#010x}, abi {abi_version:#x}}} at {addr:#x}")
    f.abi_evidence.append(Evidence("abi", "abi-info", detail, "capi-reference 1.4 (PEP 803)"))
    bits = kb.abi_info_flags()
    ft, gil = flags & bits["PyABIInfo_FREETHREADED"], flags & bits["PyABIInfo_GIL"]
    if major == 0:
        return   # "skip all checking": says nothing
    if ft:
        f.abi_votes.append((True, f"PyABIInfo flags {flags:#x}"))
    elif gil:
        f.abi_votes.append((False, f"PyABIInfo flags {flags:#x}"))


def _single_phase(image: BinaryImage, init: InitExport, imports: frozenset[str], f: ModuleFacts) -> None:
    _no_slots_single_phase(f, "single-phase init: rejected where check_multi_interp_extensions is on")
    setgil = kb.load("slots")["set_gil_function"]["name"]
    if setgil not in imports:
        f.gil = GilDeclaration.UNDECLARED
        f.gil_reason = f"single-phase init without a {setgil} import"
        m2, src2 = kb.absent_default("single_phase_gil")
        f.gil_evidence.append(Evidence("gil", "loader-rule", f"{f.gil_reason}: CPython assumes GIL {m2}", src2))
        return
    calls = disasm.find_set_gil_calls(image, init.addr, image.call_stubs(), setgil)
    if not calls:
        f.gil = GilDeclaration.UNKNOWN
        f.gil_reason = (f"imports {setgil} but no call to it was found in {init.symbol} "
                        f"or the functions it calls, {disasm.MAX_DEPTH} levels deep ({image.arch})")
        f.gil_evidence.append(Evidence("gil", "call", f.gil_reason))
        return
    values = {c.value for c in calls}
    where = ", ".join(_call_site(c) for c in calls)
    constants = {c.value for c in calls if c.value is not None}
    if len(values) == 1 and constants:     # the same constant at every call
        (value,) = constants
        named = kb.slot_value_names(kb.PY_MOD_GIL).get(value)
        detail = f"{init.symbol} calls {setgil}(m, {value}{' ' + named[0] if named else ''}) at {where}"
        f.gil_evidence.append(Evidence("gil", "call", detail, "capi-reference 1.3, 1.5"))
        if named:
            f.gil, f.gil_reason = named[1], detail
        else:
            f.gil, f.gil_reason = GilDeclaration.UNKNOWN, f"invalid {setgil} value {value} ({where})"
        return
    f.gil = GilDeclaration.UNKNOWN
    f.gil_reason = (f"{setgil} is called at {where} with a value set at run time"
                    if values == {None} else f"{setgil} is called with different values {sorted(map(str, values))} at {where}")
    f.gil_evidence.append(Evidence("gil", "call", f.gil_reason, "capi-reference 1.5"))


def _no_slots_single_phase(f: ModuleFacts, rule: str) -> None:
    """A single-phase def carries no slots, so it declares nothing; CPython's rejection of
    such modules in sub-interpreters is evidence for the verdict, not a declaration."""
    _meaning, src = kb.absent_default("single_phase_subinterpreters")
    f.multiple_interpreters = MultipleInterpreters.UNDECLARED
    f.mi_reason = "single-phase init: no Py_mod_multiple_interpreters slot"
    f.subinterp_evidence.append(Evidence("subinterpreters", "loader-rule", rule, src))


def _call_site(call: disasm.SetGilCall) -> str:
    """Where a SetGIL call is: its address, and the function holding it when that is not the
    init function itself (with how many calls below it, past the first level)."""
    if not call.in_callee:
        return f"{call.call_addr:#x}"
    deep = f", {call.depth} calls deep" if call.depth > 1 else ""
    return f"{call.call_addr:#x} (in callee {call.function:#x}{deep})"


def _is_cffi_module(image: BinaryImage, imports: frozenset[str]) -> bool:
    """A cffi out-of-line module: its PyInit_* only imports _cffi_backend and calls
    _init_cffi_1_0_external_module; it creates no module itself."""
    rule = kb.cffi_rule()
    if "PyModule_Create2" in imports or "PyModuleDef_Init" in imports:
        return False
    return all(s in imports for s in rule.imports) and all(image.contains(s) for s in rule.strings)


def _cffi_declarations(f: ModuleFacts) -> None:
    """Sub-interpreters and GIL of a module _cffi_backend creates with PyModule_Create2."""
    rule = kb.cffi_rule()
    _no_slots_single_phase(f, "single-phase init (created by _cffi_backend): rejected where "
                              "check_multi_interp_extensions is on")
    votes = {v for v, _why in f.abi_votes}
    built_ft = (votes.pop() if len(votes) == 1 else None) if votes else claim_is_free_threaded(f.claimed)
    if built_ft is False:
        f.gil = GilDeclaration.UNDECLARED
        f.gil_reason = f"cffi module built for the GIL ABI: {rule.gil_abi_why}"
        f.gil_evidence.append(Evidence("gil", "framework-default", f.gil_reason, rule.source))
    else:
        f.gil = GilDeclaration.UNKNOWN
        f.gil_reason = (f"cffi module built for the {'free-threaded' if built_ft else 'an undetermined'} "
                        f"ABI: {rule.ft_abi_why}")
        f.gil_evidence.append(Evidence("gil", "framework-default", f.gil_reason, rule.source))


def _runtime_def(image: BinaryImage, f: ModuleFacts) -> None:
    applied = {"gil": False, "multiple_interpreters": False}
    for d in kb.framework_defaults():
        if d.framework != f.framework or d.when != InitStyle.RUNTIME_DEF:
            continue
        ev = Evidence("gil" if d.field == "gil" else "multiple_interpreters", "framework-default", d.why, d.source)
        if d.field == "gil" and d.abi_tag_marker:
            tag = _nanobind_abi_tag(image)
            if tag is None:
                f.gil, f.gil_reason = GilDeclaration.UNKNOWN, f"{f.framework}: no ABI tag string found; {d.why}"
            elif d.abi_tag_marker + "_" in tag + "_":
                f.gil = GilDeclaration.NOT_USED
                f.gil_reason = f"{f.framework} ABI tag {tag!r} has {d.abi_tag_marker!r}: built FREE_THREADED, which declares Py_MOD_GIL_NOT_USED"
            else:
                f.gil = GilDeclaration.UNDECLARED
                f.gil_reason = f"{f.framework} ABI tag {tag!r} lacks {d.abi_tag_marker!r}: built without FREE_THREADED, no Py_mod_gil slot"
            f.gil_evidence.append(Evidence("gil", "string", f.gil_reason, d.source))
            f.gil_evidence.append(ev)
            applied["gil"] = True
            continue
        if d.field == "gil":
            f.gil, f.gil_reason = d.value, f"{f.framework}: {d.why}"
            f.gil_evidence.append(ev)
        else:
            f.multiple_interpreters, f.mi_reason = d.value, f"{f.framework} default: {d.why}"
            f.mi_evidence.append(ev)
        applied[d.field] = True
    if not applied["gil"]:
        f.gil, f.gil_reason = GilDeclaration.UNKNOWN, f.init_reason
    if not applied["multiple_interpreters"]:
        f.multiple_interpreters, f.mi_reason = MultipleInterpreters.UNKNOWN, f.init_reason


def _framework_guards(image: BinaryImage, f: ModuleFacts) -> None:
    """Framework behaviour the slots do not show: a run-time refusal of sub-interpreters."""
    for d in kb.framework_defaults():
        if d.framework != f.framework or d.field != "multiple_interpreters":
            continue
        if (d.when == "no-multiple-interpreters-slot" and f.init != InitStyle.SINGLE_PHASE
                and f.multiple_interpreters == MultipleInterpreters.UNDECLARED):
            if d.marker is None or image.contains(d.marker):
                f.subinterp_refusal = f"{f.framework}: {d.why}"
                f.subinterp_evidence.append(Evidence("subinterpreters", "framework-default", d.why, d.source))
        elif d.when == "single-phase" and f.init == InitStyle.SINGLE_PHASE:
            f.subinterp_evidence.append(Evidence("subinterpreters", "framework-default", d.why, d.source))


# ------------------------------------------------------------------ ABI
def _abi_from_imports(image: BinaryImage, imports: frozenset[str], f: ModuleFacts) -> None:
    votes = f.abi_votes
    for sym, tell in kb.ft_only_imports().items():
        if sym in imports:
            f.abi_evidence.append(Evidence("abi", "import", f"imports {sym} ({tell.meaning})", tell.source))
            votes.append((True, f"imports {sym}"))
    for sym, tell in kb.gil_only_imports().items():
        if sym in imports:
            f.abi_evidence.append(Evidence("abi", "import", f"imports {sym} ({tell.meaning})", tell.source))
            votes.append((False, f"imports {sym}"))
    for lib in image.needed_libraries():
        low = os.path.basename(lib.replace("\\", "/")).lower()
        for rx, build, src in kb.dll_builds():
            if rx.match(low):
                f.abi_evidence.append(Evidence("abi", "dll", f"links {lib} ({build} build)", src))
                if build in ("ft", "abi3t"):
                    votes.append((True, f"links {lib}"))
                else:
                    votes.append((False, f"links {lib}"))
                break


def _header_version_check(hdr: kb.DefHeader, claimed: str | None, f: ModuleFacts) -> None:
    """A cp3XY[t] name whose def header bytes come from other CPython headers: built against
    the wrong version (information; PyO3 writes its own headers, see capi-reference 2.3)."""
    named = PythonTarget.from_tag(claimed or "")
    if named is None or hdr.minor_min <= named.minor <= hdr.minor_max:
        return
    if f.framework == "pyo3":
        detail = (f"header {hdr.id} does not match {claimed}: expected for PyO3, which writes its "
                  f"own PyObject header (refcnt 1 on GIL builds, ob_flags 0 on 3.14t)")
    else:
        made_by = (f"3.{hdr.minor_min}" if hdr.minor_min == hdr.minor_max
                   else f"3.{hdr.minor_min}-3.{hdr.minor_max}")
        detail = (f"header {hdr.id} was written by CPython {made_by} headers, but the name "
                  f"claims {claimed}: built against another version's headers?")
    f.abi_evidence.append(Evidence("abi", "def-header", detail, hdr.source))


def _finish_abi(f: ModuleFacts) -> None:
    votes = f.abi_votes
    ft = [why for v, why in votes if v]
    gil = [why for v, why in votes if not v]
    if ft and gil:
        f.shows_ft = None
        f.abi_reason = f"contradictory: {'; '.join(ft)} vs {'; '.join(gil)}"
        f.errors.append(f"{f.path}: ABI evidence is contradictory: {f.abi_reason}")
    elif ft:
        f.shows_ft, f.abi_reason = True, "; ".join(ft)
    elif gil:
        f.shows_ft, f.abi_reason = False, "; ".join(gil)
    claim_ft = claim_is_free_threaded(f.claimed)
    if claim_ft is not None and f.shows_ft is not None and claim_ft != f.shows_ft:
        shown = "free-threaded" if f.shows_ft else "GIL"
        f.abi_mismatch = (f"ABI mismatch: the name claims {f.claimed} but the binary shows the "
                          f"{shown} ABI ({f.abi_reason})")
        f.abi_evidence.append(Evidence("abi", "filename", f.abi_mismatch))


# ------------------------------------------------------------------ framework and APIs
def _framework(image: BinaryImage, exports, f: ModuleFacts) -> None:
    names: list[str] | None = None
    for fw in kb.frameworks():
        hit = None
        if fw.exports_prefix:
            if names is None:   # one C-level pass keeps the few names a framework prefix starts (no sort)
                names = list(filter(methodcaller("startswith", kb.framework_export_prefixes()), exports))
            hit = next((prefix for prefix in fw.exports_prefix if any(n.startswith(prefix) for n in names)), None)
        why = f"exports {hit}*" if hit else None
        if why is None:
            s = next((s for s in fw.strings if image.contains(s)), None)
            why = f"contains the string {s.decode()!r}" if s else None
        if why is None:
            continue
        f.framework = fw.name
        f.evidence.append(Evidence("framework", "export" if hit else "string", why, fw.source))
        f.framework_version = _framework_version(image, fw)
        if f.framework_version:
            f.evidence.append(Evidence("framework", "string", f"{fw.name} version {f.framework_version}", fw.source))
        return
    f.framework = "c"


def _framework_version(image: BinaryImage, fw: kb.Framework) -> str | None:
    if fw.version_regex is None:
        return None
    for addr in image.find_all(fw.version_prefix, kinds=(RODATA, DATA), limit=16):
        raw = image.read(addr, 64)
        m = fw.version_regex.match(raw or b"")
        if m:
            return fw.version_label.format(*(g.decode() for g in m.groups()))
    return None


_NB_TAG_RX = re.compile(rb"\x00((?:v\d+|nanobind)_[0-9A-Za-z_]*_system_[0-9A-Za-z_]+|"
                        rb"(?:v\d+|nanobind)_[0-9A-Za-z_]*(?:_ft|_abi\d)[0-9A-Za-z_]*)\x00")


def _nanobind_abi_tag(image: BinaryImage) -> str | None:
    """nanobind's ABI tag string (e.g. "v19_system_libstdcpp_gxx_abi_1xxx_use_cxx11_abi_1",
    "nanobind_system_libcpp_abi1_ft_a1_v22"), found next to its "_system_" component."""
    for addr in image.find_all(b"_system_", kinds=(RODATA, DATA), limit=32):
        window = next((w for back, size in ((48, 160), (48, 96), (32, 64), (24, 48))
                       if (w := image.read(addr - back, size)) is not None), b"")
        for m in _NB_TAG_RX.finditer(window):
            return m.group(1).decode("ascii")
    return None


def _mypyc_delegate(image: BinaryImage) -> str | None:
    """The "<hash>__mypyc.init_<mod>" capsule name a mypyc stub module imports, if any."""
    for addr in image.find_all(b"__mypyc.init_", kinds=(RODATA, DATA), limit=4):
        before = image.read(addr - 64, 64) or b""
        start = addr - (len(before) - before.rfind(b"\0") - 1 if b"\0" in before else len(before))
        text = image.read_cstring(start, 256)
        if text:
            return text
    return None


def _hazards(imports: frozenset[str], f: ModuleFacts) -> None:
    f.hazards = tuple(sorted(s for s in kb.hazard_apis() if s in imports))
    f.port_markers = tuple(sorted(s for s in kb.port_markers() if s in imports))
