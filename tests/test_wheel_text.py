"""The text report of `ft-audit wheel`, whole (golden), on pinned PyPI wheels: one line per
passing wheel by default, a failing wheel with its findings, FTW402 (the Free Threading
classifier) counted in one line unless selected, evidence lines with --verbose."""

from __future__ import annotations

import pytest

from auditor.cli import main as cli_main
from tests.support.wheels import require_wheel

MARKUPSAFE = "markupsafe-3.0.4-cp314t-manylinux-x86_64"
LXML = "lxml-6.1.3-cp314t-manylinux-x86_64"
RPDS = "rpds-py-2026.9.1-cp314t-manylinux-x86_64"


@pytest.fixture
def wheels():
    return [str(require_wheel(k)) for k in (MARKUPSAFE, LXML, RPDS)]


def _run(capsys, *argv):
    code = cli_main(["--no-config", "wheel", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


PASS_AND_FAIL = """\
PASS  markupsafe-3.0.4-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl  1 module: free-threading ready; sub-interpreters own-gil
FAIL  lxml-6.1.3-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl
  error   FTW310  lxml/_elementpath.cpython-314t-x86_64-linux-gnu.so: module lxml._elementpath would re-enable the GIL: declares the GIL used (Py_mod_gil(4) = 0 Py_MOD_GIL_USED)
  error   FTW310  lxml/builder.cpython-314t-x86_64-linux-gnu.so: module lxml.builder would re-enable the GIL: declares the GIL used (Py_mod_gil(4) = 0 Py_MOD_GIL_USED)
  error   FTW310  lxml/etree.cpython-314t-x86_64-linux-gnu.so: module lxml.etree would re-enable the GIL: declares the GIL used (Py_mod_gil(4) = 0 Py_MOD_GIL_USED)
  error   FTW310  lxml/html/_difflib.cpython-314t-x86_64-linux-gnu.so: module lxml.html._difflib would re-enable the GIL: declares the GIL used (Py_mod_gil(4) = 0 Py_MOD_GIL_USED)
  error   FTW310  lxml/html/diff.cpython-314t-x86_64-linux-gnu.so: module lxml.html.diff would re-enable the GIL: declares the GIL used (Py_mod_gil(4) = 0 Py_MOD_GIL_USED)
  error   FTW310  lxml/objectify.cpython-314t-x86_64-linux-gnu.so: module lxml.objectify would re-enable the GIL: declares the GIL used (Py_mod_gil(4) = 0 Py_MOD_GIL_USED)
  error   FTW310  lxml/sax.cpython-314t-x86_64-linux-gnu.so: module lxml.sax would re-enable the GIL: declares the GIL used (Py_mod_gil(4) = 0 Py_MOD_GIL_USED)
PASS  rpds_py-2026.9.1-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl  1 module: free-threading ready; sub-interpreters shared-gil-only
2 wheels could declare the Free Threading classifier (FTW402): --select FTW402 lists them
3 wheels, 9 extension modules: 2 pass, 1 fail, 0 could not be checked
"""


def test_default_is_one_line_per_passing_wheel(wheels, capsys):
    code, out, err = _run(capsys, *wheels)
    assert (code, out, err) == (1, PASS_AND_FAIL, "")


def test_select_lists_the_classifier_findings(wheels, capsys):
    code, out, _ = _run(capsys, wheels[0], "--select", "ftw402")
    assert code == 0
    assert out == (
        "PASS  markupsafe-3.0.4-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl"
        "  1 module: free-threading ready; sub-interpreters own-gil\n"
        "  info    FTW402  every module is free-threading ready; METADATA could declare 'Programming Language ::"
        " Python :: Free Threading :: N - ...'\n"
        "1 wheel, 1 extension module: 1 pass, 0 fail, 0 could not be checked\n")
    code, out, _ = _run(capsys, wheels[0], "--select", "FTW402", "-v")
    assert out.splitlines()[1].startswith("  info    FTW402  every module is free-threading ready; METADATA could declare")
    assert out.splitlines()[2].startswith("  module  markupsafe._speedups: free-threading ready (free-threaded ABI")
    assert "          evidence: " in out
    assert _run(capsys, wheels[0], "--select", "FTW999")[0] == 2


def test_config_select_lists_them_too(wheels, capsys, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.ft-audit.wheel]\nselect = ["FTW402"]\n')
    monkeypatch.chdir(tmp_path)
    assert cli_main(["wheel", wheels[2]]) == 0
    assert capsys.readouterr().out.startswith(
        "PASS  rpds_py-2026.9.1-cp314-cp314t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl  1 module: "
        "free-threading ready; sub-interpreters shared-gil-only\n  info    FTW402  ")


def test_verbose_prints_every_module_with_its_evidence(wheels, capsys):
    _, out, _ = _run(capsys, wheels[1], "-v")
    modules = [line for line in out.splitlines() if line.startswith("  module  ")]
    assert len(modules) == 7 and modules[0].startswith("  module  lxml._elementpath: free-threading reenables-gil")
    assert out.count("          evidence: ") >= 7
