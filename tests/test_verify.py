"""Runtime proof (`ft-audit env --verify`).

Two halves:
* the parsing/comparison seams, on child output written the way RUNTIME_SCRIPT writes it,
  including the free-threaded path (sys._is_gil_enabled + RuntimeWarning) that no interpreter
  on this machine can produce (capi-reference §1.5, not executed here);
* real runs on pyenv 3.12 / 3.13 of extensions compiled during the test: one per slot kind,
  one that crashes in PyInit and one that hangs, checked against the static inspector.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from auditor import verify
from auditor.inspect import inspect_module
from auditor.model import Abi, ModuleReport, Verdict
from auditor.model import FreeThreading as FT
from auditor.model import Subinterpreters as SI
from tests.support.pyenv import pyenv_python

pytestmark = pytest.mark.slow   # imports compiled modules in subprocesses of several interpreters: over a few seconds

WARN = ("The global interpreter lock (GIL) has been enabled to load module '{}', which has not declared that it "
        "can run safely without the GIL. To override this behavior and keep the GIL disabled (at your own risk), "
        "run with PYTHON_GIL=0 or -Xgil=0.")


def line(step: str, **data) -> str:
    return verify.MARK + json.dumps({"step": step, **data})


def load_line(*, gil_after_create=False, warnings=(), slots=None, create_error=None, exec_error=None, how="direct"):
    return line("load", how=how, create_error=create_error, exec_error=exec_error, gil_start=False,
                gil_after_create=gil_after_create, gil_end=gil_after_create, create_warnings=list(warnings),
                warnings=list(warnings), slots=slots)


def sub_line(step: str, create_error=None, exec_error=None):
    return line(step, create_error=create_error, exec_error=exec_error, failure=None)


def report(ft=FT.NOT_BUILT_FOR_FT, si=SI.OWN_GIL, gil="not-used", mi="per-interpreter-gil", init="multi-phase"):
    return ModuleReport(name="m", path="m.so", format="elf", arch="x86_64", abi=Abi("cp313", False), init=init,
                        gil=gil, multiple_interpreters=mi, framework="c",
                        free_threading=Verdict(ft, ft), subinterpreters=Verdict(si, si))


SLOTS_OWN = {"def": True, "m_size": 0, "has_slots": True, "slots": [[2, None], [3, 2], [4, 1]]}


def full(*lines: str) -> str:
    return "\n".join([line("begin", stage="load"), *lines, line("end")])


def test_gil_build_full_agreement():
    out = full(load_line(slots=SLOTS_OWN), line("begin", stage="own_gil"), sub_line("own_gil"),
               line("begin", stage="shared_gil"), sub_line("shared_gil"))
    rt = verify.parse_runtime_output("pkg.m", out, returncode=0, timed_out=False)
    assert (rt.status, rt.gil, rt.multiple_interpreters, rt.has_slots) == ("ok", "not-used", "per-interpreter-gil", True)
    assert rt.own_gil.outcome == "ok" and rt.shared_gil.outcome == "ok"
    cmp = verify.compare(report(), rt, free_threaded=False)
    assert cmp.agrees is True
    assert cmp.checked == ("gil", "multiple_interpreters", "init", "subinterpreters")
    bad = verify.compare(report(si=SI.SHARED_GIL_ONLY, mi="supported"), rt, free_threaded=False)
    assert bad.disagreements == ("multiple_interpreters: static supported, runtime per-interpreter-gil",
                                 "subinterpreters: static shared-gil-only, runtime own-gil")


def test_refusals_name_the_module_and_separate_shared_from_not_supported():
    refuse = "ImportError: module pkg.m does not support loading in subinterpreters"
    cython = "ImportError: Interpreter change detected - this module can only be loaded into one interpreter per process."
    slots = {"def": True, "m_size": 0, "has_slots": True, "slots": [[1, None], [2, None]]}
    out = full(load_line(slots=slots), sub_line("own_gil", create_error=refuse), sub_line("shared_gil", create_error=cython))
    rt = verify.parse_runtime_output("pkg.m", out, returncode=0, timed_out=False)
    assert (rt.gil, rt.multiple_interpreters) == ("undeclared", "undeclared")
    assert verify.runtime_subinterpreters(rt) == SI.NOT_SUPPORTED
    assert verify.compare(report(si=SI.NOT_SUPPORTED, gil="undeclared", mi="undeclared"), rt,
                          free_threaded=False).agrees is True
    shared_ok = full(load_line(slots=slots), sub_line("own_gil", create_error=refuse), sub_line("shared_gil"))
    rt2 = verify.parse_runtime_output("pkg.m", shared_ok, returncode=0, timed_out=False)
    assert verify.runtime_subinterpreters(rt2) == SI.SHARED_GIL_ONLY
    # A refusal that names another module is that module's answer, not this one's.
    other = full(load_line(slots=slots), sub_line("own_gil", create_error=refuse.replace("pkg.m", "numpy._core.x")))
    rt3 = verify.parse_runtime_output("pkg.m", other, returncode=0, timed_out=False)
    assert rt3.own_gil.outcome == "create-error" and verify.runtime_subinterpreters(rt3) is None
    # exec failing after a successful create (a dependency refused) still proves the declaration
    dep = full(load_line(slots=SLOTS_OWN), sub_line("own_gil", exec_error=refuse.replace("pkg.m", "numpy._core.x")))
    assert verify.runtime_subinterpreters(verify.parse_runtime_output("pkg.m", dep, returncode=0, timed_out=False)) == SI.OWN_GIL


def test_python_312_only_knows_own_gil_or_not():
    refuse = "ImportError: module m does not support loading in subinterpreters"
    out = full(load_line(slots={"def": True, "m_size": -1, "has_slots": False, "slots": []}),
               sub_line("own_gil", create_error=refuse))
    rt = verify.parse_runtime_output("m", out, returncode=0, timed_out=False)
    assert rt.shared_gil is None and verify.runtime_subinterpreters(rt) == "not-own-gil"
    assert verify.compare(report(si=SI.NOT_SUPPORTED, gil="undeclared", mi="undeclared", init="single-phase"), rt,
                          free_threaded=False).agrees is True
    wrong = verify.compare(report(si=SI.OWN_GIL, gil="undeclared", mi="undeclared", init="single-phase"), rt,
                           free_threaded=False)
    assert wrong.disagreements == ("subinterpreters: static own-gil, runtime not-own-gil",)


def test_free_threaded_seam_gil_stays_off_or_is_enabled_by_this_module():
    # Not executable here (no free-threaded interpreter): the child's output as §1.5 describes it.
    ready = full(load_line(gil_after_create=False, slots=SLOTS_OWN), sub_line("own_gil"), sub_line("shared_gil"))
    rt = verify.parse_runtime_output("pkg.m", ready, returncode=0, timed_out=False)
    assert verify.compare(report(ft=FT.READY), rt, free_threaded=True).agrees is True
    assert "free_threading" in verify.compare(report(ft=FT.READY), rt, free_threaded=True).checked
    assert verify.compare(report(ft=FT.REENABLES_GIL), rt, free_threaded=True).disagreements == (
        "free_threading: static reenables-gil, runtime ready",)

    slots_used = {"def": True, "m_size": 0, "has_slots": True, "slots": [[2, None]]}
    enabled = full(load_line(gil_after_create=True, warnings=[WARN.format("pkg.m")], slots=slots_used))
    rt2 = verify.parse_runtime_output("pkg.m", enabled, returncode=0, timed_out=False)
    assert rt2.gil_warning_module == "pkg.m"
    assert verify.compare(report(ft=FT.REENABLES_GIL, gil="undeclared", mi="undeclared"), rt2,
                          free_threaded=True).agrees is True
    # enabled by a different module (imported from this one's exec): says nothing about this one
    other = full(load_line(gil_after_create=True, warnings=[WARN.format("numpy._core._multiarray_umath")], slots=slots_used))
    rt3 = verify.parse_runtime_output("pkg.m", other, returncode=0, timed_out=False)
    assert "free_threading" not in verify.compare(report(ft=FT.READY, gil="undeclared", mi="undeclared"), rt3,
                                                  free_threaded=True).checked


def test_free_threaded_seam_gil_abi_module():
    loaded = full(load_line(gil_after_create=True, warnings=[WARN.format("m")], slots=SLOTS_OWN))
    rt = verify.parse_runtime_output("m", loaded, returncode=0, timed_out=False)
    cmp = verify.compare(report(ft=FT.NOT_BUILT_FOR_FT), rt, free_threaded=True)
    assert cmp.disagreements == () and cmp.gaps[0].startswith("free_threading: static not-built-for-ft, yet it loaded")
    refused = full(load_line(create_error="ImportError: m: only compatible with GIL CPython", how="direct"))
    rt2 = verify.parse_runtime_output("m", refused, returncode=0, timed_out=False)
    assert rt2.loaded is False
    assert "free_threading" in verify.compare(report(ft=FT.NOT_BUILT_FOR_FT), rt2, free_threaded=True).checked


def test_crash_and_hang_are_results():
    crashed = "\n".join([line("begin", stage="load"), load_line(slots=SLOTS_OWN), line("begin", stage="own_gil")])
    rt = verify.parse_runtime_output("m", crashed, returncode=-11, timed_out=False)
    assert (rt.status, rt.detail) == ("crash", "signal 11 during own_gil")
    assert rt.own_gil.outcome == "crash" and rt.gil == "not-used"       # earlier answers are kept
    assert verify.runtime_subinterpreters(rt) is None
    hung = line("begin", stage="load")
    rt2 = verify.parse_runtime_output("m", hung, returncode=None, timed_out=True)
    assert (rt2.status, rt2.detail, rt2.gil) == ("timeout", "hung during load", None)
    assert verify.compare(report(), rt2, free_threaded=False).agrees is None


def test_static_unknown_is_a_gap_not_an_agreement():
    out = full(load_line(slots=SLOTS_OWN), sub_line("own_gil"))
    rt = verify.parse_runtime_output("m", out, returncode=0, timed_out=False)
    cmp = verify.compare(report(gil="unknown", mi="unknown", si=SI.UNKNOWN, init="runtime-def"), rt, free_threaded=False)
    assert cmp.gaps == ("gil: static unknown, runtime not-used",
                        "multiple_interpreters: static unknown, runtime per-interpreter-gil",
                        "subinterpreters: static unknown, runtime own-gil")
    assert cmp.checked == ("init",) and cmp.agrees is True


# -- real interpreters, real compiled modules --------------------------------------------

MODULE_TEMPLATE = textwrap.dedent("""
    #include <Python.h>
    %(pre)s
    static PyModuleDef_Slot slots[] = {
    %(slots)s
        {0, NULL}
    };
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "%(name)s", NULL, 0, NULL, slots};
    PyMODINIT_FUNC PyInit_%(name)s(void) { %(body)s return PyModuleDef_Init(&def); }
