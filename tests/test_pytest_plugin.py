"""The pytest plugin (auditor/pytest_plugin.py, auditor/testrun.py) on fixture suites run with
pytester in a subprocess: compiled fixtures for the running interpreter (one single-phase
module that refuses sub-interpreters, one multi-phase module without a GIL declaration), the
bundled ftaudit_ext modules, pytest-xdist and pytest-run-parallel.

What only a free-threaded interpreter does at run time (sys._is_gil_enabled() flipping, the
"GIL has been enabled to load module" RuntimeWarning) cannot run here: those paths are tested
at their seams (ImportRecorder with injected sys.modules / GIL readings, judge_imports on a
free-threaded fixture binary with injected interpreter facts).
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from auditor import testrun
from auditor.testrun import (
    COLLECTION,
    PARALLEL,
    STARTUP,
    ImportRecord,
    ImportRecorder,
    merge_records,
)
from tests.support.compile import require_extension
from tests.support.json_schema import assert_valid

pytest_plugins = ["pytester"]

MINOR = sys.version_info.minor

SINGLE_PHASE = textwrap.dedent("""
    #include <Python.h>
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "%(name)s", NULL, -1, NULL};
    PyMODINIT_FUNC PyInit_%(name)s(void) { return PyModule_Create(&def); }
""")
# Multi-phase, and no Py_mod_gil slot: CPython's default on a free-threaded build is "GIL used".
MULTI_PHASE = textwrap.dedent("""
    #include <Python.h>
    static PyModuleDef_Slot slots[] = {
    #ifdef Py_mod_gil
        %(gil)s
    #endif
        {0, NULL}};
    static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "%(name)s", NULL, 0, NULL, slots};
    PyMODINIT_FUNC PyInit_%(name)s(void) { return PyModuleDef_Init(&def); }
