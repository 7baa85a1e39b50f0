"""The verdict rules, one row of the README table per test (pure functions, no binaries)."""

from __future__ import annotations

import pytest

from auditor.inspect import claimed_abi_from_filename, find_init_exports, module_name_from_path
from auditor.model import Evidence
from auditor.verdicts import ModuleFacts, free_threading_verdict, subinterpreters_verdict


def facts(**kw) -> ModuleFacts:
    base = dict(name="m", path="m.so", format="elf", arch="x86_64", init="multi-phase")
    base.update(kw)
    return ModuleFacts(**base)


@pytest.mark.parametrize("kw,value,reason_part", [
    (dict(readable=False, errors=["m.so: truncated"]), "unknown", "could not read the module: m.so: truncated"),
    (dict(shows_ft=False, claimed="cp314t", abi_reason="imports _Py_Dealloc",
          abi_mismatch="ABI mismatch: the name claims cp314t but the binary shows the GIL ABI"),
     "not-built-for-ft", "ABI mismatch"),
    (dict(shows_ft=True, claimed="cp314", abi_reason="imports _Py_DecRefShared",
          abi_mismatch="ABI mismatch: the name claims cp314 but the binary shows the free-threaded ABI"),
     "unknown", "ABI mismatch"),
    (dict(shows_ft=False, abi_reason="imports _Py_Dealloc"), "not-built-for-ft", "imports _Py_Dealloc"),
    (dict(claimed="abi3"), "not-built-for-ft", "stable ABI (abi3)"),
    (dict(claimed="cp312"), "not-built-for-ft", "name claims cp312"),
    (dict(), "unknown", "neither the binary"),
    (dict(shows_ft=True, abi_reason="x", gil="not-used", gil_reason="slot"), "ready", "declares the GIL not used"),
    (dict(claimed="cp314t", gil="not-used", gil_reason="slot"), "ready", "name claims cp314t"),
    (dict(shows_ft=True, gil="used", gil_reason="Py_mod_gil = 0"), "reenables-gil", "declares the GIL used"),
    (dict(shows_ft=True, gil="undeclared", gil_reason="no slot"), "reenables-gil", "CPython enables it"),
    (dict(shows_ft=True, gil="unknown", gil_reason="set at run time"), "unknown", "set at run time"),
    (dict(claimed="abi3t", gil="not-used", gil_reason="slot"), "ready", "abi3t"),
])
def test_free_threading_rules(kw, value, reason_part):
    verdict = free_threading_verdict(facts(**kw))
    assert verdict.value == value
    assert reason_part in verdict.reason
    assert verdict.reason


def test_never_ready_without_a_gil_declaration():
    for gil in ("used", "undeclared", "unknown"):
        assert free_threading_verdict(facts(shows_ft=True, gil=gil)).value != "ready"
    assert free_threading_verdict(facts(gil="not-used")).value == "unknown"   # ABI unknown


@pytest.mark.parametrize("kw,value,reason_part", [
    (dict(readable=False, errors=["m.so: bad"]), "unknown", "could not read"),
    (dict(init="single-phase", init_reason="imports PyModule_Create2",
          multiple_interpreters="undeclared"), "not-supported", "single-phase init (imports PyModule_Create2)"),
    (dict(multiple_interpreters="per-interpreter-gil", mi_reason="slot = 2"), "own-gil", "slot = 2"),
    (dict(multiple_interpreters="supported", mi_reason="slot = 1"), "shared-gil-only", "slot = 1"),
    (dict(multiple_interpreters="undeclared"), "shared-gil-only", "defaults to SUPPORTED"),
    (dict(multiple_interpreters="undeclared", subinterp_refusal="cython: Interpreter change detected"),
     "not-supported", "cython: Interpreter change detected"),
    (dict(multiple_interpreters="not-supported", mi_reason="slot = 0"), "not-supported", "slot = 0"),
    (dict(init="runtime-def", multiple_interpreters="unknown", mi_reason="built at run time"),
     "unknown", "built at run time"),
])
def test_subinterpreter_rules(kw, value, reason_part):
    verdict = subinterpreters_verdict(facts(**kw))
    assert verdict.value == value
    assert reason_part in verdict.reason


