"""PE reader on real cp314t Windows wheels (x64, ARM64, x86): exports, imports per DLL,
PyModuleDef pointers and slots, base relocations, IAT slots and import thunks, hostile copies."""

from __future__ import annotations

import struct
import zipfile

import pytest

from auditor.binary.base import BSS, DATA, RODATA, TEXT
from auditor.binary.pe import PEImage
from auditor.errors import BinaryFormatError
from tests.support.wheels import WIN32_KEY, WIN_ARM64_KEY, require_wheel

# capi-reference §2.3: PyModuleDef_HEAD_INIT of 3.14/3.15 free-threaded builds, 64- and 32-bit.
FT64_HEADER = bytes(8) + b"\x04\x00\x00\x00\xff\xff\xff\xff" + bytes(16)
FT32_HEADER = bytes(4) + b"\x04\x00\x00\x00\xff\xff\xff\xff" + bytes(8)

MARKUPSAFE_AMD64 = ("markupsafe-3.0.4-cp314t-win-amd64", "markupsafe/_speedups.cp314t-win_amd64.pyd")
MARKUPSAFE_ARM64 = (WIN_ARM64_KEY, "markupsafe/_speedups.cp314t-win_arm64.pyd")
MARKUPSAFE_WIN32 = (WIN32_KEY, "markupsafe/_speedups.cp314t-win32.pyd")
NUMPY_AMD64 = ("numpy-2.5.5-cp314t-win-amd64", "numpy/_core/_multiarray_umath.cp314t-win_amd64.pyd")
CONTOURPY_AMD64 = ("contourpy-1.4.0-cp314t-win-amd64", "contourpy/_contourpy.cp314t-win_amd64.pyd")


def member_bytes(key: str, member: str) -> bytes:
    with zipfile.ZipFile(require_wheel(key)) as wheel:
        return wheel.read(member)


def module_defs(image: PEImage, header: bytes, name_offset: int) -> dict[str, int]:
    """Module name -> address of each static PyModuleDef (header bytes in a data section whose
    m_name points at a C string)."""
    found = {}
    for _name, addr, size, kind in image.section_ranges():
        if kind != DATA:
            continue
        raw = image.read(addr, size)
        at = raw.find(header)
        while at >= 0:
            name_ptr = image.read_pointer(addr + at + name_offset)
            name = image.read_cstring(name_ptr) if name_ptr else None
            if name:
                found[name] = addr + at
            at = raw.find(header, at + 1)
    return found


def slots_of(image: PEImage, slots_addr: int) -> dict[int, int]:
    entry = 2 * image.pointer_size
    slots = {}
    for index in range(16):
        slot_id = struct.unpack("<i", image.read(slots_addr + entry * index, 4))[0]
        if slot_id == 0:
            return slots
        slots[slot_id] = image.read_pointer(slots_addr + entry * index + image.pointer_size)
    raise AssertionError("slot array does not end")


@pytest.fixture(scope="module")
def amd64() -> PEImage:
    return PEImage(member_bytes(*MARKUPSAFE_AMD64), MARKUPSAFE_AMD64[1])


@pytest.mark.network
def test_markupsafe_amd64_headers_exports_imports(amd64: PEImage) -> None:
    image = amd64
    assert (image.format, image.arch, image.pointer_size, image.image_base) == (
        "pe", "x86_64", 8, 0x180000000)
    assert set(image.exports()) == {"PyInit__speedups"}
    assert image.section_kind(image.exports()["PyInit__speedups"]) == TEXT
    assert image.needed_libraries() == ("python314t.dll", "KERNEL32.dll", "VCRUNTIME140.dll",
                                        "api-ms-win-crt-runtime-l1-1-0.dll")
    by_dll = image.imports_by_dll()
    assert set(by_dll["python314t.dll"]) == {"PyModuleDef_Init", "PyUnicode_New"}
    assert "memcpy" in by_dll["VCRUNTIME140.dll"]
    assert {"PyModuleDef_Init", "PyUnicode_New", "memcpy"} <= image.imports()


@pytest.mark.network
def test_markupsafe_amd64_module_def(amd64: PEImage) -> None:
    image = amd64
    defs = module_defs(image, FT64_HEADER, 56)
    assert list(defs) == ["markupsafe._speedups"]
    mod_def = defs["markupsafe._speedups"]
    # capi-reference §2.4: the stored word is the absolute VA for the preferred ImageBase.
    assert image.read_pointer(mod_def + 56) == 0x180003160
    assert image.section_kind(0x180003160) == RODATA
    assert image.is_pointer(mod_def + 56) and image.is_pointer(mod_def + 88)
    assert not image.is_pointer(mod_def + 72)
    slots_addr = image.read_pointer(mod_def + 88)
    assert image.section_kind(slots_addr) == DATA
    assert slots_of(image, slots_addr) == {3: 2, 4: 1}
    assert image.contains(b"markupsafe._speedups")
    assert not image.contains(b"not a string in this module")


