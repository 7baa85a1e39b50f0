"""Mach-O reader on real cp314t wheels: symbols, libraries, PyModuleDef pointers and slots
through classic rebases and through LC_DYLD_CHAINED_FIXUPS, fat slices, hostile copies."""

from __future__ import annotations

import itertools
import struct
import zipfile

import pytest

from auditor.binary.base import DATA, RODATA, TEXT
from auditor.binary.macho import MachOImage, macho_slices
from auditor.errors import BinaryFormatError
from tests.support.wheels import CHAINED_FIXUPS_KEY, DYLD_INFO_KEY, require_wheel

# capi-reference §2.3: static PyModuleDef_HEAD_INIT of a 3.14/3.15 free-threaded 64-bit build.
FT_DEF_HEADER = bytes(8) + b"\x04\x00\x00\x00\xff\xff\xff\xff" + bytes(16)
M_NAME, M_SLOTS = 56, 88          # FT-64 offsets (capi-reference §2.2)
PY_MOD_MULTIPLE_INTERPRETERS, PY_MOD_GIL = 3, 4

MARKUPSAFE_ARM64 = (DYLD_INFO_KEY, "markupsafe/_speedups.cpython-314t-darwin.so")
PSUTIL_ARM64 = ("psutil-7.2.2-cp314t-macosx11-arm64", "psutil/_psutil_osx.cpython-314t-darwin.so")
MLX_CHAINED = (CHAINED_FIXUPS_KEY, "mlx/core.cpython-314t-darwin.so")
LXML_UNIVERSAL2 = ("lxml-6.1.3-cp314t-macosx10-universal2", "lxml/_elementpath.cpython-314t-darwin.so")


def member_bytes(key: str, member: str) -> bytes:
    with zipfile.ZipFile(require_wheel(key)) as wheel:
        return wheel.read(member)


def ft_module_defs(image) -> list[int]:
    """Addresses of static FT PyModuleDefs: the §2.3 header bytes inside a data section."""
    found = []
    for _name, addr, size, kind in image.section_ranges():
        if kind != DATA:
            continue
        raw = image.read(addr, size)
        at = raw.find(FT_DEF_HEADER)
        while at >= 0:
            found.append(addr + at)
            at = raw.find(FT_DEF_HEADER, at + 1)
    return found


def slots_of(image, slots_addr: int) -> dict[int, int]:
    slots = {}
    for index in range(16):
        slot_id = struct.unpack("<i", image.read(slots_addr + 16 * index, 4))[0]
        if slot_id == 0:
            return slots
        slots[slot_id] = image.read_pointer(slots_addr + 16 * index + 8)
    raise AssertionError("slot array does not end")


@pytest.fixture(scope="module")
def markupsafe_arm64() -> MachOImage:
    return MachOImage(member_bytes(*MARKUPSAFE_ARM64), MARKUPSAFE_ARM64[1])


@pytest.fixture(scope="module")
def mlx() -> MachOImage:
    return MachOImage(member_bytes(*MLX_CHAINED), MLX_CHAINED[1])


@pytest.mark.network
def test_markupsafe_arm64_symbols_and_libraries(markupsafe_arm64: MachOImage) -> None:
    image = markupsafe_arm64
    assert (image.format, image.arch, image.pointer_size) == ("macho", "aarch64", 8)
    assert set(image.exports()) == {"PyInit__speedups"}
    assert image.section_kind(image.exports()["PyInit__speedups"]) == TEXT
    assert {"PyModuleDef_Init", "PyUnicode_New"} <= image.imports()
    assert "_PyModuleDef_Init" not in image.imports()   # leading underscore stripped
    assert image.needed_libraries() == ("/usr/lib/libSystem.B.dylib",)
    # LC_DYLD_INFO export trie agrees with the symbol table.
    assert image._trie_exports() == dict(image.exports())


