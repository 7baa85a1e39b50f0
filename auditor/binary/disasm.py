"""Find the constant second argument of calls to PyUnstable_Module_SetGIL.

Single-phase modules declare free-threading support in code, not data:
`PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED)` inside `PyInit_<name>`, or in the module
init function it calls (C++ projects: PyInit -> init function -> helper; MSVC: a PyInit
that is a lone `jmp` to the real init). This module scans bounded windows of machine code
(the init function, then the functions it calls or tail-calls, level by level, up to
MAX_DEPTH levels, MAX_WALK_FUNCTIONS functions and MAX_WALK_BYTES bytes) for a call or tail
call whose target is the SetGIL stub (PLT entry / Mach-O stub / PE import thunk, or an
indirect call through its GOT / IAT slot), then walks back from the call to the instruction
that set the second-argument register. No general disassembler: a handful of encodings, each a small pure function.

Supported: x86-64 (`mov esi, imm32`, `xor esi, esi`, `mov rsi, imm32`; edx/rdx for the
Microsoft x64 convention of PE files), aarch64
(`movz w1/x1, #imm`, `mov w1/x1, wzr/xzr`, `orr w1, wzr, #imm`), i686 cdecl (`push imm8/imm32`
or `mov dword [esp+4], imm32` before the call). Anything else gives None: "set at run time".
"""

from __future__ import annotations

import re
import struct
import sys
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass

from auditor.binary.base import ARCH_AARCH64, ARCH_I686, ARCH_X86_64, TEXT, BinaryImage

DEFAULT_WINDOW = 4096      # bytes scanned when the symbol size is unknown
MAX_WINDOW = 64 * 1024     # never scan more than this per function
MAX_CALLEES = 24           # callees followed per function
MAX_DEPTH = 3              # call levels below the init function searched for SetGIL
MAX_WALK_FUNCTIONS = 64    # functions scanned in one call-tree walk, all levels together
MAX_WALK_BYTES = 256 * 1024  # code bytes read in one call-tree walk
BACKTRACK = 48             # bytes (x86) searched backwards from a call for the argument


@dataclass(frozen=True)
class SetGilCall:
    call_addr: int              # address of the call instruction
    function: int               # start of the function containing it
    value: int | None           # the constant 2nd argument, None if set at run time
    depth: int                  # call levels below the init function (0: in the init itself)

    @property
    def in_callee(self) -> bool:
        return self.depth > 0


# ---------------------------------------------------------------- x86-64 encodings (pure)
def x86_call_target(code: bytes, i: int, addr: int) -> tuple[int, bool] | None:
    """(target, indirect) of a call/jmp at code[i]: e8/e9 rel32 (direct) or ff 15/ff 25
    disp32 (call/jmp [rip+disp32], target is the memory slot)."""
    op = code[i]
    if op in (0xE8, 0xE9) and i + 5 <= len(code):
        return addr + 5 + struct.unpack_from("<i", code, i + 1)[0], False
    if op == 0xFF and i + 6 <= len(code) and code[i + 1] in (0x15, 0x25):
        return addr + 6 + struct.unpack_from("<i", code, i + 2)[0], True
    return None


RSI, RDX = 6, 2   # 2nd integer argument: System V (ELF, Mach-O) / Microsoft x64 (PE)


def x86_64_second_arg_register(fmt: str) -> int:
    return RDX if fmt == "pe" else RSI


def x86_64_esi_constant(code: bytes, end: int, lo: int = 0, reg: int = RSI) -> tuple[int | None, bool]:
    """Walk back from code[end] (a call) to code[lo] (the end of the previous call, which
    clobbers argument registers) for the last write to the 2nd-argument register (esi/rsi,
    or edx/rdx for Microsoft x64). Returns (value, found): found=False when nothing
    recognisable sets it (run time)."""
    lo = max(lo, end - BACKTRACK)
    for pos in range(end - 1, lo - 1, -1):
        value = _x86_64_reg_write_at(code, pos, end, reg)
        if value is not _NO_MATCH:
            return value, True
    return None, False


_NO_MATCH = object()
_REG_DEST_OPS = {0x8B, 0x63, 0x8D}                  # mov r, r/m; movsxd; lea
_REG_DEST_OPS_0F = {0xB6, 0xB7, 0xBE, 0xBF}         # movzx / movsx


