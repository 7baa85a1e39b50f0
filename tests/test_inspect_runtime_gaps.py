"""Regression tests for static gaps the runtime comparison found
(benchmarks/compare_env_runtime.py on a ~45-package CPython 3.13 venv): modules whose static
answer was "unknown" while the binary holds the answer. Each row's expected values are what
CPython 3.13 reported at run time for the same file (PyModule_GetDef(mod)->m_slots walk and
sub-interpreter imports), and the binary facts were checked by hand with objdump/readelf.
"""

from __future__ import annotations

import zipfile

import pytest

from auditor.inspect import inspect_module, module_name_from_path
from tests.support.wheels import require_wheel

pytestmark = pytest.mark.network

COVERAGE = "coverage-7.17.4-cp313-manylinux-x86_64"
TRACER = "coverage/tracer.cpython-313-x86_64-linux-gnu.so"


def member_report(key: str, member: str):
    with zipfile.ZipFile(require_wheel(key)) as zf:
        data = zf.read(member)
    return inspect_module(data, display=member, module_name=module_name_from_path(member))


def test_weak_cxa_finalize_does_not_make_a_c_module_cplusplus():
    # coverage.tracer is C: its only __cxa_* import is crtstuff's weak __cxa_finalize, and its
    # one .init_array entry is frame_dummy. Its static slots are final (runtime: gil not-used,
    # multiple_interpreters not-supported).
    r = member_report(COVERAGE, TRACER)
    assert (r.init, r.gil, r.multiple_interpreters) == ("multi-phase", "not-used", "not-supported")
    assert r.subinterpreters.value == "not-supported"
    assert not any("load-time constructor" in e.detail for e in r.evidence)
    assert any("Py_mod_gil(4) = 1 Py_MOD_GIL_NOT_USED" in e.detail for e in r.free_threading.evidence)


def test_stripped_elf_function_extent_comes_from_the_unwind_table():
    # The wheel's tracer.so has no .symtab; frame_dummy (0x23d0, the .init_array entry) has no
    # FDE of its own, and the next FDE starts at 0x23e0 (DataStack_init): a 16-byte window,
    # not 4 KiB of the functions after it.
    from auditor.binary.loader import open_images

    with zipfile.ZipFile(require_wheel(COVERAGE)) as zf:
        data = zf.read(TRACER)
    (image,) = open_images(data, TRACER)
    try:
        assert image.constructors() == [0x23D0]
        assert image.function_size(0x23D0) == 0x10
        assert image.function_size(0x23E0) == 21       # DataStack_init: its dynsym st_size wins
        assert image.function_size(0x2E40) == 0x1030   # no symbol: FDE 0x2e40..0x3e61, next at 0x3e70
        assert image.function_size(0x4070) is None     # past the last FDE (.fini)
    finally:
        image.close()


ZSTD = "zstandard-0.25.0-cp313-manylinux-x86_64"


def test_cffi_module_is_single_phase_created_by_cffi_backend():
    # zstandard._cffi has no PyModuleDef and imports neither PyModule_Create2 nor
    # PyModuleDef_Init: PyInit__cffi imports _cffi_backend and calls
    # _init_cffi_1_0_external_module, which uses PyModule_Create (runtime: single-phase,
    # m_size -1, gil undeclared, refused by both kinds of sub-interpreter).
    r = member_report(ZSTD, "zstandard/_cffi.cpython-313-x86_64-linux-gnu.so")
    assert r.framework == "cffi"
    # a single-phase def has no slots: the declaration is absent; the refusal is the verdict
    assert (r.init, r.gil, r.multiple_interpreters) == ("single-phase", "undeclared", "undeclared")
    assert (r.free_threading.value, r.subinterpreters.value) == ("not-built-for-ft", "not-supported")
    assert any(e.topic == "subinterpreters" and e.kind == "loader-rule" and "_cffi_backend" in e.detail
               for e in r.subinterpreters.evidence)
    assert any(e.kind == "framework-default" and "PyModule_Create" in e.detail for e in r.evidence)
    assert any("cannot call PyUnstable_Module_SetGIL" in e.detail for e in r.free_threading.evidence)


def test_cffi_gil_on_a_free_threaded_build_is_left_to_cffi_backend():
    from auditor.inspect import _cffi_declarations
    from auditor.verdicts import ModuleFacts, free_threading_verdict

    f = ModuleFacts(name="m._cffi", path="m/_cffi.cpython-314t-x86_64-linux-gnu.so",
                    claimed="cp314t", init="single-phase", framework="cffi")
    f.abi_votes.append((True, "imports _Py_DecRefShared"))
    f.shows_ft, f.abi_reason = True, "imports _Py_DecRefShared"
    _cffi_declarations(f)
    assert (f.gil, f.multiple_interpreters) == ("unknown", "undeclared")
    verdict = free_threading_verdict(f)
    assert verdict.value == "unknown" and "_cffi_backend" in verdict.reason


