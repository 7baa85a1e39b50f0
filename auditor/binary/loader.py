"""Open an extension-module file (or bytes) as one BinaryImage per architecture slice.

Dispatch is by magic number, never by file name: a text file named `.so` is an error, a
Mach-O named `.so` is a Mach-O. The Mach-O and PE readers are imported lazily so a run that
only meets ELF files never loads them.
"""

from __future__ import annotations

import mmap
import os
import struct

from auditor.binary.base import BinaryImage
from auditor.errors import BinaryFormatError

MACHO_THIN = {b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe"}
FAT_MAGIC, FAT_MAGIC_64 = 0xCAFEBABE, 0xCAFEBABF
MAX_FAT_ARCHS = 16   # real universal binaries have 2-4 slices; Java class files also start cafebabe


def open_images(source: str | os.PathLike | bytes, display: str | None = None) -> list[BinaryImage]:
    """One BinaryImage per slice (ELF and PE: one; universal Mach-O: one per architecture).

    Raises BinaryFormatError(display, reason) for unreadable, empty, truncated or unknown files.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        # A bytearray (the wheel reader's inflated member) is read in place: the readers copy
        # out only the slices they keep, as they do from an mmap. Copying it whole cost one
        # more pass over every module's bytes and a fresh heap block to fault in.
        data = source if isinstance(source, (bytes, bytearray)) else bytes(source)
        display = display or "<bytes>"
    else:
        display = display or os.fspath(source)
        data = _map_file(source, display)
    try:
        return _dispatch(data, display)
    except BinaryFormatError:
        _close(data)
        raise
    except (struct.error, IndexError, ValueError, OverflowError) as exc:
        _close(data)
        raise BinaryFormatError(display, f"corrupt binary: {exc}") from None


def _map_file(path: str | os.PathLike, display: str):
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise BinaryFormatError(display, "empty file (0 bytes)")
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise BinaryFormatError(display, f"cannot read: {exc.strerror or exc}") from None


def _close(data) -> None:
    close = getattr(data, "close", None)
    if close is not None:
        close()


def _dispatch(data, display: str) -> list[BinaryImage]:
    if len(data) == 0:
        raise BinaryFormatError(display, "empty file (0 bytes)")
    magic = bytes(data[:4])
    if magic == b"\x7fELF":
        from auditor.binary.elf import ElfImage
        return [ElfImage(data, display)]
    if magic[:2] == b"MZ":
        from auditor.binary.pe import PEImage
        return [PEImage(data, display)]
    if magic in MACHO_THIN:
        from auditor.binary.macho import MachOImage
        return [MachOImage(data, display)]
    if len(magic) == 4 and struct.unpack(">I", magic)[0] in (FAT_MAGIC, FAT_MAGIC_64):
        return _fat_slices(data, display)
    shown = magic.hex(" ") if magic else "none"
    raise BinaryFormatError(display, f"not an ELF, Mach-O or PE file (magic {shown})")


def _fat_slices(data, display: str) -> list[BinaryImage]:
    from auditor.binary.macho import MachOImage

    if len(data) < 8:
        raise BinaryFormatError(display, "truncated: universal Mach-O header")
    magic, nfat = struct.unpack_from(">II", data, 0)
    if nfat == 0 or nfat > MAX_FAT_ARCHS:
        raise BinaryFormatError(display, f"absurd universal Mach-O slice count {nfat}")
    is64 = magic == FAT_MAGIC_64
    fmt, entsize = (">iiQQII", 32) if is64 else (">iiIII", 20)
    if 8 + nfat * entsize > len(data):
        raise BinaryFormatError(display, "truncated: universal Mach-O slice table")
    images: list[BinaryImage] = []
    for i in range(nfat):
        fields = struct.unpack_from(fmt, data, 8 + i * entsize)
        offset, size = fields[2], fields[3]
        if offset <= 0 or size <= 0 or offset + size > len(data):
            raise BinaryFormatError(display, f"universal Mach-O slice {i} ({offset:#x}+{size:#x}) "
                                             f"lies outside the file ({len(data)} bytes)")
        images.append(MachOImage(data, display, offset=offset, size=size))
    return images
