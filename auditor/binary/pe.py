"""PE / COFF reader for Windows extension modules (.pyd): x64, x86 and ARM64.

A bounded struct reader rather than pefile. Measured 2026-11-25 on numpy 2.5.5
numpy/_core/_multiarray_umath.cp314t-win_amd64.pyd (4.0 MB, 558 imports, 4352 base
relocations), Python 3.11, median of 7 runs in one process:
    pefile 2024.8.26: PE(data=..., fast_load=True)
        + parse_data_directories([IMPORT, EXPORT, BASERELOC])        39.6 ms
    this reader: headers + exports + imports + base relocations        2.2 ms  (18x faster)
    ... plus call_stubs() (IAT slots and import-thunk scan of .text)   5.9 ms
Both give identical export and import sets on that file. pefile also builds one Python
object per relocation entry, where this reader keeps a set of addresses.

Addresses are VAs: ImageBase + RVA. A PE file stores internal pointers as absolute VAs for
the preferred ImageBase, so read_pointer() returns the stored word; the base relocation table
(IMAGE_REL_BASED_DIR64 / HIGHLOW) only says which words are pointers (is_pointer()).
"""

from __future__ import annotations

import bisect
import itertools
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from auditor.binary.base import (
    ARCH_AARCH64,
    ARCH_ARM,
    ARCH_I686,
    ARCH_X86_64,
    BSS,
    DATA,
    RODATA,
    TEXT,
    BinaryImage,
)
from auditor.errors import BinaryFormatError

MACHINE_ARCH = {
    0x8664: ARCH_X86_64,
    0x014C: ARCH_I686,
    0xAA64: ARCH_AARCH64,
    0x01C4: ARCH_ARM,       # ARMNT (Thumb-2)
}

MAX_SECTIONS = 96            # the PE loader's own limit
MAX_IMPORT_DLLS = 4096
MAX_NAME = 4096

DIR_EXPORT = 0
DIR_IMPORT = 1
DIR_BASERELOC = 5

IMAGE_SCN_CNT_CODE = 0x00000020
IMAGE_SCN_CNT_INITIALIZED_DATA = 0x00000040
IMAGE_SCN_CNT_UNINITIALIZED_DATA = 0x00000080
IMAGE_SCN_MEM_EXECUTE = 0x20000000
IMAGE_SCN_MEM_WRITE = 0x80000000

IMAGE_REL_BASED_ABSOLUTE = 0
IMAGE_REL_BASED_HIGHLOW = 3
IMAGE_REL_BASED_DIR64 = 10


def _fail(display: str, reason: str) -> BinaryFormatError:
    return BinaryFormatError(display, reason)


@dataclass(frozen=True)
class PESection:
    name: str
    rva: int
    vsize: int        # mapped size (VirtualSize, or SizeOfRawData when VirtualSize is 0)
    raw_offset: int
    raw_size: int     # file-backed bytes: min(SizeOfRawData, vsize)
    characteristics: int

    def kind_at(self, rva: int) -> str:
        flags = self.characteristics
        if flags & (IMAGE_SCN_CNT_CODE | IMAGE_SCN_MEM_EXECUTE):
            return TEXT
        if flags & IMAGE_SCN_CNT_UNINITIALIZED_DATA or rva - self.rva >= self.raw_size:
            return BSS   # no file backing: zero-filled at load time (.bss or the .data tail)
        if flags & IMAGE_SCN_MEM_WRITE:
            return DATA
        return RODATA