def _x86_reg_dest_is(code: bytes, pos: int, end: int, reg: int) -> bool:
    """An instruction at pos whose ModRM.reg destination is `reg` (no REX.R)."""
    i = pos
    if 0x40 <= code[i] <= 0x4F:
        if code[i] & 0x4:                            # REX.R: r8-r15
            return False
        i += 1
    if i + 1 >= end:
        return False
    if code[i] in _REG_DEST_OPS:
        modrm = code[i + 1]
    elif code[i] == 0x0F and i + 2 < end and code[i + 1] in _REG_DEST_OPS_0F:
        modrm = code[i + 2]
    else:
        return False
    return (modrm >> 3) & 7 == reg


def _x86_64_reg_write_at(code: bytes, pos: int, end: int, reg: int):
    """The value written to the 32/64-bit register `reg` by an instruction starting at pos
    and ending at or before `end`; None for a run-time write; _NO_MATCH otherwise."""
    b = code[pos]
    rest = end - pos
    self_xor = 0xC0 | reg << 3 | reg                 # ModRM of `xor reg, reg`
    if _x86_reg_dest_is(code, pos, end, reg):
        return None                                  # mov/movsxd/movzx/lea reg, r/m
    if b == 0xB8 + reg and rest >= 5:                # mov r32, imm32
        return struct.unpack_from("<I", code, pos + 1)[0]
    if b in (0x31, 0x33) and rest >= 2 and code[pos + 1] == self_xor:   # xor r32, r32
        return 0
    if b == 0x48 and rest >= 3:
        b1, b2 = code[pos + 1], code[pos + 2]
        if b1 in (0x31, 0x33) and b2 == self_xor:                       # xor r64, r64
            return 0
        if b1 == 0xC7 and b2 == 0xC0 | reg and rest >= 7:                # mov r64, simm32
            return struct.unpack_from("<i", code, pos + 3)[0] & 0xFFFFFFFFFFFFFFFF
        if b1 == 0x89 and b2 & 0xC7 == 0xC0 | reg:                       # mov r64, r64
            return None
    if b == 0x89 and rest >= 2 and code[pos + 1] & 0xC7 == 0xC0 | reg and code[pos + 1] != self_xor:
        return None                                                      # mov r32, r32
    return _NO_MATCH


# ---------------------------------------------------------------- i686 (cdecl) encodings
def _known_int(values: list[int | None]) -> int | None:
    """The little-endian integer of these bytes, None when any byte is unknown."""
    known = [v for v in values if v is not None]
    return int.from_bytes(bytes(known), "little") if len(known) == len(values) else None


def i686_got_call_target(code: bytes, i: int, got_base: int) -> tuple[int, bool] | None:
    """-fno-plt PIC call `call *disp32(%reg)` (ff 90+reg, reg = GOT base, not esp): the GOT
    slot got_base + disp32."""
    if code[i] == 0xFF and i + 6 <= len(code) and code[i + 1] & 0xF8 == 0x90 and code[i + 1] != 0x94:
        return got_base + struct.unpack_from("<i", code, i + 2)[0], True
    return None


def i686_second_arg(code: bytes, end: int, lo: int = 0) -> tuple[int | None, bool]:
    """cdecl: the 2nd argument is pushed before the 1st (`push imm; push reg; call`), or
    stored at [esp+4] (`mov dword [esp+4], imm32`, -maccumulate-outgoing-args)."""
    cur = end
    pushed: list[int | None] = []
    while len(pushed) < 2:
        value = _i686_push_ending_at(code, cur)
        if value is None:
            break
        start, val = value
        pushed.append(val)
        cur = start
    if len(pushed) == 2:
        return pushed[1], pushed[1] is not None
    for pos in range(end - 8, max(lo - 1, end - BACKTRACK), -1):
        if code[pos:pos + 4] == b"\xc7\x44\x24\x04":
            return struct.unpack_from("<I", code, pos + 4)[0], True
    return None, False


def _i686_push_ending_at(code: bytes, end: int) -> tuple[int, int | None] | None:
    """(start, pushed constant or None) of a push instruction that ends exactly at `end`."""
    if end >= 1 and 0x50 <= code[end - 1] <= 0x57:
        return end - 1, None                                  # push r32
    if end >= 2 and code[end - 2] == 0x6A:
        return end - 2, code[end - 1]                         # push imm8 (sign-extended)
    if end >= 5 and code[end - 5] == 0x68:
        return end - 5, struct.unpack_from("<I", code, end - 4)[0]   # push imm32
    if end >= 3 and code[end - 3] == 0xFF and code[end - 2] == 0x75:
        return end - 3, None                                  # push [ebp+disp8]
    if end >= 4 and code[end - 4] == 0xFF and code[end - 3:end - 1] == b"\x74\x24":
        return end - 4, None                                  # push [esp+disp8]
    return None


