"""auditor.rollup: the one definition of the verdict orders, the worst-of rule, package verdicts
from module reports and the blocked-by chain search, on real module reports (pinned wheels, a
compiled fixture, a system shared library standing in for a helper library, corrupt bytes).

Pins the orders decided when the copies in envaudit, compat/deep, compat/lookup and
wheel_verdicts disagreed: not-built-for-ft is worse than reenables-gil; a definite "no"
(reenables-gil, shared-gil-only) is worse than unknown.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor import rollup
from auditor.audit.requirements import PackageAssessment, attach_blockers
from auditor.compat.deep import summarize_modules
from auditor.inspect import inspect_module
from auditor.model import FreeThreading as FT
from auditor.model import Subinterpreters as SI
from auditor.sources.wheel import read_wheel
from auditor.wheel_modules import inspect_member
from auditor.wheel_verdicts import wheel_rollup
from tests.support.compile import require_extension
from tests.support.wheels import require_wheel

C_DIR = Path(__file__).parent / "fixtures" / "c"


def wheel_reports(key: str) -> dict:
    """module name -> ModuleReport for every extension member of a pinned wheel."""
    path = require_wheel(key)
    with read_wheel(path) as contents:
        return {r.name: r for r in (inspect_member(m)[1] for m in contents.extensions)}


@pytest.fixture(scope="module")
def lxml_t():
    return wheel_reports("lxml-6.1.3-cp314t-manylinux-x86_64")


@pytest.fixture(scope="module")
def markupsafe_t():
    return wheel_reports("markupsafe-3.0.4-cp314t-manylinux-x86_64")["markupsafe._speedups"]


@pytest.fixture(scope="module")
def markupsafe_gil():
    return wheel_reports("markupsafe-3.0.4-cp314-manylinux-x86_64")["markupsafe._speedups"]


@pytest.fixture(scope="module")
def helper():
    libz = sorted(Path("/usr/lib/x86_64-linux-gnu").glob("libz.so.1.*")) or \
        sorted(Path("/lib/x86_64-linux-gnu").glob("libz.so.1.*"))
    if not libz:
        pytest.skip("no system libz to stand in for a helper library")
    return inspect_module(libz[0], display="pkg/lib/libz.so", module_name="pkg.lib.libz")


@pytest.fixture(scope="module")
def unreadable():
    return inspect_module(b"\x7fELF this is not an ELF file", display="pkg/_broken.cpython-314t-x86_64-linux-gnu.so",
                          module_name="pkg._broken")


@pytest.fixture(scope="module")
def shared_gil_only(tmp_path_factory):
    path = require_extension((C_DIR / "slots.c").read_text(), "shared", python="3.14", free_threaded=True,
                             out_dir=tmp_path_factory.mktemp("rollup"),
                             cflags=["-DMODNAME=shared", "-DGIL=1", "-DMI=1", "-O2"])
    return inspect_module(path, module_name="pkg.shared")


def test_the_inputs_are_what_the_orders_are_decided_on(lxml_t, markupsafe_t, markupsafe_gil, helper, unreadable,
                                                       shared_gil_only):
    assert lxml_t["lxml.etree"].free_threading.value == FT.REENABLES_GIL
    assert (markupsafe_t.free_threading.value, markupsafe_t.subinterpreters.value) == (FT.READY, SI.OWN_GIL)
    assert markupsafe_gil.free_threading.value == FT.NOT_BUILT_FOR_FT
    assert (unreadable.free_threading.value, unreadable.subinterpreters.value) == (FT.UNKNOWN, SI.UNKNOWN)
    assert shared_gil_only.subinterpreters.value == SI.SHARED_GIL_ONLY


def test_extension_module_is_the_inspectors_fact(markupsafe_t, lxml_t, helper, unreadable):
    assert markupsafe_t.extension_module and all(r.extension_module for r in lxml_t.values())
    assert helper.extension_module is False           # read, and no PyInit_/PyModExport_ export
    assert unreadable.extension_module is True        # not shown otherwise: stays a module, its error shows
    assert helper.to_json()["extension_module"] is False and markupsafe_t.to_json()["extension_module"] is True


def test_orders_are_worst_first_with_a_definite_no_before_unknown():
    assert rollup.FT_WORST_FIRST == (FT.NOT_BUILT_FOR_FT, FT.REENABLES_GIL, FT.UNKNOWN, FT.READY)
    assert rollup.SUBINTERP_WORST_FIRST == (SI.NOT_SUPPORTED, SI.SHARED_GIL_ONLY, SI.UNKNOWN, SI.OWN_GIL)
    assert rollup.worst([FT.READY, FT.REENABLES_GIL, FT.NOT_BUILT_FOR_FT], rollup.FREE_THREADING) == FT.NOT_BUILT_FOR_FT
    assert rollup.worst([], rollup.FREE_THREADING) is None
    assert rollup.worst(["no-such-verdict", FT.READY], rollup.FREE_THREADING) == FT.UNKNOWN


def test_not_built_for_ft_decides_over_reenables_gil_everywhere(lxml_t, markupsafe_gil):
    """A module that cannot be imported on a free-threaded build is worse than one that imports
    and re-enables the GIL: env, the wheel verdict and the census summary agree."""
    reports = [*lxml_t.values(), markupsafe_gil]
    verdict = rollup.package_verdict(reports, rollup.FREE_THREADING)
    assert verdict.value == FT.NOT_BUILT_FOR_FT
    assert verdict.module is markupsafe_gil and verdict.same == ("markupsafe._speedups",)
    assert verdict.modules == len(lxml_t) + 1
    ft, _si, evidence = wheel_rollup(reports)
    assert ft == FT.NOT_BUILT_FOR_FT and evidence.startswith("markupsafe._speedups: ")
    assert summarize_modules("3.14t", "x.whl", reports)["free_threading"] == FT.NOT_BUILT_FOR_FT


def test_a_definite_no_decides_over_unknown(lxml_t, unreadable, shared_gil_only):
    ft = rollup.package_verdict([unreadable, lxml_t["lxml.etree"]], rollup.FREE_THREADING)
    assert (ft.value, ft.module.name) == (FT.REENABLES_GIL, "lxml.etree")
    si = rollup.package_verdict([unreadable, shared_gil_only], rollup.SUBINTERPRETERS)
    assert (si.value, si.module.name) == (SI.SHARED_GIL_ONLY, "pkg.shared")
    summary = summarize_modules("3.14t", "x.whl", [unreadable, shared_gil_only])
    assert summary["subinterpreters"] == SI.SHARED_GIL_ONLY       # was unknown in compat/deep's own order


def test_helper_libraries_take_no_part(markupsafe_t, helper):
    verdict = rollup.package_verdict([helper, markupsafe_t], rollup.FREE_THREADING)
    assert (verdict.value, verdict.modules, verdict.module) == (FT.READY, 1, markupsafe_t)
    only_helpers = rollup.package_verdict([helper], rollup.SUBINTERPRETERS)
    assert (only_helpers.value, only_helpers.module, only_helpers.modules) == (SI.OWN_GIL, None, 0)
    summary = summarize_modules("3.14t", "x.whl", [helper, markupsafe_t])
    assert (summary["free_threading"], summary["modules"], summary["verdicts"]) == (FT.READY, 1, {FT.READY: 1})
    assert wheel_rollup([helper]) == (FT.READY, SI.OWN_GIL, "no extension modules in the wheel")


def test_the_deciding_module_is_one_a_normal_import_reaches(lxml_t):
    from dataclasses import replace

    etree = lxml_t["lxml.etree"]
    named = [replace(etree, name="pkg.tests._helper"), replace(etree, name="pkg.z_core"), replace(etree, name="pkg.a")]
    assert rollup.deciding_module(named, rollup.FREE_THREADING).name == "pkg.a"
    assert rollup.deciding_module(named[:2], rollup.FREE_THREADING).name == "pkg.z_core"
    assert rollup.deciding_module(named, rollup.FREE_THREADING, among=(FT.READY,)) is None


def test_blocked_by_chains_are_shortest_sorted_and_skip_the_start():
    graph = {"app": ["web", "db"], "web": ["native", "app"], "db": ["driver"], "driver": ["native"],
             "native": []}
    chains = rollup.blocked_by_chains("app", graph, {"native", "driver", "app"})
    # Same length: sorted by names; the cycle back to app never counts; native via web (found first).
    assert chains == (("app", "db", "driver"), ("app", "web", "native"))
    assert rollup.blocked_by_chains("native", graph, {"native"}) == ()
    assert rollup.blocked_by_chains("db", graph, lambda name: name == "native") == (("db", "driver", "native"),)


def _package(name, status, ft):
    return PackageAssessment(name=name, version="1.0", extras=(), requested_by=(), status=status, status_detail="",
                             wheel=None, min_ft_version=None, newest_ft_version=None, suggestion=None,
                             free_threading=ft)


def test_requirements_blockers_use_the_env_rule_for_the_target():
    """A free-threaded wheel whose modules are not built for the free-threaded ABI blocks on a t
    target (it cannot be imported there), as in env; on a GIL target only re-enabling the GIL does."""
    packages = [_package("app", "pure-python", FT.READY), _package("mid", "ft-wheel", FT.READY),
                _package("odd", "ft-wheel", FT.NOT_BUILT_FOR_FT), _package("slow", "ft-wheel", FT.REENABLES_GIL)]
    # "gone" has no row (could not be looked up): a dead end, never a link of a chain
    children = {"app": ("gone", "mid"), "mid": ("odd", "slow"), "gone": ("slow",)}

    ft_target = attach_blockers(packages, children, free_threaded=True)
    assert [p.name for p in ft_target] == ["app", "mid", "odd", "slow"]
    assert ft_target[0].blocked_by == ("mid 1.0 -> odd 1.0 (not built for the free-threaded ABI)",
                                       "mid 1.0 -> slow 1.0 (re-enables the GIL)")
    assert ft_target[1].blocked_by == ("odd 1.0 (not built for the free-threaded ABI)", "slow 1.0 (re-enables the GIL)")
    assert ft_target[0].to_json()["blocked_by"] == list(ft_target[0].blocked_by)
    assert packages[0].blocked_by == ()          # rows are values: the input is not changed
    gil_target = attach_blockers(packages, children, free_threaded=False)
    assert gil_target[0].blocked_by == ("mid 1.0 -> slow 1.0 (re-enables the GIL)",)
