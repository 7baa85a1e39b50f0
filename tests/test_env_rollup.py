"""Roll-up logic of `ft-audit env` (auditor.envaudit) on hand-made module reports.

The module reports here stand in for the inspector's output so that each roll-up rule
(worst verdict, blocked-by chains through Requires-Dist with markers for the audited
interpreter, orphans, --fail-on selection) is checked on its own; the real inspector is
exercised on real environments in test_env_real.py.
"""

from __future__ import annotations

import json

import pytest

from auditor import envaudit
from auditor.audit.env import default_ft_targets, ft_offer_for, platform_tags_for
from auditor.commands.env import parse_fail_on, parse_ft_targets
from auditor.errors import InputError
from auditor.http import CachedResponse
from auditor.model import Abi, ModuleReport, Verdict
from auditor.model import FreeThreading as FT
from auditor.model import Subinterpreters as SI
from auditor.project_index import parse_index
from auditor.report import env as report
from auditor.sources.env import EnvSnapshot, ExtensionFile, InstalledDistribution, target_interpreter
from auditor.target import PythonTarget, platform_tags

SITE = "/env/site-packages"


def module_report(name: str, ft: str, si: str) -> ModuleReport:
    return ModuleReport(name=name, path=name, format="elf", arch="x86_64", abi=Abi("cp314t", True),
                        init="multi-phase", gil="undeclared", multiple_interpreters="undeclared", framework="c",
                        free_threading=Verdict(ft, f"because {ft}"), subinterpreters=Verdict(si, f"because {si}"))


def dist(name: str, requires: tuple[str, ...] = (), version: str = "1.0") -> InstalledDistribution:
    return InstalledDistribution(name=name, version=version, location=SITE, metadata_dir=f"{SITE}/{name}-{version}.dist-info",
                                 requires_dist=requires, record=())


def ext(module: str, owner: str | None, loadable: bool = True) -> ExtensionFile:
    rel = module.replace(".", "/") + ".cpython-314t-x86_64-linux-gnu.so"
    return ExtensionFile(path=f"{SITE}/{rel}", relpath=rel, module=module, suffix=".cpython-314t-x86_64-linux-gnu.so",
                         loadable=loadable, owner=owner, ownership="record" if owner else "orphan")


def run(dists, modules, target="3.14t"):
    interp = target_interpreter(target, directory=SITE)
    snapshot = EnvSnapshot(interpreter=interp, distributions=tuple(dists))
    files = [ext(m, owner, loadable) for m, owner, _, _, loadable in modules]
    reports = {f.path: module_report(f.module, ft, si) for f, (_, _, ft, si, _) in zip(files, modules)}
    return envaudit.audit_environment(snapshot, files, reports)


def by_name(audit):
    return {d.key: d for d in audit.distributions}


def test_distribution_takes_its_worst_module_and_names_it():
    audit = run([dist("numpy")], [
        ("numpy._core._multiarray_umath", "numpy", FT.REENABLES_GIL, SI.NOT_SUPPORTED, True),
        ("numpy.linalg._umath_linalg", "numpy", FT.READY, SI.OWN_GIL, True),
    ])
    numpy = by_name(audit)["numpy"]
    assert numpy.free_threading.value == FT.REENABLES_GIL
    assert numpy.free_threading.reason == "1 of 2 modules reenables-gil: numpy._core._multiarray_umath"
    assert numpy.subinterpreters.value == SI.NOT_SUPPORTED
    assert audit.summary["free_threading"]["gil_stays_off"] is False
    assert audit.summary["free_threading"]["reenabling"] == ["numpy"]


def test_pure_python_distribution_is_ready_and_all_ready_keeps_the_gil_off():
    audit = run([dist("requests"), dist("markupsafe")], [
        ("markupsafe._speedups", "markupsafe", FT.READY, SI.OWN_GIL, True),
    ])
    d = by_name(audit)
    assert d["requests"].free_threading == Verdict(FT.READY, envaudit.PURE_REASON)
    assert d["markupsafe"].free_threading.reason == "all 1 module ready"
    assert audit.summary["free_threading"]["gil_stays_off"] is True
    assert audit.summary["subinterpreters"]["own_gil_distributions"] == 1   # pure Python ones are not counted


def test_files_for_other_interpreters_do_not_decide():
    audit = run([dist("old")], [("old._speedups", "old", FT.NOT_BUILT_FOR_FT, SI.NOT_SUPPORTED, False)])
    old = by_name(audit)["old"]
    assert old.free_threading.value == FT.READY
    assert "never imported" in old.free_threading.reason
    assert audit.findings == ()


