"""inspect_module on members of pinned real wheels from PyPI (read with zipfile into bytes).

Each row records what the binary shows, checked by hand against objdump/readelf and the
C-API reference (capi-reference [WHEELS]).
"""

from __future__ import annotations

import zipfile

import pytest

from auditor.inspect import inspect_module, module_name_from_path
from tests.support.wheels import require_wheel

pytestmark = pytest.mark.network


def member_report(key: str, member: str):
    path = require_wheel(key)
    with zipfile.ZipFile(path) as zf:
        data = zf.read(member)
    return inspect_module(data, display=member, module_name=module_name_from_path(member))


# key, member, init, gil, multiple_interpreters (the declaration: single-phase defs and Cython's
# guarded modules declare nothing; the refusal is in subinterpreters), framework, free_threading,
# subinterpreters
CASES = [
    ("lxml-6.1.3-cp314t-manylinux-x86_64", "lxml/etree.cpython-314t-x86_64-linux-gnu.so",
     "multi-phase", "used", "undeclared", "cython", "reenables-gil", "not-supported"),
    ("lxml-6.1.3-cp314-manylinux-x86_64", "lxml/etree.cpython-314-x86_64-linux-gnu.so",
     "multi-phase", "undeclared", "undeclared", "cython", "not-built-for-ft", "not-supported"),
    ("psutil-7.2.2-cp314t-manylinux-x86_64", "psutil/_psutil_linux.cpython-314t-x86_64-linux-gnu.so",
     "single-phase", "not-used", "undeclared", "c", "ready", "not-supported"),
    ("psutil-7.2.2-cp36-abi3-manylinux-x86_64", "psutil/_psutil_linux.abi3.so",
     "single-phase", "undeclared", "undeclared", "c", "not-built-for-ft", "not-supported"),
    ("markupsafe-3.0.4-cp314t-manylinux-x86_64", "markupsafe/_speedups.cpython-314t-x86_64-linux-gnu.so",
     "multi-phase", "not-used", "per-interpreter-gil", "c", "ready", "own-gil"),
    ("markupsafe-3.0.4-cp315t-manylinux-x86_64", "markupsafe/_speedups.cpython-315t-x86_64-linux-gnu.so",
     "multi-phase", "not-used", "per-interpreter-gil", "c", "ready", "own-gil"),
    ("markupsafe-3.0.4-cp314t-manylinux-aarch64", "markupsafe/_speedups.cpython-314t-aarch64-linux-gnu.so",
     "multi-phase", "not-used", "per-interpreter-gil", "c", "ready", "own-gil"),
    ("contourpy-1.4.0-cp314t-manylinux-x86_64", "contourpy/_contourpy.cpython-314t-x86_64-linux-gnu.so",
     "runtime-def", "not-used", "not-supported", "pybind11", "ready", "not-supported"),
    ("gemmi-0.7.5-cp314t-manylinux-x86_64", "gemmi/gemmi_ext.cpython-314t-x86_64-linux-gnu.so",
     "multi-phase", "undeclared", "not-supported", "nanobind", "reenables-gil", "not-supported"),
    ("pydantic-core-2.50.5-cp314t-manylinux-x86_64",
     "pydantic_core/_pydantic_core.cpython-314t-x86_64-linux-gnu.so",
     "multi-phase", "not-used", "undeclared", "pyo3", "ready", "shared-gil-only"),
    ("numpy-2.5.5-cp314t-manylinux-x86_64", "numpy/_core/_multiarray_umath.cpython-314t-x86_64-linux-gnu.so",
     "multi-phase", "not-used", "not-supported", "c", "ready", "not-supported"),
    ("rpds-py-2026.9.1-cp314t-manylinux-x86_64", "rpds/rpds.cpython-314t-x86_64-linux-gnu.so",
     "multi-phase", "not-used", "undeclared", "pyo3", "ready", "shared-gil-only"),
    ("rpds-py-2026.9.1-cp315t-manylinux-x86_64", "rpds/rpds.cpython-315t-x86_64-linux-gnu.so",
     "export-hook", "not-used", "undeclared", "pyo3", "ready", "shared-gil-only"),
    ("charset-normalizer-3.5.3-cp314t-manylinux-x86_64", "charset_normalizer/md.cpython-314t-x86_64-linux-gnu.so",
     "multi-phase", "not-used", "undeclared", "cython", "ready", "not-supported"),
    ("msgpack-1.2.4-cp314t-manylinux-x86_64", "msgpack/_cmsgpack.cpython-314t-x86_64-linux-gnu.so",
     "multi-phase", "not-used", "undeclared", "cython", "ready", "not-supported"),
    ("cryptography-50.0.2-cp315-abi3.abi3t-manylinux-x86_64", "cryptography/hazmat/bindings/_rust.abi3t.so",
     "export-hook", "not-used", "undeclared", "pyo3", "ready", "shared-gil-only"),
]