ORJSON = "orjson-3.13.0-cp313-manylinux-x86_64"


def test_orjson_heap_def_and_slots_are_read_from_pyinit():
    # PyInit_orjson (pyo3-ffi, no static def): Box::new([slot; 4]) filled with
    # {2, exec} {3, 0} {4, 0} {0, 0} (and-with-0 stores), Box::new(PyModuleDef) with the PyO3
    # header copied from .rodata, m_name "orjson", m_slots = the first box, then
    # PyModuleDef_Init(def) at 0xf009 (runtime: multi-phase, gil used, not-supported).
    r = member_report(ORJSON, "orjson/orjson.cpython-313-x86_64-linux-gnu.so")
    assert (r.init, r.gil, r.multiple_interpreters) == ("runtime-def", "used", "not-supported")
    assert (r.free_threading.value, r.subinterpreters.value) == ("not-built-for-ft", "not-supported")
    assert r.errors == ()
    details = [e.detail for e in r.evidence]
    assert "slots: Py_mod_exec(2), Py_mod_multiple_interpreters(3)=0, Py_mod_gil(4)=0" in details
    assert any("passes it to PyModuleDef_Init at 0xf009" in d and "m_size 0" in d for d in details)
    assert any("refcnt1-64" in e.detail for e in r.abi.evidence)


# ------------------------------------------------------------------ heap def fixture
from tests.test_inspect_fixtures import _runtime_slots, build  # noqa: E402,F401 - shared fixture

HEAP_CASES = [
    # python, FT?, opt, defines, gil, multiple_interpreters
    ("3.14", True, "-O2", (), "not-used", "per-interpreter-gil"),
    ("3.14", True, "-O0", (), "not-used", "per-interpreter-gil"),
    ("3.13", False, "-Os", (), "not-used", "per-interpreter-gil"),
    ("3.14", True, "-O2", ("GIL=0", "MI=0"), "used", "not-supported"),
    ("3.14", True, "-O2", ("GIL_RUNTIME",), "unknown", "per-interpreter-gil"),
    ("3.14", True, "-O2", ("TOUCH_IN_CALLEE",), "unknown", "unknown"),
]


@pytest.mark.parametrize("python,ft,opt,defines,gil,mi", HEAP_CASES)
def test_heap_built_def_is_read_from_the_init_code(build, python, ft, opt, defines, gil, mi):
    name = f"heap{python[2:]}{'t' if ft else ''}{opt[2]}_" + ("_".join(defines).replace("=", "").lower() or "c")
    report = inspect_module(build("heap_def.c", name, python=python, free_threaded=ft, opt=opt, defines=defines))
    assert report.init == "runtime-def", report.subinterpreters.reason
    assert (report.gil, report.multiple_interpreters) == (gil, mi)
    assert report.abi.free_threaded is ft
    if "TOUCH_IN_CALLEE" in defines:
        assert "a call receives the def or its slot block" in report.free_threading.reason
    elif gil == "unknown":
        assert "gets its value at run time" in report.free_threading.reason


@pytest.mark.slow
def test_heap_built_def_matches_the_interpreter(build):
    path = build("heap_def.c", "heaprt13", python="3.13", opt="-O2")
    report = inspect_module(path)
    runtime = _runtime_slots("3.13", path)
    assert runtime == {"m_size": 0, "slots": [[3, 2], [4, 1]]}
    assert (report.gil, report.multiple_interpreters) == ("not-used", "per-interpreter-gil")


def test_heap_trace_forks_at_a_branch_and_keeps_each_paths_stores():
    # mov edi,0x40; call alloc; mov rbx,rax; test rbx,rbx; je L
    #   mov dword [rbx],4; mov qword [rbx+8],1; jmp M
    # L: mov dword [rbx],4; and qword [rbx+8],0
    # M: mov rdi,rbx; jmp [rip+0] (tail call)
    from auditor.binary import x86_heap

    code = bytes.fromhex(
        "bf40000000" "e800100000" "4889c3" "4885db" "7410"
        "c70304000000" "48c7430801000000" "eb0b"
        "c70304000000" "4883630800"
        "4889df" "ff2500000000")
    paths, complete = x86_heap.trace(code, 0x1000, lambda addr, size: None)
    assert complete
    ends = sorted(p.end for p in paths)
    assert ends == ["tail jump", "tail jump"]
    values = sorted(p.read_int(0, 8, 8) for p in paths)
    assert values == [0, 1]                         # one path per branch, values not merged
    for p in paths:
        alloc, tail = p.calls
        assert alloc.rdi == 0x40 and alloc.target == 0x1000 + 10 + 0x1000
        assert tail.rdi == x86_heap.Block(0) and tail.target == 0x1000 + len(code)
        assert p.read_int(0, 0, 4) == 4
