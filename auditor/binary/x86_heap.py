"""Straight-line x86-64 simulation of an init function that builds its module on the heap.

Some producers keep no static PyModuleDef: orjson (pyo3-ffi without the pyo3 macros) does
`Box::new([PyModuleDef_Slot; N])` and `Box::new(PyModuleDef {...})` inside PyInit_orjson and
passes the box to PyModuleDef_Init. The def and its slots are then only visible as the
stores the init code makes into the blocks an allocator call returned:

    call alloc            ; rax = block A      mov  dword [rbx], 2        ; A+0  = Py_mod_exec
    mov  rbx, rax                              and  qword [rbx+0x28], 0   ; A+40 = 0
    call alloc            ; rax = block B      mov  [r14+0x48], rbx       ; B+72 = &A (m_slots)
    mov  rdi, r14                              call [rip+PyModuleDef_Init@GOT]

GCC instead fills a template on the stack (`rep stos`, stores to [rsp+d]) and copies it
over (`movdqa`/`movups` pairs, `rep movs`, or qword moves at -O0), so the stack is modelled
as one more block, addressed relative to the entry rsp.

This module follows such code from the function entry, one instruction at a time, over a
small set of encodings (mov/lea/add/sub/and/xor/push/pop, SSE moves, rep stos/movs, call;
REX, ModRM and SIB decoded properly). Each conditional branch forks the path; a branch
backwards (a loop), out of the window, or past MAX_PATHS is not followed and marks the
exploration incomplete, so callers claim nothing from it. A path ends at `ret`, a tail jump
(recorded as a call), an instruction not modelled, or after MAX_INSNS. Each finished path is one HeapTrace holding only what that path provably stored:
a byte is None where its value came from anything not modelled. Pure apart from the `read`
callback used for RIP-relative constant loads.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

MAX_INSNS = 600            # per path
MAX_PATHS = 32
RSP, RDI, RSI, RCX, RAX = 4, 7, 6, 1, 0
STACK = -1                 # block number of the stack frame
_CALLER_SAVED = (0, 1, 2, 6, 7, 8, 9, 10, 11)      # rax rcx rdx rsi rdi r8-r11 (System V)
_ARG_REGS = (7, 6, 2, 1, 8, 9)                     # rdi rsi rdx rcx r8 r9


@dataclass(frozen=True)
class Block:
    """An address `off` bytes into block `n` (the n-th call's result, or STACK)."""
    n: int
    off: int = 0


@dataclass(frozen=True)
class Addr:
    """An address inside the image (lea reg, [rip+d])."""
    addr: int


Value = int | Block | Addr | None      # int: a known constant; None: unknown
Cell = int | tuple | None              # a byte, (pointer Value, byte index), or unknown


@dataclass
class HeapCall:
    at: int                      # address of the call (or tail jump) instruction
    target: int | None           # direct target, or the GOT slot of `call [rip+d]`
    rdi: Value                   # first argument when the call is made
    result: Block                # what rax holds afterwards
    passed: frozenset[int] = frozenset()   # blocks whose address is in an argument register


@dataclass
class HeapTrace:
    """One path through the code: its calls and the bytes it stored into each block."""
    calls: list[HeapCall] = field(default_factory=list)
    mem: dict[int, dict[int, Cell]] = field(default_factory=dict)
    end: str = ""                # why the path ended
    # block -> number of calls made before its last store (a store after a call that took
    # the block, or after the call that consumes it, makes the earlier picture stale)
    last_store: dict[int, int] = field(default_factory=dict)

    def store(self, block: Block, width: int, value: Value) -> None:
        self.last_store[block.n] = len(self.calls)
        data = self.mem.setdefault(block.n, {})
        if isinstance(value, (Block, Addr)):
            cells: list[Cell] = [(value, k) for k in range(8)] if width == 8 else [None] * width
        elif isinstance(value, int):
            cells = list((value & ((1 << (8 * width)) - 1)).to_bytes(width, "little"))
        else:
            cells = [None] * width
        for k, c in enumerate(cells):
            data[block.off + k] = c

    def store_cells(self, block: Block, cells: list[Cell]) -> None:
        self.last_store[block.n] = len(self.calls)
        data = self.mem.setdefault(block.n, {})
        for k, c in enumerate(cells):
            data[block.off + k] = c

    def cells(self, block: Block, width: int) -> list[Cell]:
        data = self.mem.get(block.n, {})
        return [data.get(block.off + k) for k in range(width)]

    def load(self, block: Block, width: int) -> Value:
        cells = self.cells(block, width)
        if width == 8 and isinstance(cells[0], tuple) and all(
                isinstance(c, tuple) and c == (cells[0][0], k) for k, c in enumerate(cells)):
            return cells[0][0]
        known = [c for c in cells if isinstance(c, int)]
        if len(known) != len(cells):
            return None
        return int.from_bytes(bytes(known), "little")

    def read_int(self, n: int, off: int, width: int) -> int | None:
        v = self.load(Block(n, off), width)
        return v if isinstance(v, int) else None

    def ref(self, n: int, off: int) -> Block | Addr | None:
        v = self.load(Block(n, off), 8)
        return v if isinstance(v, (Block, Addr)) else None


@dataclass(frozen=True)
class _Mem:
    length: int                  # bytes of ModRM + SIB + displacement
    reg: int                     # ModRM.reg (with REX.R)
    rm: int | None               # register operand when mod == 3
    base: int | None             # base register of a memory operand (None: RIP or absolute)
    disp: int
    rip: bool
    indexed: bool


def _modrm(code: bytes, i: int, rex: int) -> _Mem | None:
    if i >= len(code):
        return None
    m = code[i]
    mod, reg, rm = m >> 6, (m >> 3) & 7 | (8 if rex & 4 else 0), m & 7
    if mod == 3:
        return _Mem(1, reg, rm | (8 if rex & 1 else 0), None, 0, False, False)
    base: int | None
    n, base, indexed, rip = 1, rm | (8 if rex & 1 else 0), False, False
    if rm == 4:
        if i + 1 >= len(code):
            return None
        sib = code[i + 1]
        n = 2
        indexed = ((sib >> 3) & 7 | (8 if rex & 2 else 0)) != 4
        base = sib & 7 | (8 if rex & 1 else 0)
        if mod == 0 and sib & 7 == 5:
            base, mod = None, 2                       # disp32, no base
    elif mod == 0 and rm == 5:
        base, rip, mod = None, True, 2
    disp = 0
    if mod == 1:
        if i + n >= len(code):
            return None
        disp = struct.unpack_from("<b", code, i + n)[0]
        n += 1
    elif mod == 2:
        if i + n + 4 > len(code):
            return None
        disp = struct.unpack_from("<i", code, i + n)[0]
        n += 4
    return _Mem(n, reg, None, base, disp, rip, indexed)


@dataclass
class _State:
    pc: int
    regs: dict[int, Value]
    xmm: dict[int, list[Cell]]
    out: HeapTrace

    def fork(self, pc: int) -> _State:
        tr = HeapTrace(list(self.out.calls), {n: dict(d) for n, d in self.out.mem.items()},
                       last_store=dict(self.out.last_store))
        return _State(pc, dict(self.regs), {k: list(v) for k, v in self.xmm.items()}, tr)


def _add(v: Value, delta: int | None) -> Value:
    if delta is None:
        return None
    if isinstance(v, Block):
        return Block(v.n, v.off + delta)
    if isinstance(v, int):
        return (v + delta) & 0xFFFFFFFFFFFFFFFF
    return None


def trace(code: bytes, base: int, read: Callable[[int, int], bytes | None]) -> tuple[list[HeapTrace], bool]:
    """Paths through the code at `base`, each with the calls it made and the stores it made
    into blocks (call results and the stack frame); and whether every path was followed
    (False when a loop or MAX_PATHS cut the exploration short)."""
    done: list[HeapTrace] = []
    queue = [_State(0, {RSP: Block(STACK, 0)}, {}, HeapTrace())]
    dropped: list[int] = []
    while queue and len(done) < MAX_PATHS:
        st = queue.pop()
        st.out.end = _run(code, base, read, st, queue, dropped)
        done.append(st.out)
    return done, not queue and not dropped


def _run(code: bytes, base: int, read, st: _State, queue: list[_State], dropped: list[int]) -> str:
    regs, xmm, out = st.regs, st.xmm, st.out
    n = len(code)
    i = st.pc

    def mem_block(mm: _Mem) -> Block | None:
        if mm.rip or mm.indexed or mm.base is None:
            return None
        held = regs.get(mm.base)
        return Block(held.n, held.off + mm.disp) if isinstance(held, Block) else None   # _add on a Block

    def branch(target: int) -> None:
        if not i < target < n or len(queue) >= MAX_PATHS:
            dropped.append(target)   # a loop, a jump out of the window, or too many paths
        else:
            queue.append(st.fork(target))

    for _ in range(MAX_INSNS):
        if i >= n:
            return "end of window"
        start = i
        if code[i:i + 4] == b"\xf3\x0f\x1e\xfa":                    # endbr64
            i += 4
            continue
        prefix = code[i] if code[i] in (0x66, 0xF3, 0xF2) else 0
        if prefix:
            i += 1
        rex = code[i] & 0xF if i < n and 0x40 <= code[i] <= 0x4F else 0
        if i < n and 0x40 <= code[i] <= 0x4F:
            i += 1
        if i >= n:
            return "end of window"
        op = code[i]
        wide = bool(rex & 8)
        width = 8 if wide else (2 if prefix == 0x66 else 4)
        if 0x50 <= op <= 0x57:                                        # push r
            value = regs.get(op - 0x50 | (8 if rex & 1 else 0))
            regs[RSP] = sp = _add(regs.get(RSP), -8)
            if isinstance(sp, Block):
                out.store(sp, 8, value)
            i += 1
        elif 0x58 <= op <= 0x5F:                                      # pop r
            sp = regs.get(RSP)
            value = out.load(sp, 8) if isinstance(sp, Block) else None
            regs[RSP] = _add(sp, 8)
            regs[op - 0x58 | (8 if rex & 1 else 0)] = value
            i += 1
        elif op in (0x6A, 0x68):                                      # push imm8 / imm32
            size = 1 if op == 0x6A else 4
            if i + 1 + size > n:
                return "truncated"
            imm = struct.unpack_from("<b" if size == 1 else "<i", code, i + 1)[0]
            regs[RSP] = sp = _add(regs.get(RSP), -8)
            if isinstance(sp, Block):
                out.store(sp, 8, imm)
            i += 1 + size
        elif 0xB8 <= op <= 0xBF:                                      # mov r, imm32 / imm64
            size = 8 if wide else 4
            if i + 1 + size > n:
                return "truncated"
            regs[op - 0xB8 | (8 if rex & 1 else 0)] = int.from_bytes(code[i + 1:i + 1 + size], "little")
            i += 1 + size
        elif op in (0x89, 0x8B, 0x8D, 0x31, 0x33, 0x85, 0x39, 0x3B, 0x01, 0x03, 0x29, 0x2B, 0x09, 0x0B,
                    0x21, 0x23, 0x88, 0x84, 0x38, 0x3A):
            mm = _modrm(code, i + 1, rex)
            if mm is None:
                return "truncated"
            i += 1 + mm.length
            if op == 0x88:
                width = 1
            if op in (0x89, 0x88):                                    # mov r/m, r
                value = regs.get(mm.reg)
                if isinstance(value, int) and width < 8:
                    value &= (1 << (8 * width)) - 1
                if mm.rm is not None:
                    regs[mm.rm] = value if width == 8 or isinstance(value, int) else None
                elif (blk := mem_block(mm)) is not None:
                    out.store(blk, width, value)
            elif op == 0x8B:                                          # mov r, r/m
                if mm.rm is not None:
                    value = regs.get(mm.rm)
                else:
                    blk = mem_block(mm)
                    value = out.load(blk, width) if blk is not None else None
                regs[mm.reg] = value & 0xFFFFFFFF if isinstance(value, int) and width == 4 else value
            elif op == 0x8D:                                          # lea r, m
                if mm.rip:
                    regs[mm.reg] = Addr(base + i + mm.disp)
                elif mm.rm is None and not mm.indexed and mm.base is not None:
                    regs[mm.reg] = _add(regs.get(mm.base), mm.disp)
                else:
                    regs[mm.reg] = None
            elif op in (0x31, 0x33) and mm.rm is not None and mm.rm == mm.reg:
                regs[mm.reg] = 0                                      # xor r, r
            elif op in (0x85, 0x39, 0x3B, 0x84, 0x38, 0x3A):           # test / cmp: flags only
                pass
            elif mm.rm is not None:
                regs[mm.rm if op in (0x31, 0x01, 0x29, 0x09, 0x21) else mm.reg] = None
            elif op in (0x31, 0x01, 0x29, 0x09, 0x21):
                if (blk := mem_block(mm)) is not None:
                    out.store(blk, width, None)
            else:
                regs[mm.reg] = None
        elif op in (0xC7, 0xC6):                                      # mov r/m, imm32 / imm8
            mm = _modrm(code, i + 1, rex)
            size = (2 if prefix == 0x66 else 4) if op == 0xC7 else 1
            if mm is None or i + 1 + mm.length + size > n:
                return "truncated"
            imm = struct.unpack_from({4: "<i", 2: "<h", 1: "<b"}[size], code, i + 1 + mm.length)[0]
            i += 1 + mm.length + size
            if op == 0xC6:
                width = 1
            if mm.rm is not None:
                regs[mm.rm] = imm if wide else imm & 0xFFFFFFFF
            elif (blk := mem_block(mm)) is not None:
                out.store(blk, width, imm)
        elif op in (0x83, 0x81):                                      # group 1, imm8 / imm32
            mm = _modrm(code, i + 1, rex)
            size = 1 if op == 0x83 else 4
            if mm is None or i + 1 + mm.length + size > n:
                return "truncated"
            imm = struct.unpack_from("<b" if size == 1 else "<i", code, i + 1 + mm.length)[0]
            i += 1 + mm.length + size
            sub = mm.reg & 7
            if sub == 7:                                              # cmp
                continue
            if mm.rm is not None:
                cur = regs.get(mm.rm)
                if sub == 0 and wide:
                    regs[mm.rm] = _add(cur, imm)
                elif sub == 5 and wide:
                    regs[mm.rm] = _add(cur, -imm)
                else:
                    regs[mm.rm] = 0 if sub == 4 and imm == 0 else None
            elif (blk := mem_block(mm)) is not None:
                out.store(blk, width, 0 if sub == 4 and imm == 0 else None)   # and with 0 gives 0
        elif op == 0x0F and i + 1 < n and code[i + 1] in (0x10, 0x11, 0x28, 0x29, 0x57, 0x6F, 0x7F, 0xEF):
            sub = code[i + 1]
            mm = _modrm(code, i + 2, rex)
            if mm is None:
                return "truncated"
            i += 2 + mm.length
            if sub in (0x57, 0xEF):                                   # xorps / pxor x, x
                xmm[mm.reg] = [0] * 16 if mm.rm == mm.reg else [None] * 16
            elif sub in (0x10, 0x28, 0x6F):                           # load x, m
                if mm.rm is not None:
                    xmm[mm.reg] = list(xmm.get(mm.rm, [None] * 16))
                elif mm.rip:
                    raw = read(base + i + mm.disp, 16)
                    xmm[mm.reg] = list(raw) if raw is not None and len(raw) == 16 else [None] * 16
                elif (blk := mem_block(mm)) is not None:
                    xmm[mm.reg] = out.cells(blk, 16)
                else:
                    xmm[mm.reg] = [None] * 16
            elif mm.rm is not None:                                   # store x, x
                xmm[mm.rm] = list(xmm.get(mm.reg, [None] * 16))
            elif (blk := mem_block(mm)) is not None:                  # store m, x
                out.store_cells(blk, list(xmm.get(mm.reg, [None] * 16)))
        elif prefix == 0xF3 and op in (0xAB, 0xA5):                   # rep stos / rep movs
            count, dst = regs.get(RCX), regs.get(RDI)
            size = 8 if wide else 4
            i += 1
            if not isinstance(count, int) or not isinstance(dst, Block) or count > 4096:
                return "rep with unknown operands"
            if op == 0xAB:
                for k in range(count):
                    out.store(Block(dst.n, dst.off + k * size), size, regs.get(RAX))
            else:
                src = regs.get(RSI)
                if not isinstance(src, Block):
                    return "rep movs from an unknown source"
                out.store_cells(dst, out.cells(src, count * size))
                regs[RSI] = _add(src, count * size)
            regs[RDI], regs[RCX] = _add(dst, count * size), 0
        elif op == 0xE8 and i + 5 <= n:                               # call rel32
            target = base + i + 5 + struct.unpack_from("<i", code, i + 1)[0]
            i += 5
            _call(out, regs, base + start, target)
        elif op == 0xFF and i + 1 < n and (code[i + 1] >> 3) & 7 in (2, 4):  # call / jmp r/m
            is_jmp = (code[i + 1] >> 3) & 7 == 4
            mm = _modrm(code, i + 1, rex)
            if mm is None:
                return "truncated"
            i += 1 + mm.length
            _call(out, regs, base + start, base + i + mm.disp if mm.rip else None)
            if is_jmp:
                return "tail jump"
        elif op in (0xE9, 0xEB):                                      # jmp rel32 / rel8
            size = 4 if op == 0xE9 else 1
            if i + 1 + size > n:
                return "truncated"
            disp = struct.unpack_from("<i" if size == 4 else "<b", code, i + 1)[0]
            i += 1 + size
            target = i + disp
            if i <= target < n:
                i = target                                            # forward, inside: follow
                continue
            _call(out, regs, base + start, base + target)             # leaves the window: tail call
            return "tail jump"
        elif 0x70 <= op <= 0x7F and i + 2 <= n:                       # jcc rel8
            i += 2
            branch(i + struct.unpack_from("<b", code, i - 1)[0])
        elif op == 0x0F and i + 6 <= n and 0x80 <= code[i + 1] <= 0x8F:  # jcc rel32
            i += 6
            branch(i + struct.unpack_from("<i", code, i - 4)[0])
        elif op == 0x90:
            i += 1
        elif op == 0xC3:
            return "ret"
        else:
            return f"instruction not modelled at {base + start:#x}"
        st.pc = i
    return "instruction budget"


def _call(out: HeapTrace, regs: dict[int, Value], at: int, target: int | None) -> None:
    result = Block(len(out.calls))
    passed = frozenset(v.n for r in _ARG_REGS if isinstance(v := regs.get(r), Block))
    out.calls.append(HeapCall(at, target, regs.get(RDI), result, passed))
    for r in _CALLER_SAVED:
        regs.pop(r, None)
    regs[RAX] = result


def untouched_by_calls(tr: HeapTrace, call: HeapCall, blocks: set[int]) -> bool:
    """Did no call before `call` receive one of the blocks (a callee could have written it),
    and was none of them stored to after `call` on this path?"""
    index = tr.calls.index(call)
    if any(b in c.passed for c in tr.calls[:index] for b in blocks):
        return False
    return all(tr.last_store.get(b, 0) <= index for b in blocks)


def calls_to(traces: list[HeapTrace], names: Mapping[int, str], symbol: str) -> list[tuple[HeapTrace, HeapCall]]:
    """(path, call) for every call or tail jump whose target (PLT stub or GOT slot) is `symbol`."""
    return [(tr, c) for tr in traces for c in tr.calls
            if c.target is not None and names.get(c.target) == symbol]