# ---------------------------------------------------------------- aarch64 encodings (pure)
def a64_branch_target(word: int, addr: int) -> tuple[int, bool] | None:
    """(target, is_call) of b/bl imm26."""
    if word & 0x7C000000 == 0x14000000:
        imm = word & 0x03FFFFFF
        if imm & 0x02000000:
            imm -= 1 << 26
        return addr + imm * 4, bool(word & 0x80000000)
    return None


def a64_x1_write(word: int) -> tuple[bool, int | None] | None:
    """Does this instruction write w1/x1? (True, constant) / (True, None) for a run-time
    value / None when it does not write w1/x1 (or we cannot tell)."""
    if word & 0x1F != 1:
        return None
    if word & 0x7F800000 == 0x52800000:                 # movz w1/x1, #imm16, lsl #hw*16
        hw = (word >> 21) & 3
        return True, ((word >> 5) & 0xFFFF) << (16 * hw)
    if word & 0x7F800000 == 0x12800000:                 # movn
        hw = (word >> 21) & 3
        val = ~(((word >> 5) & 0xFFFF) << (16 * hw))
        return True, val & (0xFFFFFFFFFFFFFFFF if word >> 31 else 0xFFFFFFFF)
    if word & 0x7FE0FFE0 == 0x2A0003E0:                 # orr w1, wzr, wM (mov w1, wM)
        return (True, 0) if (word >> 16) & 0x1F == 31 else (True, None)
    if word & 0x7F8003E0 == 0x320003E0:                 # orr w1, wzr, #bitmask (mov w1, #imm)
        return True, _a64_bitmask(word)
    if word & 0x3B000000 in (0x39000000, 0x38000000, 0x18000000) and word & 0x00400000:
        return True, None                               # loads into w1/x1
    if word & 0x1F000000 in (0x11000000, 0x0B000000, 0x0A000000, 0x13000000, 0x1A000000):
        return True, None                               # add/sub/logical/bitfield/csel into x1
    return None


def _a64_bitmask(word: int) -> int | None:
    n, immr, imms = (word >> 22) & 1, (word >> 16) & 0x3F, (word >> 10) & 0x3F
    if n:
        size = 64
    else:
        size = 32
        for s in (32, 16, 8, 4, 2):
            if not imms & s:
                size = s
                break
    ones = (imms & (size - 1)) + 1
    if ones >= size + 1:
        return None
    pattern = (1 << ones) - 1
    pattern = ((pattern >> immr) | (pattern << (size - immr))) & ((1 << size) - 1)
    width = 64 if word >> 31 else 32
    value = 0
    for i in range(0, width, size):
        value |= pattern << i
    return value


def a64_second_arg(code: bytes, end: int) -> tuple[int | None, bool]:
    pos = end - 4
    for _ in range(16):
        if pos < 0:
            break
        (word,) = struct.unpack_from("<I", code, pos)
        if a64_branch_target(word, 0) is not None or word & 0xFFFFFC1F == 0xD63F0000:
            break                                       # an earlier call clobbers x1
        write = a64_x1_write(word)
        if write is not None:
            return write[1], write[1] is not None
        pos -= 4
    return None, False


# ---------------------------------------------------------------- driver
def find_set_gil_calls(image: BinaryImage, function: int, stubs: Mapping[int, str],
                       target: str = "PyUnstable_Module_SetGIL",
                       follow_callees: bool = True) -> list[SetGilCall]:
    """Calls to `target` in the function at `function`, each with the constant 2nd argument
    or None. When the function has none, the functions it calls are searched level by level
    (call_levels); the first level with a call gives the answer."""
    targets = {a for a, name in stubs.items() if name == target}
    if not targets:
        return []
    for depth, level in enumerate(call_levels(image, function, stubs,
                                              MAX_DEPTH if follow_callees else 0)):
        found = [call for fn, code in level
                 for call in _scan_function(image, fn, code, targets, depth, stubs)]
        if found:
            return found
    return []