@pytest.mark.network
def test_markupsafe_arm64_module_def_through_classic_rebases(markupsafe_arm64: MachOImage) -> None:
    image = markupsafe_arm64
    defs = ft_module_defs(image)
    assert len(defs) == 1
    (mod_def,) = defs
    assert image.section_name(mod_def) == "__DATA,__data"
    # The rebase opcodes mark m_name and m_slots as pointers; the stored words are the targets.
    assert image.is_pointer(mod_def + M_NAME) and image.is_pointer(mod_def + M_SLOTS)
    assert not image.is_pointer(mod_def + 72)   # m_size is an integer
    name_addr = image.read_pointer(mod_def + M_NAME)
    assert image.section_kind(name_addr) == RODATA
    assert image.read_cstring(name_addr) == "markupsafe._speedups"
    slots_addr = image.read_pointer(mod_def + M_SLOTS)
    assert image.section_kind(slots_addr) == DATA
    assert slots_of(image, slots_addr) == {PY_MOD_MULTIPLE_INTERPRETERS: 2, PY_MOD_GIL: 1}


@pytest.mark.network
def test_markupsafe_arm64_stubs_and_strings(markupsafe_arm64: MachOImage) -> None:
    image = markupsafe_arm64
    stubs = image.call_stubs()
    by_name = {name: addr for addr, name in stubs.items() if image.section_kind(addr) == TEXT}
    assert {"PyModuleDef_Init", "PyUnicode_New"} <= set(by_name)
    # arm64 __stubs entries are 12 bytes apart, in indirect-symbol-table order.
    stub_addrs = sorted(by_name.values())
    assert all(b - a == 12 for a, b in itertools.pairwise(stub_addrs))
    assert image.contains(b"markupsafe._speedups")
    assert not image.contains(b"not a string in this module")


@pytest.mark.network
def test_psutil_imports_free_threaded_refcounting() -> None:
    image = MachOImage(member_bytes(*PSUTIL_ARM64), PSUTIL_ARM64[1])
    # psutil is single-phase: PyModule_Create2, no PyModuleDef_Init.
    assert {"_Py_DecRefShared", "_Py_MergeZeroLocalRefcount", "PyModule_Create2"} <= image.imports()
    assert "PyModuleDef_Init" not in image.imports()
    assert "PyInit__psutil_osx" in image.exports()
    assert "_Py_Dealloc" not in image.imports()


@pytest.mark.network
def test_chained_fixups_binds_match_indirect_symbols(mlx: MachOImage) -> None:
    image = mlx
    assert image._chained is not None, "the pinned binary must use LC_DYLD_CHAINED_FIXUPS"
    assert {"PyModuleDef_Init", "_Py_DecRefShared"} <= image.imports()
    assert "PyInit_core" in image.exports()
    assert image._trie_exports() == dict(image.exports())   # LC_DYLD_EXPORTS_TRIE
    # Every bind in __got names the same import as the indirect symbol table for that slot.
    ((_, got, got_size, _),) = [r for r in image.section_ranges() if r[0] == "__DATA_CONST,__got"]
    stubs = image.call_stubs()
    binds = 0
    for slot in range(got, got + got_size, 8):
        fixup = image._chained_fixup(slot)
        assert fixup is not None
        if fixup[0] == "bind":
            binds += 1
            assert image.bound_symbol(slot) == stubs[slot]
            assert image.read_pointer(slot) == 0
    assert binds > 700


@pytest.mark.network
def test_chained_fixups_rebases_decode_to_real_targets(mlx: MachOImage) -> None:
    """DYLD_CHAINED_PTR_64_OFFSET rebases must land on the strings and code they name: the
    nanobind PyType_Spec for nanobind.nb_func has its name in __cstring and its slot array in
    __DATA, whose function pointers land in __text."""
    image = mlx
    ((_, data, data_size, _),) = [r for r in image.section_ranges() if r[0] == "__DATA,__data"]
    names = {}
    for word in range(data, data + data_size, 8):
        target = image.read_pointer(word)
        if image.section_name(target) == "__TEXT,__cstring":
            assert image.is_pointer(word)
            names[image.read_cstring(target)] = word
    assert {"nanobind.nb_func", "nanobind.nb_meta", "__doc__"} <= set(names)
    spec = names["nanobind.nb_func"]
    # PyType_Spec: name@0, basicsize@8, itemsize@12, flags@16, slots@24.
    type_slots = image.read_pointer(spec + 24)
    assert image.section_kind(type_slots) == DATA
    entries = []
    for index in range(64):
        slot_id = struct.unpack("<i", image.read(type_slots + 16 * index, 4))[0]
        if slot_id == 0:
            break
        entries.append((slot_id, image.read_pointer(type_slots + 16 * index + 8)))
    assert entries
    code_slots = [value for _slot_id, value in entries if image.section_kind(value) == TEXT]
    assert len(code_slots) >= len(entries) // 2


