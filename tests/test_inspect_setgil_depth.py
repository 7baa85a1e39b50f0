"""PyUnstable_Module_SetGIL found the same way in ELF, Mach-O (both slices) and PE.

greenlet 3.5.6 cp314t calls `PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED)` in every
module's init. Checked by hand with objdump / llvm-objdump:
  - win_amd64 greenlet._greenlet: PyInit__greenlet is a lone `jmp` (tail call) to the C++
    init, which calls SetGIL through `call [rip+IAT]`: one level below PyInit.
  - macOS x86_64 greenlet.tests._test_extension*: the call sits in PyInit itself, but with no
    function size known the code window runs on into __stubs, whose `jmp [rip+slot]` to
    SetGIL is the stub, not a second call with a run-time value.
Synthetic images check the bounds of the call-tree walk (depth, cycles, function count).
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Iterator, Mapping

import pytest

from auditor.binary import disasm
from auditor.binary.base import ARCH_X86_64, TEXT, BinaryImage
from auditor.binary.loader import open_images
from auditor.inspect import inspect_module, module_name_from_path
from tests.support.wheels import require_wheel

GREENLET_WHEELS = ("greenlet-3.5.6-cp314t-manylinux-x86_64",
                   "greenlet-3.5.6-cp314t-macosx11-universal2",
                   "greenlet-3.5.6-cp314t-win-amd64")
GREENLET_MODULES = ("greenlet._greenlet", "greenlet.tests._test_extension",
                    "greenlet.tests._test_extension_cpp")
SETGIL_NOT_USED = "calls PyUnstable_Module_SetGIL(m, 1 Py_MOD_GIL_NOT_USED)"


def _extension_members(key: str) -> dict[str, bytes]:
    """module name -> bytes of each extension module in the pinned wheel."""
    with zipfile.ZipFile(require_wheel(key)) as zf:
        return {module_name_from_path(n): zf.read(n) for n in zf.namelist()
                if n.endswith((".so", ".pyd"))}


@pytest.mark.network
@pytest.mark.parametrize("module", GREENLET_MODULES)
def test_greenlet_gil_declaration_agrees_across_formats(module):
    verdicts = {}
    for key in GREENLET_WHEELS:
        data = _extension_members(key)[module]
        report = inspect_module(data, display=f"{key}:{module}", module_name=module)
        gil_evidence = [e["detail"] for e in report.to_json()["evidence"] if e["topic"] == "gil"]
        assert any(SETGIL_NOT_USED in d for d in gil_evidence), (key, report.free_threading.reason)
        verdicts[key] = (report.gil, report.free_threading.value)
    assert set(verdicts.values()) == {("not-used", "ready")}, verdicts


@pytest.mark.network
@pytest.mark.parametrize("module", GREENLET_MODULES)
def test_greenlet_every_slice_reads_the_same_setgil_value(module):
    """Per architecture slice (the universal2 report merges its two), SetGIL's argument is 1."""
    seen = []
    for key in GREENLET_WHEELS:
        for image in open_images(_extension_members(key)[module], module):
            init = image.exports()["PyInit_" + module.rsplit(".", 1)[1]]
            calls = disasm.find_set_gil_calls(image, init, image.call_stubs())
            assert calls and {c.value for c in calls} == {1}, (key, image.arch, calls)
            seen.append((image.format, image.arch))
    assert sorted(seen) == [("elf", "x86_64"), ("macho", "aarch64"), ("macho", "x86_64"),
                            ("pe", "x86_64")]


@pytest.mark.network
def test_greenlet_windows_init_is_a_tail_call_to_the_real_init():
    report = inspect_module(_extension_members("greenlet-3.5.6-cp314t-win-amd64")["greenlet._greenlet"],
                            display="_greenlet.cp314t-win_amd64.pyd", module_name="greenlet._greenlet")
    assert report.gil == "not-used", report.free_threading.reason
    assert "(in callee 0x180009ca0)" in report.free_threading.reason


# ------------------------------------------------------------------ synthetic call chains
STUB = 0x100                  # the SetGIL stub
BASE = 0x1000                 # first function; function k starts at BASE + k * SPACING
SPACING = 0x40