def call_levels(image: BinaryImage, function: int, skip: Container[int] = (),
                max_depth: int = MAX_DEPTH) -> Iterator[list[tuple[int, bytes]]]:
    """(address, code window) of the function (level 0), then of the functions it calls, then
    of the ones those call, up to `max_depth` levels below it. Each function once; at most
    MAX_WALK_FUNCTIONS functions and MAX_WALK_BYTES bytes of code in all, so a hostile or
    huge call graph costs a bounded amount. Addresses in `skip` (import stubs) are not
    entered. Lazy: a caller that stops at a level reads nothing deeper."""
    code = _window(image, function)
    level = [(function, code)]
    seen = {function}
    functions, budget = 1, MAX_WALK_BYTES - len(code)
    for _depth in range(max_depth):
        yield level
        below: list[tuple[int, bytes]] = []
        for fn, body in level:
            for callee in _function_and_callees(image, body, fn, skip)[1:]:
                if callee in seen:
                    continue
                if functions >= MAX_WALK_FUNCTIONS or budget <= 0:
                    break
                seen.add(callee)
                callee_code = _window(image, callee)
                functions, budget = functions + 1, budget - len(callee_code)
                below.append((callee, callee_code))
        if not below:
            return
        level = below
    yield level


def read_code(image: BinaryImage, addr: int, size: int) -> bytes:
    """Up to `size` bytes at addr, fewer when the window runs past the end of the segment."""
    code = image.read(addr, size)
    while code is None and size > 1:
        size //= 2
        code = image.read(addr, size)
    return code or b""


def _window(image: BinaryImage, function: int) -> bytes:
    size = image.function_size(function)
    return read_code(image, function, min(size or DEFAULT_WINDOW, MAX_WINDOW))


def _scan_function(image: BinaryImage, function: int, code: bytes, targets: set[int],
                   depth: int, stubs: Mapping[int, str]) -> list[SetGilCall]:
    """Calls and tail calls to one of `targets` in the code window of one function."""
    arch = image.arch
    found: list[SetGilCall] = []
    if arch in (ARCH_X86_64, ARCH_I686):
        got_base = image.got_base
        if arch == ARCH_X86_64:
            reg = x86_64_second_arg_register(image.format)
            second_arg: Callable = lambda c, e, lo: x86_64_esi_constant(c, e, lo, reg)  # noqa: E731
        else:
            second_arg = i686_second_arg
        prev_call_end = 0      # arguments are set after the previous call returned
        for m in _X86_CALL_RX.finditer(code):
            i = m.start()
            if i > len(code) - 5:
                break
            hit = x86_call_target(code, i, function + i)
            if hit is None and arch == ARCH_I686 and got_base is not None:
                hit = i686_got_call_target(code, i, got_base)
            if hit is None:
                continue
            dest, indirect = hit
            if dest in targets:
                if _is_stub_entry(stubs, code, i, function):
                    continue   # the window ran into the stub itself: a jump to the import, no call
                value, _ok = second_arg(code, i, prev_call_end)
                found.append(SetGilCall(function + i, function, value, depth))
                prev_call_end = i + (6 if indirect else 5)
                continue
            if code[i] == 0xE8 and (dest in stubs or image.section_kind(dest) == TEXT):
                prev_call_end = i + 5
    elif arch == ARCH_AARCH64:
        for i in range(0, len(code) - 3, 4):
            (word,) = struct.unpack_from("<I", code, i)
            hit = a64_branch_target(word, function + i)
            if hit is not None and hit[0] in targets:
                value, _ok = a64_second_arg(code, i)
                found.append(SetGilCall(function + i, function, value, depth))
    return found


def _is_stub_entry(stubs: Mapping[int, str], code: bytes, i: int, function: int) -> bool:
    """Is the jump at code[i] an import stub (Mach-O __stubs, PE `jmp [IAT]` thunk, whose
    REX.W prefix starts the entry)? A window without a known function size can run into
    the stub section; the stub is where a call goes, not a call."""
    return function + i in stubs or (i > 0 and code[i - 1] == 0x48 and function + i - 1 in stubs)


# ---------------------------------------------------------------- slot arrays built in code
@dataclass(frozen=True)
class CodeStore:
    addr: int               # data address written
    width: int              # bytes written
    value: int | None       # constant written, None for a register / vector store
    at: int                 # address of the store instruction