@pytest.mark.parametrize("key,member,init,gil,mi,framework,ft,sub", CASES,
                         ids=[c[0] for c in CASES])
def test_real_wheel_member(key, member, init, gil, mi, framework, ft, sub):
    report = member_report(key, member)
    assert report.format == "elf"
    assert report.errors == ()
    assert (report.init, report.gil, report.multiple_interpreters) == (init, gil, mi)
    assert report.framework == framework
    assert report.free_threading.value == ft, report.free_threading.reason
    assert report.subinterpreters.value == sub, report.subinterpreters.reason


def test_lxml_declares_gil_used_in_its_slot():
    report = member_report("lxml-6.1.3-cp314t-manylinux-x86_64", "lxml/etree.cpython-314t-x86_64-linux-gnu.so")
    assert report.free_threading.reason == "declares the GIL used (Py_mod_gil(4) = 0 Py_MOD_GIL_USED)"
    assert report.framework_version == "3.2.9"
    assert "Interpreter change detected" in report.subinterpreters.reason


def test_psutil_setgil_argument_is_read_from_code():
    report = member_report("psutil-7.2.2-cp314t-manylinux-x86_64",
                           "psutil/_psutil_linux.cpython-314t-x86_64-linux-gnu.so")
    assert "PyInit__psutil_linux calls PyUnstable_Module_SetGIL(m, 1 Py_MOD_GIL_NOT_USED)" in \
        report.free_threading.reason


def test_markupsafe_315_uses_the_new_slot_ids():
    report = member_report("markupsafe-3.0.4-cp315t-manylinux-x86_64",
                           "markupsafe/_speedups.cpython-315t-x86_64-linux-gnu.so")
    slots = next(e.detail for e in report.evidence if e.detail.startswith("slots:"))
    assert "Py_mod_multiple_interpreters(86)=2" in slots and "Py_mod_gil(87)=1" in slots


def test_markupsafe_313t_header_and_tiny_import_set():
    report = member_report("markupsafe-3.0.3-cp313t-manylinux-x86_64",
                           "markupsafe/_speedups.cpython-313t-x86_64-linux-gnu.so")
    # imports no refcount symbol at all: the FT ABI shows only in the def header bytes
    assert report.abi.free_threaded is True
    assert [e.kind for e in report.abi.evidence if e.kind != "filename"] == ["def-header"]
    assert "free-threaded header ft-313-64" in report.abi.evidence[-1].detail


def test_rpds_pyo3_header_has_ob_flags_zero():
    report = member_report("rpds-py-2026.9.1-cp314t-manylinux-x86_64", "rpds/rpds.cpython-314t-x86_64-linux-gnu.so")
    details = [e.detail for e in report.abi.evidence]
    assert not any(d.startswith("imports _Py_DecRefShared") for d in details)   # PyO3: _Py_DecRef
    assert any("free-threaded header ft-313-64" in d for d in details)


def test_rpds_315_export_hook_abi_info():
    report = member_report("rpds-py-2026.9.1-cp315t-manylinux-x86_64", "rpds/rpds.cpython-315t-x86_64-linux-gnu.so")
    abi_info = [e.detail for e in report.abi.evidence if e.kind == "abi-info"]
    assert len(abi_info) == 1 and "flags 0x0004 (FREETHREADED)" in abi_info[0]


def test_cryptography_abi3t_is_freethreading_agnostic():
    report = member_report("cryptography-50.0.2-cp315-abi3.abi3t-manylinux-x86_64",
                           "cryptography/hazmat/bindings/_rust.abi3t.so")
    assert report.abi.claimed == "abi3t"
    abi_info = [e.detail for e in report.abi.evidence if e.kind == "abi-info"]
    assert "flags 0x0007 (STABLE|GIL|FREETHREADED)" in abi_info[0]


def test_contourpy_slots_are_rebuilt_from_the_init_code():
    report = member_report("contourpy-1.4.0-cp314t-manylinux-x86_64",
                           "contourpy/_contourpy.cpython-314t-x86_64-linux-gnu.so")
    assert report.framework_version == "internals v12"
    init = next(e.detail for e in report.evidence if e.kind == "slot" and "zero-filled" in e.detail)
    assert "PyInit__contourpy stores them with constants" in init


def test_gemmi_nanobind_without_gil_slot_reenables_the_gil():
    report = member_report("gemmi-0.7.5-cp314t-manylinux-x86_64", "gemmi/gemmi_ext.cpython-314t-x86_64-linux-gnu.so")
    assert report.free_threading.reason.startswith("declares nothing about the GIL")
    assert "PyUnstable_TryIncRef" in report.port_markers