def test_blocked_by_chain_is_shortest_and_transitive():
    dists = [
        dist("app", ("pandas>=2", "scipy")),
        dist("pandas", ("numpy>=1.26", "python-dateutil")),
        dist("scipy", ("numpy",)),
        dist("python-dateutil"),
        dist("numpy"),
    ]
    audit = run(dists, [
        ("numpy._core._multiarray_tests", "numpy", FT.READY, SI.NOT_SUPPORTED, True),
        ("numpy._core._multiarray_umath", "numpy", FT.READY, SI.NOT_SUPPORTED, True),
        ("pandas._libs.lib", "pandas", FT.READY, SI.OWN_GIL, True),
    ])
    d = by_name(audit)
    assert [b.text for b in d["pandas"].blocked_by_subinterpreters] == [
        "pandas: blocked by numpy (numpy._core._multiarray_umath: NOT_SUPPORTED)"]
    # app reaches numpy through pandas (first declared) at depth 2, not through both.
    assert [b.chain for b in d["app"].blocked_by_subinterpreters] == [("app", "pandas", "numpy")]
    assert d["numpy"].blocked_by_subinterpreters == ()   # its own modules are its own verdict
    assert d["python-dateutil"].blocked_by_subinterpreters == ()
    assert d["pandas"].subinterpreters.value == SI.OWN_GIL
    assert audit.summary["subinterpreters"]["blocked_distributions"] == 3


def test_dependency_cycles_terminate_and_still_block():
    dists = [dist("a", ("b",)), dist("b", ("a", "c")), dist("c")]
    audit = run(dists, [("c._c", "c", FT.READY, SI.SHARED_GIL_ONLY, True)])
    d = by_name(audit)
    assert [b.text for b in d["a"].blocked_by_subinterpreters] == ["a: blocked by b -> c (c._c: SHARED_GIL_ONLY)"]
    assert [b.chain for b in d["b"].blocked_by_subinterpreters] == [("b", "c")]


def test_markers_are_evaluated_for_the_audited_interpreter_not_this_one():
    dists = [
        dist("app", ('winonly ; sys_platform == "win32"', 'old ; python_version < "3.10"',
                     'new ; python_version >= "3.14"', 'optional ; extra == "fast"')),
        dist("winonly"), dist("old"), dist("new"), dist("optional"),
    ]
    modules = [(f"{n}._m", n, FT.REENABLES_GIL, SI.NOT_SUPPORTED, True) for n in ("winonly", "old", "new", "optional")]
    d = by_name(run(dists, modules, target="3.14t"))
    assert d["app"].requires == ("new",)
    assert [b.chain[-1] for b in d["app"].blocked_by_subinterpreters] == ["new"]
    assert [b.chain[-1] for b in d["app"].blocked_by_free_threading] == ["new"]
    d9 = by_name(run(dists, modules, target="3.9"))
    assert d9["app"].requires == ("old",)


def test_missing_and_bad_requirements_are_reported_not_fatal():
    audit = run([dist("app", ("not-installed>=1", "this is not a requirement !!"))], [])
    app = by_name(audit)["app"]
    assert app.missing_requires == ("not-installed",)
    assert len(app.errors) == 1 and app.errors[0].startswith("Requires-Dist 'this is not a requirement !!'")


def test_orphans_are_kept_and_flagged():
    audit = run([dist("pkg")], [("stray._native", None, FT.READY, SI.OWN_GIL, True)])
    assert [m.file.module for m in audit.orphans] == ["stray._native"]
    assert [f.code for f in audit.findings] == ["FTE401"]
    assert envaudit.select_failures(audit, ["orphan"])
    assert not envaudit.select_failures(audit, ["reenables-gil"])
    doc = audit.to_json()
    assert doc["orphans"][0]["distribution"] is None and doc["orphans"][0]["ownership"] == "orphan"


def test_fail_on_tokens_select_findings():
    audit = run([dist("x")], [("x._x", "x", FT.REENABLES_GIL, SI.SHARED_GIL_ONLY, True)])
    codes = sorted(f.code for f in audit.findings)
    assert codes == ["FTE101", "FTE202"]
    assert [f.code for f in envaudit.select_failures(audit, ["reenables-gil"])] == ["FTE101"]
    assert [f.code for f in envaudit.select_failures(audit, ["not-supported"])] == []
    assert parse_fail_on("reenables-gil, not-built-for-ft") == ["reenables-gil", "not-built-for-ft"]
    with pytest.raises(InputError, match="unknown value"):
        parse_fail_on("reenables-gil,bogus")