def x86_64_rip_stores(code: bytes, base: int) -> list[CodeStore]:
    """RIP-relative stores in code: `mov dword [rip+d], imm32` (c7 05), `mov qword [rip+d],
    simm32` (48 c7 05), and register / xmm stores (value unknown). Pure; the candidate
    positions come from one regex pass (C speed)."""
    out: list[CodeStore] = []
    n = len(code)
    for m in _X86_RIP_STORE_RX.finditer(code):
        i = m.start()
        b0 = code[i]
        if b0 == 0xC7:
            if i + 10 <= n and not (i and code[i - 1] == 0x48):
                disp, imm = struct.unpack_from("<iI", code, i + 2)
                out.append(CodeStore(base + i + 10 + disp, 4, imm, base + i))
        elif b0 == 0x48 and code[i + 1] == 0xC7:
            if i + 11 <= n:
                disp, imm = struct.unpack_from("<ii", code, i + 3)
                out.append(CodeStore(base + i + 11 + disp, 8, imm & 0xFFFFFFFFFFFFFFFF, base + i))
        elif b0 in (0x48, 0x4C):
            if i + 7 <= n:
                disp = struct.unpack_from("<i", code, i + 3)[0]
                out.append(CodeStore(base + i + 7 + disp, 8, None, base + i))
        elif i + 7 <= n:                                       # 0f 11 / 0f 29: xmm store
            disp = struct.unpack_from("<i", code, i + 3)[0]
            out.append(CodeStore(base + i + 7 + disp, 16, None, base + i))
    return out


_RIP_MODRM = rb"[\x05\x0d\x15\x1d\x25\x2d\x35\x3d]"
_X86_RIP_STORE_RX = re.compile(rb"(?=(\xc7\x05|\x48\xc7\x05|[\x48\x4c]\x89" + _RIP_MODRM +
                               rb"|\x0f[\x11\x29]" + _RIP_MODRM + rb"))")
_X86_CALL_RX = re.compile(rb"(?=([\xe8\xe9]|\xff[\x15\x25\x90-\x93\x95-\x97]))")
_X86_BRANCH_RX = re.compile(rb"[\xe8\xe9]")


def _x86_branches(code: bytes, function: int) -> Iterator[tuple[int, bool]]:
    """(target, is_call) of every `call rel32` / `jmp rel32` in code (x86-64 and i686
    share the encoding)."""
    for m in _X86_BRANCH_RX.finditer(code):
        i = m.start()
        if i + 5 > len(code):
            break
        yield function + i + 5 + struct.unpack_from("<i", code, i + 1)[0], code[i] == 0xE8


def _a64_branches(code: bytes, function: int) -> Iterator[tuple[int, bool]]:
    """(target, is_call) of every `bl` / `b` in code."""
    for i in range(0, len(code) - 3, 4):
        hit = a64_branch_target(struct.unpack_from("<I", code, i)[0], function + i)
        if hit is not None:
            yield hit


def _function_and_callees(image: BinaryImage, code: bytes, function: int,
                          skip: Container[int] = ()) -> list[int]:
    """`function` and up to MAX_CALLEES functions it calls (x86-64, i686 or aarch64): direct
    calls, and tail calls, a jump that leaves the code window (an MSVC PyInit is often a
    lone `jmp` to the real init). Targets in `skip` (import stubs) and outside executable
    sections are left out."""
    queue = [function]
    if image.arch in (ARCH_X86_64, ARCH_I686):
        branches = _x86_branches(code, function)
    elif image.arch == ARCH_AARCH64:
        branches = _a64_branches(code, function)
    else:
        return queue
    end = function + len(code)
    for dest, is_call in branches:
        if len(queue) > MAX_CALLEES:
            break
        if not is_call and function <= dest < end:
            continue                                    # a jump inside the function
        if dest not in queue and dest not in skip and image.section_kind(dest) == TEXT:
            queue.append(dest)
    return queue


def slot_stores(image: BinaryImage, function: int, lo: int, hi: int) -> list[CodeStore]:
    """Constant stores into [lo, hi) made by the function or its direct callees (x86-64,
    aarch64): how pybind11 3 fills its function-local static slot array on first call."""
    if image.arch == ARCH_X86_64:
        def stores_in(code: bytes, base: int) -> list[CodeStore]:
            return x86_64_rip_stores(code, base) + x86_64_stack_staged_stores(code, base)
    elif image.arch == ARCH_AARCH64:
        stores_in = a64_stores
    else:
        return []
    found: list[CodeStore] = []
    code = _window(image, function)
    queue = _function_and_callees(image, code, function)
    for fn in queue:
        stores = [s for s in stores_in(_window(image, fn) if fn != function else code, fn)
                  if lo <= s.addr < hi]
        if stores:
            found.extend(stores)
            break
    return found


