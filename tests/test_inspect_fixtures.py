"""inspect_module on extension modules compiled during the test run from tests/fixtures/c.

Free-threaded fixtures are built with -DPy_GIL_DISABLED=1 against Debian sid headers (no FT
interpreter exists here); GIL fixtures are also imported by the matching interpreter (pyenv
3.12, sid 3.13-3.15) and their PyModuleDef slots walked with ctypes, so the static answer is
checked against the runtime one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.inspect import inspect_module
from tests.support.compile import compile_extension, have_toolchain
from tests.support.unavailable import SupportUnavailable, skip_or_fail

C_DIR = Path(__file__).parent / "fixtures" / "c"


@pytest.fixture(scope="session")
def build(tmp_path_factory):
    """build(source, name, python=, free_threaded=, defines=(), opt=, arch=, **kw) -> Path.
    `defines` are NAME[=VALUE] macros; entries starting with "-" are passed as compiler flags."""
    out = tmp_path_factory.mktemp("ext")
    cache: dict[tuple, Path] = {}

    def _build(source: str, name: str, *, python: str = "3.14", free_threaded: bool = False,
               defines: tuple[str, ...] = (), opt: str = "-O2", arch: str = "x86_64", **kw) -> Path:
        key = (source, name, python, free_threaded, defines, opt, arch, tuple(sorted(kw.items())))
        if key not in cache:
            if not have_toolchain(arch):
                skip_or_fail(f"no C toolchain for {arch}")
            text = (C_DIR / source).read_text()
            flags = [f"-DMODNAME={name}", *(d if d.startswith("-") else f"-D{d}" for d in defines), opt]
            try:
                cache[key] = compile_extension(text, name, python=python, free_threaded=free_threaded,
                                               out_dir=out / f"{python}-{arch}", cflags=flags,
                                               arch=arch, **kw)
            except SupportUnavailable as exc:
                skip_or_fail(f"cannot build fixture: {exc.reason}")
        return cache[key]

    return _build


# ------------------------------------------------------------------ multi-phase slots
MULTI_PHASE_CASES = [
    # python, FT?, defines, gil, multiple_interpreters, free_threading, subinterpreters
    ("3.14", True, (), "undeclared", "undeclared", "reenables-gil", "shared-gil-only"),
    ("3.14", True, ("GIL=0", "MI=0"), "used", "not-supported", "reenables-gil", "not-supported"),
    ("3.14", True, ("GIL=1", "MI=1"), "not-used", "supported", "ready", "shared-gil-only"),
    ("3.14", True, ("GIL=1", "MI=2"), "not-used", "per-interpreter-gil", "ready", "own-gil"),
    ("3.14", True, ("NO_SLOTS",), "undeclared", "undeclared", "reenables-gil", "shared-gil-only"),
    ("3.13", True, ("GIL=1", "MI=2"), "not-used", "per-interpreter-gil", "ready", "own-gil"),
    ("3.15", True, ("GIL=1", "MI=2"), "not-used", "per-interpreter-gil", "ready", "own-gil"),
    ("3.15", True, ("GIL=0",), "used", "undeclared", "reenables-gil", "shared-gil-only"),
    ("3.14", False, ("GIL=1", "MI=2"), "not-used", "per-interpreter-gil", "not-built-for-ft", "own-gil"),
]


@pytest.mark.parametrize("python,ft,defines,gil,mi,ft_verdict,sub_verdict", MULTI_PHASE_CASES)
def test_multi_phase_slots(build, python, ft, defines, gil, mi, ft_verdict, sub_verdict):
    name = "mp_" + python.replace(".", "") + ("t" if ft else "") + "_" + "_".join(
        d.replace("=", "") for d in defines).lower()
    path = build("slots.c", name, python=python, free_threaded=ft, defines=defines)
    report = inspect_module(path)
    assert report.name == name
    assert report.format == "elf" and report.arch == "x86_64"
    assert report.init == "multi-phase"
    assert (report.gil, report.multiple_interpreters) == (gil, mi)
    assert report.free_threading.value == ft_verdict, report.free_threading.reason
    assert report.subinterpreters.value == sub_verdict, report.subinterpreters.reason
    assert report.abi.free_threaded is ft
    assert report.abi.claimed == f"cp3{python[2:]}{'t' if ft else ''}"
    assert report.errors == ()
    assert "PyDict_GetItem" in report.hazards
    assert report.framework == "c"


def test_315_slot_ids_are_84_to_87(build):
    path = build("slots.c", "ids315", python="3.15", free_threaded=True, defines=("GIL=1", "MI=2"))
    slots = next(e.detail for e in inspect_module(path).evidence if e.detail.startswith("slots:"))
    assert slots == "slots: Py_mod_exec(85), Py_mod_multiple_interpreters(86)=2, Py_mod_gil(87)=1"
    path = build("slots.c", "ids314", python="3.14", free_threaded=True, defines=("GIL=1", "MI=2"))
    slots = next(e.detail for e in inspect_module(path).evidence if e.detail.startswith("slots:"))
    assert slots == "slots: Py_mod_exec(2), Py_mod_multiple_interpreters(3)=2, Py_mod_gil(4)=1"


def test_invalid_slot_value_is_flagged(build):
    path = build("slots.c", "badvalue", free_threaded=True, defines=("GIL=7", "MI=5"))
    report = inspect_module(path)
    assert report.gil == "unknown" and report.multiple_interpreters == "unknown"
    assert report.free_threading.value == "unknown"
    assert "invalid Py_mod_gil value 7" in report.free_threading.reason
    assert report.subinterpreters.value == "unknown"
    assert any("invalid Py_mod_multiple_interpreters value 5" in e for e in report.errors)


@pytest.mark.parametrize("python,header", [("3.13", "ft-313-64"), ("3.14", "ft-314-64"),
                                           ("3.15", "ft-314-64")])
def test_free_threaded_abi_per_version(build, python, header):
    path = build("slots.c", "abi" + python[2:], python=python, free_threaded=True, defines=("GIL=1",))
    report = inspect_module(path)
    details = [e.detail for e in report.abi.evidence]
    assert report.abi.free_threaded is True
    assert any(d.startswith("imports _Py_DecRefShared") for d in details)
    assert any(f"free-threaded header {header}" in d for d in details), details
    assert not any("_Py_Dealloc" in d for d in details)


def test_gil_module_renamed_as_free_threaded_is_a_mismatch(build, tmp_path):
    gil = build("slots.c", "renamed", python="3.14", defines=("GIL=1", "MI=2"))
    fake = tmp_path / "renamed.cpython-314t-x86_64-linux-gnu.so"
    shutil.copy(gil, fake)
    report = inspect_module(fake)
    assert report.abi.claimed == "cp314t"
    assert report.abi.free_threaded is False
    assert report.abi_mismatch is not None
    assert report.abi_mismatch.startswith("ABI mismatch: the name claims cp314t but the binary shows the GIL ABI")
    assert "imports _Py_Dealloc" in report.abi_mismatch
    assert report.free_threading.value == "not-built-for-ft"
    assert report.to_json()["abi_mismatch"] == report.abi_mismatch


def test_abi3_module_is_not_built_for_ft(build):
    path = build("slots.c", "stable", python="3.14", defines=("MI=2",), limited_api=12)
    assert path.name == "stable.abi3.so"
    report = inspect_module(path)
    assert report.abi.claimed == "abi3"
    assert report.free_threading.value == "not-built-for-ft"
    assert report.subinterpreters.value == "own-gil"


# ------------------------------------------------------------------ single-phase + SetGIL
SETGIL_CASES = [(("SETGIL=1",), "not-used", "ready"), (("SETGIL=0",), "used", "reenables-gil"),
                ((), "undeclared", "reenables-gil"), (("SETGIL=RUNTIME",), "unknown", "unknown")]


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "i686"])
@pytest.mark.parametrize("opt", ["-O0", "-O2"])
@pytest.mark.parametrize("defines,gil,verdict", SETGIL_CASES)
def test_single_phase_set_gil(build, arch, opt, defines, gil, verdict):
    name = f"sp_{arch}{opt[2]}_" + ("".join(defines).replace("=", "").lower() or "none")
    path = build("slots.c", name, free_threaded=True, defines=("SINGLE_PHASE", *defines),
                 opt=opt, arch=arch)
    report = inspect_module(path)
    assert report.arch == arch
    assert report.init == "single-phase"
    assert report.gil == gil, report.free_threading.reason
    assert report.free_threading.value == verdict
    assert report.subinterpreters.value == "not-supported"
    assert report.multiple_interpreters == "undeclared"     # a single-phase def has no slots
    assert "single-phase init" in report.subinterpreters.reason
    if gil in ("used", "not-used"):
        assert f"calls PyUnstable_Module_SetGIL(m, {1 if gil == 'not-used' else 0}" in report.free_threading.reason
    if gil == "unknown":
        assert "set at run time" in report.free_threading.reason


# ------------------------------------------------------------------ 3.15 export hook
@pytest.mark.parametrize("ft,flags,verdict", [(True, "0x0004 (FREETHREADED)", "ready"),
                                              (False, "0x0002 (GIL)", "not-built-for-ft")])
def test_export_hook_with_abi_info(build, ft, flags, verdict):
    path = build("export_hook.c", "hook" + ("t" if ft else ""), python="3.15", free_threaded=ft,
                 defines=("GIL=1", "MI=2"))
    report = inspect_module(path)
    assert report.init == "export-hook"
    assert report.name == "hook" + ("t" if ft else "")
    assert (report.gil, report.multiple_interpreters) == ("not-used", "per-interpreter-gil")
    abi_info = [e.detail for e in report.abi.evidence if e.kind == "abi-info"]
    assert len(abi_info) == 1 and f"flags {flags}" in abi_info[0]
    assert report.abi.free_threaded is ft
    assert report.free_threading.value == verdict
    assert report.subinterpreters.value == "own-gil"


# ------------------------------------------------------------------ Cython
def test_cython_freethreading_compatible(build, tmp_path):
    from tests.support.compile import compile_cython
    try:
        path = compile_cython("def f(x):\n    return x + 1\n", "cyft",
                              directives={"freethreading_compatible": True}, python="3.14",
                              free_threaded=True, out_dir=tmp_path)
    except SupportUnavailable as exc:
        skip_or_fail(exc.reason)
    report = inspect_module(path)
    assert report.framework == "cython"
    import Cython
    assert report.framework_version == Cython.__version__
    assert report.gil == "not-used" and report.free_threading.value == "ready"
    # no module state: Cython refuses a second interpreter at run time
    assert report.subinterpreters.value == "not-supported"
    assert "Interpreter change detected" in report.subinterpreters.reason


# ------------------------------------------------------------------ static == runtime
RUNTIME_WALK = r"""
import ctypes, importlib, json, sys
mod = importlib.import_module(sys.argv[1])
api = ctypes.pythonapi
api.PyModule_GetDef.restype = ctypes.c_void_p
api.PyModule_GetDef.argtypes = [ctypes.py_object]
d = api.PyModule_GetDef(mod)
slots = ctypes.c_void_p.from_address(d + 72).value      # GIL build, 64-bit: m_slots at 72
out = []
while slots:
    sid = ctypes.c_int.from_address(slots).value
    if sid == 0:
        break
    out.append([sid, ctypes.c_void_p.from_address(slots + 8).value or 0])
    slots += 16
