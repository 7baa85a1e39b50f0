"""Decoders for the tables dyld reads from __LINKEDIT: pure functions over bytes.

- classic LC_DYLD_INFO rebase and bind opcodes (<mach-o/loader.h>);
- the export trie (LC_DYLD_INFO export_off, LC_DYLD_EXPORTS_TRIE);
- LC_DYLD_CHAINED_FIXUPS: header, starts_in_image / starts_in_segment, imports, and the
  per-entry pointer formats of Apple's <mach-o/fixup-chains.h>, implemented from the
  documented struct layouts:
    dyld_chained_ptr_64_rebase        target:36 high8:8 reserved:7 next:12 bind:1   stride 4
    dyld_chained_ptr_64_bind          ordinal:24 addend:8 reserved:19 next:12 bind:1
    dyld_chained_ptr_arm64e_rebase    target:43 high8:8 next:11 bind:1 auth:1       stride 8
    dyld_chained_ptr_arm64e_bind      ordinal:16 zero:16 addend:19 next:11 bind:1 auth:1
    dyld_chained_ptr_arm64e_auth_*    target (runtime offset):32 ... next:11 bind:1 auth:1
    dyld_chained_ptr_arm64e_bind24    ordinal:24 ...   (DYLD_CHAINED_PTR_ARM64E_USERLAND24)
  DYLD_CHAINED_PTR_64 (2) and DYLD_CHAINED_PTR_ARM64E (1) rebase targets are vmaddrs;
  DYLD_CHAINED_PTR_64_OFFSET (6), ARM64E_USERLAND (9) / USERLAND24 (12) and every arm64e auth
  rebase store an offset from the image base (the vmaddr of __TEXT).
  Checked against real binaries: format 6 on mlx 0.32.4 (ld64; every __got bind names the same
  import as the indirect symbol table), format 2 on ld64.lld-19 output with __TEXT at
  0x100000000. The arm64e formats follow the header only (no arm64e extension seen).

Every function takes the display name for its one-line BinaryFormatError and bounds its work
by the size of its input: counts larger than the file are corrupt, and no loop follows a
pointer backwards.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.errors import BinaryFormatError

# Bounds for crafted tables.
MAX_TRIE_NODES = 1_000_000
# Longest symbol name accepted from the export trie (real C++ names stay far below this); it
# bounds the prefix copies a crafted, deep trie could otherwise make quadratic.
MAX_SYMBOL_NAME = 16384

# Export trie flags.
EXPORT_SYMBOL_FLAGS_REEXPORT = 0x08

# Rebase opcodes.
REBASE_OPCODE_MASK = 0xF0
REBASE_IMMEDIATE_MASK = 0x0F
REBASE_OPCODE_DONE = 0x00
REBASE_OPCODE_SET_TYPE_IMM = 0x10
REBASE_OPCODE_SET_SEGMENT_AND_OFFSET_ULEB = 0x20
REBASE_OPCODE_ADD_ADDR_ULEB = 0x30
REBASE_OPCODE_ADD_ADDR_IMM_SCALED = 0x40
REBASE_OPCODE_DO_REBASE_IMM_TIMES = 0x50
REBASE_OPCODE_DO_REBASE_ULEB_TIMES = 0x60
REBASE_OPCODE_DO_REBASE_ADD_ADDR_ULEB = 0x70
REBASE_OPCODE_DO_REBASE_ULEB_TIMES_SKIPPING_ULEB = 0x80

# Bind opcodes (binds, weak binds, lazy binds).
BIND_OPCODE_MASK = 0xF0
BIND_IMMEDIATE_MASK = 0x0F
BIND_OPCODE_DONE = 0x00
BIND_OPCODE_SET_DYLIB_ORDINAL_IMM = 0x10
BIND_OPCODE_SET_DYLIB_ORDINAL_ULEB = 0x20
BIND_OPCODE_SET_DYLIB_SPECIAL_IMM = 0x30
BIND_OPCODE_SET_SYMBOL_TRAILING_FLAGS_IMM = 0x40
BIND_OPCODE_SET_TYPE_IMM = 0x50
BIND_OPCODE_SET_ADDEND_SLEB = 0x60
BIND_OPCODE_SET_SEGMENT_AND_OFFSET_ULEB = 0x70
BIND_OPCODE_ADD_ADDR_ULEB = 0x80
BIND_OPCODE_DO_BIND = 0x90
BIND_OPCODE_DO_BIND_ADD_ADDR_ULEB = 0xA0
BIND_OPCODE_DO_BIND_ADD_ADDR_IMM_SCALED = 0xB0
BIND_OPCODE_DO_BIND_ULEB_TIMES_SKIPPING_ULEB = 0xC0

# Chained fixups.
DYLD_CHAINED_PTR_ARM64E = 1
DYLD_CHAINED_PTR_64 = 2
DYLD_CHAINED_PTR_64_OFFSET = 6
DYLD_CHAINED_PTR_ARM64E_USERLAND = 9
DYLD_CHAINED_PTR_ARM64E_USERLAND24 = 12
CHAINED_64_FORMATS = (DYLD_CHAINED_PTR_64, DYLD_CHAINED_PTR_64_OFFSET)
CHAINED_ARM64E_FORMATS = (DYLD_CHAINED_PTR_ARM64E, DYLD_CHAINED_PTR_ARM64E_USERLAND,
                          DYLD_CHAINED_PTR_ARM64E_USERLAND24)
DYLD_CHAINED_PTR_START_NONE = 0xFFFF
DYLD_CHAINED_PTR_START_MULTI = 0x8000
DYLD_CHAINED_PTR_START_LAST = 0x8000
DYLD_CHAINED_IMPORT = 1
DYLD_CHAINED_IMPORT_ADDEND = 2
DYLD_CHAINED_IMPORT_ADDEND64 = 3
IMPORT_ENTRY_SIZE = {DYLD_CHAINED_IMPORT: 4, DYLD_CHAINED_IMPORT_ADDEND: 8,
                     DYLD_CHAINED_IMPORT_ADDEND64: 16}

REBASE = "rebase"
BIND = "bind"

# (vmaddr, vmsize) of each segment, in load-command order (opcodes name segments by index).
SegmentSpans = Sequence[tuple[int, int]]


def read_uleb(buf: bytes, pos: int, display: str, what: str) -> tuple[int, int]:
    """One ULEB128 at `pos` -> (value, next pos); values wider than 64 bits are corrupt."""
    result = 0
    shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise BinaryFormatError(display, f"truncated: {what} ULEB128 runs past its table")
        byte = buf[pos]
        pos += 1
        if shift > 63:
            raise BinaryFormatError(display, f"corrupt: {what} ULEB128 wider than 64 bits")
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


class _Cursor:
    """The (segment, address) state shared by rebase and bind opcodes, with bounded emits."""

    def __init__(self, segments: SegmentSpans, pointer_size: int, max_words: int,
                 display: str, what: str) -> None:
        self.segments = segments
        self.pointer_size = pointer_size
        self.max_words = max_words
        self.display = display
        self.what = what
        self.segment: tuple[int, int] | None = None
        self.addr = 0
        self.emitted = 0

    def fail(self, reason: str) -> BinaryFormatError:
        return BinaryFormatError(self.display, f"corrupt: {self.what} {reason}")

    def set_segment(self, index: int, offset: int) -> None:
        if index >= len(self.segments):
            raise self.fail(f"opcode names segment {index}")
        self.segment = self.segments[index]
        self.addr = self.segment[0] + offset

    def add(self, delta: int) -> None:
        self.addr = (self.addr + delta) & 0xFFFFFFFFFFFFFFFF

    def emit(self, count: int, skip: int) -> list[int]:
        """Addresses of `count` words, `skip` bytes apart beyond the pointer itself."""
        if self.segment is None:
            raise self.fail("opcode before a segment was set")
        self.emitted += count
        if self.emitted > self.max_words:
            raise self.fail("opcodes describe more words than the file has")
        start, size = self.segment
        out = []
        for _ in range(count):
            if not start <= self.addr < start + size:
                raise self.fail("address outside its segment")
            out.append(self.addr)
            self.addr += self.pointer_size + skip
        return out


def rebase_addresses(ops: bytes, segments: SegmentSpans, pointer_size: int, max_words: int,
                     display: str) -> list[int]:
    """Addresses of the words the classic rebase opcodes rebase."""
    cursor = _Cursor(segments, pointer_size, max_words, display, "rebase")
    out: list[int] = []
    pos = 0
    while pos < len(ops):
        byte = ops[pos]
        pos += 1
        op, imm = byte & REBASE_OPCODE_MASK, byte & REBASE_IMMEDIATE_MASK
        if op == REBASE_OPCODE_DONE:
            break
        if op == REBASE_OPCODE_SET_TYPE_IMM:
            continue
        if op == REBASE_OPCODE_SET_SEGMENT_AND_OFFSET_ULEB:
            offset, pos = read_uleb(ops, pos, display, "rebase")
            cursor.set_segment(imm, offset)
        elif op == REBASE_OPCODE_ADD_ADDR_ULEB:
            delta, pos = read_uleb(ops, pos, display, "rebase")
            cursor.add(delta)
        elif op == REBASE_OPCODE_ADD_ADDR_IMM_SCALED:
            cursor.add(imm * pointer_size)
        elif op == REBASE_OPCODE_DO_REBASE_IMM_TIMES:
            out += cursor.emit(imm, 0)
        elif op == REBASE_OPCODE_DO_REBASE_ULEB_TIMES:
            count, pos = read_uleb(ops, pos, display, "rebase")
            out += cursor.emit(count, 0)
        elif op == REBASE_OPCODE_DO_REBASE_ADD_ADDR_ULEB:
            skip, pos = read_uleb(ops, pos, display, "rebase")
            out += cursor.emit(1, skip)
        elif op == REBASE_OPCODE_DO_REBASE_ULEB_TIMES_SKIPPING_ULEB:
            count, pos = read_uleb(ops, pos, display, "rebase")
            skip, pos = read_uleb(ops, pos, display, "rebase")
            out += cursor.emit(count, skip)
        else:
            raise cursor.fail(f"unknown opcode {byte:#04x}")
    return out


def bind_addresses(ops: bytes, segments: SegmentSpans, pointer_size: int, max_words: int,
                   display: str, what: str = "bind", lazy: bool = False) -> dict[int, str]:
    """Address -> symbol name (as stored, with the leading underscore) for each bound word.
    Lazy binding info is a list of DONE-terminated entries, so DONE does not end it."""
    cursor = _Cursor(segments, pointer_size, max_words, display, what)
    out: dict[int, str] = {}
    symbol = ""
    pos = 0
    while pos < len(ops):
        byte = ops[pos]
        pos += 1
        op, imm = byte & BIND_OPCODE_MASK, byte & BIND_IMMEDIATE_MASK
        if op == BIND_OPCODE_DONE:
            if lazy:
                continue
            break
        addrs: list[int] = []
        if op in (BIND_OPCODE_SET_DYLIB_ORDINAL_IMM, BIND_OPCODE_SET_DYLIB_SPECIAL_IMM,
                  BIND_OPCODE_SET_TYPE_IMM):
            continue
        if op in (BIND_OPCODE_SET_DYLIB_ORDINAL_ULEB, BIND_OPCODE_SET_ADDEND_SLEB):
            _value, pos = read_uleb(ops, pos, display, what)   # an SLEB has the same length
        elif op == BIND_OPCODE_SET_SYMBOL_TRAILING_FLAGS_IMM:
            end = ops.find(b"\0", pos)
            if end < 0:
                raise BinaryFormatError(display, f"truncated: {what} symbol name")
            symbol = ops[pos:end].decode("utf-8", "replace")
            pos = end + 1
        elif op == BIND_OPCODE_SET_SEGMENT_AND_OFFSET_ULEB:
            offset, pos = read_uleb(ops, pos, display, what)
            cursor.set_segment(imm, offset)
        elif op == BIND_OPCODE_ADD_ADDR_ULEB:
            delta, pos = read_uleb(ops, pos, display, what)
            cursor.add(delta)
        elif op == BIND_OPCODE_DO_BIND:
            addrs = cursor.emit(1, 0)
        elif op == BIND_OPCODE_DO_BIND_ADD_ADDR_ULEB:
            skip, pos = read_uleb(ops, pos, display, what)
            addrs = cursor.emit(1, skip)
        elif op == BIND_OPCODE_DO_BIND_ADD_ADDR_IMM_SCALED:
            addrs = cursor.emit(1, imm * pointer_size)
        elif op == BIND_OPCODE_DO_BIND_ULEB_TIMES_SKIPPING_ULEB:
            count, pos = read_uleb(ops, pos, display, what)
            skip, pos = read_uleb(ops, pos, display, what)
            addrs = cursor.emit(count, skip)
        else:   # BIND_OPCODE_THREADED (0xD0) is arm64e-only, before chained fixups
            raise BinaryFormatError(display, f"unsupported: {what} opcode {byte:#04x}")
        for addr in addrs:
            out[addr] = symbol
    return out


def export_trie(trie: bytes, display: str) -> dict[str, int]:
    """Symbol name (as stored) -> offset from the image base, for every non-re-exported
    terminal of the trie. Each node is visited once; a node reached twice is a cycle."""
    exports: dict[str, int] = {}
    stack: list[tuple[int, bytes]] = [(0, b"")]
    seen: set[int] = set()
    while stack:
        node, prefix = stack.pop()
        if node in seen:
            raise BinaryFormatError(display, "corrupt: export trie has a cycle")
        seen.add(node)
        if len(seen) > MAX_TRIE_NODES:
            raise BinaryFormatError(display, "corrupt: export trie too large")
        terminal_size, pos = read_uleb(trie, node, display, "export trie")
        children_at = pos + terminal_size
        if terminal_size:
            flags, pos = read_uleb(trie, pos, display, "export trie")
            if not flags & EXPORT_SYMBOL_FLAGS_REEXPORT:
                offset, pos = read_uleb(trie, pos, display, "export trie")
                exports[prefix.decode("utf-8", "replace")] = offset
        if children_at >= len(trie):
            raise BinaryFormatError(display, "truncated: export trie node runs past its table")
        pos = children_at + 1
        for _ in range(trie[children_at]):
            end = trie.find(b"\0", pos)
            if end < 0:
                raise BinaryFormatError(display, "truncated: export trie edge label")
            label = trie[pos:end]
            child, pos = read_uleb(trie, end + 1, display, "export trie")
            if child >= len(trie):
                raise BinaryFormatError(display, "corrupt: export trie child offset past its table")
            if len(prefix) + len(label) > MAX_SYMBOL_NAME:
                raise BinaryFormatError(display, "corrupt: export trie symbol name too long")
            stack.append((child, prefix + label))
    return exports


@dataclass(frozen=True)
class ChainedStarts:
    """dyld_chained_starts_in_segment of one segment."""
    segment_index: int
    page_size: int
    pointer_format: int
    segment_offset: int             # from the image base
    page_count: int
    page_starts: tuple[int, ...]    # page_start[] including the overflow entries after page_count

    @property
    def stride(self) -> int:
        return 4 if self.pointer_format in CHAINED_64_FORMATS else 8


@dataclass(frozen=True)
class ChainedFixups:
    starts: tuple[ChainedStarts, ...]
    import_names: tuple[str, ...]   # by bind ordinal, as stored (leading underscore)


def parse_chained_fixups(blob: bytes, segment_count: int, display: str) -> ChainedFixups:
    """dyld_chained_fixups_header, starts_in_image, starts_in_segment and the imports table."""
    size = len(blob)
    if size < 28:
        raise BinaryFormatError(display, "truncated: chained fixups header")
    (_version, starts_off, imports_off, symbols_off, imports_count, imports_format,
     symbols_format) = struct.unpack_from("<7I", blob, 0)

    def check(off: int, length: int, what: str) -> None:
        if off + length > size:
            raise BinaryFormatError(display, f"truncated: chained fixups {what} ends past its data")

    check(starts_off, 4, "starts_in_image")
    seg_count = struct.unpack_from("<I", blob, starts_off)[0]
    if seg_count > segment_count:
        raise BinaryFormatError(display, f"corrupt: chained fixups name {seg_count} segments, "
                                         f"the image has {segment_count}")
    check(starts_off + 4, 4 * seg_count, "segment offsets")
    starts: list[ChainedStarts] = []
    for index in range(seg_count):
        info_off = struct.unpack_from("<I", blob, starts_off + 4 + 4 * index)[0]
        if not info_off:
            continue
        at = starts_off + info_off
        check(at, 22, "starts_in_segment")
        (info_size, page_size, pointer_format, segment_offset, _max_valid,
         page_count) = struct.unpack_from("<IHHQIH", blob, at)
        if page_size == 0 or page_size & (page_size - 1):
            raise BinaryFormatError(display, f"corrupt: chained fixups page size {page_size}")
        if pointer_format not in CHAINED_64_FORMATS + CHAINED_ARM64E_FORMATS:
            raise BinaryFormatError(display, "unsupported: chained fixup pointer format "
                                             f"{pointer_format}")
        entries = max(page_count, (info_size - 22) // 2 if info_size >= 22 else 0)
        check(at + 22, 2 * entries, "page starts")
        starts.append(ChainedStarts(index, page_size, pointer_format, segment_offset, page_count,
                                    struct.unpack_from(f"<{entries}H", blob, at + 22)))
    entry_size = IMPORT_ENTRY_SIZE.get(imports_format)
    if entry_size is None:
        raise BinaryFormatError(display, f"unsupported: chained fixups imports format {imports_format}")
    check(imports_off, imports_count * entry_size, "imports table")
    names: list[str] = []
    for i in range(imports_count):
        at = imports_off + i * entry_size
        if imports_format == DYLD_CHAINED_IMPORT_ADDEND64:
            name_off = struct.unpack_from("<Q", blob, at)[0] >> 32
        else:
            name_off = struct.unpack_from("<I", blob, at)[0] >> 9
        if symbols_format != 0:   # zlib-compressed names: not produced by ld64 / ld-prime / lld
            names.append("")
            continue
        start = symbols_off + name_off
        end = blob.find(b"\0", start) if start < size else -1
        names.append(blob[start:end].decode("utf-8", "replace") if end >= 0 else "")
    return ChainedFixups(tuple(starts), tuple(names))


def chain_starts_in_page(starts: ChainedStarts, page: int, display: str) -> list[int]:
    """Offsets within page `page` where its chains begin (none, one, or an overflow list)."""
    first = starts.page_starts[page]
    if first == DYLD_CHAINED_PTR_START_NONE:
        return []
    if not first & DYLD_CHAINED_PTR_START_MULTI:
        return [first]
    # Several chains in one page (32-bit formats): an overflow list after page_count, whose
    # last entry carries DYLD_CHAINED_PTR_START_LAST.
    out: list[int] = []
    index = first & ~DYLD_CHAINED_PTR_START_MULTI
    while True:
        if index >= len(starts.page_starts) or len(out) > starts.page_size // starts.stride:
            raise BinaryFormatError(display, "corrupt: chained fixups overflow list does not end")
        value = starts.page_starts[index]
        out.append(value & ~DYLD_CHAINED_PTR_START_LAST)
        if value & DYLD_CHAINED_PTR_START_LAST:
            return out
        index += 1


def chain_next(value: int, pointer_format: int) -> int:
    """The `next` field: distance to the next entry in strides, 0 at the end of the chain."""
    return (value >> 51) & (0xFFF if pointer_format in CHAINED_64_FORMATS else 0x7FF)


def decode_chained(value: int, pointer_format: int, image_base: int) -> tuple[str, int]:
    """One chain entry -> (REBASE, unslid target vmaddr) or (BIND, import ordinal)."""
    if pointer_format in CHAINED_64_FORMATS:
        if value >> 63:
            return (BIND, value & 0xFFFFFF)
        target = (value & 0xFFFFFFFFF) | (((value >> 36) & 0xFF) << 56)
        return (REBASE, target + image_base if pointer_format == DYLD_CHAINED_PTR_64_OFFSET
                else target)
    auth, bind = value >> 63, (value >> 62) & 1
    if bind:
        mask = 0xFFFFFF if pointer_format == DYLD_CHAINED_PTR_ARM64E_USERLAND24 else 0xFFFF
        return (BIND, value & mask)
    if auth:
        return (REBASE, image_base + (value & 0xFFFFFFFF))
    target = (value & ((1 << 43) - 1)) | (((value >> 43) & 0xFF) << 56)
    return (REBASE, target if pointer_format == DYLD_CHAINED_PTR_ARM64E else target + image_base)
