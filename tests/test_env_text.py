"""The text and Markdown reports of `ft-audit env`, whole (golden): grouped by what the user
must do (auditor.envaudit.next_step), a few summary lines, empty groups left out, nothing said
about the GIL when there is no module to say it. The module reports and PyPI offers are made
by hand here, as in test_env_rollup.py, so that each group is present; a real environment's
first run is tested in test_env_first_run.py."""

from __future__ import annotations

import dataclasses
import json

from auditor import envaudit
from auditor.envaudit import NOT_ON_INDEX, FtOffer, NextStep, next_step
from auditor.model import Abi, ModuleReport, Verdict
from auditor.model import FreeThreading as FT
from auditor.model import Subinterpreters as SI
from auditor.report import env as report
from auditor.sources.env import EnvSnapshot, ExtensionFile, InstalledDistribution, target_interpreter

SITE = "/env/site-packages"


def _report(name: str, ft: str, si: str, abi: str) -> ModuleReport:
    return ModuleReport(name=name, path=name, format="elf", arch="x86_64", abi=Abi(abi, abi.endswith("t")),
                        init="multi-phase", gil="undeclared", multiple_interpreters="undeclared", framework="c",
                        free_threading=Verdict(ft, f"because {ft}"), subinterpreters=Verdict(si, f"because {si}"))


def _dist(name: str, version: str, requires: tuple[str, ...] = ()) -> InstalledDistribution:
    return InstalledDistribution(name=name, version=version, location=SITE,
                                 metadata_dir=f"{SITE}/{name}-{version}.dist-info", requires_dist=requires, record=())


def _audit(target: str, dists, modules, offers=None):
    interp = target_interpreter(target, directory=SITE)
    tag = "314t" if interp.free_threaded else "314"
    files, reports = [], {}
    for module, owner, ft, si in modules:
        rel = module.replace(".", "/") + f".cpython-{tag}-x86_64-linux-gnu.so"
        f = ExtensionFile(path=f"{SITE}/{rel}", relpath=rel, module=module, suffix=f".cpython-{tag}-x86_64-linux-gnu.so",
                          loadable=True, owner=owner, ownership="record")
        files.append(f)
        reports[f.path] = _report(module, ft, si, f"cp{tag}")
    return envaudit.audit_environment(EnvSnapshot(interpreter=interp, distributions=tuple(dists)), files, reports,
                                      ft_offers=offers)


def _offer(version, has, **kw):
    return FtOffer("cp314t", version, has, **kw)


GIL_DISTS = [_dist("numpy", "2.3.0"), _dist("lxml", "6.1.3"), _dist("oldpkg", "1.0"), _dist("nowheel", "0.5"),
             _dist("localpkg", "0.1.0", ("numpy",)), _dist("pandas-ish", "1.0", ("numpy",)), _dist("idna", "3.10"),
             _dist("notjudged", "2.0")]
GIL_MODULES = [
    ("numpy._core._multiarray_umath", "numpy", FT.NOT_BUILT_FOR_FT, SI.NOT_SUPPORTED),
    ("lxml.etree", "lxml", FT.NOT_BUILT_FOR_FT, SI.NOT_SUPPORTED),
    ("oldpkg._speedups", "oldpkg", FT.NOT_BUILT_FOR_FT, SI.OWN_GIL),
    ("nowheel._c", "nowheel", FT.NOT_BUILT_FOR_FT, SI.SHARED_GIL_ONLY),
    ("localpkg._k", "localpkg", FT.NOT_BUILT_FOR_FT, SI.OWN_GIL),
    ("notjudged._x", "notjudged", FT.NOT_BUILT_FOR_FT, SI.OWN_GIL),
]
GIL_OFFERS = {
    "numpy": [_offer("2.3.0", True, pinned_wheel="numpy-2.3.0-cp314-cp314t-manylinux_2_28_x86_64.whl",
                     free_threading=FT.READY, evidence="1 module: ready")],
    "lxml": [_offer("6.1.3", True, pinned_wheel="lxml-6.1.3-cp314-cp314t-manylinux_2_28_x86_64.whl",
                    free_threading=FT.REENABLES_GIL, evidence="lxml.etree: Py_mod_gil = Py_MOD_GIL_USED")],
    "oldpkg": [_offer("1.0", False, first_version_with_wheel="1.4", latest_version_with_wheel="1.5")],
    "nowheel": [_offer("0.5", False)],
    "localpkg": [_offer("0.1.0", None, note=NOT_ON_INDEX)],
    "notjudged": [_offer("2.0", None, note="PyPI unreachable")],
}