print(json.dumps({"m_size": ctypes.c_ssize_t.from_address(d + 56).value, "slots": out}))
"""


def _runtime_slots(python: str, path: Path) -> dict:
    minor = int(python.split(".")[1])
    if minor == 12:
        from tests.support.pyenv import pyenv_python
        exe = pyenv_python(12)
        if exe is None:
            skip_or_fail("no pyenv 3.12")
        proc = subprocess.run([str(exe), "-c", RUNTIME_WALK, path.name.split(".")[0]],
                              cwd=path.parent, capture_output=True, text=True, timeout=60,
                              env={"PYTHONPATH": str(path.parent)})
    else:
        from tests.support.sid import require_sid, run_sid
        require_sid(minor)
        proc = run_sid(minor, RUNTIME_WALK, pythonpath=[path.parent], args=[path.name.split(".")[0]])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("python", ["3.12", "3.13", "3.14", "3.15"])
@pytest.mark.parametrize("defines", [("MI=2", "GIL=1"), ("MI=0",), (), ("SINGLE_PHASE",)])
def test_static_answer_equals_runtime(build, python, defines):
    if python == "3.12":
        defines = tuple(d for d in defines if not d.startswith("GIL"))
    name = f"rt{python[2:]}_" + ("_".join(defines).replace("=", "").lower() or "plain")
    path = build("slots.c", name, python=python, defines=defines)
    report = inspect_module(path)
    runtime = _runtime_slots(python, path)
    ids = {3: "mi", 86: "mi", 4: "gil", 87: "gil"}
    seen = {ids[s]: v for s, v in runtime["slots"] if s in ids}
    mi_names = {0: "not-supported", 1: "supported", 2: "per-interpreter-gil"}
    gil_names = {0: "used", 1: "not-used"}
    if runtime["m_size"] == -1 and not runtime["slots"]:
        assert report.init == "single-phase"
        assert report.subinterpreters.value == "not-supported"
        return
    assert report.init == "multi-phase"
    assert report.multiple_interpreters == (mi_names[seen["mi"]] if "mi" in seen else "undeclared")
    assert report.gil == (gil_names[seen["gil"]] if "gil" in seen else "undeclared")
    static_ids = next(e.detail for e in report.evidence if e.detail.startswith("slots:"))
    for sid, _value in runtime["slots"]:
        assert f"({sid})" in static_ids


# ------------------------------------------------------------------ slots built in code
@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_slots_built_at_run_time_are_read_from_the_code(build, opt, arch):
    path = build("runtime_slots.c", f"rtslots{opt[2]}_{arch}", free_threaded=True, opt=opt,
                 arch=arch, defines=("GIL=1", "MI=2"))
    report = inspect_module(path)
    assert report.arch == arch
    assert report.init == "runtime-def"
    if opt == "-O0":
        # -O0 stores through registers, not constants: the slots stay unknown, and say why
        assert report.gil == "unknown"
        assert "built at run time" in report.free_threading.reason
        return
    assert (report.gil, report.multiple_interpreters) == ("not-used", "per-interpreter-gil")
    assert report.free_threading.value == "ready"
    assert report.subinterpreters.value == "own-gil"


@pytest.mark.slow
def test_runtime_built_slots_match_the_interpreter(build):
    path = build("runtime_slots.c", "rtslots315", python="3.15", defines=("MI=0",))
    report = inspect_module(path)
    runtime = _runtime_slots("3.15", path)
    assert [s for s, _v in runtime["slots"]] == [85, 86]
    assert dict(runtime["slots"])[86] == 0
    assert report.multiple_interpreters == "not-supported"
    assert report.gil == "undeclared"


@pytest.mark.parametrize("arch", ["x86_64", "i686"])
def test_set_gil_called_through_the_got(build, arch):
    """-fno-plt: `call [rip+GOT]` (x86-64) / `call *GOT(%ebx)`-style calls via the GOT slot."""
    path = build("slots.c", f"noplt_{arch}", free_threaded=True, arch=arch,
                 defines=("SINGLE_PHASE", "SETGIL=1", "-fno-plt"))
    report = inspect_module(path)
    assert report.gil == "not-used", report.free_threading.reason


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_empty_slot_array_in_bss_is_no_slots(build, arch, opt):
    path = build("empty_slots.c", f"empty{opt[2]}_{arch}", free_threaded=True, arch=arch, opt=opt)
    report = inspect_module(path)
    assert report.init == "multi-phase", report.free_threading.reason
    assert (report.gil, report.multiple_interpreters) == ("undeclared", "undeclared")
    assert report.free_threading.value == "reenables-gil"
    assert report.subinterpreters.value == "shared-gil-only"


def test_slot_values_filled_by_a_constructor_are_not_read_from_the_file(build):
    if shutil.which("g++") is None:
        pytest.skip("no C++ compiler")
    path = build("ctor_slots.cpp", "ctorslots", free_threaded=True, defines=("-xc++",))
    report = inspect_module(path)
    # g++ keeps {Py_mod_gil, 0} in .data and a constructor stores the real value at load
    # time: the 0 in the file must not be read as Py_MOD_GIL_USED
    assert report.init == "multi-phase"
    assert report.gil == "unknown", report.free_threading.reason
    assert report.free_threading.value == "unknown"
    assert "load-time constructor" in report.free_threading.reason


@pytest.mark.parametrize("arch", ["x86_64", "aarch64", "i686"])
def test_set_gil_in_a_direct_callee(build, arch):
    path = build("slots.c", f"helper_{arch}", free_threaded=True, arch=arch,
                 defines=("SINGLE_PHASE", "SETGIL=1", "SETGIL_IN_HELPER"))
    report = inspect_module(path)
    assert report.gil == "not-used", report.free_threading.reason
    assert "(in callee 0x" in report.free_threading.reason


def test_header_from_other_version_is_noted(build, tmp_path):
    built313 = build("slots.c", "older", python="3.13", free_threaded=True, defines=("GIL=1",))
    renamed = tmp_path / "older.cpython-314t-x86_64-linux-gnu.so"
    shutil.copy(built313, renamed)
    report = inspect_module(renamed)
    notes = [e.detail for e in report.abi.evidence if "claims cp314t" in e.detail and e.kind == "def-header"]
    assert notes == ["header ft-313-64 was written by CPython 3.13 headers, but the name claims "
                     "cp314t: built against another version's headers?"]
    assert report.abi_mismatch is None            # both free-threaded: not a GIL/FT mismatch


SUBINTERP_PROBE = r"""
import sys
from concurrent import interpreters
name = sys.argv[1]
__import__(name)
interp = interpreters.create()          # own GIL, strict extension check
try:
    interp.exec(f"import {name}")
    print("own-gil")
except interpreters.ExecutionFailed as exc:
    print("refused:", str(exc).splitlines()[0])
"""


@pytest.mark.slow
@pytest.mark.parametrize("source,defines,expected", [
    ("export_hook.c", ("GIL=1", "MI=2"), "own-gil"),
    ("export_hook.c", ("GIL=1", "MI=1"), "shared-gil-only"),
    ("slots.c", ("MI=2",), "own-gil"),
    ("slots.c", ("SINGLE_PHASE",), "not-supported"),
])
def test_own_gil_verdict_matches_a_315_subinterpreter(build, source, defines, expected):
    from tests.support.sid import require_sid, run_sid
    require_sid(15)
    name = "si_" + source.split(".")[0] + "_" + "_".join(defines).replace("=", "").lower()
    path = build(source, name, python="3.15", defines=defines)
    report = inspect_module(path)
    assert report.subinterpreters.value == expected
    proc = run_sid(15, SUBINTERP_PROBE, pythonpath=[path.parent], args=[name])
    assert proc.returncode == 0, proc.stderr
    runtime = proc.stdout.strip()
    assert (runtime == "own-gil") == (expected == "own-gil"), runtime