@pytest.mark.network
def test_markupsafe_amd64_iat_slots_and_thunks(amd64: PEImage) -> None:
    image = amd64
    stubs = image.call_stubs()
    iat = {name: addr for addr, name in stubs.items() if image.section_kind(addr) == RODATA}
    assert {"PyModuleDef_Init", "PyUnicode_New", "memcpy"} <= set(iat)
    thunks = {addr: name for addr, name in stubs.items() if image.section_kind(addr) == TEXT}
    assert "memcpy" in thunks.values()
    for addr, name in thunks.items():
        code = image.read(addr, 7)
        start = 1 if code[0] == 0x48 else 0          # REX.W-prefixed jmp
        assert code[start:start + 2] == b"\xff\x25"
        disp = struct.unpack("<i", code[start + 2:start + 6])[0]
        assert addr + start + 6 + disp == iat[name]


@pytest.mark.network
def test_markupsafe_arm64() -> None:
    image = PEImage(member_bytes(*MARKUPSAFE_ARM64), MARKUPSAFE_ARM64[1])
    assert (image.arch, image.pointer_size) == ("aarch64", 8)
    assert image.needed_libraries()[0] == "python314t.dll"
    assert "PyInit__speedups" in image.exports()
    mod_def = module_defs(image, FT64_HEADER, 56)["markupsafe._speedups"]
    assert slots_of(image, image.read_pointer(mod_def + 88)) == {3: 2, 4: 1}
    # ARM64 import thunks: adrp x16 / ldr x16, [x16, #off] / br x16.
    thunks = {a: n for a, n in image.call_stubs().items() if image.section_kind(a) == TEXT}
    assert "memcpy" in thunks.values()
    assert all(image.read(a + 8, 4) == b"\x00\x02\x1f\xd6" for a in thunks)


@pytest.mark.network
def test_markupsafe_win32() -> None:
    image = PEImage(member_bytes(*MARKUPSAFE_WIN32), MARKUPSAFE_WIN32[1])
    assert (image.arch, image.pointer_size, image.image_base) == ("i686", 4, 0x10000000)
    assert image.needed_libraries()[0] == "python314t.dll"
    assert "PyInit__speedups" in image.exports()
    # FT-32 layout: m_name@32, m_slots@48, 8-byte slots (capi-reference §2.2).
    mod_def = module_defs(image, FT32_HEADER, 32)["markupsafe._speedups"]
    assert image.is_pointer(mod_def + 32)
    assert slots_of(image, image.read_pointer(mod_def + 48)) == {3: 2, 4: 1}


@pytest.mark.network
def test_numpy_large_pyd() -> None:
    image = PEImage(member_bytes(*NUMPY_AMD64), NUMPY_AMD64[1])
    assert set(image.exports()) == {"PyInit__multiarray_umath"}
    assert {"_Py_DecRefShared", "_Py_MergeZeroLocalRefcount", "PyModuleDef_Init"} <= image.imports()
    assert "_Py_Dealloc" not in image.imports()
    assert "python314t.dll" in image.needed_libraries()
    assert len(image.relocation_locations()) > 4000
    mod_def = module_defs(image, FT64_HEADER, 56)["_multiarray_umath"]
    assert slots_of(image, image.read_pointer(mod_def + 88))[4] == 1


@pytest.mark.network
def test_pybind11_slots_in_bss_tail() -> None:
    """pybind11 3 builds its slot array at run time: m_slots points into the zero-filled tail
    of .data (VirtualSize > SizeOfRawData), which must read as BSS (capi-reference §2.5)."""
    image = PEImage(member_bytes(*CONTOURPY_AMD64), CONTOURPY_AMD64[1])
    mod_def = module_defs(image, FT64_HEADER, 56)["_contourpy"]
    slots_addr = image.read_pointer(mod_def + 88)
    assert image.section_name(slots_addr) == ".data"
    assert image.section_kind(slots_addr) == BSS
    assert image.read(slots_addr, 32) == bytes(32)


# ---- hostile input, built from the real file -------------------------------------------------

def _reject(data: bytes, needle: str) -> None:
    with pytest.raises(BinaryFormatError) as info:
        image = PEImage(data, "bad.pyd")
        image.exports(), image.imports(), image.relocation_locations(), image.call_stubs()
    message = info.value.one_line()
    assert message.startswith("bad.pyd: ") and needle in message and "\n" not in message