GIL_TEXT = """\
ft-audit env: /env/site-packages (CPython 3.13.0, GIL build, declared by --target)

8 distributions: 6 with extension modules (6 modules), 2 pure Python.
On cp314t (this GIL build's binaries cannot load there): no free-threaded wheel (1), re-enables the GIL (1), could not tell (1), upgrade (1), reinstall a ready wheel (1), not on the index (1).
Own-GIL sub-interpreters: 2 of 6 distributions with extension modules load there; 2 modules refuse every sub-interpreter; 2 more blocked by a dependency.

Free-threading on cp314t (what to do there)
 no free-threaded wheel: build from source or ask upstream (1):
  nowheel  0.5  1 module  cp314t: no wheel in any release
 a free-threaded wheel exists, but it re-enables the GIL (or cannot load) (1):
  lxml  6.1.3  1 module  cp314t: 6.1.3 has a wheel, but it re-enables the GIL (lxml.etree: Py_mod_gil = Py_MOD_GIL_USED)
 could not tell: check by hand (1):
  notjudged  2.0  1 module  cp314t: unknown (PyPI unreachable)
 upgrade: a later version has a free-threaded wheel (1):
  oldpkg  1.0  1 module  cp314t: none for 1.0; first in 1.4, latest 1.5
 reinstall on the t build: the installed version has a free-threaded wheel that keeps the GIL off (1):
  numpy  2.3.0  1 module  cp314t: 2.3.0 has a wheel that keeps the GIL off
 not on the index (built here or from another index): nothing published to check (1):
  localpkg  0.1.0  1 module  build it on the free-threaded interpreter
 pure Python: nothing to rebuild (2):
  idna, pandas-ish

Sub-interpreters
 not supported in sub-interpreters (2):
  distribution  version  modules  why
  lxml          6.1.3    1        1 of 1 module not-supported: lxml.etree
  numpy         2.3.0    1        1 of 1 module not-supported: numpy._core._multiarray_umath
 shared-GIL sub-interpreters only (1):
  distribution  version  modules  why
  nowheel       0.5      1        1 of 1 module shared-gil-only: nowheel._c
 own-GIL sub-interpreters (3):
  distribution  version  modules  why
  localpkg      0.1.0    1        all 1 module own-gil
  notjudged     2.0      1        all 1 module own-gil
  oldpkg        1.0      1        all 1 module own-gil
 would load, but a dependency they declare cannot (2):
  localpkg needs numpy (numpy._core._multiarray_umath: not-supported)
  pandas-ish needs numpy (numpy._core._multiarray_umath: not-supported)
"""


def test_gil_build_groups_by_what_to_do_on_the_free_threaded_build():
    audit = _audit("3.13", GIL_DISTS, GIL_MODULES, GIL_OFFERS)
    assert report.render_text(audit) == GIL_TEXT


FT_TEXT = """\
ft-audit env: /env/site-packages (CPython 3.14.0, free-threaded build, declared by --target)

3 distributions: 2 with extension modules (3 modules), 1 pure Python.
Free-threaded 3.14t: the GIL would NOT stay off (lxml).
Distributions with extension modules: re-enables the GIL (1), ready (1).
Own-GIL sub-interpreters: 1 of 2 distributions with extension modules load there; 1 module refuses every sub-interpreter.

Free-threading on 3.14t
 re-enables the GIL when imported (1):
  lxml  6.1.3  1 module  1 of 1 module reenables-gil: lxml.etree; cp314t: 6.1.3 has a wheel, but it re-enables the GIL (lxml.etree: Py_mod_gil = Py_MOD_GIL_USED)
 ready: the GIL stays off (1):
  numpy  2.3.0  2 modules  all 2 modules ready
 pure Python: nothing to rebuild (1):
  idna

Sub-interpreters
 not supported in sub-interpreters (1):
  distribution  version  modules  why
  lxml          6.1.3    1        1 of 1 module not-supported: lxml.etree
 own-GIL sub-interpreters (1):
  distribution  version  modules  why
  numpy         2.3.0    2        all 2 modules own-gil
"""