class PEImage(BinaryImage):
    """A PE32 / PE32+ image held in `data` (bytes or mmap)."""

    format = "pe"

    def __init__(self, data, display: str) -> None:
        self.path = display
        self._data = data
        self._size = len(data)
        self.little_endian = True
        self._sections: list[PESection] = []
        self._exports: dict[str, int] | None = None
        self._import_table: list[tuple[str, list[tuple[int, str]]]] | None = None
        self._relocs: frozenset[int] | None = None
        self._stubs: dict[int, str] | None = None
        self._parse_headers()
        self._sections.sort(key=lambda s: s.rva)
        self._starts = [s.rva for s in self._sections]

    # ---- raw access ---------------------------------------------------------------------------

    def _unpack(self, fmt: str, off: int, what: str) -> tuple:
        if off < 0 or off + struct.calcsize(fmt) > self._size:
            raise _fail(self.path, f"truncated: {what} ends past end of file")
        return struct.unpack_from(fmt, self._data, off)

    def _parse_headers(self) -> None:
        if self._size < 64 or bytes(self._data[:2]) != b"MZ":
            raise _fail(self.path, "not a PE file (no MZ header)")
        pe_off = self._unpack("<I", 0x3C, "DOS header")[0]
        if self._unpack("<4s", pe_off, "PE signature")[0] != b"PE\0\0":
            raise _fail(self.path, "not a PE file (no PE signature)")
        machine, nsections, _ts, _symptr, _nsyms, opt_size, _chars = self._unpack(
            "<HHIIIHH", pe_off + 4, "COFF header")
        self.machine = machine
        self.arch = MACHINE_ARCH.get(machine, f"machine-{machine:#06x}")
        opt = pe_off + 24
        magic = self._unpack("<H", opt, "optional header")[0]
        if magic == 0x20B:
            self.pointer_size = 8
            self.image_base = self._unpack("<Q", opt + 24, "optional header")[0]
            dirs_at = opt + 108
        elif magic == 0x10B:
            self.pointer_size = 4
            self.image_base = self._unpack("<I", opt + 28, "optional header")[0]
            dirs_at = opt + 92
        else:
            raise _fail(self.path, f"corrupt: optional header magic {magic:#x}")
        self._size_of_image = self._unpack("<I", opt + 56, "optional header")[0]
        ndirs = self._unpack("<I", dirs_at, "optional header")[0]
        if dirs_at + 4 + 8 * min(ndirs, 16) > opt + opt_size:
            raise _fail(self.path, "corrupt: data directories extend past the optional header")
        self._dirs = [self._unpack("<II", dirs_at + 4 + 8 * i, "data directory")
                      for i in range(min(ndirs, 16))]
        if nsections == 0 or nsections > MAX_SECTIONS:
            raise _fail(self.path, f"corrupt: {nsections} sections")
        table = opt + opt_size
        if table + 40 * nsections > self._size:
            raise _fail(self.path, "truncated: section table ends past end of file")
        for i in range(nsections):
            (name, vsize, rva, raw_size, raw_ptr, _relocs, _lines, _nrel, _nlin,
             chars) = struct.unpack_from("<8sIIIIIIHHI", self._data, table + 40 * i)
            label = name.rstrip(b"\0").decode("ascii", "replace")
            mapped = vsize or raw_size
            backed = min(raw_size, mapped) if raw_ptr else 0
            if backed and raw_ptr + backed > self._size:
                raise _fail(self.path, f"truncated: section {label} ends past end of file")
            if mapped > 1 << 31 or rva + mapped > 1 << 32:
                raise _fail(self.path, f"corrupt: section {label} has absurd size {mapped:#x}")
            self._sections.append(PESection(label, rva, mapped, raw_ptr, backed, chars))
        ordered = sorted(self._sections, key=lambda s: s.rva)
        for a, b in itertools.pairwise(ordered):
            if a.rva + a.vsize > b.rva:
                raise _fail(self.path, f"corrupt: sections {a.name} and {b.name} overlap")

    # ---- address mapping ---------------------------------------------------------------------

    def _section_rva(self, rva: int) -> PESection | None:
        i = bisect.bisect_right(self._starts, rva) - 1
        if i < 0:
            return None
        sect = self._sections[i]
        return sect if rva < sect.rva + sect.vsize else None

    def _read_rva(self, rva: int, size: int) -> bytes | None:
        sect = self._section_rva(rva)
        if sect is None or size < 0 or rva + size > sect.rva + sect.vsize:
            return None
        rel = rva - sect.rva
        backed = max(0, min(size, sect.raw_size - rel))
        raw = bytes(self._data[sect.raw_offset + rel:sect.raw_offset + rel + backed]) if backed else b""
        if len(raw) != backed:   # closed image
            return None
        return raw + bytes(size - backed)

    def _rva_to_offset(self, rva: int, length: int, what: str) -> int:
        """File offset of a file-backed RVA range, or a BinaryFormatError naming `what`."""
        sect = self._section_rva(rva)
        if sect is None or rva + length > sect.rva + sect.raw_size:
            raise _fail(self.path, f"corrupt: {what} at RVA {rva:#x} is not in the file")
        return sect.raw_offset + rva - sect.rva

    def _cstring_rva(self, rva: int, what: str) -> str:
        sect = self._section_rva(rva)
        if sect is None or rva >= sect.rva + sect.raw_size:
            raise _fail(self.path, f"corrupt: {what} name at RVA {rva:#x} is not in the file")
        start = sect.raw_offset + rva - sect.rva
        limit = min(sect.raw_offset + sect.raw_size, start + MAX_NAME)
        end = self._data.find(b"\0", start, limit)
        if end < 0:
            raise _fail(self.path, f"corrupt: {what} name at RVA {rva:#x} is not terminated")
        return bytes(self._data[start:end]).decode("utf-8", "replace")

    def _file_offset(self, addr: int) -> int | None:
        """File offset of a file-backed VA."""
        rva = addr - self.image_base
        sect = self._section_rva(rva)
        if sect is None or rva - sect.rva >= sect.raw_size:
            return None
        return sect.raw_offset + rva - sect.rva

    def read(self, addr: int, size: int) -> bytes | None:
        return self._read_rva(addr - self.image_base, size)

    def read_cstring(self, addr: int, limit: int = 512) -> str | None:
        sect = self._section_rva(addr - self.image_base)
        if sect is None:
            return None
        return super().read_cstring(addr, min(limit, sect.rva + sect.vsize - (addr - self.image_base)))

    def read_pointer(self, addr: int) -> int | None:
        raw = self.read(addr, self.pointer_size)
        return None if raw is None else int.from_bytes(raw, "little")

    def section_kind(self, addr: int) -> str | None:
        rva = addr - self.image_base
        sect = self._section_rva(rva)
        return None if sect is None else sect.kind_at(rva)

    def section_name(self, addr: int) -> str | None:
        sect = self._section_rva(addr - self.image_base)
        return sect.name if sect else None

    def section_ranges(self) -> tuple[tuple[str, int, int, str], ...]:
        """(name, VA, size, kind) of each section, in address order. A writable section whose
        VirtualSize exceeds its raw data is given as two ranges: data, then its bss tail."""
        ranges: list[tuple[str, int, int, str]] = []
        for sect in self._sections:
            va = self.image_base + sect.rva
            head = sect.kind_at(sect.rva)
            if head != BSS and sect.raw_size < sect.vsize and head != TEXT:
                ranges.append((sect.name, va, sect.raw_size, head))
                ranges.append((sect.name, va + sect.raw_size, sect.vsize - sect.raw_size, BSS))
            else:
                ranges.append((sect.name, va, sect.vsize, head))
        return tuple(r for r in ranges if r[2])

    def contains(self, needle: bytes) -> bool:
        if not needle:
            return True
        for sect in self._sections:
            if sect.raw_size and sect.kind_at(sect.rva) in (RODATA, DATA) \
                    and self._data.find(needle, sect.raw_offset, sect.raw_offset + sect.raw_size) >= 0:
                return True
        return False

    def _file_ranges(self, kinds: tuple[str, ...]):
        for _name, addr, size, kind in self.section_ranges():
            if kind in kinds and kind != BSS:
                start = self._file_offset(addr)
                if start is not None:
                    yield addr, start, size

    # ---- exports -------------------------------------------------------------------------------

    def _directory(self, index: int) -> tuple[int, int]:
        return self._dirs[index] if index < len(self._dirs) else (0, 0)

    def exports(self) -> Mapping[str, int]:
        if self._exports is not None:
            return self._exports
        exports: dict[str, int] = {}
        dir_rva, dir_size = self._directory(DIR_EXPORT)
        if dir_rva and dir_size:
            off = self._rva_to_offset(dir_rva, 40, "export directory")
            (_chars, _ts, _major, _minor, _name, _base, nfuncs, nnames, funcs_rva, names_rva,
             ords_rva) = struct.unpack_from("<IIHHIIIIIII", self._data, off)
            if nfuncs > self._size // 4 or nnames > self._size // 4:
                raise _fail(self.path, f"corrupt: export directory claims {nfuncs} functions / "
                                       f"{nnames} names")
            funcs_off = self._rva_to_offset(funcs_rva, 4 * nfuncs, "export address table")
            names_off = self._rva_to_offset(names_rva, 4 * nnames, "export name table")
            ords_off = self._rva_to_offset(ords_rva, 2 * nnames, "export ordinal table")
            funcs = struct.unpack_from(f"<{nfuncs}I", self._data, funcs_off)
            names = struct.unpack_from(f"<{nnames}I", self._data, names_off)
            ordinals = struct.unpack_from(f"<{nnames}H", self._data, ords_off)
            for name_rva, ordinal in zip(names, ordinals):
                if ordinal >= nfuncs:
                    raise _fail(self.path, f"corrupt: export ordinal {ordinal} past the address table")
                target = funcs[ordinal]
                if dir_rva <= target < dir_rva + dir_size:
                    continue   # forwarder string ("DLL.Name"), not code in this module
                exports[self._cstring_rva(name_rva, "export")] = self.image_base + target
        self._exports = exports
        return exports

    # ---- imports -------------------------------------------------------------------------------

    def _imports_by_dll(self) -> list[tuple[str, list[tuple[int, str]]]]:
        """[(dll, [(IAT slot VA, symbol or '#ordinal')])] in descriptor order."""
        if self._import_table is not None:
            return self._import_table
        table: list[tuple[str, list[tuple[int, str]]]] = []
        dir_rva, dir_size = self._directory(DIR_IMPORT)
        if dir_rva and dir_size:
            psize = self.pointer_size
            ordinal_flag = 1 << (8 * psize - 1)
            fmt = "<Q" if psize == 8 else "<I"
            total = 0
            for index in range(MAX_IMPORT_DLLS + 1):
                if index == MAX_IMPORT_DLLS:
                    raise _fail(self.path, "corrupt: import directory does not terminate")
                off = self._rva_to_offset(dir_rva + 20 * index, 20, "import descriptor")
                ilt, _ts, _fwd, name_rva, iat = struct.unpack_from("<IIIII", self._data, off)
                if not (ilt or name_rva or iat):
                    break
                dll = self._cstring_rva(name_rva, "import DLL")
                lookup = ilt or iat
                entries: list[tuple[int, str]] = []
                sect = self._section_rva(lookup)
                if sect is None:
                    raise _fail(self.path, f"corrupt: import lookup table of {dll} is not mapped")
                max_entries = (sect.rva + sect.raw_size - lookup) // psize
                # Descriptors may share one lookup table; the total still cannot exceed the
                # words in the file, which keeps crafted tables from multiplying the work.
                max_entries = min(max_entries, self._size // psize - total)
                for i in range(max_entries + 1):
                    if i == max_entries:
                        raise _fail(self.path, f"corrupt: import table of {dll} does not terminate")
                    thunk = struct.unpack_from(fmt, self._data,
                                               sect.raw_offset + lookup - sect.rva + i * psize)[0]
                    if not thunk:
                        break
                    if thunk & ordinal_flag:
                        name = f"#{thunk & 0xFFFF}"
                    else:
                        name = self._cstring_rva((thunk & 0x7FFFFFFF) + 2, f"{dll} import")
                    entries.append((self.image_base + iat + i * psize, name))
                total += len(entries)
                table.append((dll, entries))
        self._import_table = table
        return table

    def imports(self) -> frozenset[str]:
        return frozenset(name for _dll, entries in self._imports_by_dll() for _slot, name in entries)

    def imports_by_dll(self) -> Mapping[str, tuple[str, ...]]:
        """Imported DLL -> symbol names ('#ordinal' for ordinal imports), in file order."""
        return {dll: tuple(name for _slot, name in entries) for dll, entries in self._imports_by_dll()}

    def needed_libraries(self) -> tuple[str, ...]:
        return tuple(dll for dll, _entries in self._imports_by_dll())

    # ---- base relocations ----------------------------------------------------------------------

    def relocation_locations(self) -> frozenset[int]:
        """VAs of the words the loader rebases (IMAGE_REL_BASED_DIR64 / HIGHLOW)."""
        if self._relocs is not None:
            return self._relocs
        found: set[int] = set()
        dir_rva, dir_size = self._directory(DIR_BASERELOC)
        if dir_rva and dir_size:
            off = self._rva_to_offset(dir_rva, dir_size, "base relocation table")
            blob = bytes(self._data[off:off + dir_size])
            pos = 0
            while pos + 8 <= dir_size:
                page_rva, block_size = struct.unpack_from("<II", blob, pos)
                if block_size < 8 or pos + block_size > dir_size or block_size % 2:
                    raise _fail(self.path, f"corrupt: base relocation block of size {block_size}")
                count = (block_size - 8) // 2
                for entry in struct.unpack_from(f"<{count}H", blob, pos + 8):
                    kind = entry >> 12
                    if kind in (IMAGE_REL_BASED_DIR64, IMAGE_REL_BASED_HIGHLOW):
                        found.add(self.image_base + page_rva + (entry & 0xFFF))
                    elif kind != IMAGE_REL_BASED_ABSOLUTE:
                        continue   # ARM MOV32 / Thumb fixups patch code, not data words
                pos += block_size
        self._relocs = frozenset(found)
        return self._relocs

    def is_pointer(self, addr: int) -> bool:
        """Whether the loader rebases the word at `addr` (it holds an internal pointer)."""
        return addr in self.relocation_locations()

    # ---- call stubs ----------------------------------------------------------------------------

    def call_stubs(self) -> Mapping[int, str]:
        """IAT slot VA -> symbol, plus import thunks (`jmp [IAT]`, ARM64 adrp/ldr/br x16)."""
        if self._stubs is not None:
            return self._stubs
        slots: dict[int, str] = {}
        for _dll, entries in self._imports_by_dll():
            for slot, name in entries:
                slots[slot] = name
        stubs = dict(slots)
        if slots:
            for sect in self._sections:
                if sect.raw_size and sect.kind_at(sect.rva) == TEXT:
                    stubs.update(self._thunks_in(sect, slots))
        self._stubs = stubs
        return stubs

    def _thunks_in(self, sect: PESection, slots: Mapping[int, str]) -> dict[int, str]:
        """Import thunks in one code section. A hit must land exactly on an IAT slot, which a
        random byte sequence almost never does."""
        found: dict[int, str] = {}
        start, end = sect.raw_offset, sect.raw_offset + sect.raw_size
        va_of = lambda file_off: self.image_base + sect.rva + (file_off - start)  # noqa: E731
        if self.arch in (ARCH_X86_64, ARCH_I686):
            pos = self._data.find(b"\xff\x25", start, end)
            while 0 <= pos and pos + 6 <= end:
                disp = struct.unpack_from("<i" if self.arch == ARCH_X86_64 else "<I",
                                          self._data, pos + 2)[0]
                target = va_of(pos) + 6 + disp if self.arch == ARCH_X86_64 else disp
                if target in slots:
                    # `48 ff 25` (REX.W jmp) is the same jump; the instruction starts at the REX.
                    rex = pos > start and self._data[pos - 1] == 0x48
                    found[va_of(pos - 1 if rex else pos)] = slots[target]
                pos = self._data.find(b"\xff\x25", pos + 1, end)
        elif self.arch == ARCH_AARCH64:
            # adrp x16, page ; ldr x16, [x16, #off] ; br x16
            pos = self._data.find(b"\x00\x02\x1f\xd6", start, end)
            while pos >= 0:
                if pos - 8 >= start and (pos - start) % 4 == 0:
                    adrp, ldr = struct.unpack_from("<II", self._data, pos - 8)
                    if adrp & 0x9F00001F == 0x90000010 and ldr & 0xFFC003FF == 0xF9400210:
                        imm = ((adrp >> 29) & 0x3) | (((adrp >> 5) & 0x7FFFF) << 2)
                        if imm & (1 << 20):
                            imm -= 1 << 21
                        pc = va_of(pos - 8)
                        target = (pc & ~0xFFF) + (imm << 12) + ((ldr >> 10) & 0xFFF) * 8
                        if target in slots:
                            found[pc] = slots[target]
                pos = self._data.find(b"\x00\x02\x1f\xd6", pos + 1, end)
        return found
