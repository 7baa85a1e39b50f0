"""The library API (auditor/__init__.py, auditor/api.py) and the README's "Use as a library"
examples, on real inputs: pinned PyPI wheels (tests/support/wheels.py), a module compiled in
the test run, a site-packages folder holding a pinned wheel's files, the running interpreter,
and a local PEP 691 index (tests/requirements_server.py) serving pinned wheels with HTTP range
requests. The README's code blocks are executed as written, in a folder holding the files they
name, with the default index pointed at the local one.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import auditor
from auditor.audit.requirements import RequirementsAudit
from auditor.envaudit import EnvAudit
from auditor.errors import AuditError, InputError
from auditor.model import ModuleReport, WheelReport
from auditor.wheel_verdicts import WheelFile, WheelVerdict
from tests.requirements_server import RecordedIndex
from tests.support.compile import require_extension
from tests.support.wheels import fetch_wheel

README = Path(__file__).resolve().parent.parent / "README.md"
LXML_T = "lxml-6.1.3-cp314t-manylinux-x86_64"
MARKUPSAFE_T = "markupsafe-3.0.4-cp314t-manylinux-x86_64"
SPEEDUPS = "markupsafe/_speedups.cpython-314t-x86_64-linux-gnu.so"

READY_SOURCE = r"""
#include <Python.h>
static PyModuleDef_Slot slots[] = {
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL},
};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "apiready", NULL, 0, NULL, slots};
PyMODINIT_FUNC PyInit_apiready(void) { return PyModuleDef_Init(&def); }
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))