def a64_stores(code: bytes, base: int) -> list[CodeStore]:
    """Stores to known addresses in straight-line aarch64 code, found by tracking the few
    instructions that build constants and addresses (adrp/add, movz/movk/movn, mov reg,
    orr #bitmask) and the stores that use them (str/stur/stp, w/x/q registers). Control flow
    is ignored: good enough for the fill-a-static-array code compilers emit. Pure."""
    regs: dict[int, tuple[str, int]] = {}         # reg -> ("c", const) | ("a", address)
    out: list[CodeStore] = []
    for i in range(0, len(code) - 3, 4):
        (w,) = struct.unpack_from("<I", code, i)
        pc = base + i
        rd, rn = w & 0x1F, (w >> 5) & 0x1F
        if w & 0x9F000000 == 0x90000000:                       # adrp
            imm = ((w >> 5) & 0x7FFFF) << 2 | (w >> 29) & 3
            if imm & (1 << 20):
                imm -= 1 << 21
            regs[rd] = ("a", (pc & ~0xFFF) + (imm << 12))
        elif w & 0x7F800000 == 0x11000000:                     # add (immediate)
            imm = ((w >> 10) & 0xFFF) << (12 if w & 0x00400000 else 0)
            src = regs.get(rn)
            if src is not None and rn != 31:
                regs[rd] = (src[0], src[1] + imm)
            else:
                regs.pop(rd, None)
        elif w & 0x7F800000 in (0x52800000, 0x12800000):       # movz / movn
            hw = (w >> 21) & 3
            val = ((w >> 5) & 0xFFFF) << (16 * hw)
            if w & 0x7F800000 == 0x12800000:
                val = ~val & (0xFFFFFFFFFFFFFFFF if w >> 31 else 0xFFFFFFFF)
            regs[rd] = ("c", val)
        elif w & 0x7F800000 == 0x72800000:                     # movk
            hw = (w >> 21) & 3
            cur = regs.get(rd)
            if cur is not None and cur[0] == "c":
                mask = 0xFFFF << (16 * hw)
                regs[rd] = ("c", (cur[1] & ~mask) | (((w >> 5) & 0xFFFF) << (16 * hw)))
            else:
                regs.pop(rd, None)
        elif w & 0x7FE0FFE0 == 0x2A0003E0:                     # mov wd/xd, wm/xm (orr zr)
            rm = (w >> 16) & 0x1F
            if rm == 31:
                regs[rd] = ("c", 0)
            elif rm in regs:
                regs[rd] = regs[rm]
            else:
                regs.pop(rd, None)
        elif w & 0x7F8003E0 == 0x320003E0:                     # mov wd, #bitmask
            val = _a64_bitmask(w)
            if val is None:
                regs.pop(rd, None)
            else:
                regs[rd] = ("c", val)
        elif w & 0xBFC00000 == 0xB9000000:                     # str wt/xt, [xn, #uimm]
            size = 8 if w & 0x40000000 else 4
            _a64_store(regs, out, pc, rn, ((w >> 10) & 0xFFF) * size, size, [rd])
        elif w & 0xBFE00C00 == 0xB8000000:                     # stur wt/xt, [xn, #simm9]
            size = 8 if w & 0x40000000 else 4
            _a64_store(regs, out, pc, rn, _sext((w >> 12) & 0x1FF, 9), size, [rd])
        elif w & 0x7FC00000 == 0x29000000:                     # stp wt1/xt1, wt2/xt2, [xn, #simm7]
            size = 8 if w & 0x80000000 else 4
            _a64_store(regs, out, pc, rn, _sext((w >> 15) & 0x7F, 7) * size, size,
                       [rd, (w >> 10) & 0x1F])
        elif w & 0xFFC00000 in (0x3D800000, 0xAD000000) or w & 0xFFE00C00 == 0x3C800000:
            size, count = 16, 2 if w & 0xFFC00000 == 0xAD000000 else 1     # q-register stores
            if w & 0xFFC00000 == 0x3D800000:
                off = ((w >> 10) & 0xFFF) * 16
            elif count == 2:
                off = _sext((w >> 15) & 0x7F, 7) * 16
            else:
                off = _sext((w >> 12) & 0x1FF, 9)
            _a64_store(regs, out, pc, rn, off, size, [None] * count)
        elif w & 0xFC000000 == 0x94000000 or w & 0xFFFFFC1F == 0xD63F0000:   # bl / blr
            for r in list(regs):
                if r <= 18 or r == 30:
                    del regs[r]
        elif w & 0x0A000000 == 0x08000000 and not w & 0x00400000:
            pass                                                # other stores: write no register
        elif w & 0x1C000000 == 0x14000000:
            pass                                                # branches
        else:
            regs.pop(rd, None)                                  # anything else may write rd
    return out