""")
SINGLE_PHASE = textwrap.dedent("""
    #include <Python.h>
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "%(name)s", NULL, -1, NULL};
    PyMODINIT_FUNC PyInit_%(name)s(void) { return PyModule_Create(&def); }
""")

CASES = {
    # name: (template args, expected runtime subinterpreters verdict on 3.13)
    "own": (dict(pre="", body="", slots="{Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},"
                 "\n#ifdef Py_mod_gil\n{Py_mod_gil, Py_MOD_GIL_NOT_USED},\n#endif"), SI.OWN_GIL),
    "shared": (dict(pre="", body="", slots="{Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED},"),
               SI.SHARED_GIL_ONLY),
    # multi-phase with only an exec slot: CPython's default is SUPPORTED (shared GIL only)
    "noslot": (dict(pre="static int exec_fn(PyObject *m) { return 0; }", body="",
                    slots="{Py_mod_exec, (void *)exec_fn},"), SI.SHARED_GIL_ONLY),
    "refuse": (dict(pre="", body="", slots="{Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},"),
               SI.NOT_SUPPORTED),
    "single": (None, SI.NOT_SUPPORTED),
}


CRASH_SLOTS = "{Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},"


def build(minor: int, out: Path) -> dict[str, Path]:
    from tests.support.compile import compile_extension
    from tests.support.unavailable import SupportUnavailable

    built = {}
    try:
        for name, (args, _) in CASES.items():
            source = SINGLE_PHASE % {"name": name} if args is None else MODULE_TEMPLATE % {"name": name, **args}
            built[name] = compile_extension(source, name, python=f"3.{minor}", out_dir=out, headers="pyenv")
        built["crash"] = compile_extension(MODULE_TEMPLATE % dict(name="crash", pre="#include <stdlib.h>",
                                                                  body="abort();", slots=CRASH_SLOTS),
                                           "crash", python=f"3.{minor}", out_dir=out, headers="pyenv")
        built["hang"] = compile_extension(MODULE_TEMPLATE % dict(name="hang", pre="#include <unistd.h>",
                                                                 body="for (;;) sleep(1);", slots=CRASH_SLOTS),
                                          "hang", python=f"3.{minor}", out_dir=out, headers="pyenv")
    except SupportUnavailable as exc:
        pytest.skip(exc.reason)
    return built


@pytest.mark.parametrize("minor", [12, 13])
def test_runtime_proof_on_compiled_modules(minor, tmp_path):
    python = pyenv_python(minor)
    if python is None:
        pytest.skip(f"no pyenv 3.{minor}")
    built = build(minor, tmp_path)
    cmd = [str(python)]
    results = verify.run_many(cmd, [(name, str(path)) for name, path in built.items()], timeout=5, jobs=2)
    by_name = {name: results[str(path)] for name, path in built.items()}
    for name, (_, expected) in CASES.items():
        rt = by_name[name]
        assert rt.status == "ok", (name, rt)
        observed = verify.runtime_subinterpreters(rt)
        if minor == 12:
            assert observed == (SI.OWN_GIL if expected == SI.OWN_GIL else "not-own-gil"), name
        else:
            assert observed == expected, name
        static = inspect_module(built[name], module_name=name)
        cmp = verify.compare(static, rt, free_threaded=False)
        assert cmp.agrees is True and not cmp.gaps, (name, cmp, static.subinterpreters)
        assert "subinterpreters" in cmp.checked
        # the declaration on both sides: a single-phase def has no slot (undeclared statically
        # and in the loaded def); its refusal is the subinterpreters verdict, checked above
        assert "multiple_interpreters" in cmp.checked
        if name == "single":
            assert (static.multiple_interpreters, rt.multiple_interpreters) == ("undeclared", "undeclared")
    assert by_name["own"].gil == ("not-used" if minor >= 13 else "undeclared")
    assert by_name["single"].has_slots is False and by_name["single"].m_size == -1
    assert (by_name["crash"].status, by_name["crash"].detail) == ("crash", f"signal {6} during load")
    assert (by_name["hang"].status, by_name["hang"].detail) == ("timeout", "hung during load")


def test_empty_slot_array_is_no_slots(tmp_path):
    """Found by the runtime proof (PIL._imagingmorph): a slot array holding only the {0, NULL}
    terminator lands in zero-filled .bss; it means "no slots", not "built at run time"."""
    python = pyenv_python(13)
    if python is None:
        pytest.skip("no pyenv 3.13")
    from tests.support.compile import compile_extension

    path = compile_extension(MODULE_TEMPLATE % dict(name="empty", pre="", body="", slots=""), "empty",
                             python="3.13", out_dir=tmp_path, headers="pyenv")
    rt = verify.run_module([str(python)], "empty", str(path), timeout=10)
    assert verify.runtime_subinterpreters(rt) == SI.SHARED_GIL_ONLY
    cmp = verify.compare(inspect_module(path, module_name="empty"), rt, free_threaded=False)
    assert cmp.agrees is True and not cmp.gaps, cmp