""")
NO_GIL_DECLARATION = ""
GIL_NOT_USED = "{Py_mod_gil, Py_MOD_GIL_NOT_USED},"


@pytest.fixture(scope="module")
def fixture_modules(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("ext")
    return {
        "ftsingle": require_extension(SINGLE_PHASE % {"name": "ftsingle"}, "ftsingle",
                                      python=f"3.{MINOR}", out_dir=out),
        "ftnogil": require_extension(MULTI_PHASE % {"name": "ftnogil", "gil": NO_GIL_DECLARATION}, "ftnogil",
                                     python=f"3.{MINOR}", out_dir=out),
    }


SUITE = {
    # imported at collection time (module level)
    "test_collect.py": """
        import ftsingle

        def test_uses_single():
            assert ftsingle.__name__ == "ftsingle"
    """,
    "test_nogil.py": """
        def test_imports_nogil():
            import ftnogil
            assert ftnogil.__name__ == "ftnogil"

        def test_other():
            pass
    """,
    "test_ext.py": """
        def test_bundled_ext():
            import ftaudit_ext._ckernels, ftaudit_ext._cykernels
    """,
}


def _plugin_args() -> list[str]:
    """The installed entry point loads the plugin; a checkout not reinstalled since the entry
    point was added gets it with -p."""
    names = {e.name for e in importlib.metadata.entry_points(group="pytest11")}
    return [] if "ft_audit" in names else ["-p", "auditor.pytest_plugin"]


def _suite(pytester, fixture_modules, files=SUITE) -> None:
    for path in fixture_modules.values():
        shutil.copy(path, pytester.path / path.name)
    pytester.makepyfile(**{name[:-3]: textwrap.dedent(text) for name, text in files.items()})


def _run(pytester, monkeypatch, tmp_path, *args: str):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))   # offline + empty cache: no index answer
    report = pytester.path / "ft-audit.json"
    result = pytester.runpytest_subprocess(*_plugin_args(), "-p", "no:cacheprovider", "--ft-audit-offline",
                                           "--ft-audit-report", str(report), *args)
    doc = json.loads(report.read_text()) if report.exists() else None
    return result, doc


def _by_module(doc) -> dict[str, dict]:
    return {m["module"]: m for m in doc["modules"]}


def test_names_the_importing_tests_and_the_problems(pytester, monkeypatch, tmp_path, fixture_modules):
    _suite(pytester, fixture_modules)
    result, doc = _run(pytester, monkeypatch, tmp_path, "--ft-audit", "-p", "no:run-parallel")
    assert result.ret == 0
    assert_valid(doc, "pytest")
    mods = _by_module(doc)
    single, nogil = mods["ftsingle"], mods["ftnogil"]
    assert single["imported_by"] == COLLECTION
    assert (single["init"], single["subinterpreters"]) == ("single-phase", "not-supported")
    assert [p["kind"] for p in single["problems"]] == ["not-supported"]
    assert nogil["imported_by"] == "test_nogil.py::test_imports_nogil"
    assert (nogil["init"], nogil["gil"], nogil["problems"]) == ("multi-phase", "undeclared", [])
    assert nogil["free_threading"] == "not-built-for-ft"            # a GIL build's module
    assert nogil["gil_reenabled"] is None and nogil["gil_before"] is None
    # silent on the bundled ext/: both modules found, neither has a problem
    for name in ("ftaudit_ext._ckernels", "ftaudit_ext._cykernels"):
        assert mods[name]["imported_by"] == "test_ext.py::test_bundled_ext"
        assert mods[name]["problems"] == [] and mods[name]["init"] == "multi-phase"
    assert doc["summary"]["failing"] == 1 and doc["python"]["free_threaded"] is False
    out = result.stdout.str()
    assert "ft-audit: extension modules imported by the tests" in out
    problems = out[out.index("problems:"):out.index("modules:")]
    assert "not-supported: ftsingle refuses sub-interpreters (single-phase init" in problems
    assert "[imported by collection]" in problems
    assert "ftaudit_ext" not in problems and "ftnogil" not in problems
    assert "ftnogil (no distribution): imported by test_nogil.py::test_imports_nogil" in out


@pytest.mark.slow
def test_fail_option_sets_the_exit_status(pytester, monkeypatch, tmp_path, fixture_modules):
    _suite(pytester, fixture_modules)
    result, _ = _run(pytester, monkeypatch, tmp_path, "--ft-audit", "--ft-audit-fail", "-p", "no:run-parallel")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=4)
    # the bundled extension alone: nothing to fail on
    _, doc = _run(pytester, monkeypatch, tmp_path, "--ft-audit", "--ft-audit-fail", "-p", "no:run-parallel",
                  "test_ext.py")
    assert doc["summary"]["failing"] == 0


@pytest.mark.slow
def test_off_by_default_and_on_by_ini(pytester, monkeypatch, tmp_path, fixture_modules):
    files = {"test_lazy.py": """
        import os, sys

        def test_inspector_not_loaded_during_the_tests():
            assert "auditor.inspect" not in sys.modules
            assert ("auditor.testrun" in sys.modules) == (os.environ["FT_AUDIT_EXPECT"] == "on")

        def test_on():
            import ftnogil
    """}
    _suite(pytester, fixture_modules, files)
    monkeypatch.setenv("FT_AUDIT_EXPECT", "off")
    result, doc = _run(pytester, monkeypatch, tmp_path, "-p", "no:run-parallel")
    result.assert_outcomes(passed=2)
    assert doc is None and "ft-audit:" not in result.stdout.str()
    pytester.makeini("[pytest]\nft_audit = true\n")
    monkeypatch.setenv("FT_AUDIT_EXPECT", "on")
    result, doc = _run(pytester, monkeypatch, tmp_path, "-p", "no:run-parallel")
    result.assert_outcomes(passed=2)
    assert _by_module(doc)["ftnogil"]["imported_by"] == "test_lazy.py::test_on"


@pytest.mark.slow
def test_xdist_workers_send_their_records(pytester, monkeypatch, tmp_path, fixture_modules):
    _suite(pytester, fixture_modules)
    result, doc = _run(pytester, monkeypatch, tmp_path, "--ft-audit", "-n", "2", "-p", "no:run-parallel")
    result.assert_outcomes(passed=4)
    assert_valid(doc, "pytest")
    mods = _by_module(doc)
    assert mods["ftnogil"]["imported_by"] == "test_nogil.py::test_imports_nogil"
    assert mods["ftsingle"]["imported_by"] == COLLECTION        # every worker collects: once
    assert mods["ftaudit_ext._cykernels"]["imported_by"] == "test_ext.py::test_bundled_ext"
    assert [p["kind"] for p in mods["ftsingle"]["problems"]] == ["not-supported"]
    assert "not-supported: ftsingle refuses sub-interpreters" in result.stdout.str()


def test_run_parallel_threads(pytester, monkeypatch, tmp_path, fixture_modules):
    _suite(pytester, fixture_modules, {**SUITE, "test_np.py": "def test_numpy():\n    import numpy\n"})
    result, doc = _run(pytester, monkeypatch, tmp_path, "--ft-audit", "--parallel-threads", "4")
    result.assert_outcomes(passed=5)
    assert "in parallel" in result.stdout.str()             # pytest-run-parallel did run them in threads
    mods = _by_module(doc)
    assert mods["ftnogil"]["imported_by"] == "test_nogil.py::test_imports_nogil"
    assert mods["ftaudit_ext._ckernels"]["imported_by"] == "test_ext.py::test_bundled_ext"
    # pytest-run-parallel 0.10 imports numpy itself, before any test
    assert mods["numpy._core._multiarray_umath"]["imported_by"] in (STARTUP, "test_np.py::test_numpy")
    assert mods["numpy._core._multiarray_umath"]["distribution"] == "numpy"
    offers = mods["numpy._core._multiarray_umath"]["ft_offers"]
    assert offers and all(o["pinned_has_wheel"] is None for o in offers)   # offline, empty cache: unknown


# ---------------------------------------------------------------- seams
class FakeModule:
    def __init__(self, path: str) -> None:
        self.__file__ = path


def test_recorder_windows_warnings_and_overlap():
    modules: dict[str, object] = {"os": sys, "pre": FakeModule("/x/pre.cpython-311-x86_64-linux-gnu.so")}
    gil = [False]
    rec = ImportRecorder(lambda: modules, lambda: gil[0])
    token = rec.begin(COLLECTION)
    modules["a"] = FakeModule("/x/a.so")
    rec.end(token)
    token = rec.begin("t.py::test_gil")
    modules["b"] = FakeModule("/x/b.so")
    modules["b_py"] = FakeModule("/x/b.py")           # not an extension module
    gil[0] = True
    rec.warning("The global interpreter lock (GIL) has been enabled to load module 'b', which has not declared ...")
    rec.end(token)
    first = rec.begin("t.py::one")
    second = rec.begin("t.py::two")                   # overlapping windows: threads
    modules["c"] = FakeModule("/x/c.so")
    rec.end(first)
    rec.end(second)
    got = {r.module: r for r in rec.records()}
    assert set(got) == {"pre", "a", "b", "c"}
    assert got["pre"].imported_by == STARTUP and got["a"].imported_by == COLLECTION
    assert (got["b"].imported_by, got["b"].gil_before, got["b"].gil_after) == ("t.py::test_gil", False, True)
    assert got["b"].gil_warning.startswith("The global interpreter lock")
    assert got["c"].imported_by == PARALLEL


def test_gil_warning_and_runtime_rule():
    assert testrun.gil_warning_module("The global interpreter lock (GIL) has been enabled to load module "
                                      "'lxml.etree', which has not declared that it can run safely") == "lxml.etree"
    assert testrun.gil_warning_module("DeprecationWarning: something") is None
    rec = ImportRecord("m", "/m.so", "t", gil_before=False, gil_after=True)
    assert testrun.runtime_gil_reenabled(rec, static_reenables=True) is True
    assert testrun.runtime_gil_reenabled(rec, static_reenables=False) is False   # another module did it
    assert testrun.runtime_gil_reenabled(ImportRecord("m", "/m.so", "t", True, True), True) is None
    assert testrun.runtime_gil_reenabled(ImportRecord("m", "/m.so", "t", False, False), True) is False


def test_merge_keeps_the_first_importer():
    a = [ImportRecord("m", "/m.so", "t.py::a"), ImportRecord("n", "/n.so", COLLECTION)]
    b = [ImportRecord("m", "/m.so", "t.py::b", gil_warning="w"), ImportRecord("n", "/n.so", COLLECTION)]
    merged = {r.module: r for r in merge_records([a, b])}
    assert (merged["m"].imported_by, merged["m"].also_imported_by, merged["m"].gil_warning) == ("t.py::a", ("t.py::b",), "w")
    assert merged["n"].also_imported_by == ()
    assert ImportRecord.from_json(merged["m"].to_json()) == merged["m"]


def test_free_threaded_verdicts_at_the_seam(tmp_path, monkeypatch):
    """judge_imports as on a 3.14t interpreter: free-threaded fixture binaries (not importable
    here), the GIL readings and the warning a 3.14t run would have recorded."""
    from auditor.sources import probe

    undeclared = require_extension(MULTI_PHASE % {"name": "ftnogil", "gil": NO_GIL_DECLARATION}, "ftnogil",
                                   python="3.14", free_threaded=True, out_dir=tmp_path)
    declared = require_extension(MULTI_PHASE % {"name": "ftready", "gil": GIL_NOT_USED}, "ftready",
                                 python="3.14", free_threaded=True, out_dir=tmp_path)
    facts = dict(probe.interpreter_facts(), py_gil_disabled=True)
    monkeypatch.setattr(probe, "interpreter_facts", lambda: facts)
    warning = ("The global interpreter lock (GIL) has been enabled to load module 'ftnogil', which has not "
               "declared that it can run safely without the GIL.")
    records = [ImportRecord("ftnogil", str(undeclared), "t.py::test_a", False, True, warning),
               ImportRecord("ftready", str(declared), "t.py::test_b", False, False)]
    audit = testrun.judge_imports(records, offline=True, use_cache=False, gil_at_start=False)
    mods = {m.record.module: m for m in audit.modules}
    assert audit.free_threaded and audit.modules[0].record.module == "ftnogil"     # problems first
    assert (mods["ftnogil"].free_threading, mods["ftnogil"].gil_reenabled) == ("reenables-gil", True)
    assert [p.kind for p in mods["ftnogil"].problems] == ["reenables-gil"]
    assert mods["ftnogil"].problems[0].text.startswith("ftnogil re-enabled the GIL (")
    assert (mods["ftready"].free_threading, mods["ftready"].gil_reenabled, mods["ftready"].problems) == ("ready", False, ())
    assert_valid(audit.to_json(), "pytest")