@pytest.mark.network
def test_universal2_slices() -> None:
    data = member_bytes(*LXML_UNIVERSAL2)
    slices = macho_slices(data, LXML_UNIVERSAL2[1])
    assert sorted(arch for _off, _size, arch in slices) == ["aarch64", "x86_64"]
    for offset, size, arch in slices:
        image = MachOImage(data, LXML_UNIVERSAL2[1], offset=offset, size=size)
        assert image.arch == arch
        assert "PyInit__elementpath" in image.exports()
        # Cython's static PyTypeObjects share the FT header; only the module def has m_name.
        defs = [d for d in ft_module_defs(image) if image.read_pointer(d + M_NAME)]
        assert [image.read_cstring(image.read_pointer(d + M_NAME)) for d in defs] == ["_elementpath"]
        assert image.is_pointer(defs[0] + M_NAME)
        # Cython 3: Py_mod_create / Py_mod_exec point into __text; Py_mod_gil is 0 (GIL used).
        slots = slots_of(image, image.read_pointer(defs[0] + M_SLOTS))
        assert set(slots) == {1, 2, 4} and slots[4] == 0
        assert image.section_kind(slots[1]) == TEXT and image.section_kind(slots[2]) == TEXT
        # Classic bind opcodes agree with the indirect symbol table on every pointer slot, and
        # also bind Cython's static type slots, e.g. tp_getattro = PyObject_GenericGetAttr.
        binds = image.bind_locations()
        slots = {a: n for a, n in image.call_stubs().items() if image.section_kind(a) == DATA}
        assert len(slots) > 10 and all(binds[a] == n for a, n in slots.items())
        assert "PyObject_GenericGetAttr" in {n for a, n in binds.items()
                                             if image.section_name(a) == "__DATA,__data"}
        # Stubs: x86_64 `jmp *GOT(%rip)` entries are 6 bytes, arm64 adrp/ldr/br entries 12.
        text_stubs = sorted(a for a, n in image.call_stubs().items() if image.section_kind(a) == TEXT)
        assert len(text_stubs) > 50
        step = 6 if arch == "x86_64" else 12
        assert all(b - a == step for a, b in itertools.pairwise(text_stubs))


# ---- hostile input, built from the real file -------------------------------------------------

def _reject(data: bytes, needle: str) -> None:
    with pytest.raises(BinaryFormatError) as info:
        image = MachOImage(data, "bad.so")
        image.exports(), image.imports(), image.call_stubs()
    message = info.value.one_line()
    assert message.startswith("bad.so: ") and needle in message and "\n" not in message


@pytest.mark.network
def test_truncated_and_mutated_copies_are_rejected_with_one_line() -> None:
    good = member_bytes(*MARKUPSAFE_ARM64)
    _reject(good[:20], "too short")
    _reject(good[:600], "truncated")
    ncmds = bytearray(good)
    struct.pack_into("<I", ncmds, 16, 0xFFFFFF)
    _reject(bytes(ncmds), "load commands")
    cmdsize = bytearray(good)
    struct.pack_into("<I", cmdsize, 32 + 4, 0x7FFFFFFF)
    _reject(bytes(cmdsize), "does not fit")
    # Symbol count beyond the file.
    image = MachOImage(good, "good.so")
    symtab_cmd = good.find(struct.pack("<II", 2, 24), 32)
    assert symtab_cmd > 0 and image._symtab is not None
    nsyms = bytearray(good)
    struct.pack_into("<I", nsyms, symtab_cmd + 12, 1 << 28)
    _reject(bytes(nsyms), "LC_SYMTAB")


