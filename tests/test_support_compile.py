"""Sanity checks for tests/support/compile.py: the fixtures it builds are real extensions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.compile import (
    CompileError,
    compile_cython,
    compile_extension,
    cython_to_c,
    ext_suffix,
    limited_api_hex,
    require_toolchain,
)
from tests.support.pyenv import pyenv_python
from tests.support.unavailable import skip_or_fail

pytestmark = pytest.mark.slow   # compiles fixtures for several interpreters: over a few seconds

SINGLE_PHASE = r"""
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *unused) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "single", NULL, 0, methods};
PyMODINIT_FUNC PyInit_single(void) { return PyModule_Create(&def); }
"""


def _pyenv_or_skip(minor: int) -> Path:
    python = pyenv_python(minor)
    if python is None:
        skip_or_fail(f"pyenv CPython 3.{minor} is not installed")
    return python


def test_ext_suffixes() -> None:
    assert ext_suffix(14, free_threaded=True) == ".cpython-314t-x86_64-linux-gnu.so"
    assert ext_suffix(13) == ".cpython-313-x86_64-linux-gnu.so"
    assert ext_suffix(13, arch="i686") == ".cpython-313-i386-linux-gnu.so"
    assert ext_suffix(14, arch="aarch64") == ".cpython-314-aarch64-linux-gnu.so"
    assert ext_suffix(12, limited_api=12) == ".abi3.so"
    assert ext_suffix(15, limited_api=15, free_threaded=True) == ".abi3t.so"
    assert ext_suffix(15, abi3t=0x030F0000) == ".abi3t.so"
    assert limited_api_hex(12) == 0x030C0000
    assert limited_api_hex(0x030A0000) == 0x030A0000


@pytest.mark.parametrize("minor", [9, 12, 13])
def test_pyenv_headers_build_importable_module(tmp_path: Path, minor: int) -> None:
    python = _pyenv_or_skip(minor)
    so = compile_extension(SINGLE_PHASE, "single", python=f"3.{minor}", out_dir=tmp_path,
                           headers="pyenv")
    assert so.name == f"single.cpython-3{minor}-x86_64-linux-gnu.so"
    out = subprocess.run([str(python), "-c", "import single; print(single.answer())"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "42", out.stderr


def test_limited_api_named_abi3(tmp_path: Path) -> None:
    python = _pyenv_or_skip(12)
    so = compile_extension(SINGLE_PHASE, "single", python="3.12", out_dir=tmp_path,
                           limited_api=0x030A0000, headers="pyenv")
    assert so.name == "single.abi3.so"
    out = subprocess.run([str(python), "-c", "import single; print(single.answer())"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "42", out.stderr


def test_compile_error_carries_stderr(tmp_path: Path) -> None:
    _pyenv_or_skip(12)
    with pytest.raises(CompileError) as info:
        compile_extension("#include <Python.h>\nint broken( {", "broken", python="3.12",
                          out_dir=tmp_path, headers="pyenv")
    assert "error" in info.value.stderr
    assert not list(tmp_path.glob("broken*.so"))


def test_cython_module_builds_and_runs(tmp_path: Path) -> None:
    python = _pyenv_or_skip(12)
    so = compile_cython("def add_one(x):\n    return x + 1\n", "cyfix",
                        directives={"freethreading_compatible": True}, python="3.12",
                        out_dir=tmp_path, headers="pyenv")
    assert so.name == "cyfix.cpython-312-x86_64-linux-gnu.so"
    out = subprocess.run([str(python), "-c", "import cyfix; print(cyfix.add_one(41))"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "42", out.stderr


# -- sid headers: GIL fixtures import under sid, free-threaded fixtures match cp3XXt layout --

MULTI_PHASE = r"""
#include <Python.h>
static int exec_module(PyObject *module) {
    /* A DECREF of a fresh, non-immortal object: free-threaded builds route this through
       _Py_DecRefShared, GIL builds never import it. */
    PyObject *big = PyLong_FromLong(1000003);
    if (big == NULL) return -1;
    Py_DECREF(big);
    return PyModule_AddIntConstant(module, "answer", 42);
}
static PyModuleDef_Slot gilmod_slots[] = {
    {Py_mod_exec, exec_module},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL},
};
/* Not static: the test finds it in .dynsym to read its on-disk header bytes. */
PyModuleDef gilmod_def = {PyModuleDef_HEAD_INIT, "gilmod", NULL, 0, NULL, gilmod_slots};
PyMODINIT_FUNC PyInit_gilmod(void) { return PyModuleDef_Init(&gilmod_def); }
"""

# Reads the live PyModuleDef of an imported module through ctypes (GIL 64-bit layout,
# capi reference 2.2) and prints its slots as "id value" lines.
SLOTS_VIA_CTYPES = r"""
import ctypes, gilmod