@pytest.mark.network
def test_hostile_copies_are_rejected_with_one_line(amd64: PEImage) -> None:
    good = member_bytes(*MARKUPSAFE_AMD64)
    pe_off = struct.unpack_from("<I", good, 0x3C)[0]
    _reject(good[:40], "no MZ header")
    _reject(good[:pe_off + 10], "truncated: COFF header")
    lfanew = bytearray(good)
    struct.pack_into("<I", lfanew, 0x3C, 0x7FFFFFFF)
    _reject(bytes(lfanew), "truncated: PE signature")
    nsections = bytearray(good)
    struct.pack_into("<H", nsections, pe_off + 6, 0xFFFF)
    _reject(bytes(nsections), "65535 sections")
    opt_size = struct.unpack_from("<H", good, pe_off + 20)[0]
    table = pe_off + 24 + opt_size
    raw_size = bytearray(good)                       # first section's SizeOfRawData
    struct.pack_into("<I", raw_size, table + 16, 0x7FFFFFF0)
    struct.pack_into("<I", raw_size, table + 8, 0x7FFFFFF0)
    _reject(bytes(raw_size), "ends past end of file")
    overlap = bytearray(good)                        # second section starts inside the first
    struct.pack_into("<I", overlap, table + 40 + 12, 0x1000)
    _reject(bytes(overlap), "overlap")
    # Export directory claiming a billion functions.
    export_rva = struct.unpack_from("<I", good, pe_off + 24 + 112)[0]
    export_off = amd64._rva_to_offset(export_rva, 40, "export directory")
    exports = bytearray(good)
    struct.pack_into("<I", exports, export_off + 20, 1_000_000_000)
    _reject(bytes(exports), "export directory claims")
    # Base relocation block with a size that runs past the table.
    reloc_rva = struct.unpack_from("<I", good, pe_off + 24 + 112 + 5 * 8)[0]
    reloc_off = amd64._rva_to_offset(reloc_rva, 8, "relocs")
    relocs = bytearray(good)
    struct.pack_into("<I", relocs, reloc_off + 4, 0x10000)
    _reject(bytes(relocs), "base relocation block")
    # Import descriptors that never terminate: fill the import directory with copies of one.
    import_rva = struct.unpack_from("<I", good, pe_off + 24 + 112 + 8)[0]
    import_off = amd64._rva_to_offset(import_rva, 20, "imports")
    endless = bytearray(good)
    first = bytes(good[import_off:import_off + 20])
    section_end = next(s.raw_offset + s.raw_size for s in amd64._sections
                       if s.raw_offset <= import_off < s.raw_offset + s.raw_size)
    for at in range(import_off, section_end - 20, 20):
        endless[at:at + 20] = first
    _reject(bytes(endless), "import")


def test_not_pe() -> None:
    with pytest.raises(BinaryFormatError, match="not a PE file"):
        PEImage(b"\x7fELF" + bytes(200), "x.pyd")


@pytest.mark.network
def test_pe_through_the_loader_on_an_mmap(tmp_path) -> None:
    from auditor.binary.loader import open_images

    path = tmp_path / "_speedups.cp314t-win_amd64.pyd"
    path.write_bytes(member_bytes(*MARKUPSAFE_AMD64))
    (image,) = open_images(path)
    try:
        assert isinstance(image, PEImage)
        assert image.find_all(b"markupsafe._speedups\0") == [0x180003160]
        assert image.find_all(FT64_HEADER, (DATA,), align=8) == [
            module_defs(image, FT64_HEADER, 56)["markupsafe._speedups"]]
        assert image.contains(b"markupsafe._speedups")
    finally:
        image.close()


@pytest.mark.network
def test_cython_module_slots_point_into_code() -> None:
    """lxml (Cython 3) on win_amd64: Py_mod_create / Py_mod_exec are function pointers into
    .text, and Py_mod_gil is 0 (Py_MOD_GIL_USED): the same values the ELF and Mach-O builds of
    this release carry."""
    member = "lxml/_elementpath.cp314t-win_amd64.pyd"
    image = PEImage(member_bytes("lxml-6.1.3-cp314t-win-amd64", member), member)
    mod_def = module_defs(image, FT64_HEADER, 56)["_elementpath"]
    slots = slots_of(image, image.read_pointer(mod_def + 88))
    assert set(slots) == {1, 2, 4} and slots[4] == 0
    assert image.section_kind(slots[1]) == TEXT and image.section_kind(slots[2]) == TEXT


@pytest.mark.network
def test_ordinal_import(amd64: PEImage) -> None:
    """An import by ordinal (high bit of the lookup entry) is reported as '#ordinal'."""
    good = bytearray(member_bytes(*MARKUPSAFE_AMD64))
    import_rva = amd64._directory(1)[0]
    ilt_rva = struct.unpack_from("<I", good, amd64._rva_to_offset(import_rva, 20, "imports"))[0]
    first_entry = amd64._rva_to_offset(ilt_rva, 8, "lookup table")
    struct.pack_into("<Q", good, first_entry, (1 << 63) | 1234)
    image = PEImage(bytes(good), "ordinal.pyd")
    names = image.imports_by_dll()[image.needed_libraries()[0]]
    assert names[0] == "#1234"
    assert image.call_stubs()[0x180000000 + struct.unpack_from(
        "<I", good, amd64._rva_to_offset(import_rva, 20, "imports") + 16)[0]] == "#1234"
