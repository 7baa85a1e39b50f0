"""Mach-O reader: thin 32/64-bit images and the slices of fat / universal2 files.

What it reads (all lazily, each table once, every count checked against the file first):
- the mach header and load commands (bounded by ncmds / sizeofcmds);
- segments and sections (-> read(), section_kind(), contains());
- LC_SYMTAB / LC_DYSYMTAB (exports = defined externals, imports = undefined externals, names
  without the leading underscore), with the dyld export trie (LC_DYLD_INFO export_off or
  LC_DYLD_EXPORTS_TRIE) as the fallback when the symbol table carries no externals;
- LC_LOAD_DYLIB and friends (-> needed_libraries());
- classic rebase / bind opcodes (LC_DYLD_INFO[_ONLY]): the stored word already is the unslid
  target, so read_pointer() returns it unchanged; the tables tell which words are pointers
  (is_pointer) and which are bound to imports (bound_symbol; such words read as 0);
- LC_DYLD_CHAINED_FIXUPS: every pointer word is a chain entry that must be decoded (formats in
  auditor.binary.macho_dyld). Decoding is per page and cached, so asking for a PyModuleDef
  walks only the chain of the page that holds it;
- the indirect symbol table for __stubs / __got / __la_symbol_ptr (-> call_stubs()).
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import accumulate, pairwise

from auditor.binary import macho_dyld as dyld
from auditor.binary.base import (
    ARCH_AARCH64,
    ARCH_ARM,
    ARCH_I686,
    ARCH_PPC64,
    ARCH_X86_64,
    BSS,
    DATA,
    RODATA,
    TEXT,
    BinaryImage,
)
from auditor.errors import BinaryFormatError

MH_MAGIC = 0xFEEDFACE
MH_MAGIC_64 = 0xFEEDFACF
FAT_MAGIC = 0xCAFEBABE
FAT_MAGIC_64 = 0xCAFEBABF

# Real universal files carry 2-4 slices; Java class files share the 0xcafebabe magic and read
# as nfat_arch >= 45. Anything above this bound is rejected rather than allocated.
MAX_FAT_ARCHS = 32
MAX_LOAD_COMMANDS = 65536

CPU_ARCH_ABI64 = 0x01000000
CPU_TYPE_X86 = 7
CPU_TYPE_ARM = 12
CPU_TYPE_POWERPC = 18
CPU_ARCH_NAMES = {
    CPU_TYPE_X86: ARCH_I686,
    CPU_TYPE_X86 | CPU_ARCH_ABI64: ARCH_X86_64,
    CPU_TYPE_ARM: ARCH_ARM,
    CPU_TYPE_ARM | CPU_ARCH_ABI64: ARCH_AARCH64,   # arm64 and arm64e
    CPU_TYPE_POWERPC: "ppc",
    CPU_TYPE_POWERPC | CPU_ARCH_ABI64: ARCH_PPC64,
}

LC_REQ_DYLD = 0x80000000
LC_SEGMENT = 0x1
LC_SYMTAB = 0x2
LC_DYSYMTAB = 0xB
LC_LOAD_DYLIB = 0xC
LC_SEGMENT_64 = 0x19
LC_LAZY_LOAD_DYLIB = 0x20
LC_DYLD_INFO = 0x22
LC_DYLD_INFO_ONLY = 0x22 | LC_REQ_DYLD
LC_LOAD_WEAK_DYLIB = 0x18 | LC_REQ_DYLD
LC_REEXPORT_DYLIB = 0x1F | LC_REQ_DYLD
LC_LOAD_UPWARD_DYLIB = 0x23 | LC_REQ_DYLD
LC_DYLD_EXPORTS_TRIE = 0x33 | LC_REQ_DYLD
LC_DYLD_CHAINED_FIXUPS = 0x34 | LC_REQ_DYLD
DYLIB_COMMANDS = (LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB, LC_LAZY_LOAD_DYLIB,
                  LC_LOAD_UPWARD_DYLIB)

# Section types (low byte of section.flags) and attributes.
SECTION_TYPE = 0xFF
S_ZEROFILL = 0x1
S_NON_LAZY_SYMBOL_POINTERS = 0x6
S_LAZY_SYMBOL_POINTERS = 0x7
S_SYMBOL_STUBS = 0x8
S_GB_ZEROFILL = 0xC
S_LAZY_DYLIB_SYMBOL_POINTERS = 0x10
S_THREAD_LOCAL_ZEROFILL = 0x12
ZEROFILL_TYPES = (S_ZEROFILL, S_GB_ZEROFILL, S_THREAD_LOCAL_ZEROFILL)
POINTER_TABLE_TYPES = (S_NON_LAZY_SYMBOL_POINTERS, S_LAZY_SYMBOL_POINTERS,
                       S_LAZY_DYLIB_SYMBOL_POINTERS)
S_ATTR_PURE_INSTRUCTIONS = 0x80000000
S_ATTR_SOME_INSTRUCTIONS = 0x00000400
INDIRECT_SYMBOL_LOCAL = 0x80000000
INDIRECT_SYMBOL_ABS = 0x40000000
VM_PROT_WRITE = 0x2
VM_PROT_EXECUTE = 0x4

# nlist n_type bits.
N_STAB = 0xE0
N_PEXT = 0x10
N_TYPE = 0x0E
N_EXT = 0x01
N_UNDF = 0x0
N_ABS = 0x2
N_SECT = 0xE

def _fail(display: str, reason: str) -> BinaryFormatError:
    return BinaryFormatError(display, reason)


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _strip_underscore(name: str) -> str:
    return name[1:] if name.startswith("_") else name


def macho_slices(data, display: str) -> list[tuple[int, int, str]]:
    """(offset, size, arch) of each slice of a fat / universal file, or of the one thin image."""
    size = len(data)
    if size < 8:
        raise _fail(display, "truncated: file too short for a Mach-O header")
    magic = struct.unpack_from(">I", data, 0)[0]
    if magic not in (FAT_MAGIC, FAT_MAGIC_64):
        le_magic = struct.unpack_from("<I", data, 0)[0]
        if le_magic not in (MH_MAGIC, MH_MAGIC_64):
            raise _fail(display, f"not a Mach-O file (magic {le_magic:#010x})")
        cputype = struct.unpack_from("<i", data, 4)[0] & 0xFFFFFFFF
        return [(0, size, _arch_name(cputype))]
    nfat = struct.unpack_from(">I", data, 4)[0]
    entry_size = 32 if magic == FAT_MAGIC_64 else 20
    if nfat == 0 or nfat > MAX_FAT_ARCHS:
        raise _fail(display, f"corrupt: fat header claims {nfat} architectures")
    if 8 + nfat * entry_size > size:
        raise _fail(display, "truncated: fat architecture table ends past end of file")
    slices: list[tuple[int, int, str]] = []
    for i in range(nfat):
        pos = 8 + i * entry_size
        if magic == FAT_MAGIC_64:
            cputype, _sub, offset, length, _align = struct.unpack_from(">IIQQI", data, pos)
        else:
            cputype, _sub, offset, length, _align = struct.unpack_from(">IIIII", data, pos)
        if length == 0 or offset < 8 + nfat * entry_size or offset + length > size:
            raise _fail(display, f"truncated: fat slice {i} ({offset:#x}+{length:#x}) "
                                 f"outside the file ({size:#x} bytes)")
        slices.append((offset, length, _arch_name(cputype)))
    ordered = sorted(slices)
    for (off_a, len_a, _), (off_b, _, _) in pairwise(ordered):
        if off_a + len_a > off_b:
            raise _fail(display, "corrupt: fat slices overlap")
    return slices


def _arch_name(cputype: int) -> str:
    return CPU_ARCH_NAMES.get(cputype, f"cputype-{cputype:#x}")


@dataclass(frozen=True)
class Segment:
    name: str
    vmaddr: int
    vmsize: int
    fileoff: int      # relative to the slice start
    filesize: int
    initprot: int


@dataclass(frozen=True)
class Section:
    segname: str
    sectname: str
    addr: int
    size: int
    offset: int       # relative to the slice start; 0 for zerofill
    flags: int
    reserved1: int
    reserved2: int

    @property
    def type(self) -> int:
        return self.flags & SECTION_TYPE

    @property
    def is_zerofill(self) -> bool:
        return self.type in ZEROFILL_TYPES or self.sectname in ("__bss", "__common")


class MachOImage(BinaryImage):
    """One architecture slice of a Mach-O file held in `data` (bytes or mmap)."""

    format = "macho"

    def __init__(self, data, display: str, offset: int = 0, size: int | None = None) -> None:
        self.path = display
        self._data = data
        total = len(data)
        if size is None:
            size = total - offset
        if offset < 0 or size < 0 or offset + size > total:
            raise _fail(display, "truncated: Mach-O slice lies outside the file")
        self._base = offset
        self._size = size
        self._segments: list[Segment] = []
        self._sections: list[Section] = []
        self._dylibs: list[str] = []
        self._symtab: tuple[int, int, int, int] | None = None
        self._dysymtab: tuple[int, ...] | None = None
        self._dyld_info: tuple[int, ...] | None = None
        self._exports_trie: tuple[int, int] | None = None
        self._chained: tuple[int, int] | None = None
        # Lazily built tables.
        self._symbols: list[tuple[str, int, int, int]] | None = None
        self._exports: dict[str, int] | None = None
        self._imports: frozenset[str] | None = None
        self._rebases: frozenset[int] | None = None
        self._binds: dict[int, str] | None = None
        self._chain_meta: dyld.ChainedFixups | None = None
        self._chain_pages: dict[tuple[int, int], dict[int, tuple[str, int]]] = {}
        self._stubs: dict[int, str] | None = None
        self._parse_header()
        self._sorted_segments = sorted((s for s in self._segments if s.vmsize),
                                       key=lambda s: s.vmaddr)
        self._seg_starts = [seg.vmaddr for seg in self._sorted_segments]
        self._sorted_sections = sorted(self._sections, key=lambda s: s.addr)
        self._sect_starts = [s.addr for s in self._sorted_sections]
        self._image_base = next((seg.vmaddr for seg in self._segments
                                 if seg.fileoff == 0 and seg.filesize), 0)

    # ---- raw access within the slice -------------------------------------------------------

    def _unpack(self, fmt: str, off: int, what: str) -> tuple:
        if off < 0 or off + struct.calcsize(fmt) > self._size:
            raise _fail(self.path, f"truncated: {what} ends past end of file")
        return struct.unpack_from(fmt, self._data, self._base + off)

    def _bytes(self, off: int, length: int, what: str) -> bytes:
        if off < 0 or length < 0 or off + length > self._size:
            raise _fail(self.path, f"truncated: {what} ({off:#x}+{length:#x}) ends past end of file")
        return bytes(self._data[self._base + off:self._base + off + length])

    # ---- header and load commands ----------------------------------------------------------

    def _parse_header(self) -> None:
        if self._size < 28:
            raise _fail(self.path, "truncated: file too short for a Mach-O header")
        magic = struct.unpack_from("<I", self._data, self._base)[0]
        if magic == MH_MAGIC_64:
            self.pointer_size = 8
            header_size = 32
        elif magic == MH_MAGIC:
            self.pointer_size = 4
            header_size = 28
        elif magic in (0xCEFAEDFE, 0xCFFAEDFE):
            raise _fail(self.path, "unsupported: big-endian Mach-O")
        else:
            raise _fail(self.path, f"not a Mach-O image (magic {magic:#010x})")
        self.little_endian = True
        cputype, _sub, self.filetype, ncmds, sizeofcmds, _flags = self._unpack(
            "<IIIIII", 4, "Mach-O header")
        self.arch = _arch_name(cputype)
        if ncmds > MAX_LOAD_COMMANDS or header_size + sizeofcmds > self._size:
            raise _fail(self.path, f"truncated: {ncmds} load commands ({sizeofcmds} bytes) "
                                   "do not fit in the file")
        if ncmds * 8 > sizeofcmds:
            raise _fail(self.path, f"corrupt: {ncmds} load commands cannot fit in {sizeofcmds} bytes")
        pos = header_size
        end = header_size + sizeofcmds
        for index in range(ncmds):
            if pos + 8 > end:
                raise _fail(self.path, f"truncated: load command {index} starts past sizeofcmds")
            cmd, cmdsize = struct.unpack_from("<II", self._data, self._base + pos)
            if cmdsize < 8 or pos + cmdsize > end:
                raise _fail(self.path, f"corrupt: load command {index} (cmd {cmd:#x}) has size "
                                       f"{cmdsize} that does not fit in sizeofcmds")
            self._load_command(cmd, pos, cmdsize)
            pos += cmdsize
        self._check_layout()

    def _load_command(self, cmd: int, pos: int, cmdsize: int) -> None:
        def need(n: int) -> None:
            if cmdsize < n:
                raise _fail(self.path, f"corrupt: load command {cmd:#x} too small ({cmdsize} < {n})")

        if cmd in (LC_SEGMENT_64, LC_SEGMENT):
            wide = cmd == LC_SEGMENT_64
            head, fmt, sect_size = (72, "<16sQQQQiiII", 80) if wide else (56, "<16sIIIIiiII", 68)
            need(head)
            (segname, vmaddr, vmsize, fileoff, filesize, _maxprot, initprot, nsects,
             _flags) = self._unpack(fmt, pos + 8, "segment command")
            if head + nsects * sect_size > cmdsize:
                raise _fail(self.path, f"corrupt: segment {_cstr(segname)} claims {nsects} sections "
                                       "beyond its load command")
            if fileoff + filesize > self._size:
                raise _fail(self.path, f"truncated: segment {_cstr(segname)} file range ends past "
                                       "end of file")
            if filesize > vmsize and vmsize:
                raise _fail(self.path, f"corrupt: segment {_cstr(segname)} filesize exceeds vmsize")
            seg_index = len(self._segments)
            self._segments.append(Segment(_cstr(segname), vmaddr, vmsize, fileoff, filesize, initprot))
            sfmt = "<16s16sQQIIIIIIII" if wide else "<16s16sIIIIIIIII"
            for i in range(nsects):
                fields = self._unpack(sfmt, pos + head + i * sect_size, "section header")
                sectname, s_segname, addr, size, offset = fields[:5]
                flags, reserved1, reserved2 = fields[8:11]
                section = Section(_cstr(s_segname), _cstr(sectname), addr, size, offset,
                                  flags, reserved1, reserved2)
                self._check_section(section, self._segments[seg_index])
                self._sections.append(section)
        elif cmd == LC_SYMTAB:
            need(24)
            self._symtab = self._unpack("<IIII", pos + 8, "LC_SYMTAB")
        elif cmd == LC_DYSYMTAB:
            need(80)
            self._dysymtab = self._unpack("<18I", pos + 8, "LC_DYSYMTAB")
        elif cmd in DYLIB_COMMANDS:
            need(24)
            name_off = self._unpack("<I", pos + 8, "dylib command")[0]
            if name_off < 24 or name_off >= cmdsize:
                raise _fail(self.path, "corrupt: dylib load command name offset outside the command")
            self._dylibs.append(_cstr(self._bytes(pos + name_off, cmdsize - name_off, "dylib name")))
        elif cmd in (LC_DYLD_INFO, LC_DYLD_INFO_ONLY):
            need(48)
            self._dyld_info = self._unpack("<10I", pos + 8, "LC_DYLD_INFO")
        elif cmd == LC_DYLD_EXPORTS_TRIE:
            need(16)
            self._exports_trie = self._unpack("<II", pos + 8, "LC_DYLD_EXPORTS_TRIE")
        elif cmd == LC_DYLD_CHAINED_FIXUPS:
            need(16)
            self._chained = self._unpack("<II", pos + 8, "LC_DYLD_CHAINED_FIXUPS")

    def _check_section(self, section: Section, segment: Segment) -> None:
        name = f"{section.segname},{section.sectname}"
        if segment.vmsize and (section.addr < segment.vmaddr
                               or section.addr + section.size > segment.vmaddr + segment.vmsize):
            raise _fail(self.path, f"corrupt: section {name} lies outside its segment")
        if not section.is_zerofill and section.size and section.offset + section.size > self._size:
            raise _fail(self.path, f"truncated: section {name} ends past end of file")

    def _check_layout(self) -> None:
        mapped = sorted((s.vmaddr, s.vmaddr + s.vmsize, s.name) for s in self._segments if s.vmsize)
        for (_, end_a, name_a), (start_b, _, name_b) in pairwise(mapped):
            if end_a > start_b:
                raise _fail(self.path, f"corrupt: segments {name_a} and {name_b} overlap")
        if self._symtab is not None:
            symoff, nsyms, stroff, strsize = self._symtab
            entry = 16 if self.pointer_size == 8 else 12
            if symoff + nsyms * entry > self._size or stroff + strsize > self._size:
                raise _fail(self.path, "truncated: LC_SYMTAB tables end past end of file")
        if self._dysymtab is not None:
            indirect_off, n_indirect = self._dysymtab[12], self._dysymtab[13]
            if indirect_off + 4 * n_indirect > self._size:
                raise _fail(self.path, "truncated: LC_DYSYMTAB indirect symbol table ends past "
                                       "end of file")
        for what, table in (("LC_DYLD_EXPORTS_TRIE", self._exports_trie),
                            ("LC_DYLD_CHAINED_FIXUPS", self._chained)):
            if table is not None and table[0] + table[1] > self._size:
                raise _fail(self.path, f"truncated: {what} data ends past end of file")
        if self._dyld_info is not None:
            info = self._dyld_info
            for i, what in enumerate(("rebase", "bind", "weak bind", "lazy bind", "export")):
                if info[2 * i] + info[2 * i + 1] > self._size:
                    raise _fail(self.path, f"truncated: LC_DYLD_INFO {what} data ends past end of file")

    # ---- address mapping --------------------------------------------------------------------

    def _segment_at(self, addr: int) -> Segment | None:
        i = bisect.bisect_right(self._seg_starts, addr) - 1
        if i < 0:
            return None
        seg = self._sorted_segments[i]
        return seg if addr < seg.vmaddr + seg.vmsize else None

    def _section_at(self, addr: int) -> Section | None:
        i = bisect.bisect_right(self._sect_starts, addr) - 1
        while i >= 0:
            sect = self._sorted_sections[i]
            if sect.addr <= addr < sect.addr + sect.size:
                return sect
            if sect.size:   # empty sections may share a start address; look one further back
                return None
            i -= 1
        return None

    @property
    def image_base(self) -> int:
        """vmaddr of the segment that maps the mach header (__TEXT); offsets are relative to it."""
        return self._image_base

    def read(self, addr: int, size: int) -> bytes | None:
        if size < 0:
            return None
        seg = self._segment_at(addr)
        if seg is None or addr + size > seg.vmaddr + seg.vmsize:
            return None
        rel = addr - seg.vmaddr
        backed = max(0, min(size, seg.filesize - rel))
        raw = bytes(self._data[self._base + seg.fileoff + rel:
                               self._base + seg.fileoff + rel + backed]) if backed else b""
        if len(raw) != backed:   # closed image
            return None
        return raw + bytes(size - backed)

    def read_cstring(self, addr: int, limit: int = 512) -> str | None:
        seg = self._segment_at(addr)
        if seg is None:
            return None
        return super().read_cstring(addr, min(limit, seg.vmaddr + seg.vmsize - addr))

    def section_kind(self, addr: int) -> str | None:
        sect = self._section_at(addr)
        if sect is None:
            return None
        return _section_kind(sect, self._segment_named(sect.segname))

    def section_name(self, addr: int) -> str | None:
        """'__DATA,__data' style name of the section holding `addr` (for evidence text)."""
        sect = self._section_at(addr)
        return f"{sect.segname},{sect.sectname}" if sect else None

    def section_ranges(self) -> tuple[tuple[str, int, int, str], ...]:
        """(name, vmaddr, size, kind) of every non-empty section, in address order."""
        return tuple((f"{s.segname},{s.sectname}", s.addr, s.size,
                      _section_kind(s, self._segment_named(s.segname)))
                     for s in self._sorted_sections if s.size)

    def _file_offset(self, addr: int) -> int | None:
        """Absolute offset in `data` of a file-backed address."""
        seg = self._segment_at(addr)
        if seg is None or addr - seg.vmaddr >= seg.filesize:
            return None
        return self._base + seg.fileoff + addr - seg.vmaddr

    def _segment_named(self, name: str) -> Segment | None:
        return next((s for s in self._segments if s.name == name), None)

    def contains(self, needle: bytes) -> bool:
        if not needle:
            return True
        ranges: list[tuple[int, int]] = []
        for sect in sorted(self._sections, key=lambda s: s.offset):
            if sect.is_zerofill or not sect.size or sect.offset == 0:
                continue
            if _section_kind(sect, self._segment_named(sect.segname)) == TEXT:
                continue
            start, end = sect.offset, sect.offset + sect.size
            if ranges and start <= ranges[-1][1]:
                ranges[-1] = (ranges[-1][0], max(end, ranges[-1][1]))
            else:
                ranges.append((start, end))
        return any(self._data.find(needle, self._base + start, self._base + end) >= 0
                   for start, end in ranges)

    def _file_ranges(self, kinds: tuple[str, ...]):
        for _name, addr, size, kind in self.section_ranges():
            if kind in kinds and kind != BSS:
                start = self._file_offset(addr)
                if start is not None:
                    yield addr, start, size

    # ---- symbols ------------------------------------------------------------------------------

    def _load_symbols(self) -> list[tuple[str, int, int, int]]:
        """(name, n_type, n_sect, n_value) for every nlist entry."""
        if self._symbols is not None:
            return self._symbols
        symbols: list[tuple[str, int, int, int]] = []
        if self._symtab is not None:
            symoff, nsyms, stroff, strsize = self._symtab
            entry = 16 if self.pointer_size == 8 else 12
            fmt = "<IBBHQ" if self.pointer_size == 8 else "<IBBHI"
            table = self._bytes(symoff, nsyms * entry, "symbol table")
            strings = self._bytes(stroff, strsize, "string table")
            # Split the string table once at C speed: nearly every name starts right after a
            # NUL; one pointing into the middle of a string falls back to a find (same result),
            # remembered for the next entry with that offset.
            parts = strings.split(b"\0")
            starts = accumulate(map((1).__add__, map(len, parts)), initial=0)
            if strings.isascii():
                by_start = dict(zip(starts, strings.decode("ascii").split("\0")))
            else:
                by_start = {s: p.decode("utf-8", "replace") for s, p in zip(starts, parts)}
            fast = by_start.get
            for strx, n_type, n_sect, _desc, value in struct.iter_unpack(fmt, table):
                name: str | None
                if strx >= strsize:
                    name = ""
                else:
                    name = fast(strx)
                    if name is None:
                        end = strings.find(b"\0", strx)
                        name = strings[strx:end if end >= 0 else strsize].decode("utf-8", "replace")
                        by_start[strx] = name   # e.g. strx 1, the NUL after ld64's leading " "
                symbols.append((name, n_type, n_sect, value))
        self._symbols = symbols
        return symbols

    def exports(self) -> Mapping[str, int]:
        if self._exports is None:
            exports: dict[str, int] = {}
            for name, n_type, _sect, value in self._load_symbols():
                if n_type & N_STAB or not n_type & N_EXT or n_type & N_PEXT:
                    continue
                if n_type & N_TYPE in (N_SECT, N_ABS) and name:
                    exports[_strip_underscore(name)] = value
            if not exports:
                exports = self._trie_exports()
            self._exports = exports
        return self._exports

    def imports(self) -> frozenset[str]:
        if self._imports is None:
            names = {_strip_underscore(name) for name, n_type, _sect, value in self._load_symbols()
                     if not n_type & N_STAB and n_type & N_EXT and n_type & N_TYPE == N_UNDF
                     and value == 0 and name}
            if not names:   # no symbol table: the names dyld binds are the imports
                if self._chained is not None:
                    names = {_strip_underscore(n) for n in self._chained_tables().import_names if n}
                else:
                    names = set(self.bind_locations().values())
            self._imports = frozenset(names)
        return self._imports

    def needed_libraries(self) -> tuple[str, ...]:
        return tuple(self._dylibs)

    def _trie_exports(self) -> dict[str, int]:
        if self._exports_trie is not None:
            off, size = self._exports_trie
        elif self._dyld_info is not None:
            off, size = self._dyld_info[8], self._dyld_info[9]
        else:
            return {}
        if not size:
            return {}
        trie = self._bytes(off, size, "export trie")
        base = self.image_base
        return {_strip_underscore(name): base + offset
                for name, offset in dyld.export_trie(trie, self.path).items()}

    # ---- pointers: classic rebases and chained fixups ----------------------------------------

    def read_pointer(self, addr: int) -> int | None:
        raw = self.read(addr, self.pointer_size)
        if raw is None:
            return None
        value = int.from_bytes(raw, "little")
        if self._chained is None:
            # Classic (LC_DYLD_INFO) images store the unslid target in the word itself; dyld only
            # adds the slide. A bound word holds a linker placeholder (0, or the address of a
            # stub for lld): like a chained bind it reads as 0, see bound_symbol().
            return 0 if addr in self.bind_locations() else value
        fixup = self._chained_fixup(addr)
        if fixup is None:
            return value
        kind, target = fixup
        return target if kind == dyld.REBASE else 0

    def is_pointer(self, addr: int) -> bool:
        """Whether the loader rebases the word at `addr` (it holds an internal pointer)."""
        if self._chained is not None:
            fixup = self._chained_fixup(addr)
            return fixup is not None and fixup[0] == dyld.REBASE
        return addr in self.rebase_locations()

    def bound_symbol(self, addr: int) -> str | None:
        """Imported symbol the loader binds into the word at `addr` (chained fixup binds, classic
        bind opcodes, or the indirect symbol table), without the leading underscore; None if
        none."""
        if self._chained is not None:
            fixup = self._chained_fixup(addr)
            if fixup is not None and fixup[0] == dyld.BIND:
                names = self._chained_tables().import_names
                ordinal = fixup[1]
                return _strip_underscore(names[ordinal]) if ordinal < len(names) else None
        elif addr in self.bind_locations():
            return self.bind_locations()[addr]
        if self.section_kind(addr) == TEXT:
            return None      # a stub is code, not a bound word
        return self.call_stubs().get(addr)

    def bind_locations(self) -> Mapping[int, str]:
        """Classic LC_DYLD_INFO binds, weak binds and lazy binds: address -> symbol (no
        leading underscore)."""
        if self._binds is None:
            binds: dict[int, str] = {}
            if self._dyld_info is not None:
                info = self._dyld_info
                for what, off, size in (("bind", info[2], info[3]), ("weak bind", info[4], info[5]),
                                        ("lazy bind", info[6], info[7])):
                    if size:
                        ops = self._bytes(off, size, f"{what} opcodes")
                        found = dyld.bind_addresses(ops, self._segment_spans(), self.pointer_size,
                                                    self._max_words(), self.path, what,
                                                    lazy=what == "lazy bind")
                        binds.update((a, _strip_underscore(n)) for a, n in found.items())
            self._binds = binds
        return self._binds

    def rebase_locations(self) -> frozenset[int]:
        """Addresses rebased by classic LC_DYLD_INFO rebase opcodes."""
        if self._rebases is None:
            found: list[int] = []
            if self._dyld_info is not None and self._dyld_info[1]:
                ops = self._bytes(self._dyld_info[0], self._dyld_info[1], "rebase opcodes")
                found = dyld.rebase_addresses(ops, self._segment_spans(), self.pointer_size,
                                              self._max_words(), self.path)
            self._rebases = frozenset(found)
        return self._rebases

    def _segment_spans(self) -> list[tuple[int, int]]:
        return [(seg.vmaddr, seg.vmsize) for seg in self._segments]

    def _max_words(self) -> int:
        # Every fixed-up word lies in the file's segments: more words than the file holds
        # means a corrupt count.
        return self._size // self.pointer_size + 1

    def _chained_tables(self) -> dyld.ChainedFixups:
        if self._chain_meta is None:
            assert self._chained is not None
            dataoff, datasize = self._chained
            blob = self._bytes(dataoff, datasize, "chained fixups")
            self._chain_meta = dyld.parse_chained_fixups(blob, len(self._segments), self.path)
        return self._chain_meta

    def _chained_fixup(self, addr: int) -> tuple[str, int] | None:
        """(REBASE, target vmaddr) or (BIND, import ordinal) for the fixup at `addr`."""
        base = self.image_base
        for starts in self._chained_tables().starts:
            first = base + starts.segment_offset
            if not first <= addr < first + starts.page_count * starts.page_size:
                continue
            page = (addr - first) // starts.page_size
            key = (starts.segment_index, page)
            fixups = self._chain_pages.get(key)
            if fixups is None:
                fixups = self._walk_page(starts, first + page * starts.page_size, page)
                self._chain_pages[key] = fixups
            return fixups.get(addr)
        return None

    def _walk_page(self, starts: dyld.ChainedStarts, page_addr: int,
                   page: int) -> dict[int, tuple[str, int]]:
        """Decode every chain that starts in one page. `next` only moves forward, so a chain
        ends within page_size / stride steps or is corrupt."""
        seg = self._segments[starts.segment_index]
        fmt, stride = starts.pointer_format, starts.stride
        fixups: dict[int, tuple[str, int]] = {}
        for offset in dyld.chain_starts_in_page(starts, page, self.path):
            location = page_addr + offset
            for _ in range(starts.page_size // stride + 1):
                raw = self.read(location, 8)
                if raw is None or location + 8 > seg.vmaddr + seg.vmsize:
                    raise _fail(self.path, f"corrupt: fixup chain leaves segment {seg.name}")
                value = int.from_bytes(raw, "little")
                fixups[location] = dyld.decode_chained(value, fmt, self.image_base)
                step = dyld.chain_next(value, fmt)
                if not step:
                    break
                location += step * stride
            else:
                raise _fail(self.path, "corrupt: fixup chain runs past its page")
        return fixups

    # ---- call stubs -----------------------------------------------------------------------------

    def call_stubs(self) -> Mapping[int, str]:
        if self._stubs is not None:
            return self._stubs
        stubs: dict[int, str] = {}
        dysym = self._dysymtab
        if dysym is not None and dysym[13]:
            indirect_off, n_indirect = dysym[12], dysym[13]
            table = self._bytes(indirect_off, 4 * n_indirect, "indirect symbol table")
            indirect = struct.unpack(f"<{n_indirect}I", table)
            symbols = self._load_symbols()
            for sect in self._sections:
                if sect.type == S_SYMBOL_STUBS:
                    width = sect.reserved2
                elif sect.type in POINTER_TABLE_TYPES:
                    width = self.pointer_size
                else:
                    continue
                if not width:
                    raise _fail(self.path, f"corrupt: stub section {sect.sectname} has entry size 0")
                count = sect.size // width
                if sect.reserved1 + count > n_indirect:
                    raise _fail(self.path, f"corrupt: section {sect.sectname} indexes past the "
                                           "indirect symbol table")
                for i in range(count):
                    symbol_index = indirect[sect.reserved1 + i]
                    if symbol_index & (INDIRECT_SYMBOL_LOCAL | INDIRECT_SYMBOL_ABS):
                        continue
                    if symbol_index < len(symbols) and symbols[symbol_index][0]:
                        stubs[sect.addr + i * width] = _strip_underscore(symbols[symbol_index][0])
        self._stubs = stubs
        return stubs


def _section_kind(sect: Section, seg: Segment | None) -> str:
    if sect.is_zerofill:
        return BSS
    if sect.flags & (S_ATTR_PURE_INSTRUCTIONS | S_ATTR_SOME_INSTRUCTIONS):
        return TEXT
    if sect.segname == "__TEXT":
        return RODATA
    if sect.segname.startswith(("__DATA", "__AUTH")):
        return DATA
    prot = seg.initprot if seg is not None else 0
    if prot & VM_PROT_EXECUTE:
        return TEXT
    if prot & VM_PROT_WRITE:
        return DATA
    return RODATA