class Slot(ctypes.Structure):
    _fields_ = [("slot", ctypes.c_int), ("value", ctypes.c_void_p)]
class ModuleDef(ctypes.Structure):
    _fields_ = [("ob_refcnt", ctypes.c_ssize_t), ("ob_type", ctypes.c_void_p),
                ("m_init", ctypes.c_void_p), ("m_index", ctypes.c_ssize_t), ("m_copy", ctypes.c_void_p),
                ("m_name", ctypes.c_char_p), ("m_doc", ctypes.c_char_p), ("m_size", ctypes.c_ssize_t),
                ("m_methods", ctypes.c_void_p), ("m_slots", ctypes.POINTER(Slot))]
get_def = ctypes.pythonapi.PyModule_GetDef
get_def.restype = ctypes.POINTER(ModuleDef)
get_def.argtypes = [ctypes.py_object]
module_def = get_def(gilmod).contents
print(module_def.m_name.decode(), gilmod.answer)
index = 0
while module_def.m_slots[index].slot:
    print(module_def.m_slots[index].slot, module_def.m_slots[index].value or 0)
    index += 1
"""

# (exec, multiple_interpreters, gil) slot IDs as compiled: 3.15 renumbered them (capi ref 1.1).
SLOT_IDS = {13: (2, 3, 4), 14: (2, 3, 4), 15: (85, 86, 87)}


def _sid_headers_or_skip(minor: int, arch: str = "x86_64") -> None:
    from tests.support.sid import require_sid_headers

    require_toolchain(arch)
    require_sid_headers(minor, arch)


def _undefined_dynamic_symbols(so: Path) -> set[str]:
    out = subprocess.run(["nm", "-D", "--undefined-only", str(so)], capture_output=True, text=True, check=True)
    return {line.split()[-1].split("@")[0] for line in out.stdout.splitlines() if line.strip()}


def _symbol_bytes(so: Path, name: str, size: int) -> tuple[str, bytes]:
    """(ELF machine, first `size` bytes of the data symbol `name`) read from the file."""
    from elftools.elf.elffile import ELFFile

    with so.open("rb") as handle:
        elf = ELFFile(handle)
        symbol = elf.get_section_by_name(".dynsym").get_symbol_by_name(name)[0]
        address = symbol["st_value"]
        for section in elf.iter_sections():
            start = section["sh_addr"]
            if section["sh_type"] != "SHT_NOBITS" and start <= address < start + section["sh_size"]:
                handle.seek(section["sh_offset"] + address - start)
                return elf["e_machine"], handle.read(size)
    raise AssertionError(f"{name} not in a file-backed section of {so}")


@pytest.mark.network
@pytest.mark.parametrize("minor", [13, 14, 15])
def test_gil_multiphase_module_imports_under_sid_and_reports_slots(tmp_path: Path, minor: int) -> None:
    from tests.support.sid import require_sid, run_sid

    _sid_headers_or_skip(minor)
    require_sid(minor)
    so = compile_extension(MULTI_PHASE, "gilmod", python=f"3.{minor}", out_dir=tmp_path)
    assert so.name == f"gilmod.cpython-3{minor}-x86_64-linux-gnu.so"
    result = run_sid(minor, SLOTS_VIA_CTYPES, pythonpath=[tmp_path])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "gilmod 42"
    slots = [tuple(int(word) for word in line.split()) for line in lines[1:]]
    exec_id, interp_id, gil_id = SLOT_IDS[minor]
    assert [slot_id for slot_id, _ in slots] == [exec_id, interp_id, gil_id]
    assert slots[0][1] != 0  # the exec function pointer
    assert slots[1][1] == 2  # Py_MOD_PER_INTERPRETER_GIL_SUPPORTED
    assert slots[2][1] == 1  # Py_MOD_GIL_NOT_USED
    assert "_Py_DecRefShared" not in _undefined_dynamic_symbols(so)


@pytest.mark.network
def test_gil_module_imports_in_own_gil_subinterpreter(tmp_path: Path) -> None:
    from tests.support.sid import require_sid, run_sid

    _sid_headers_or_skip(14)
    require_sid(14)
    compile_extension(MULTI_PHASE, "gilmod", python="3.14", out_dir=tmp_path)
    code = ("from concurrent import interpreters\n"
            "interp = interpreters.create()\n"
            "interp.exec('import gilmod; assert gilmod.answer == 42')\n"
            "interp.close()\nprint('ok')")
    result = run_sid(14, code, pythonpath=[tmp_path])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# On-disk PyModuleDef header bytes per build (capi reference 2.3).
GIL_HEAD_64 = {13: bytes.fromhex("ffffffff00000000") + bytes(8),
               14: bytes.fromhex("000000c000000500") + bytes(8),
               15: bytes.fromhex("000000c000000500") + bytes(8)}
FT_HEAD_64 = {13: bytes(8) + bytes.fromhex("00000000ffffffff"),
              14: bytes(8) + bytes.fromhex("04000000ffffffff"),
              15: bytes(8) + bytes.fromhex("04000000ffffffff")}


@pytest.mark.network
@pytest.mark.parametrize("minor", [13, 14, 15])
def test_free_threaded_fixture_has_ft_abi(tmp_path: Path, minor: int) -> None:
    _sid_headers_or_skip(minor)
    ft = compile_extension(MULTI_PHASE, "gilmod", python=f"3.{minor}", free_threaded=True, out_dir=tmp_path)
    gil = compile_extension(MULTI_PHASE, "gilmod", python=f"3.{minor}", out_dir=tmp_path)
    assert ft.name == f"gilmod.cpython-3{minor}t-x86_64-linux-gnu.so"
    assert "_Py_DecRefShared" in _undefined_dynamic_symbols(ft)
    machine, ft_head = _symbol_bytes(ft, "gilmod_def", 16)
    assert machine == "EM_X86_64"
    assert ft_head == FT_HEAD_64[minor]
    assert _symbol_bytes(gil, "gilmod_def", 16)[1] == GIL_HEAD_64[minor]


@pytest.mark.network
def test_i686_fixtures_use_32bit_layout(tmp_path: Path) -> None:
    _sid_headers_or_skip(14, "i686")
    ft = compile_extension(MULTI_PHASE, "gilmod", python="3.14", free_threaded=True, arch="i686", out_dir=tmp_path)
    gil = compile_extension(MULTI_PHASE, "gilmod", python="3.14", arch="i686", out_dir=tmp_path)
    assert ft.name == "gilmod.cpython-314t-i386-linux-gnu.so"
    assert gil.name == "gilmod.cpython-314-i386-linux-gnu.so"
    machine, ft_head = _symbol_bytes(ft, "gilmod_def", 20)
    assert machine == "EM_386"
    assert ft_head == bytes(4) + bytes.fromhex("04000000ffffffff") + bytes(8)
    assert _symbol_bytes(gil, "gilmod_def", 8)[1] == bytes.fromhex("00000070") + bytes(4)


@pytest.mark.network
def test_aarch64_fixture_is_arm64_ft(tmp_path: Path) -> None:
    _sid_headers_or_skip(14, "aarch64")
    ft = compile_extension(MULTI_PHASE, "gilmod", python="3.14", free_threaded=True, arch="aarch64",
                           out_dir=tmp_path)
    assert ft.name == "gilmod.cpython-314t-aarch64-linux-gnu.so"
    machine, ft_head = _symbol_bytes(ft, "gilmod_def", 16)
    assert machine == "EM_AARCH64"
    assert ft_head == FT_HEAD_64[14]
    assert "_Py_DecRefShared" in _undefined_dynamic_symbols(ft)


ABI3T_MODULE = r"""
#include <Python.h>
PyABIInfo_VAR(abi_info);
static PyObject *answer(PyObject *self, PyObject *unused) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL}};
static PySlot slots[] = {
    PySlot_STATIC_DATA(Py_mod_abi, &abi_info),
    PySlot_STATIC_DATA(Py_mod_name, "abimod"),
    PySlot_STATIC_DATA(Py_mod_methods, methods),  /* 3.15.2: "Py_mod_methods requires PySlot_STATIC" */
    PySlot_DATA(Py_mod_gil, Py_MOD_GIL_NOT_USED),
    PySlot_END
};
PyMODEXPORT_FUNC PyModExport_abimod(void) { return slots; }
"""


@pytest.mark.network
def test_abi3t_module_builds_and_imports_under_gil_315(tmp_path: Path) -> None:
    """PEP 803: a 3.15 GIL interpreter also loads NAME.abi3t.so."""
    from tests.support.sid import require_sid, run_sid

    _sid_headers_or_skip(15)
    require_sid(15)
    so = compile_extension(ABI3T_MODULE, "abimod", python="3.15", abi3t=0x030F0000, out_dir=tmp_path)
    assert so.name == "abimod.abi3t.so"
    exports = subprocess.run(["nm", "-D", "--defined-only", str(so)], capture_output=True, text=True).stdout
    assert "PyModExport_abimod" in exports and "PyInit_abimod" not in exports
    result = run_sid(15, "import abimod; print(abimod.__file__.rsplit('/', 1)[1], abimod.answer())",
                     pythonpath=[tmp_path])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["abimod.abi3t.so", "42"]


@pytest.mark.network
def test_limited_api_refused_for_314t(tmp_path: Path) -> None:
    """The 3.14 headers reject Py_LIMITED_API with Py_GIL_DISABLED; the error text comes back."""
    _sid_headers_or_skip(14)
    with pytest.raises(CompileError) as info:
        compile_extension(MULTI_PHASE, "gilmod", python="3.14", free_threaded=True, limited_api=14,
                          out_dir=tmp_path)
    assert "limited API is not currently supported in the free-threaded build" in info.value.stderr


@pytest.mark.network
def test_cython_fixture_for_sid_314_imports_and_ft_build_links_ft_abi(tmp_path: Path) -> None:
    from tests.support.sid import require_sid, run_sid

    _sid_headers_or_skip(14)
    require_sid(14)
    # One Cython run, two builds: Cython's C is the same for both ABIs.
    c_source = cython_to_c("def add_one(x):\n    return x + 1\n", "cyfix",
                           directives={"freethreading_compatible": True})
    gil = compile_extension(c_source, "cyfix", python="3.14", out_dir=tmp_path / "gil")
    ft = compile_extension(c_source, "cyfix", python="3.14", free_threaded=True, out_dir=tmp_path / "ft")
    assert ft.name == "cyfix.cpython-314t-x86_64-linux-gnu.so"
    result = run_sid(14, "import cyfix; print(cyfix.add_one(41))", pythonpath=[gil.parent])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"
    assert "_Py_DecRefShared" in _undefined_dynamic_symbols(ft)
    assert "_Py_DecRefShared" not in _undefined_dynamic_symbols(gil)


def test_require_extension_skips_when_headers_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import compile as compile_module

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(compile_module, "pyenv_include_dir", lambda minor: None)
    with pytest.raises(pytest.skip.Exception, match=r"no pyenv CPython 3\.12"):
        compile_module.require_extension(SINGLE_PHASE, "single", python="3.12", out_dir=tmp_path,
                                         headers="pyenv")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="unavailable in CI"):
        compile_module.require_extension(SINGLE_PHASE, "single", python="3.12", out_dir=tmp_path,
                                         headers="pyenv")