class ChainImage(BinaryImage):
    """x86-64 code only: function k calls (or tail-calls) function next_of[k]; function
    `setgil_in` sets esi = 1 and calls the SetGIL stub. Every function's size is known."""

    format, arch, pointer_size, little_endian = "elf", ARCH_X86_64, 8, True

    def __init__(self, count: int, next_of: Mapping[int, int], setgil_in: int | None,
                 tail: bool = False) -> None:
        self.path = "<chain>"
        self._data = b""
        code = bytearray(b"\xcc" * (count * SPACING))
        for k in range(count):
            at = k * SPACING
            if k == setgil_in:
                code[at:at + 5] = b"\xbe\x01\x00\x00\x00"                     # mov esi, 1
                code[at + 5:at + 10] = _rel32(0xE8, BASE + at + 5, STUB)      # call SetGIL
            elif k in next_of:
                code[at:at + 5] = _rel32(0xE9 if tail else 0xE8, BASE + at, BASE + next_of[k] * SPACING)
            code[at + 16] = 0xC3
        self._code = bytes(code)

    def read(self, addr: int, size: int) -> bytes | None:
        off = addr - BASE
        return self._code[off:off + size] if 0 <= off and off + size <= len(self._code) else None

    def function_size(self, addr: int) -> int | None:
        return SPACING

    def section_kind(self, addr: int) -> str | None:
        return TEXT if BASE <= addr < BASE + len(self._code) else None

    def call_stubs(self) -> Mapping[int, str]:
        return {STUB: "PyUnstable_Module_SetGIL"}

    def exports(self) -> Mapping[str, int]:
        return {}

    def imports(self) -> frozenset[str]:
        return frozenset({"PyUnstable_Module_SetGIL"})

    def needed_libraries(self) -> tuple[str, ...]:
        return ()

    def read_pointer(self, addr: int) -> int | None:
        return None

    def contains(self, needle: bytes) -> bool:
        return False

    def _file_ranges(self, kinds: tuple[str, ...]) -> Iterator[tuple[int, int, int]]:
        return iter(())


def _rel32(opcode: int, at: int, target: int) -> bytes:
    return bytes([opcode]) + struct.pack("<i", target - (at + 5))


def _chain(length: int, **kw) -> ChainImage:
    """PyInit (function 0) -> 1 -> 2 -> ... -> `length`, which calls SetGIL."""
    return ChainImage(length + 1, {k: k + 1 for k in range(length)}, setgil_in=length, **kw)


@pytest.mark.parametrize("tail", [False, True])
def test_setgil_is_found_down_to_max_depth(tail):
    image = _chain(disasm.MAX_DEPTH, tail=tail)
    calls = disasm.find_set_gil_calls(image, BASE, image.call_stubs())
    assert [(c.value, c.depth) for c in calls] == [(1, disasm.MAX_DEPTH)]
    assert calls[0].function == BASE + disasm.MAX_DEPTH * SPACING and calls[0].in_callee


def test_setgil_below_max_depth_is_not_searched():
    image = _chain(disasm.MAX_DEPTH + 1)
    assert disasm.find_set_gil_calls(image, BASE, image.call_stubs()) == []


def test_follow_callees_off_searches_the_init_only():
    image = _chain(1)
    assert disasm.find_set_gil_calls(image, BASE, image.call_stubs(), follow_callees=False) == []


def test_call_cycles_end():
    image = ChainImage(3, {0: 1, 1: 2, 2: 0}, setgil_in=None)
    levels = list(disasm.call_levels(image, BASE, max_depth=50))
    assert [[fn for fn, _code in level] for level in levels] == [[BASE], [BASE + SPACING], [BASE + 2 * SPACING]]


def test_walk_reads_a_bounded_number_of_functions():
    # a wide tree: every function calls the next MAX_CALLEES ones
    count = 4 * disasm.MAX_WALK_FUNCTIONS
    image = ChainImage(count, {}, setgil_in=None)
    code = bytearray(image._code)
    for k in range(count):
        at = k * SPACING
        for j in range(1, 6):                         # 5 calls per function fit in SPACING
            callee = (k * 5 + j) % count
            code[at + 5 * (j - 1):at + 5 * j] = _rel32(0xE8, BASE + at + 5 * (j - 1), BASE + callee * SPACING)
    image._code = bytes(code)
    walked = [fn for level in disasm.call_levels(image, BASE, max_depth=10) for fn, _code in level]
    assert len(walked) == len(set(walked)) == disasm.MAX_WALK_FUNCTIONS