def test_json_shape_and_text_render():
    audit = run([dist("pandas", ("numpy",)), dist("numpy")], [
        ("numpy._core._multiarray_umath", "numpy", FT.REENABLES_GIL, SI.NOT_SUPPORTED, True),
    ])
    doc = json.loads(report.render_json(audit))
    assert doc["schema"] == "ft-audit/1"
    assert list(doc)[:4] == ["schema", "interpreter", "distributions", "orphans"]
    assert doc["interpreter"]["label"] == "3.14t"
    names = [d["name"] for d in doc["distributions"]]
    assert names == ["numpy", "pandas"]
    pandas = doc["distributions"][1]
    assert set(pandas) >= {"name", "version", "free_threading", "subinterpreters", "blocked_by", "modules"}
    assert pandas["blocked_by"]["subinterpreters"][0]["chain"] == ["pandas", "numpy"]
    assert doc["distributions"][0]["modules"][0]["name"] == "numpy._core._multiarray_umath"
    assert doc["summary"]["free_threading"]["gil_stays_off"] is False
    text = report.render_text(audit)
    assert "pandas needs numpy (numpy._core._multiarray_umath: not-supported)" in text
    assert "the GIL would NOT stay off (numpy)" in text
    md = report.render_markdown(audit)
    assert md.startswith("# ft-audit env") and "| numpy | 1.0 | 1 | 1 of 1 module reenables-gil: numpy._core._multiarray_umath |" in md


def _project(files: list[tuple[str, bool]]):
    body = json.dumps({"files": [{"filename": f, "url": f"https://files.example/{f}", "hashes": {}, "yanked": y}
                                 for f, y in files], "versions": []}).encode()
    return parse_index("demo", CachedResponse("https://pypi.org/simple/demo/", body, 0.0, True, False).json(),
                       "https://pypi.org/simple/demo/")


def test_ft_offer_pinned_newer_and_none():
    platforms = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "linux_x86_64"]
    project = _project([
        ("demo-1.0-cp313-cp313-manylinux_2_17_x86_64.whl", False),
        ("demo-1.1-cp314-cp314t-manylinux_2_17_x86_64.whl", False),
        ("demo-1.2-cp314-cp314t-manylinux_2_28_x86_64.whl", False),
        ("demo-1.3-cp314-cp314t-manylinux_2_28_x86_64.whl", True),    # yanked: not an offer
        ("demo-1.2-cp314-cp314t-win_amd64.whl", False),               # other platform
        ("demo-1.2-py3-none-any.whl", False),                         # says nothing about free threading
    ])
    pinned = ft_offer_for(project, "1.1", PythonTarget(3, 14, True), platforms)
    assert (pinned.target, pinned.pinned_has_wheel) == ("cp314t", True)
    assert pinned.pinned_wheel == "demo-1.1-cp314-cp314t-manylinux_2_17_x86_64.whl"
    older = ft_offer_for(project, "1.0", PythonTarget(3, 14, True), platforms)
    assert (older.pinned_has_wheel, older.first_version_with_wheel, older.latest_version_with_wheel) == (False, "1.1", "1.2")
    assert older.text == "cp314t: none for 1.0; first in 1.1, latest 1.2"
    none = ft_offer_for(project, "1.0", PythonTarget(3, 13, True), platforms)
    assert none.text == "cp313t: no wheel in any release"


def test_default_ft_targets():
    t313, t314, t315 = PythonTarget(3, 13, True), PythonTarget(3, 14, True), PythonTarget(3, 15, True)
    gil313 = target_interpreter("3.13", directory=SITE)
    assert default_ft_targets(gil313, None) == [t313, t314]
    assert default_ft_targets(target_interpreter("3.11", directory=SITE), None) == [t314]
    assert default_ft_targets(target_interpreter("3.15t", directory=SITE), None) == [t315]
    requested = parse_ft_targets(["3.15", "cp314t,3.15t"])      # the t may be left out; repeats once
    assert requested == [t315, t314]
    assert default_ft_targets(gil313, requested) == requested
    with pytest.raises(InputError):
        parse_ft_targets(["3.12"])


def test_platform_tags_of_a_declared_interpreter_come_from_the_one_expansion():
    """--path --target-platform: no probe, so the tags are expanded by auditor.target.platform_tags."""
    linux = platform_tags_for(target_interpreter("3.14t", directory=SITE))              # glibc 2.17 assumed
    assert linux == list(platform_tags("manylinux_2_17_x86_64"))
    assert linux[:2] == ["manylinux_2_17_x86_64", "manylinux2014_x86_64"] and linux[-1] == "linux_x86_64"
    aarch64 = platform_tags_for(target_interpreter("3.14t", directory=SITE, platform_tag="linux-aarch64"))
    assert aarch64 == ["manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64"]
    mac = platform_tags_for(target_interpreter("3.14t", directory=SITE, platform_tag="macosx-11.0-arm64"))
    assert mac[:2] == ["macosx_11_0_arm64", "macosx_11_0_universal2"]
    assert platform_tags_for(target_interpreter("3.14t", directory=SITE, platform_tag="win-amd64")) == ["win_amd64"]