def test_cython_guard_decides_the_verdict_not_the_declaration():
    # lxml.etree has no Py_mod_multiple_interpreters slot (declares nothing); Cython's
    # single-interpreter check refuses a second interpreter, and the evidence says so
    report = member_report("lxml-6.1.3-cp314t-manylinux-x86_64", "lxml/etree.cpython-314t-x86_64-linux-gnu.so")
    assert report.multiple_interpreters == "undeclared"
    assert report.subinterpreters.value == "not-supported"
    assert report.subinterpreters.reason.startswith("cython: Cython without module state refuses")
    kinds = [(e.topic, e.kind) for e in report.subinterpreters.evidence]
    assert kinds == [("multiple_interpreters", "loader-rule"), ("subinterpreters", "framework-default")]


def test_mypyc_stub_points_at_its_shared_library():
    report = member_report("mypy-2.4.1-cp314-manylinux-x86_64", "mypy/api.cpython-314-x86_64-linux-gnu.so")
    assert report.framework == "mypyc"
    assert report.free_threading.value == "not-built-for-ft"
    assert report.subinterpreters.value == "unknown"
    assert "6ec57f84c680d3a3778b__mypyc" in report.subinterpreters.reason
    ft = member_report("mypy-2.4.1-cp314t-manylinux-x86_64", "mypy/api.cpython-314t-x86_64-linux-gnu.so")
    assert (ft.init, ft.gil, ft.multiple_interpreters) == ("multi-phase", "not-used", "not-supported")


def test_numpy_helper_library_is_not_an_extension_module():
    path = require_wheel("numpy-2.5.5-cp314t-manylinux-x86_64")
    with zipfile.ZipFile(path) as zf:
        member = next(n for n in zf.namelist() if n.startswith("numpy.libs/libscipy_openblas"))
        report = inspect_module(zf.read(member), display=member)
    assert report.init == "unknown"
    assert "exports no PyInit_*/PyModExport_* function" in report.subinterpreters.reason
    assert report.free_threading.value == "unknown"


def test_universal2_slices_are_all_inspected():
    report = member_report("charset-normalizer-3.5.3-cp314t-macosx10-universal2",
                           "charset_normalizer/md.cpython-314t-darwin.so")
    assert report.format == "macho"
    assert report.arch == "universal2(x86_64,aarch64)"
    assert report.free_threading.value == "ready"
    assert any(e.kind == "slice" and "agree" in e.detail for e in report.evidence)


def test_windows_single_phase_setgil_uses_the_microsoft_convention():
    report = member_report("psutil-7.2.2-cp314t-win-amd64", "psutil/_psutil_windows.cp314t-win_amd64.pyd")
    assert report.format == "pe"
    assert (report.init, report.gil) == ("single-phase", "not-used")
    assert report.free_threading.value == "ready"


def test_contourpy_macos_arm64_slots_rebuilt_from_aarch64_code():
    report = member_report("contourpy-1.4.0-cp314t-macosx11-arm64",
                           "contourpy/_contourpy.cpython-314t-darwin.so")
    assert (report.format, report.arch, report.init) == ("macho", "aarch64", "runtime-def")
    assert (report.gil, report.multiple_interpreters) == ("not-used", "not-supported")
    assert report.free_threading.value == "ready"


def test_windows_dll_name_shows_the_abi():
    report = member_report("markupsafe-3.0.4-cp314t-win-amd64", "markupsafe/_speedups.cp314t-win_amd64.pyd")
    dll = [e.detail for e in report.abi.evidence if e.kind == "dll"]
    assert dll == ["links python314t.dll (ft build)"]
    assert report.free_threading.value == "ready" and report.subinterpreters.value == "own-gil"


def test_pyo3_header_quirk_is_explained_not_flagged():
    report = member_report("rpds-py-2026.9.1-cp314t-manylinux-x86_64", "rpds/rpds.cpython-314t-x86_64-linux-gnu.so")
    notes = [e.detail for e in report.abi.evidence if e.detail.startswith("header ft-313-64 does not match")]
    assert len(notes) == 1 and "expected for PyO3" in notes[0]
    assert report.errors == () and report.abi_mismatch is None


def test_contourpy_windows_slots_staged_on_the_stack_by_msvc():
    report = member_report("contourpy-1.4.0-cp314t-win-amd64", "contourpy/_contourpy.cp314t-win_amd64.pyd")
    assert (report.format, report.init) == ("pe", "runtime-def")
    assert (report.gil, report.multiple_interpreters) == ("not-used", "not-supported")
    assert report.errors == ()
    assert report.free_threading.value == "ready"


def test_nanobind_heap_def_gil_follows_the_ft_abi_tag():
    report = member_report("mlx-0.32.4-cp314t-macosx14-arm64", "mlx/core.cpython-314t-darwin.so")
    assert (report.init, report.gil, report.multiple_interpreters) == ("runtime-def", "not-used", "not-supported")
    assert "nanobind ABI tag 'nanobind_system_libcpp_abi1_ft_a1_v22' has '_ft'" in report.free_threading.reason
    assert report.free_threading.value == "ready"