def _sext(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _a64_store(regs, out, pc, rn, off, size, sources) -> None:
    base = regs.get(rn)
    if base is None or base[0] != "a" or rn == 31:
        return
    for k, rt in enumerate(sources):
        if rt is None:
            value = None
        elif rt == 31:
            value = 0                                           # wzr / xzr
        else:
            src = regs.get(rt)
            value = src[1] if src is not None and src[0] == "c" else None
        out.append(CodeStore(base[1] + off + k * size, size, value, pc))


def code_references(image: BinaryImage, function: int, lo: int, hi: int,
                    follow_callees: bool = True) -> bool | None:
    """Does the function (or a direct callee) form an address in [lo, hi)? x86-64: any
    RIP-relative disp32 landing there; aarch64: an adrp/add pair building it. None when
    the architecture is not supported (the caller must not conclude anything)."""
    if image.arch not in (ARCH_X86_64, ARCH_AARCH64):
        return None
    code = _window(image, function)
    queue = _function_and_callees(image, code, function) if follow_callees else [function]
    for fn in queue:
        body = code if fn == function else _window(image, fn)
        if image.arch == ARCH_X86_64:
            if _x86_64_rip_reference(body, fn, lo, hi):
                return True
        else:
            if any(lo <= st.addr < hi for st in a64_stores(body, fn)):
                return True
            for p in range(0, len(body) - 7, 4):
                w0, w1 = struct.unpack_from("<II", body, p)
                if w0 & 0x9F000000 != 0x90000000 or w1 & 0x7F800000 != 0x11000000:
                    continue
                imm = ((w0 >> 5) & 0x7FFFF) << 2 | (w0 >> 29) & 3
                if imm & (1 << 20):
                    imm -= 1 << 21
                addr = ((fn + p) & ~0xFFF) + (imm << 12) + ((w1 >> 10) & 0xFFF)
                if lo <= addr < hi:
                    return True
    return False


def _x86_64_rip_reference(body: bytes, base: int, lo: int, hi: int) -> bool:
    """Is there a disp32 at some offset whose RIP-relative target lies in [lo, hi)? The
    instruction ends 0, 1 or 4 bytes after its displacement (no / imm8 / imm32 immediate).
    Reads the int32 at every offset through four shifted memoryview casts (C speed)."""
    n = len(body)
    if sys.byteorder != "little":
        ints_at = [(p, struct.unpack_from("<i", body, p)[0]) for p in range(n - 3)]
        return any(_rip_hit(base + p + 4 + d, lo, hi) for p, d in ints_at)
    for shift in range(4):
        count = (n - shift) // 4
        if count <= 0:
            continue
        ints = memoryview(body)[shift:shift + 4 * count].cast("i").tolist()
        end = base + shift + 4            # where the displacement at offset `shift` ends
        low = lo - 4
        for j, disp in enumerate(ints):
            t = end + 4 * j + disp
            if low <= t < hi and _rip_hit(t, lo, hi):
                return True
    return False


def _rip_hit(t: int, lo: int, hi: int) -> bool:
    return lo <= t < hi or lo <= t + 1 < hi or lo <= t + 4 < hi


# MSVC builds a static slot array on the stack, then copies it with 16-byte xmm moves:
#   mov dword [rsp+d], imm32 / mov qword [rsp+d], simm32 ... movups xmmN, [rsp+d]
#   ... movaps [rip+slots], xmmN
# Only runs of back-to-back instructions of the forms below are simulated; any byte gap
# (an instruction not modelled) forgets everything, so a stale stack slot is never used.
_SIB_RSP = rb"[\x44\x4c\x54\x5c\x64\x6c\x74\x7c]\x24"
_STACK_RX = re.compile(
    rb"(?=(\x48?\xc7\x44\x24|\x48?\xc7\x84\x24|\x48?\x89" + _SIB_RSP + rb"|\x48?\x8b" + _SIB_RSP +
    rb"|[\x48\x4c]\x8d" + _RIP_MODRM + rb"|\x0f\x10" + _SIB_RSP + rb"|\x0f[\x11\x29]" + _RIP_MODRM +
    rb"|\x0f\x57[\xc0\xc9\xd2\xdb\xe4\xed\xf6\xff]|\x66\x0f\xef[\xc0\xc9\xd2\xdb\xe4\xed\xf6\xff]"
    rb"|[\x31\x33][\xc0\xc9\xd2\xdb\xf6\xff]))")


def _s8(b: int) -> int:
    return b - 256 if b & 0x80 else b


def x86_64_stack_staged_stores(code: bytes, base: int) -> list[CodeStore]:
    """16-byte stores to RIP-relative addresses of xmm registers loaded from stack slots
    that were filled with immediates. Each becomes two CodeStores: the dword at +0 (a slot
    ID) and the qword at +8 (its value); None where a byte is not known. Pure."""
    stack: dict[int, int | None] = {}
    xmm: dict[int, list[int | None]] = {}
    zero: set[int] = set()                      # general registers known to hold 0
    out: list[CodeStore] = []
    n = len(code)
    prev_end = -1
    for m in _STACK_RX.finditer(code):
        i = m.start()
        if i < prev_end:
            continue                            # inside the previous modelled instruction
        if i != prev_end:
            stack.clear()
            xmm.clear()
            zero.clear()
        rex = code[i] in (0x48, 0x4C)
        j = i + 1 if rex else i
        op = code[j]
        length = 0
        if op == 0xC7 and code[j + 1] == 0x44 and j + 8 <= n:           # mov [rsp+d8], imm32
            off, imm, length = _s8(code[j + 3]), struct.unpack_from("<i", code, j + 4)[0], j + 8 - i
        elif op == 0xC7 and code[j + 1] == 0x84 and j + 11 <= n:        # mov [rsp+d32], imm32
            off, imm = struct.unpack_from("<ii", code, j + 3)
            length = j + 11 - i
        if length:
            width = 8 if code[i] == 0x48 else 4
            for k, byte in enumerate((imm & ((1 << (8 * width)) - 1)).to_bytes(width, "little")):
                stack[off + k] = byte
        elif op == 0x89 and j + 4 <= n:                                  # mov [rsp+d8], reg
            reg = (code[j + 1] >> 3) & 7 | (8 if code[i] == 0x4C else 0)
            off, width = _s8(code[j + 3]), 8 if rex else 4
            for k in range(width):
                stack[off + k] = 0 if reg in zero else None
            length = j + 4 - i
        elif op == 0x8B and j + 4 <= n:                                  # mov reg, [rsp+d8]
            zero.discard((code[j + 1] >> 3) & 7 | (8 if code[i] == 0x4C else 0))
            length = j + 4 - i
        elif op == 0x8D and rex and j + 6 <= n:                          # lea reg, [rip+d32]
            zero.discard((code[j + 1] >> 3) & 7 | (8 if code[i] == 0x4C else 0))
            length = j + 6 - i
        elif op in (0x31, 0x33):                                         # xor r32, r32
            zero.add(code[j + 1] & 7)
            length = 2
        elif op == 0x66:                                                 # pxor xmmN, xmmN
            xmm[code[j + 3] & 7] = [0] * 16
            length = 4
        elif op == 0x0F and code[j + 1] == 0x57:                         # xorps xmmN, xmmN
            xmm[code[j + 2] & 7] = [0] * 16
            length = 3
        elif op == 0x0F and code[j + 1] == 0x10 and j + 5 <= n:          # movups xmmN, [rsp+d8]
            off = _s8(code[j + 4])
            xmm[(code[j + 2] >> 3) & 7] = [stack.get(off + k) for k in range(16)]
            length = 5
        elif op == 0x0F and code[j + 1] in (0x11, 0x29) and j + 7 <= n:  # movaps [rip+d32], xmmN
            reg = (code[j + 2] >> 3) & 7
            addr = base + j + 7 + struct.unpack_from("<i", code, j + 3)[0]
            data = xmm.get(reg, [None] * 16)
            low, high = data[0:4], data[8:16]
            out.append(CodeStore(addr, 4, _known_int(low), base + j))
            out.append(CodeStore(addr + 8, 8, _known_int(high), base + j))
            length = 7
        else:
            continue
        prev_end = i + length
    return out