def test_helper_libraries_without_pyinit_take_no_part():
    from auditor.model import Evidence

    interp = target_interpreter("3.14t", directory=SITE)
    files = [ext("Crypto.Cipher._raw_aes", "pycryptodome"), ext("Crypto.Util._cpuid_c", "pycryptodome")]
    helper = ModuleReport(name="x", path="x", format="elf", arch="x86_64", abi=Abi("abi3", None), init="unknown",
                          gil="unknown", multiple_interpreters="unknown", framework=None,
                          free_threading=Verdict(FT.NOT_BUILT_FOR_FT, "stable ABI (abi3) module"),
                          subinterpreters=Verdict(SI.UNKNOWN, "exports no PyInit_*"),
                          evidence=(Evidence("init", "export", "exports no PyInit_*/PyModExport_* function "
                                             "(not an extension module, or a helper library)"),),
                          extension_module=False)
    audit = envaudit.audit_environment(EnvSnapshot(interp, (dist("pycryptodome"),)), files,
                                       {f.path: helper for f in files})
    d = by_name(audit)["pycryptodome"]
    assert d.free_threading.value == FT.READY and "helper libraries" in d.free_threading.reason
    assert not d.has_extensions and audit.findings == ()
    assert audit.summary["helper_libraries"] == 2 and audit.summary["loadable_modules"] == 0
    assert "not extension modules (2, in pycryptodome)" in report.render_text(audit)


def test_compat_cross_reference_is_shown_and_disagreements_flagged(monkeypatch):
    """The seam to auditor.compat.lookup: tracker status next to the evidence, and each
    disagreement it reports (given this audit's observation) shown as a flagged finding."""
    from types import SimpleNamespace

    import auditor.compat.lookup as lookup
    from auditor.audit.env import gather_compat

    seen = {}

    class Record:
        def __init__(self, name, version):
            self.name, self.version, self.in_census = name, version, True
            self.tracker = SimpleNamespace(status="released", first_version="2.1.0")
            self.wheels_list, self.census = None, None

        def disagreements(self, evidence):
            seen[self.name] = (evidence.observed_free_threading, evidence.observed_version)
            return [SimpleNamespace(message=f"{self.name}: the tracking table says supported since 2.1.0, "
                                            f"but {self.version}'s free-threaded modules re-enable the GIL")]

    fake = SimpleNamespace(notes=[], staleness_note=lambda: "compatibility data is stale: census from 2026-01-01",
                           lookup=lambda name, version=None: Record(name, version))
    monkeypatch.setattr(lookup, "load_compat", lambda allow_network=False: fake)
    interp = target_interpreter("3.14t", directory=SITE)
    snapshot = EnvSnapshot(interp, (dist("numpy", version="2.3.0"), dist("requests")))
    files = [ext("numpy._core._multiarray_umath", "numpy")]
    reports = {files[0].path: module_report("m", FT.REENABLES_GIL, SI.NOT_SUPPORTED)}
    compat, notes = gather_compat(snapshot, files, reports)
    assert set(compat) == {"numpy"}                       # pure-Python requests is not looked up
    assert seen["numpy"] == (FT.REENABLES_GIL, "2.3.0")   # our evidence is what it is checked against
    assert compat["numpy"][0]["tracker_status"] == "released" and compat["numpy"][0]["tracker_first_version"] == "2.1.0"
    assert notes == ["compatibility data is stale: census from 2026-01-01"]
    audit = envaudit.audit_environment(snapshot, files, reports, compat=compat, notes=notes)
    assert [f.code for f in audit.findings if f.code == "FTE302"] == ["FTE302"]
    text = report.render_text(audit)
    assert "  ! numpy: the tracking table says supported since 2.1.0, but 2.3.0's free-threaded modules" in text
    assert envaudit.select_failures(audit, ["tracker-disagreement"])


def test_compat_unavailable_is_a_note(monkeypatch):
    import auditor.compat.lookup as lookup
    from auditor.audit.env import gather_compat

    def broken(allow_network=False):
        raise ValueError("census file is not JSON\nmore")

    monkeypatch.setattr(lookup, "load_compat", broken)
    interp = target_interpreter("3.13", directory=SITE)
    compat, notes = gather_compat(EnvSnapshot(interp, ()), [], {})
    assert compat == {} and notes == ["compatibility data unreadable: census file is not JSON"]