def test_fat_header_with_absurd_arch_count() -> None:
    header = struct.pack(">II", 0xCAFEBABE, 1_000_000_000) + bytes(64)
    with pytest.raises(BinaryFormatError, match="claims 1000000000 architectures"):
        macho_slices(header, "fat.so")
    one = struct.pack(">II", 0xCAFEBABE, 1) + struct.pack(">IIIII", 0x0100000C, 0, 4096, 1 << 30, 14)
    with pytest.raises(BinaryFormatError, match="outside the file"):
        macho_slices(one + bytes(64), "fat.so")


def test_not_macho() -> None:
    with pytest.raises(BinaryFormatError, match="not a Mach-O"):
        MachOImage(b"\x7fELF" + bytes(60), "x.so")


@pytest.mark.network
def test_looping_chain_is_bounded(mlx: MachOImage) -> None:
    """A chain entry whose `next` points back never loops: `next` is an unsigned forward
    delta, and a chain that runs past its page is rejected."""
    data = bytearray(member_bytes(*MLX_CHAINED))
    ((_, got, _size, _),) = [r for r in mlx.section_ranges() if r[0] == "__DATA_CONST,__got"]
    file_off = got - mlx.image_base   # __DATA_CONST fileoff == vmaddr offset in this image
    assert mlx.read(got, 8) == bytes(data[file_off:file_off + 8])
    # Make every word of the page a bind whose `next` is 2 (8 bytes on): the chain walks the
    # whole page and would run on past it.
    for at in range(file_off, file_off + 16384, 8):
        struct.pack_into("<Q", data, at, (1 << 63) | (2 << 51))
    image = MachOImage(bytes(data), "loop.so")
    with pytest.raises(BinaryFormatError, match="chain"):
        image.read_pointer(got)


@pytest.mark.network
def test_chained_fixups_header_out_of_bounds(mlx: MachOImage) -> None:
    data = bytearray(member_bytes(*MLX_CHAINED))
    dataoff, _datasize = mlx._chained
    struct.pack_into("<I", data, dataoff + 4, 0x7FFFFFF0)    # starts_offset
    image = MachOImage(bytes(data), "starts.so")
    with pytest.raises(BinaryFormatError, match="truncated: chained fixups starts_in_image"):
        image.read_pointer(mlx.image_base + 0x180000)


@pytest.mark.network
def test_universal2_through_the_loader_on_an_mmap(tmp_path) -> None:
    """The loader maps the file and hands each slice to MachOImage: find()/slicing on mmap."""
    from auditor.binary.loader import open_images

    path = tmp_path / "_elementpath.cpython-314t-darwin.so"
    path.write_bytes(member_bytes(*LXML_UNIVERSAL2))
    images = open_images(path)
    try:
        assert sorted(image.arch for image in images) == ["aarch64", "x86_64"]
        for image in images:
            assert isinstance(image, MachOImage)
            assert image.contains(b"lxml._elementpath") and image.contains(b"_cython_3_")
            assert not image.contains(b"__pybind11_internals_v")
            (name_addr,) = image.find_all(b"_elementpath\0", (RODATA,))[:1]
            assert image.read_cstring(name_addr) == "_elementpath"
            assert {"PyModuleDef_Init", "_Py_DecRefShared"} <= image.imports()
    finally:
        for image in images:
            image.close()
    assert images[0].read(images[0].exports()["PyInit__elementpath"], 4) is None   # closed


# ---- fixtures linked from source with LLVM's Mach-O linker ----------------------------------
# No macOS SDK is needed: the module is plain C that spells out the FT-64 PyModuleDef layout
# (capi-reference §2.2/§2.3) and links with -undefined dynamic_lookup like a real extension.
# lld >= 16 writes LC_DYLD_CHAINED_FIXUPS with DYLD_CHAINED_PTR_64 (format 2: vmaddr targets);
# the pinned mlx wheel covers ld64's DYLD_CHAINED_PTR_64_OFFSET (format 6).

