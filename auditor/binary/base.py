"""The one small interface every binary reader (ELF, Mach-O, PE) implements.

Analysis code (auditor.inspect) asks questions through this interface only: exported and
imported symbols, bytes and relocated pointers at a virtual address, which kind of section
an address lies in, and which call stubs lead to which imported function. Binary-format
details (relocation types, fixup chains, import thunks) stay inside the readers.

Addresses are virtual addresses in the image's own preferred address space:
ELF st_value / p_vaddr, Mach-O vmaddr (unslid), PE ImageBase + RVA.

Readers must be safe on hostile input: every count and offset is bounds-checked before use,
nothing is allocated from an unchecked size, and any inconsistency raises
BinaryFormatError(path, reason) with a one-line reason ("truncated: section header table
ends past end of file"). Readers work on an mmap (or bytes) and parse lazily, so work per
module grows with the tables read, not with the file size.
"""

from __future__ import annotations

import mmap
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping

# Normalised architecture names used everywhere (JSON "arch", wheel platform checks).
ARCH_X86_64 = "x86_64"
ARCH_AARCH64 = "aarch64"   # also Mach-O arm64 and PE ARM64
ARCH_I686 = "i686"         # also PE x86 (i386)
ARCH_ARM = "arm"
ARCH_PPC64LE = "ppc64le"
ARCH_PPC64 = "ppc64"
ARCH_S390X = "s390x"
ARCH_RISCV64 = "riscv64"

# Section kinds returned by section_kind().
TEXT = "text"       # executable code
RODATA = "rodata"   # read-only data (strings, const tables)
DATA = "data"       # initialised writable data, including .data.rel.ro / __DATA_CONST
BSS = "bss"         # zero-fill: a def or slot array here is built at run time


class BinaryImage(ABC):
    """One architecture slice of one extension-module file."""

    path: str          # display path (file name or wheel member), used in error messages
    format: str        # "elf" | "macho" | "pe"
    arch: str          # one of the ARCH_* names, or the raw machine name for others
    pointer_size: int  # 4 or 8
    little_endian: bool

    @abstractmethod
    def exports(self) -> Mapping[str, int]:
        """Defined, exported symbols -> address. Mach-O names without the leading underscore."""

    @abstractmethod
    def imports(self) -> frozenset[str]:
        """Names of imported (undefined) symbols. Mach-O names without the leading underscore."""

    @abstractmethod
    def needed_libraries(self) -> tuple[str, ...]:
        """DT_NEEDED entries / LC_LOAD_DYLIB paths / imported DLL names, in file order."""

    @abstractmethod
    def read(self, addr: int, size: int) -> bytes | None:
        """`size` bytes at virtual address `addr` as stored in the file (zero-filled where the
        segment has no file backing, e.g. .bss); None if the range is not mapped."""

    @abstractmethod
    def read_pointer(self, addr: int) -> int | None:
        """The pointer-sized value at `addr` after relocations / rebases / chained fixups are
        applied as the loader would for an internal target (ELF RELATIVE addend, PE absolute
        VA, Mach-O rebase target). Raw value when no relocation applies (small integers such
        as slot values). None if `addr` is not mapped."""

    @abstractmethod
    def section_kind(self, addr: int) -> str | None:
        """TEXT / RODATA / DATA / BSS for the section holding `addr`, or None if unmapped."""

    @abstractmethod
    def call_stubs(self) -> Mapping[int, str]:
        """Address of each PLT entry / import thunk / Mach-O stub -> imported symbol it jumps
        to, plus (for -fno-plt style code) GOT / IAT slot addresses -> symbol."""

    @abstractmethod
    def contains(self, needle: bytes) -> bool:
        """Whether `needle` occurs in the non-code, file-backed sections (string fingerprints).
        Implemented with mmap.find over those ranges, never by copying the file."""

    @abstractmethod
    def _file_ranges(self, kinds: tuple[str, ...]) -> Iterator[tuple[int, int, int]]:
        """(virtual address, offset in self._data, size) of each file-backed section of `kinds`."""

    def find_all(self, needle: bytes, kinds: tuple[str, ...] = (RODATA,), align: int = 1,
                 limit: int = 10_000) -> list[int]:
        """Addresses where `needle` starts inside file-backed sections of the given kinds
        (aligned to `align`), at most `limit` of them; find() over the mmap, never a copy."""
        hits: list[int] = []
        for vaddr, start, size in self._file_ranges(kinds):
            pos, end = start, start + size
            while len(hits) < limit:
                pos = self._data.find(needle, pos, end)
                if pos < 0:
                    break
                if (vaddr + pos - start) % align == 0:
                    hits.append(vaddr + pos - start)
                pos += 1
        return hits

    # Optional hooks with safe defaults; a reader that knows better overrides them.

    @property
    def got_base(self) -> int | None:
        """i686 PIC code addresses the GOT relative to this (ELF only)."""
        return None

    def function_size(self, addr: int) -> int | None:
        """Size of the function starting at `addr` when the symbol table says so."""
        return None

    def constructors(self) -> list[int]:
        """Load-time initialisers (ELF .init_array): code that may fill a def before PyInit runs."""
        return []

    def read_cstring(self, addr: int, limit: int = 512) -> str | None:
        """NUL-terminated string at `addr` (decoded as UTF-8 with replacement), or None."""
        raw = self.read(addr, limit)
        if raw is None:
            return None
        end = raw.find(b"\0")
        if end < 0:
            return None
        return raw[:end].decode("utf-8", "replace")

    _data: bytes | mmap.mmap  # the mmap or bytes the reader works on

    def close(self) -> None:
        """Close the mmap handed in by the loader (slices of one fat file share it; closing an
        mmap twice is harmless). Bytes need no closing. Safe to call twice."""
        data, self._data = self._data, b""
        close = getattr(data, "close", None)
        if close is not None:
            try:
                close()
            except (BufferError, ValueError):
                pass

    def __enter__(self) -> BinaryImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
