"""Sanity checks for tests/support/compile.py: the fixtures it builds are real extensions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.compile import (
    CompileError,
    compile_cython,
    compile_extension,
    ext_suffix,
    limited_api_hex,
)
from tests.support.pyenv import pyenv_python
from tests.support.unavailable import skip_or_fail

SINGLE_PHASE = r"""
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *unused) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "single", NULL, 0, methods};
PyMODINIT_FUNC PyInit_single(void) { return PyModule_Create(&def); }
"""


def _pyenv_or_skip(minor: int) -> Path:
    python = pyenv_python(minor)
    if python is None:
        skip_or_fail(f"pyenv CPython 3.{minor} is not installed")
    return python


def test_ext_suffixes() -> None:
    assert ext_suffix(14, free_threaded=True) == ".cpython-314t-x86_64-linux-gnu.so"
    assert ext_suffix(13) == ".cpython-313-x86_64-linux-gnu.so"
    assert ext_suffix(13, arch="i686") == ".cpython-313-i386-linux-gnu.so"
    assert ext_suffix(14, arch="aarch64") == ".cpython-314-aarch64-linux-gnu.so"
    assert ext_suffix(12, limited_api=12) == ".abi3.so"
    assert ext_suffix(15, limited_api=15, free_threaded=True) == ".abi3t.so"
    assert ext_suffix(15, abi3t=0x030F0000) == ".abi3t.so"
    assert limited_api_hex(12) == 0x030C0000
    assert limited_api_hex(0x030A0000) == 0x030A0000


@pytest.mark.parametrize("minor", [9, 12, 13])
def test_pyenv_headers_build_importable_module(tmp_path: Path, minor: int) -> None:
    python = _pyenv_or_skip(minor)
    so = compile_extension(SINGLE_PHASE, "single", python=f"3.{minor}", out_dir=tmp_path,
                           headers="pyenv")
    assert so.name == f"single.cpython-3{minor}-x86_64-linux-gnu.so"
    out = subprocess.run([str(python), "-c", "import single; print(single.answer())"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "42", out.stderr


def test_limited_api_named_abi3(tmp_path: Path) -> None:
    python = _pyenv_or_skip(12)
    so = compile_extension(SINGLE_PHASE, "single", python="3.12", out_dir=tmp_path,
                           limited_api=0x030A0000, headers="pyenv")
    assert so.name == "single.abi3.so"
    out = subprocess.run([str(python), "-c", "import single; print(single.answer())"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "42", out.stderr


def test_compile_error_carries_stderr(tmp_path: Path) -> None:
    _pyenv_or_skip(12)
    with pytest.raises(CompileError) as info:
        compile_extension("#include <Python.h>\nint broken( {", "broken", python="3.12",
                          out_dir=tmp_path, headers="pyenv")
    assert "error" in info.value.stderr
    assert not list(tmp_path.glob("broken*.so"))


def test_cython_module_builds_and_runs(tmp_path: Path) -> None:
    python = _pyenv_or_skip(12)
    so = compile_cython("def add_one(x):\n    return x + 1\n", "cyfix",
                        directives={"freethreading_compatible": True}, python="3.12",
                        out_dir=tmp_path, headers="pyenv")
    assert so.name == "cyfix.cpython-312-x86_64-linux-gnu.so"
    out = subprocess.run([str(python), "-c", "import cyfix; print(cyfix.add_one(41))"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "42", out.stderr