FIXTURE_C = r"""
typedef struct { int slot; void *value; } Slot;
typedef struct { const char *name; void *meth; int flags; const char *doc; } Method;
typedef struct {
    unsigned long ob_tid; unsigned short ob_flags; unsigned char ob_mutex, ob_gc_bits;
    unsigned int ob_ref_local; long ob_ref_shared; void *ob_type;
    void *m_init; long m_index; void *m_copy;
    const char *m_name; const char *m_doc; long m_size; Method *m_methods; Slot *m_slots;
    void *m_traverse, *m_clear, *m_free;
} Def;
extern void *PyModuleDef_Init(void *);
extern void *PyUnicode_New(long, unsigned int);
static void *fixture_hello(void *self, void *args) { return PyUnicode_New(0, 127); }
static Method methods[] = {{"hello", (void *)fixture_hello, 4, "say hello"}, {0, 0, 0, 0}};
static Slot slots[] = {{3, (void *)2}, {4, (void *)1}, {0, 0}};
static Def def = {0, 4, 0, 0, 0xffffffffu, 0, 0, 0, 0, 0,
                  "fixture._mod", "fixture doc", 0, methods, slots, 0, 0, 0};
void *imported_pointer = (void *)&PyUnicode_New;   /* a bind outside __got */
void *PyInit__mod(void) { return PyModuleDef_Init(&def); }
"""


def _llvm_tools() -> tuple[str, str]:
    import shutil
    import subprocess

    from tests.support.unavailable import skip_or_fail

    clang = next((c for c in ("clang", "clang-19", "clang-16", "clang-15", "clang-14")
                  if shutil.which(c)), None)
    for linker in ("ld64.lld", "ld64.lld-19", "ld64.lld-18", "ld64.lld-17", "ld64.lld-16"):
        if shutil.which(linker):
            version = subprocess.run([linker, "--version"], capture_output=True, text=True).stdout
            digits = "".join(ch if ch.isdigit() else " " for ch in version).split()
            if digits and int(digits[0]) >= 16:
                break
    else:
        linker = None
    if clang is None or linker is None:
        skip_or_fail("needs clang and ld64.lld >= 16 (apt-get install clang-14 lld-19)")
    return clang, linker


@pytest.fixture(scope="module")
def llvm_tools() -> tuple[str, str]:
    return _llvm_tools()


def _link_fixture(tmp_path, tools, arch: str, output: str, chained: bool) -> bytes:
    import subprocess

    clang, linker = tools
    source = tmp_path / "mod.c"
    source.write_text(FIXTURE_C)
    obj = tmp_path / f"mod-{arch}.o"
    subprocess.run([clang, "-target", f"{arch}-apple-macos13", "-fPIC", "-O1", "-c",
                    str(source), "-o", str(obj)], check=True, capture_output=True)
    out = tmp_path / f"mod-{arch}-{output}-{chained}.so"
    kind = ["-bundle"] if output == "bundle" else ["-execute", "-e", "_PyInit__mod"]
    subprocess.run([linker, "-arch", arch, *kind, "-platform_version", "macos", "13.0", "13.0",
                    "-undefined", "dynamic_lookup",
                    "-fixup_chains" if chained else "-no_fixup_chains",
                    str(obj), "-o", str(out)], check=True, capture_output=True)
    return out.read_bytes()