def test_free_threaded_target_groups_by_the_installed_modules():
    audit = _audit("3.14t", [_dist("numpy", "2.3.0"), _dist("lxml", "6.1.3"), _dist("idna", "3.10")], [
        ("numpy._core._multiarray_umath", "numpy", FT.READY, SI.OWN_GIL),
        ("numpy.linalg._umath_linalg", "numpy", FT.READY, SI.OWN_GIL),
        ("lxml.etree", "lxml", FT.REENABLES_GIL, SI.NOT_SUPPORTED),
    ], {"lxml": GIL_OFFERS["lxml"]})
    assert report.render_text(audit) == FT_TEXT


def test_all_ready_says_so_with_the_count():
    audit = _audit("3.14t", [_dist("numpy", "2.3.0")], [("numpy._core._multiarray_umath", "numpy", FT.READY, SI.OWN_GIL)])
    assert report.summary_lines(audit)[1] == "Free-threaded 3.14t: the GIL stays off; its one module declares it."


EMPTY_TEXT = """\
ft-audit env: /env/site-packages (CPython 3.14.0, free-threaded build, declared by --target)

0 distributions, no extension modules for this interpreter.
"""


def test_empty_folder_claims_nothing_about_zero_modules():
    audit = _audit("3.14t", [], [])
    assert report.render_text(audit) == EMPTY_TEXT
    assert "GIL" not in report.render_markdown(audit).split("\n", 1)[1]
    pure = _audit("3.14t", [_dist("idna", "3.10")], [])
    assert report.render_text(pure).endswith("1 distribution, no extension modules for this interpreter.\n")


def test_markdown_has_the_same_groups():
    md = report.render_markdown(_audit("3.13", GIL_DISTS, GIL_MODULES, GIL_OFFERS))
    headings = [line for line in md.splitlines() if line.startswith("#")]
    assert headings == [
        "# ft-audit env: CPython 3.13.0 (GIL build)",
        "## Free-threading on cp314t",
        "### no free-threaded wheel: build from source or ask upstream (1)",
        "### a free-threaded wheel exists, but it re-enables the GIL (or cannot load) (1)",
        "### could not tell: check by hand (1)",
        "### upgrade: a later version has a free-threaded wheel (1)",
        "### reinstall on the t build: the installed version has a free-threaded wheel that keeps the GIL off (1)",
        "### not on the index (built here or from another index): nothing published to check (1)",
        "### pure Python: nothing to rebuild (2)",
        "## Sub-interpreters",
    ]
    assert "| lxml | 6.1.3 | 1 | cp314t: 6.1.3 has a wheel, but it re-enables the GIL (lxml.etree: Py_mod_gil = Py_MOD_GIL_USED) |" in md
    assert "| pandas-ish | 1.0 | own-gil | no extension modules (pure Python) | pandas-ish needs numpy (numpy._core._multiarray_umath: not-supported) |" in md


def test_the_worst_offer_over_the_targets_decides_the_group():
    audit = _audit("3.13", [_dist("numpy", "2.3.0")], [("numpy._m", "numpy", FT.NOT_BUILT_FOR_FT, SI.OWN_GIL)], {
        "numpy": [GIL_OFFERS["numpy"][0], dataclasses.replace(GIL_OFFERS["oldpkg"][0], target="cp313t")]})
    assert next_step(audit.distributions[0], free_threaded=False) is NextStep.UPGRADE


def test_json_is_unchanged_by_the_groups():
    doc = json.loads(report.render_json(_audit("3.13", GIL_DISTS, GIL_MODULES, GIL_OFFERS)))
    assert "next_step" not in json.dumps(doc)
    assert doc["summary"]["ft_offers"]["cp314t"] == {"pinned_has_wheel": 2, "pinned_wheel_reenables_gil": 1,
                                                    "newer_version_has_wheel": 1, "no_wheel": 1, "unknown": 2}