def _site_packages(folder: Path, wheel: Path) -> Path:
    """A site-packages folder holding the wheel's files, as an installer leaves them."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(folder)
    dist_info = next(folder.glob("*.dist-info"))
    (dist_info / "INSTALLER").write_text("pip\n")
    return folder


@contextlib.contextmanager
def _default_index(monkeypatch, wheels: dict[str, list[Path]]):
    """The default index (PyPI) replaced by a local one serving `wheels` with range requests."""
    import auditor.pypi

    with RecordedIndex(wheels, ranges=True) as index:
        monkeypatch.setattr(auditor.pypi, "DEFAULT_INDEX_URL", index.url)
        monkeypatch.setattr(auditor.pypi, "DEFAULT_JSON_URL", None)
        yield index


# ------------------------------------------------------------------ the package face
def test_import_auditor_loads_nothing_else():
    code = ("import sys, auditor; print(sorted(m for m in sys.modules if m.startswith('auditor'))); "
            "print('typing' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["['auditor']", "False"]


def test_every_exported_name_resolves_to_the_model_the_cli_renders():
    assert set(auditor.__all__) == {
        "__version__", "inspect_module", "audit_wheel", "audit_environment", "check_requirements", "judge_wheel",
        "ModuleReport", "WheelReport", "EnvAudit", "RequirementsAudit", "WheelVerdict", "WheelFile", "AuditError"}
    assert (auditor.ModuleReport, auditor.WheelReport, auditor.EnvAudit, auditor.RequirementsAudit,
            auditor.WheelVerdict, auditor.WheelFile, auditor.AuditError) == \
        (ModuleReport, WheelReport, EnvAudit, RequirementsAudit, WheelVerdict, WheelFile, AuditError)
    for name in ("inspect_module", "audit_wheel", "audit_environment", "check_requirements", "judge_wheel"):
        assert getattr(auditor, name).__doc__, name
    assert set(auditor.__all__) <= set(dir(auditor))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        auditor.nope  # noqa: B018
    assert (Path(auditor.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize("module", ["auditor.api", "auditor.audit.env", "auditor.audit.requirements",
                                    "auditor.audit.wheels", "auditor.model", "auditor.rollup", "auditor.target",
                                    "auditor.wheel_modules", "auditor.wheel_verdicts"])
def test_every_public_face_names_only_what_it_defines(module):
    import importlib

    face = importlib.import_module(module)
    assert face.__all__ and [n for n in face.__all__ if not hasattr(face, n)] == []


# ------------------------------------------------------------------ the five functions
@pytest.mark.slow
def test_inspect_module_on_a_compiled_module(tmp_path):
    path = require_extension(READY_SOURCE, "apiready", python="3.14", free_threaded=True, out_dir=tmp_path)
    report = auditor.inspect_module(path)
    assert isinstance(report, ModuleReport)
    assert (report.name, report.path) == ("apiready", str(path))
    assert report.abi.claimed == "cp314t"
    assert (report.init, report.gil, report.multiple_interpreters) == ("multi-phase", "not-used",
                                                                       "per-interpreter-gil")
    assert (report.free_threading.value, report.subinterpreters.value) == ("ready", "own-gil")


def test_inspect_module_on_a_file_that_is_not_a_module(tmp_path):
    bogus = tmp_path / "x.cpython-314t-x86_64-linux-gnu.so"
    bogus.write_bytes(b"not an ELF file")
    report = auditor.inspect_module(bogus)
    assert report.free_threading.value == "unknown" and report.errors
    assert str(bogus) in report.errors[0]


def test_audit_wheel_on_pinned_wheels():
    report = auditor.audit_wheel(fetch_wheel(MARKUPSAFE_T))
    assert isinstance(report, WheelReport)
    assert report.verdict == "pass"
    assert [(m.name, m.gil, m.free_threading.value) for m in report.modules] == [
        ("markupsafe._speedups", "not-used", "ready")]
    lxml = auditor.audit_wheel(fetch_wheel(LXML_T))
    assert lxml.verdict == "fail"
    assert {m.gil for m in lxml.modules} == {"used"} and len(lxml.modules) == 7
    codes = {f.code for f in lxml.findings}
    quiet = auditor.audit_wheel(fetch_wheel(LXML_T), ignore=codes)
    assert quiet.findings == () and quiet.verdict == "pass"


def test_audit_wheel_on_a_file_that_is_not_a_wheel(tmp_path):
    bogus = tmp_path / "pkg-1.0-cp314-cp314t-linux_x86_64.whl"
    bogus.write_bytes(b"no zip here")
    report = auditor.audit_wheel(bogus)
    assert report.verdict == "error" and "bad zip" in report.findings[0].message


def test_audit_environment_of_a_folder(tmp_path):
    site = _site_packages(tmp_path / "site-packages", fetch_wheel(MARKUPSAFE_T))
    env = auditor.audit_environment(path=site, target="3.14t", ask_pypi=False, use_compat=False)
    assert isinstance(env, EnvAudit)
    assert env.interpreter.free_threaded is True
    assert [(d.name, d.version, d.free_threading.value, d.subinterpreters.value) for d in env.distributions] == [
        ("MarkupSafe", "3.0.4", "ready", "own-gil")]
    assert [m.report.name for m in env.distributions[0].modules] == ["markupsafe._speedups"]
    with pytest.raises(InputError, match="target="):
        auditor.audit_environment(path=site)


@pytest.mark.slow
def test_audit_environment_of_the_running_interpreter():
    env = auditor.audit_environment(ask_pypi=False, use_compat=False)
    assert env.interpreter.executable and Path(env.interpreter.executable).exists()
    assert tuple(env.interpreter.version[:2]) == sys.version_info[:2]
    names = {d.name.lower() for d in env.distributions}
    assert "packaging" in names                     # ft-audit's own dependency is installed here
    assert env.to_json()["interpreter"]["version"].startswith(f"{sys.version_info[0]}.{sys.version_info[1]}")


def test_check_requirements_against_a_local_index(tmp_path):
    wheels = {"lxml": [fetch_wheel(LXML_T)], "markupsafe": [fetch_wheel(MARKUPSAFE_T)]}
    with RecordedIndex(wheels, ranges=True) as index:
        reqs = tmp_path / "requirements.txt"
        reqs.write_text("lxml==6.1.3\nmarkupsafe==3.0.4\n")
        audit = auditor.check_requirements(reqs, target="3.14t", platforms=["manylinux_2_28_x86_64"],
                                           index_url=index.url, use_compat=False)
    assert isinstance(audit, RequirementsAudit)
    by_name = {p["name"]: p for p in audit.to_json()["packages"]}
    assert (by_name["lxml"]["status"], by_name["lxml"]["free_threading"]) == ("ft-wheel", "reenables-gil")
    assert (by_name["markupsafe"]["free_threading"], by_name["markupsafe"]["subinterpreters"]) == ("ready", "own-gil")
    assert by_name["lxml"]["verdict_source"] == "range-read"
    assert audit.incomplete == []
    assert audit.to_json()["target"]["abi"] == "cp314t"
    with pytest.raises(InputError, match="nothing to check"):
        auditor.check_requirements()


def test_judge_wheel_published_local_and_by_wheel_file(tmp_path, monkeypatch):
    lxml = fetch_wheel(LXML_T)
    with _default_index(monkeypatch, {"lxml": [lxml]}) as index:
        published = auditor.judge_wheel(lxml.name)
        assert isinstance(published, WheelVerdict)
        assert (published.free_threading, published.subinterpreters) == ("reenables-gil", "not-supported")
        assert published.source == "range-read" and 0 < published.bytes_read < lxml.stat().st_size
        assert len(published.modules) == 7
        with pytest.raises(InputError, match="no such file"):
            auditor.judge_wheel("lxml-6.1.3-cp399-cp399t-manylinux_2_17_x86_64.whl")
        again = auditor.judge_wheel(lxml.name)      # the verdict cache: same answer, nothing read
        assert (again.free_threading, again.source, again.bytes_read) == ("reenables-gil", "cache", 0)
        assert index.range_bytes > 0
    local = auditor.judge_wheel(fetch_wheel(MARKUPSAFE_T))
    assert (local.free_threading, local.subinterpreters, local.source) == ("ready", "own-gil", "local")
    # A WheelFile names a published file directly; the bundled census inspected this exact URL.
    census = auditor.judge_wheel(WheelFile(
        "lxml", "lxml-6.1.3-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "https://files.pythonhosted.org/packages/29/e3/e7763d1661b283ddd4fa36f91b9a497db6b8d2aff55028b16c7f642e0755/"
        "lxml-6.1.3-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl", None, None), download=False)
    assert (census.free_threading, census.source, census.bytes_read) == ("reenables-gil", "census", 0)


# ------------------------------------------------------------------ the README examples
def _readme_examples() -> list[str]:
    text = README.read_text()
    section = text.split("## Use as a library", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def test_the_readme_has_one_example_per_function():
    examples = _readme_examples()
    called = [sorted(set(re.findall(r"auditor\.(\w+)\(", e))) for e in examples]
    assert called == [["inspect_module"], ["audit_wheel"], ["audit_environment"], ["check_requirements"],
                      ["judge_wheel"]]


def test_the_readme_examples_run(tmp_path, monkeypatch):
    markupsafe, lxml = fetch_wheel(MARKUPSAFE_T), fetch_wheel(LXML_T)
    with zipfile.ZipFile(markupsafe) as archive:
        (tmp_path / Path(SPEEDUPS).name).write_bytes(archive.read(SPEEDUPS))
    (tmp_path / markupsafe.name).symlink_to(markupsafe)
    _site_packages(tmp_path / "site-packages", markupsafe)
    monkeypatch.chdir(tmp_path)
    results = []
    with _default_index(monkeypatch, {"lxml": [lxml], "markupsafe": [markupsafe]}) as index:
        (tmp_path / "requirements.txt").write_text(f"--index-url {index.url}\nlxml==6.1.3\nmarkupsafe==3.0.4\n")
        for example in _readme_examples():
            namespace: dict = {}
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(example, "README.md", "exec"), namespace)   # noqa: S102 - our own README
            results.append((namespace, out.getvalue()))
    (module, module_out), (wheel, _), (_, env_out), (reqs, reqs_out), (judged, judged_out) = results
    assert module_out.startswith("ready own-gil\n")
    assert module["report"].gil == "not-used"
    assert wheel["report"].verdict == "pass"
    assert env_out == "MarkupSafe 3.0.4 ready\n"
    assert reqs_out.splitlines()[:2] == ["lxml ft-wheel reenables-gil", "markupsafe ft-wheel ready"]
    assert reqs["audit"].incomplete == []
    assert judged_out.startswith("reenables-gil not-supported\n")
    # the requirements example read this same file (same sha256) just before: the verdict cache
    assert judged["verdict"].source == "cache"