@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
@pytest.mark.parametrize("output", ["bundle", "execute"])
@pytest.mark.parametrize("chained", [True, False], ids=["chained", "dyld_info"])
def test_linked_fixture_module_def(tmp_path, llvm_tools, arch: str, output: str,
                                   chained: bool) -> None:
    """An MH_EXECUTE has __TEXT at 0x100000000, so a wrong choice between vmaddr and
    base-relative targets, or between segment offsets and vmaddrs, breaks every pointer."""
    image = MachOImage(_link_fixture(tmp_path, llvm_tools, arch, output, chained), "mod.so")
    assert image.arch == {"arm64": "aarch64", "x86_64": "x86_64"}[arch]
    assert (image._chained is not None) is chained
    assert image.image_base == (0x100000000 if output == "execute" else 0)
    assert "PyInit__mod" in image.exports()
    assert {"PyModuleDef_Init", "PyUnicode_New"} <= image.imports()
    (mod_def,) = ft_module_defs(image)
    name_ptr = image.read_pointer(mod_def + M_NAME)
    assert image.section_kind(name_ptr) == RODATA
    assert image.read_cstring(name_ptr) == "fixture._mod"
    assert image.read_cstring(image.read_pointer(mod_def + 64)) == "fixture doc"
    assert image.is_pointer(mod_def + M_NAME) and not image.is_pointer(mod_def + 72)
    assert slots_of(image, image.read_pointer(mod_def + M_SLOTS)) == {3: 2, 4: 1}
    methods = image.read_pointer(mod_def + 80)
    assert image.read_cstring(image.read_pointer(methods)) == "hello"
    assert image.section_kind(image.read_pointer(methods + 8)) == TEXT
    assert struct.unpack("<i", image.read(methods + 16, 4))[0] == 4
    stubs = image.call_stubs()
    assert {"PyModuleDef_Init", "PyUnicode_New"} <= set(stubs.values())
    # A bind in __data (not __got: `imported_pointer`) names its import, from the chained
    # fixups or from the classic bind opcodes; the word itself reads as 0.
    binds = [a for _n, start, size, kind in image.section_ranges() if kind == DATA
             for a in range(start, start + size, 8) if image.bound_symbol(a)]
    classic_only = set() if chained else {"dyld_stub_binder"}   # lazy binding helper
    assert {image.bound_symbol(a) for a in binds} == {"PyModuleDef_Init", "PyUnicode_New",
                                                      *classic_only}
    (data_bind,) = [a for a in binds if image.section_name(a) == "__DATA,__data"]
    assert image.bound_symbol(data_bind) == "PyUnicode_New"
    assert image.read_pointer(data_bind) == 0


@pytest.mark.parametrize("which", ["dyld_info", "chained"])
@pytest.mark.network
def test_without_symbol_table_dyld_tables_give_exports_and_imports(which: str) -> None:
    """With LC_SYMTAB emptied, exports come from the export trie (LC_DYLD_INFO export_off or
    LC_DYLD_EXPORTS_TRIE) and imports from the bind opcodes / chained-fixup imports."""
    key, member = MARKUPSAFE_ARM64 if which == "dyld_info" else MLX_CHAINED
    data = bytearray(member_bytes(key, member))
    full = MachOImage(bytes(data), member)
    symtab_cmd = data.find(struct.pack("<II", 2, 24), 32)   # LC_SYMTAB, cmdsize 24
    struct.pack_into("<I", data, symtab_cmd + 12, 0)        # nsyms = 0
    stripped = MachOImage(bytes(data), member)
    assert dict(stripped.exports()) == dict(full.exports())
    assert stripped.exports()
    if which == "dyld_info":
        # Classic binds also name dyld_stub_binder, which the symbol table lists as well.
        assert stripped.imports() == full.imports()
    else:
        assert full.imports() <= stripped.imports()
        assert {"PyModuleDef_Init", "_Py_DecRefShared"} <= stripped.imports()


# ---- dyld table decoders on hand-built input (layouts from <mach-o/fixup-chains.h>) -----------

