"""parse_slots on hand-laid slot arrays: both ID sets, PySlot nesting (Py_slot_subslots /
Py_mod_slots), a PySlot read through PyModuleDef.m_slots, bounded walks. The arrays are
written byte by byte into a tiny in-memory BinaryImage, as a compiler would lay them out."""

from __future__ import annotations

import struct

from auditor.binary.base import DATA, BinaryImage
from auditor.inspect import parse_slots


class MemoryImage(BinaryImage):
    """A flat little-endian 64-bit address space starting at BASE (no relocations)."""

    format, arch, pointer_size, little_endian, path = "elf", "x86_64", 8, True, "<memory>"
    BASE = 0x1000

    def __init__(self, size: int = 0x1000) -> None:
        self.mem = bytearray(size)

    def put(self, addr: int, fmt: str, *values) -> None:
        struct.pack_into("<" + fmt, self.mem, addr - self.BASE, *values)

    def read(self, addr, size):
        off = addr - self.BASE
        if off < 0 or off + size > len(self.mem):
            return None
        return bytes(self.mem[off:off + size])

    def read_pointer(self, addr):
        raw = self.read(addr, 8)
        return None if raw is None else struct.unpack("<Q", raw)[0]

    def section_kind(self, addr):
        return DATA if self.read(addr, 1) is not None else None

    def exports(self):
        return {}

    def imports(self):
        return frozenset()

    def needed_libraries(self):
        return ()

    def call_stubs(self):
        return {}

    def contains(self, needle):
        return needle in self.mem

    def _file_ranges(self, kinds):
        return [(self.BASE, 0, len(self.mem))]

    @property
    def _data(self):
        return self.mem


def def_slot(img: MemoryImage, at: int, slot: int, value: int) -> None:
    img.put(at, "iIQ", slot, 0, value)


def py_slot(img: MemoryImage, at: int, sid: int, flags: int, value: int) -> None:
    img.put(at, "HHIQ", sid, flags, 0, value)


def summary(entries):
    return [(e.name, e.id, e.value, e.as_pyslot) for e in entries]


def test_legacy_ids_until_terminator():
    img = MemoryImage()
    def_slot(img, 0x1000, 2, 0x1800)
    def_slot(img, 0x1010, 3, 2)
    def_slot(img, 0x1020, 4, 1)
    def_slot(img, 0x1030, 0, 0)
    def_slot(img, 0x1040, 4, 0)          # after the terminator: never read
    entries, problems = parse_slots(img, 0x1000, pyslot=False)
    assert problems == []
    assert summary(entries) == [("Py_mod_exec", 2, 0x1800, False),
                                ("Py_mod_multiple_interpreters", 3, 2, False),
                                ("Py_mod_gil", 4, 1, False)]


def test_315_subslots_nesting_and_pyslot_flags():
    img = MemoryImage()
    def_slot(img, 0x1000, 92, 0x1100)    # Py_slot_subslots -> PySlot[]
    def_slot(img, 0x1010, 0, 0)
    py_slot(img, 0x1100, 85, 0, 0x1800)  # Py_mod_exec
    py_slot(img, 0x1110, 109, 2, 0x1200)  # Py_mod_abi, PySlot_STATIC
    py_slot(img, 0x1120, 87, 4, 1)       # Py_mod_gil, PySlot_INTPTR
    py_slot(img, 0x1130, 94, 0, 0x1300)  # Py_mod_slots -> PyModuleDef_Slot[]
    py_slot(img, 0x1140, 0, 0, 0)
    def_slot(img, 0x1300, 86, 2)
    def_slot(img, 0x1310, 0, 0)
    entries, problems = parse_slots(img, 0x1000, pyslot=False)
    assert problems == []
    assert [(e.name, e.id, e.flags) for e in entries] == [
        ("Py_slot_subslots", 92, 0), ("Py_mod_exec", 85, 0), ("Py_mod_abi", 109, 2),
        ("Py_mod_gil", 87, 4), ("Py_mod_slots", 94, 0), ("Py_mod_multiple_interpreters", 86, 0)]


def test_pyslot_read_through_m_slots_is_recognised():
    img = MemoryImage()
    py_slot(img, 0x1000, 87, 4, 1)       # reads as int slot 0x00040057
    def_slot(img, 0x1010, 0, 0)
    assert struct.unpack_from("<i", img.mem, 0)[0] == 0x00040057
    entries, _ = parse_slots(img, 0x1000, pyslot=False)
    assert summary(entries) == [("Py_mod_gil", 87, 1, True)]
    assert entries[0].flags == 4


def test_unknown_id_and_garbage_high_bits_are_not_guessed():
    img = MemoryImage()
    def_slot(img, 0x1000, 0x00050004, 1)  # flags 5 on a legacy ID: not a PySlot
    def_slot(img, 0x1010, 77, 1)
    def_slot(img, 0x1020, 0, 0)
    entries, _ = parse_slots(img, 0x1000, pyslot=False)
    assert [(e.name, e.id) for e in entries] == [(None, 4), (None, 77)]


def test_walks_are_bounded():
    img = MemoryImage(0x2000)
    for i in range(100):                 # no terminator within 64 entries
        def_slot(img, 0x1000 + 16 * i, 2, 0x1800)
    entries, problems = parse_slots(img, 0x1000, pyslot=False)
    assert len(entries) == 64
    assert problems == ["slot array at 0x1000 has no terminator within 64 entries"]

    cyc = MemoryImage()
    def_slot(cyc, 0x1000, 92, 0x1000)    # subslots pointing at itself
    def_slot(cyc, 0x1010, 0, 0)
    entries, problems = parse_slots(cyc, 0x1000, pyslot=False)
    assert problems == ["slot array at 0x1000 nested too deep or cyclic"]

    short = MemoryImage(0x20)
    def_slot(short, 0x1000, 2, 0)
    def_slot(short, 0x1010, 3, 0)
    entries, problems = parse_slots(short, 0x1000, pyslot=False)
    assert problems == ["slot array at 0x1000 runs off the mapped image"]
