"""The ELF reader against compiled fixtures (x86-64, i686 REL, aarch64) with pyelftools and
objdump as independent oracles, and against hostile input."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from auditor.binary.base import BSS, DATA, RODATA, TEXT
from auditor.binary.elf import ElfImage
from auditor.binary.loader import open_images
from auditor.errors import BinaryFormatError
from auditor.inspect import inspect_module
from tests.support.compile import compile_extension, have_toolchain
from tests.support.unavailable import SupportUnavailable, skip_or_fail

SLOTS_C = (Path(__file__).parent / "fixtures" / "c" / "slots.c").read_text()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("elf")
    cache: dict[tuple, Path] = {}

    def _built(arch: str = "x86_64", single_phase: bool = False, opt: str = "-O2") -> Path:
        key = (arch, single_phase, opt)
        if key not in cache:
            if not have_toolchain(arch):
                skip_or_fail(f"no C toolchain for {arch}")
            name = f"elf_{arch}_{'sp' if single_phase else 'mp'}{opt[2]}"
            flags = [f"-DMODNAME={name}", "-DGIL=1", "-DMI=2", opt]
            if single_phase:
                flags += ["-DSINGLE_PHASE", "-DSETGIL=1"]
            try:
                cache[key] = compile_extension(SLOTS_C, name, python="3.14", free_threaded=True,
                                               out_dir=out, cflags=flags, arch=arch)
            except SupportUnavailable as exc:
                skip_or_fail(exc.reason)
        return cache[key]

    return _built


def _image(path: Path) -> ElfImage:
    [image] = open_images(path)
    assert isinstance(image, ElfImage)
    return image


# ------------------------------------------------------------------ against pyelftools
@pytest.mark.parametrize("arch", ["x86_64", "i686", "aarch64"])
def test_symbols_and_needed_match_pyelftools(built, arch):
    elftools = pytest.importorskip("elftools.elf.elffile")
    path = built(arch)
    with open(path, "rb") as fh:
        ref = elftools.ELFFile(fh)
        dynsym = ref.get_section_by_name(".dynsym")
        ref_imports = {s.name for s in dynsym.iter_symbols() if s.name and s["st_shndx"] == "SHN_UNDEF"}
        ref_exports = {s.name: s["st_value"] for s in dynsym.iter_symbols()
                       if s.name and s["st_shndx"] != "SHN_UNDEF"
                       and s["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK")
                       and s["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT")}
        ref_needed = tuple(t.needed for t in ref.get_section_by_name(".dynamic").iter_tags()
                           if t.entry.d_tag == "DT_NEEDED")
    image = _image(path)
    assert image.imports() == ref_imports
    assert dict(image.exports()) == ref_exports
    assert image.needed_libraries() == ref_needed
    assert f"PyInit_elf_{arch}_mp2" in image.exports()
    assert {"PyModuleDef_Init", "_Py_DecRefShared", "PyDict_GetItem"} <= image.imports()
    assert image.arch == arch
    assert image.pointer_size == (4 if arch == "i686" else 8)


@pytest.mark.parametrize("arch", ["x86_64", "i686", "aarch64"])
def test_read_pointer_applies_relative_relocations(built, arch):
    elftools = pytest.importorskip("elftools.elf.elffile")
    from elftools.elf.relocation import RelocationSection
    path = built(arch)
    image = _image(path)
    relative = {"x86_64": 8, "i686": 8, "aarch64": 1027}[arch]
    checked = 0
    with open(path, "rb") as fh:
        ref = elftools.ELFFile(fh)
        for sec in ref.iter_sections():
            if not isinstance(sec, RelocationSection):
                continue
            for rel in sec.iter_relocations():
                if rel["r_info_type"] != relative:
                    continue
                if sec.is_RELA():
                    expected = rel["r_addend"]
                else:   # REL (i686): the addend is stored in place
                    raw = image.read(rel["r_offset"], 4)
                    expected = struct.unpack("<I", raw)[0]
                assert image.read_pointer(rel["r_offset"]) == expected
                checked += 1
    assert checked >= 3          # the def's m_name/m_doc/m_methods/m_slots at least


def test_section_kinds(built):
    image = _image(built("x86_64"))
    names = {s.name: s for s in image.sections()}
    assert image.section_kind(names[".text"].addr) == TEXT
    assert image.section_kind(names[".rodata"].addr) == RODATA
    assert image.section_kind(names[".data"].addr) == DATA
    assert image.section_kind(names[".bss"].addr) == BSS
    assert image.section_kind(0x7FFF_FFFF_0000) is None
    assert image.read(names[".bss"].addr, 4) == b"\0\0\0\0"
    assert image.contains(b"multi-phase test module")
    assert not image.contains(b"no such string anywhere in the file")


@pytest.mark.parametrize("arch", ["x86_64", "i686", "aarch64"])
def test_call_stubs_match_objdump(built, arch):
    objdump = shutil.which("objdump") if arch != "aarch64" else (
        shutil.which("aarch64-linux-gnu-objdump") or shutil.which("objdump"))
    if objdump is None:
        pytest.skip("objdump not installed")
    path = built(arch, single_phase=True)
    out = subprocess.run([objdump, "-d", str(path)], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"objdump cannot read {arch}: {out.stderr.strip()}")
    expected = {int(a, 16): n for a, n in re.findall(r"^([0-9a-f]+) <(\w+)@plt>:", out.stdout, re.M)}
    assert expected, out.stdout[:500]
    stubs = _image(path).call_stubs()
    for addr, name in expected.items():
        assert stubs.get(addr) == name, (hex(addr), name)
    assert "PyUnstable_Module_SetGIL" in expected.values()


# ------------------------------------------------------------------ hostile input
def _expect_error(data: bytes, tmp_path: Path, name: str, reason: str) -> None:
    target = tmp_path / name
    target.write_bytes(data)
    with pytest.raises(BinaryFormatError) as info:
        open_images(target)
    message = info.value.one_line()
    assert "\n" not in message
    assert message.startswith(str(target) + ": ")
    assert reason in message, message
    report = inspect_module(target)           # never raises, says why
    assert report.errors == (message,)
    assert report.free_threading.value == "unknown"
    assert report.subinterpreters.value == "unknown"
    assert reason in report.free_threading.reason


def test_zero_length_file(tmp_path):
    _expect_error(b"", tmp_path, "empty.cpython-314t-x86_64-linux-gnu.so", "empty file (0 bytes)")


def test_text_file_named_so(tmp_path):
    _expect_error(b"INPUT(-lfoo)\n", tmp_path, "libtext.so",
                  "not an ELF, Mach-O or PE file (magic 49 4e 50 55)")


def test_truncated_elf(built, tmp_path):
    data = built("x86_64").read_bytes()
    _expect_error(data[:40], tmp_path, "t40.so", "truncated: 40 bytes, ELF header needs 64")
    _expect_error(data[:len(data) // 2], tmp_path, "half.so", "ends past end of file")


def test_absurd_section_count(built, tmp_path):
    data = bytearray(built("x86_64").read_bytes())
    struct.pack_into("<H", data, 60, 0xFFFF)          # e_shnum
    _expect_error(bytes(data), tmp_path, "shnum.so", "ends past end of file")


def test_section_offset_beyond_eof(built, tmp_path):
    data = bytearray(built("x86_64").read_bytes())
    shoff, = struct.unpack_from("<Q", data, 40)
    shentsize, = struct.unpack_from("<H", data, 58)
    struct.pack_into("<Q", data, shoff + 1 * shentsize + 24, len(data) + 0x1000)  # sh_offset of #1
    _expect_error(bytes(data), tmp_path, "shoff.so", "ends past end of file")


def test_absurd_program_header_count(built, tmp_path):
    data = bytearray(built("x86_64").read_bytes())
    struct.pack_into("<H", data, 56, 0xFFFF)          # e_phnum
    _expect_error(bytes(data), tmp_path, "phnum.so", "absurd program header count 65535")


def test_bytes_and_path_give_the_same_report(built):
    path = built("x86_64")
    from_path = inspect_module(path)
    from_bytes = inspect_module(path.read_bytes(), display=str(path))
    assert from_path == from_bytes


def test_fat_header_with_absurd_slice_count(tmp_path):
    # a Java class file also starts with cafebabe; its "slice count" is the class version
    _expect_error(b"\xca\xfe\xba\xbe\x00\x00\x00\x41" + b"\0" * 64, tmp_path, "Foo.so",
                  "absurd universal Mach-O slice count 65")


def test_mutated_binaries_never_raise(built):
    """Deterministic byte flips and truncations of a real fixture: inspect_module always
    returns a report; when it cannot read the file it says why in one line."""
    import random
    rng = random.Random(20261125)
    original = built("x86_64", single_phase=True).read_bytes()
    outcomes = set()
    for _ in range(300):
        data = bytearray(original)
        for _ in range(rng.randint(1, 12)):
            pos = rng.randrange(0x100) if rng.random() < 0.5 else rng.randrange(len(data))
            data[pos] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[:rng.randrange(len(data))]
        report = inspect_module(bytes(data), display="mutant.so")
        assert all("\n" not in e and e.startswith("mutant.so: ") for e in report.errors)
        outcomes.add(report.format)
    assert outcomes >= {None, "elf"}


def test_ibt_plt_sec_stubs_and_setgil(tmp_path):
    """-fcf-protection: calls go to .plt.sec entries (endbr64; bnd jmp [rip+GOT])."""
    if not have_toolchain("x86_64"):
        skip_or_fail("no C toolchain for x86_64")
    try:
        path = compile_extension(SLOTS_C, "ibt", python="3.14", free_threaded=True, out_dir=tmp_path,
                                 cflags=["-DMODNAME=ibt", "-DSINGLE_PHASE", "-DSETGIL=1", "-O2",
                                         "-fcf-protection=full", "-Wl,-z,ibtplt"])
    except SupportUnavailable as exc:
        skip_or_fail(exc.reason)
    image = _image(path)
    plt_sec = next((s for s in image.sections() if s.name == ".plt.sec"), None)
    assert plt_sec is not None, [s.name for s in image.sections()]
    stubs = image.call_stubs()
    in_sec = {a: n for a, n in stubs.items() if plt_sec.addr <= a < plt_sec.addr + plt_sec.size}
    assert "PyUnstable_Module_SetGIL" in in_sec.values()
    report = inspect_module(path)
    assert report.gil == "not-used", report.free_threading.reason


def test_file_without_section_headers_reads_through_the_dynamic_segment(built, tmp_path):
    original = built("x86_64")
    data = bytearray(original.read_bytes())
    struct.pack_into("<Q", data, 40, 0)                 # e_shoff
    struct.pack_into("<HHH", data, 58, 0, 0, 0)         # e_shentsize, e_shnum, e_shstrndx
    stripped = tmp_path / original.name
    stripped.write_bytes(bytes(data))
    full, bare = _image(original), _image(stripped)
    assert bare.sections() == []
    assert bare.imports() == full.imports()
    assert dict(bare.exports()) == dict(full.exports())
    assert bare.needed_libraries() == full.needed_libraries()
    a, b = inspect_module(original), inspect_module(stripped)
    assert (b.init, b.gil, b.multiple_interpreters) == (a.init, a.gil, a.multiple_interpreters)
    assert b.free_threading.value == a.free_threading.value == "ready"


def test_missing_file_and_directory_are_one_line_errors(tmp_path):
    for target, reason in ((tmp_path / "gone.so", "cannot read: No such file or directory"),
                           (tmp_path, "cannot read: Is a directory")):
        report = inspect_module(target)
        assert report.format is None
        assert report.errors == (f"{target}: {reason}",)
        assert report.free_threading.value == report.subinterpreters.value == "unknown"


def test_dynsym_names_stored_as_suffixes_resolve():
    """A linker may store a .dynsym name as the tail of a longer .dynstr string (suffix
    sharing): mypy's mypyc library has such names. Each resolves to what reading .dynstr at its
    offset gives, and the exports and imports hold the resolved names."""
    import zipfile

    from tests.support.wheels import require_wheel

    with zipfile.ZipFile(require_wheel("mypy-2.4.1-cp314t-manylinux-x86_64")) as wheel:
        member = next(n for n in wheel.namelist() if n.endswith("__mypyc.cpython-314t-x86_64-linux-gnu.so"))
        data = wheel.read(member)
    image = ElfImage(data, member)
    dynsym, dynstr = image.section(".dynsym"), image.section(".dynstr")
    table = data[dynstr.offset:dynstr.offset + dynstr.size]
    offsets = [n for n, *_ in struct.iter_unpack("<I20x", data[dynsym.offset:dynsym.offset + dynsym.size])]
    mid_string = [k for k, off in enumerate(offsets) if off and table[off - 1] != 0]
    assert len(mid_string) == 23
    expected = [table[off:table.index(b"\0", off)].decode() for off in offsets]
    assert [s[0] for s in image.symbols()] == expected
    assert {expected[k] for k in mid_string} <= image.imports() | set(image.exports())
    assert "PyObject_Hash" in {expected[k] for k in mid_string}