def test_framework_refusal_does_not_override_a_declared_slot():
    # the refusal applies only where the binary declares nothing: a declared slot decides
    refusal = "cython: Interpreter change detected"
    declared = facts(multiple_interpreters="per-interpreter-gil", mi_reason="slot = 2", subinterp_refusal=refusal)
    assert subinterpreters_verdict(declared).value == "own-gil"
    unknown = facts(multiple_interpreters="unknown", mi_reason="set at run time", subinterp_refusal=refusal)
    assert subinterpreters_verdict(unknown).value == "unknown"


def test_subinterpreter_verdict_carries_declaration_and_behaviour_evidence():
    slot = Evidence("multiple_interpreters", "loader-rule", "no Py_mod_multiple_interpreters slot")
    guard = Evidence("subinterpreters", "framework-default", "Interpreter change detected")
    verdict = subinterpreters_verdict(facts(multiple_interpreters="undeclared", subinterp_refusal="cython: x",
                                            mi_evidence=[slot], subinterp_evidence=[guard]))
    assert (verdict.value, verdict.evidence) == ("not-supported", (slot, guard))


def test_verdicts_carry_their_evidence():
    ev = Evidence("gil", "slot", "Py_mod_gil(4) = 1")
    verdict = free_threading_verdict(facts(shows_ft=True, gil="not-used", gil_evidence=[ev]))
    assert ev in verdict.evidence


@pytest.mark.parametrize("name,claimed", [
    ("_speedups.cpython-314t-x86_64-linux-gnu.so", "cp314t"),
    ("_speedups.cpython-314-darwin.so", "cp314"),
    ("etree.cpython-313td-x86_64-linux-gnu.so", "cp313t"),
    ("_speedups.cp314t-win_amd64.pyd", "cp314t"),
    ("_speedups.cp313-win_arm64.pyd", "cp313"),
    ("_rust.abi3.so", "abi3"),
    ("_rust.abi3t.so", "abi3t"),
    ("_rust.abi3-x86_64-linux-gnu.so", "abi3"),
    ("_rust.abi3t-x86_64-linux-gnu.so", "abi3t"),
    ("plain.pyd", None),
    ("plain.so", None),
    ("pkg/sub/mod.pypy311-pp73-x86_64-linux-gnu.so", None),
])
def test_claimed_abi_from_filename(name, claimed):
    assert claimed_abi_from_filename(name) == claimed


@pytest.mark.parametrize("relpath,module", [
    ("numpy/_core/_multiarray_umath.cpython-314t-x86_64-linux-gnu.so", "numpy._core._multiarray_umath"),
    ("markupsafe\\_speedups.cp314t-win_amd64.pyd", "markupsafe._speedups"),
    ("./_cffi_backend.so", "_cffi_backend"),
    ("mypyc/__init__.cpython-314-x86_64-linux-gnu.so", "mypyc"),
])
def test_module_name_from_path(relpath, module):
    assert module_name_from_path(relpath) == module


def test_export_names_prefer_modexport_and_decode_punycode():
    exports = {"PyInit_spam": 0x10, "PyModExport_spam": 0x20,
               "PyInitU_spm_2oa": 0x30, "unrelated": 0x40}
    found = find_init_exports(exports)
    assert [(e.kind, e.name) for e in found] == [("PyModExport", "spam"), ("PyInit", "spām"),
                                                 ("PyInit", "spam")]


def test_universal_slices_that_disagree_give_unknown_with_the_reason():
    from auditor.inspect import _merge_slices
    x86 = facts(arch="x86_64", format="macho", shows_ft=True, gil="not-used", gil_reason="slot",
                multiple_interpreters="per-interpreter-gil", mi_reason="slot = 2")
    arm = facts(arch="aarch64", format="macho", shows_ft=True, gil="used", gil_reason="slot",
                multiple_interpreters="per-interpreter-gil", mi_reason="slot = 2")
    report = _merge_slices([x86, arm])
    assert report.arch == "universal2(x86_64,aarch64)"
    assert report.free_threading.value == "unknown"
    assert "slices disagree: gil: x86_64=not-used, aarch64=used" in report.free_threading.reason
    assert report.subinterpreters.value == "own-gil"          # they agree on this one
    assert any("slices disagree" in e for e in report.errors)