def test_arm64e_chain_entries_follow_the_documented_bitfields() -> None:
    from auditor.binary import macho_dyld as dyld

    base = 0x100000000
    # dyld_chained_ptr_arm64e_rebase: target:43 high8:8 next:11 bind:1 auth:1
    rebase = 0x4_0000_1234 | (0xAB << 43) | (5 << 51)
    assert dyld.decode_chained(rebase, dyld.DYLD_CHAINED_PTR_ARM64E, base) == (
        dyld.REBASE, 0x4_0000_1234 | (0xAB << 56))
    assert dyld.decode_chained(rebase, dyld.DYLD_CHAINED_PTR_ARM64E_USERLAND, base) == (
        dyld.REBASE, base + (0x4_0000_1234 | (0xAB << 56)))
    assert dyld.chain_next(rebase, dyld.DYLD_CHAINED_PTR_ARM64E) == 5
    # dyld_chained_ptr_arm64e_auth_rebase: target:32 diversity:16 addrDiv:1 key:2 next:11 ...
    auth = 0x8765_4321 | (0xBEEF << 32) | (1 << 48) | (2 << 49) | (7 << 51) | (1 << 63)
    assert dyld.decode_chained(auth, dyld.DYLD_CHAINED_PTR_ARM64E, base) == (
        dyld.REBASE, base + 0x8765_4321)
    assert dyld.chain_next(auth, dyld.DYLD_CHAINED_PTR_ARM64E) == 7
    # dyld_chained_ptr_arm64e_bind / bind24: ordinal:16 (24) ... bind:1 at bit 62
    bind = 0x12_3456 | (1 << 62)
    assert dyld.decode_chained(bind, dyld.DYLD_CHAINED_PTR_ARM64E, base) == (dyld.BIND, 0x3456)
    assert dyld.decode_chained(bind, dyld.DYLD_CHAINED_PTR_ARM64E_USERLAND24, base) == (
        dyld.BIND, 0x12_3456)
    # dyld_chained_ptr_64_rebase: target:36 high8:8 reserved:7 next:12 bind:1
    rebase64 = 0x1234 | (0x80 << 36) | (0xFFF << 51)
    assert dyld.chain_next(rebase64, dyld.DYLD_CHAINED_PTR_64) == 0xFFF
    assert dyld.decode_chained(rebase64, dyld.DYLD_CHAINED_PTR_64_OFFSET, base) == (
        dyld.REBASE, base + (0x1234 | (0x80 << 56)))


def test_dyld_opcode_tables_reject_hostile_counts() -> None:
    from auditor.binary import macho_dyld as dyld

    segments = [(0x0, 0x4000), (0x4000, 0x4000)]
    # SET_SEGMENT(1)+0, DO_REBASE_ULEB_TIMES 2**40
    huge = bytes([0x21, 0x00, 0x60]) + bytes([0x80] * 5) + bytes([0x10])
    with pytest.raises(BinaryFormatError, match="more words than the file has"):
        dyld.rebase_addresses(huge, segments, 8, 4096, "r.so")
    # Rebasing past the segment end.
    past = bytes([0x21, 0x00, 0x60, 0x81, 0x10])    # 0x801 words from 0x4000
    with pytest.raises(BinaryFormatError, match="outside its segment"):
        dyld.rebase_addresses(past, segments, 8, 1 << 20, "r.so")
    with pytest.raises(BinaryFormatError, match="names segment 9"):
        dyld.rebase_addresses(bytes([0x29, 0x00, 0x51]), segments, 8, 1 << 20, "r.so")
    with pytest.raises(BinaryFormatError, match="before a segment was set"):
        dyld.bind_addresses(b"\x40_x\x00\x90", segments, 8, 1 << 20, "b.so")
    with pytest.raises(BinaryFormatError, match="ULEB128 runs past"):
        dyld.bind_addresses(b"\x71\x80\x80", segments, 8, 1 << 20, "b.so")
    assert dyld.bind_addresses(b"\x40_x\x00\x71\x08\x90\x00\x40_y\x00\x90", segments, 8, 99,
                               "b.so") == {0x4008: "_x"}
    assert dyld.bind_addresses(b"\x40_x\x00\x71\x08\x90\x00\x40_y\x00\x90", segments, 8, 99,
                               "b.so", "lazy bind", lazy=True) == {0x4008: "_x", 0x4010: "_y"}


def test_export_trie_cycle_and_names() -> None:
    from auditor.binary import macho_dyld as dyld

    # root: no terminal, one child "_f" -> node 6; node 6: terminal (flags 0, offset 0x40),
    # no children.
    trie = b"\x00\x01_f\x00\x06" + b"\x02\x00\x40\x00"
    assert dyld.export_trie(trie, "t.so") == {"_f": 0x40}
    looping = b"\x00\x01_f\x00\x00"          # the child is the root again
    with pytest.raises(BinaryFormatError, match="cycle"):
        dyld.export_trie(looping, "t.so")
