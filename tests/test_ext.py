"""The bundled reference extension `ftaudit_ext` (ext/): correct numbers, GIL released, no
numpy needed at run time, loads in own-GIL sub-interpreters, and ft-audit's own inspector
calls it free-threading ready and own-GIL capable.

The installed modules (pip install -e . builds them into ext/) are tested directly. The same
sources are also compiled in the test for pyenv 3.12/3.13 (sub-interpreter runs) and for a
free-threaded 3.14 ABI with sid headers (static verdicts: no 3.14t interpreter exists here).
"""

from __future__ import annotations

import array
import functools
import json
import math
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXT = ROOT / "ext"
C_SOURCE = (EXT / "_ckernels.c").read_text()
PYX_SOURCE = (EXT / "_cykernels.pyx").read_text()

ftaudit_ext = pytest.importorskip(
    "ftaudit_ext", reason="ftaudit_ext is not built/installed: run `pip install -e .` (CI does)")
from ftaudit_ext import _ckernels, _cykernels  # noqa: E402

pytestmark = pytest.mark.slow   # builds the bundled extension for six interpreters and runs it: over a few seconds

KERNELS = pytest.mark.parametrize("mod", [_ckernels, _cykernels], ids=["c", "cython"])


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    # Includes large magnitudes, where sin/cos argument reduction is hard, and exact zeros.
    rng = np.random.default_rng(7)
    a = np.concatenate([rng.uniform(-10, 10, 5000), rng.uniform(-1e6, 1e6, 1000), [0.0, -0.0, 1e-300]])
    return a


# --- numbers ------------------------------------------------------------------------------

@KERNELS
def test_sincos_sq_matches_numpy(mod, data):
    out = np.full_like(data, np.nan)
    mod.sincos_sq(data, out)
    expected = np.sin(data) ** 2 + np.cos(data) ** 2
    np.testing.assert_allclose(out, expected, rtol=0, atol=4 * np.finfo(float).eps)
    # sin^2 + cos^2 == 1 to rounding: a kernel that computed something else fails here
    assert np.max(np.abs(out - 1.0)) < 1e-15


@KERNELS
def test_sincos_sq_writes_only_its_slice(mod, data):
    out = np.full_like(data, np.nan)
    mod.sincos_sq(data, out, 100, 200)
    assert np.isnan(out[:100]).all() and np.isnan(out[200:]).all()
    np.testing.assert_allclose(out[100:200], np.sin(data[100:200]) ** 2 + np.cos(data[100:200]) ** 2,
                               rtol=0, atol=4e-16)


@KERNELS
def test_sumsq_and_norm_match_numpy(mod, data):
    assert math.isclose(mod.sumsq(data), float(np.dot(data, data)), rel_tol=1e-12)
    assert math.isclose(mod.norm(data), float(np.linalg.norm(data)), rel_tol=1e-12)
    # partial sums over a split add up to the whole
    parts = [mod.sumsq(data, s, e) for s, e in ((0, 1234), (1234, 4000), (4000, len(data)))]
    assert math.isclose(math.fsum(parts), mod.sumsq(data), rel_tol=1e-13)
    assert mod.sumsq(data, 5, 5) == 0.0


def test_norm_exact_small_values():
    a = array.array("d", [3.0, 4.0])
    assert _ckernels.norm(a) == 5.0 and _cykernels.norm(a) == 5.0
    assert _ckernels.sumsq(a) == 25.0 and _cykernels.sumsq(a, 1) == 16.0


def test_openmp_kernel_agrees_with_serial(data):
    for threads in (0, 1, 2, 3):
        assert math.isclose(_cykernels.sumsq_parallel(data, 0, -1, threads), _cykernels.sumsq(data), rel_tol=1e-12)
    assert math.isclose(_cykernels.sumsq_parallel(data, 10, 20, 2), float(np.dot(data[10:20], data[10:20])),
                        rel_tol=1e-12)
    with pytest.raises(ValueError, match="num_threads"):
        _cykernels.sumsq_parallel(data, 0, -1, -1)
    assert isinstance(_cykernels.HAVE_OPENMP, bool)


@KERNELS
def test_plain_buffers_without_numpy(mod):
    src = array.array("d", [0.5, 1.5, 2.5, 3.5])
    out = bytearray(32)
    mod.sincos_sq(src, memoryview(out).cast("d"))
    got = memoryview(out).cast("d").tolist()
    assert got == pytest.approx([1.0] * 4, abs=1e-15)


# --- bad input: raised with the GIL held, as Python exceptions -----------------------------

@KERNELS
def test_bad_buffers_raise(mod, data):
    with pytest.raises(TypeError, match="float64"):
        mod.sumsq(data.astype(np.float32))
    with pytest.raises(TypeError, match="float64"):
        mod.sumsq(b"12345678")
    with pytest.raises(mod.ShapeError, match=r"slice \[5, 99999\)"):
        mod.sumsq(data, 5, 99999)
    with pytest.raises(ValueError):                       # ShapeError is a ValueError
        mod.sumsq(data, 10, 5)
    with pytest.raises(mod.ShapeError, match="one-dimensional"):
        mod.sumsq(np.zeros((4, 4)))
    with pytest.raises(mod.ShapeError, match="out has 3 doubles"):
        mod.sincos_sq(data, np.zeros(3))
    with pytest.raises((ValueError, BufferError)):        # not C-contiguous
        mod.sumsq(data[::2])
    read_only = np.zeros_like(data)
    read_only.flags.writeable = False
    with pytest.raises((ValueError, BufferError)):
        mod.sincos_sq(data, read_only)
    assert issubclass(mod.ShapeError, ValueError)


def test_shape_error_is_a_heap_type_per_module():
    # defined at exec time (heap type), not a static type shared by every interpreter
    assert _ckernels.ShapeError.__module__ == "ftaudit_ext._ckernels"
    assert _ckernels.ShapeError.__flags__ & (1 << 9)  # Py_TPFLAGS_HEAPTYPE


# --- the GIL is released in the loops ----------------------------------------------------

def main_thread_ticks_during(call) -> int:
    """Run `call` in a worker thread while the main thread spins recording timestamps; return how
    many main-thread iterations fall inside the middle of the call. A C call that holds the GIL
    lets no bytecode of another thread run until it returns, so the count is then zero; one that
    releases the GIL leaves the main thread free to run throughout."""
    durations = []
    for _ in range(2):
        t = time.perf_counter()
        call()
        durations.append(time.perf_counter() - t)
    # The shortest run on its own: the window below then ends well before the threaded run does,
    # so main-thread iterations after the call returned are not counted.
    duration = min(durations)
    began: list[float] = []
    stamps: list[float] = []
    old_interval = sys.getswitchinterval()
    # A long switch interval keeps the worker from being preempted between noting the start
    # time and entering the call (it can only lose the GIL inside a call that releases it).
    sys.setswitchinterval(0.5)
    try:
        worker = threading.Thread(target=lambda: (began.append(time.perf_counter()), call()))
        worker.start()
        while worker.is_alive():
            stamps.append(time.perf_counter())
        worker.join()
    finally:
        sys.setswitchinterval(old_interval)
    lo, hi = began[0] + 0.1 * duration, began[0] + 0.6 * duration
    return sum(1 for s in stamps if lo < s < hi)


@KERNELS
def test_loop_releases_the_gil(mod):
    src = np.random.default_rng(1).uniform(-5, 5, 6_000_000)
    out = np.empty_like(src)
    ticks = main_thread_ticks_during(lambda: mod.sincos_sq(src, out))
    assert ticks > 100, f"the main thread ran only {ticks} iterations while the kernel ran"


def test_gil_probe_sees_a_call_that_holds_the_gil():
    """The control: sorting a list of floats is one C call that holds the GIL throughout."""
    data = np.random.default_rng(2).uniform(size=2_000_000).tolist()
    assert main_thread_ticks_during(lambda: sorted(data)) == 0


def test_imports_and_runs_without_numpy():
    code = textwrap.dedent("""
        import sys, array
        sys.modules["numpy"] = None          # any numpy import now fails
        from ftaudit_ext import _ckernels, _cykernels
        a = array.array("d", [3.0, 4.0])
        print(_ckernels.norm(a), _cykernels.norm(a))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["5.0", "5.0"]


# --- own-GIL sub-interpreters and ft-audit's verdicts, on builds of the same sources ---------

@functools.lru_cache(maxsize=1)
def _cython_c() -> str:
    """ext/_cykernels.pyx through Cython once per session (its C is version-agnostic)."""
    from tests.support.compile import cython_to_c

    return cython_to_c(PYX_SOURCE, "_cykernels")


def _build_for(minor: int, out_dir: Path, *, free_threaded: bool = False, headers: str = "auto",
               c_source: str = C_SOURCE) -> tuple[Path, Path]:
    from tests.support.compile import compile_extension
    from tests.support.unavailable import SupportUnavailable, skip_or_fail

    try:
        c_mod = compile_extension(c_source, "_ckernels", python=f"3.{minor}", free_threaded=free_threaded,
                                  out_dir=out_dir, headers=headers, cflags=["-lm"])
        cy_mod = compile_extension(_cython_c(), "_cykernels", python=f"3.{minor}", free_threaded=free_threaded,
                                   out_dir=out_dir, headers=headers,
                                   cflags=["-DCYTHON_USE_MODULE_STATE=1", "-Wno-unused-function", "-lm"])
    except SupportUnavailable as exc:
        skip_or_fail(exc.reason)
    return c_mod, cy_mod


SUBINTERPRETER_RUN = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    code = '''
    import array, _ckernels, _cykernels
    a = array.array("d", [3.0, 4.0, 0.5]); o = array.array("d", [0.0] * 3)
    _ckernels.sincos_sq(a, o); _cykernels.sincos_sq(a, o, 1)
    assert abs(sum(o) - 3.0) < 1e-12, list(o)
    assert _ckernels.norm(a) == _cykernels.norm(a) == 25.25 ** 0.5
    assert abs(_cykernels.sumsq_parallel(a) - 25.25) < 1e-12
    '''
    code = "import sys\\nsys.path.insert(0, %r)\\n" % sys.argv[1] + code.replace("\\n    ", "\\n")
    try:
        import _interpreters as api                                   # 3.13
        create, run, destroy = api.create, api.exec, api.destroy
    except ImportError:
        import _xxsubinterpreters as api                              # 3.12
        create, run, destroy = (lambda: api.create(isolated=True)), api.run_string, api.destroy
    for _ in range(3):          # create, import, run, destroy: a double free would show here
        iid = create()
        failure = run(iid, code)
        if failure is not None:
            print("FAILED", getattr(failure, "formatted", failure)); sys.exit(1)
        destroy(iid)
    import _ckernels, _cykernels                                      # and still fine in main
    print("OK")
""")


@pytest.mark.parametrize("minor", [12, 13])
def test_loads_and_runs_in_own_gil_subinterpreters(minor, tmp_path):
    from tests.support.pyenv import pyenv_python
    from tests.support.unavailable import skip_or_fail

    python = pyenv_python(minor)
    if python is None:
        skip_or_fail(f"no pyenv CPython 3.{minor}")
    _build_for(minor, tmp_path, headers="pyenv")
    out = subprocess.run([str(python), "-c", SUBINTERPRETER_RUN, str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "OK"


def test_without_the_own_gil_slot_the_subinterpreter_refuses_it(tmp_path):
    """The control for the test above: the same C module declaring only shared-GIL support."""
    from tests.support.pyenv import pyenv_python
    from tests.support.unavailable import skip_or_fail

    python = pyenv_python(13)
    if python is None:
        skip_or_fail("no pyenv CPython 3.13")
    weaker = C_SOURCE.replace("Py_MOD_PER_INTERPRETER_GIL_SUPPORTED", "Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED")
    assert weaker != C_SOURCE
    _build_for(13, tmp_path, headers="pyenv", c_source=weaker)
    out = subprocess.run([str(python), "-c", SUBINTERPRETER_RUN, str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "does not support loading in subinterpreters" in out.stdout


def _inspect():
    from auditor.inspect import inspect_module

    return inspect_module


def test_free_threaded_314_builds_are_ready_and_own_gil(tmp_path):
    inspect_module = _inspect()
    c_mod, cy_mod = _build_for(14, tmp_path, free_threaded=True)
    assert c_mod.name == "_ckernels.cpython-314t-x86_64-linux-gnu.so"
    for path, framework in ((c_mod, "c"), (cy_mod, "cython")):
        report = inspect_module(path)
        assert report.errors == ()
        assert report.free_threading.value == "ready", (path.name, report.free_threading.reason)
        assert report.subinterpreters.value == "own-gil", (path.name, report.subinterpreters.reason)
        assert report.init == "multi-phase"
        assert report.gil == "not-used"
        assert report.multiple_interpreters == "per-interpreter-gil"
        assert report.framework == framework


def test_installed_modules_verdicts():
    """The modules this interpreter imports: own-GIL from 3.12 (the slot exists there), and
    free-threading "ready" only on a free-threaded build (a GIL build cannot be loaded by 3.13t)."""
    inspect_module = _inspect()
    free_threaded = bool(__import__("sysconfig").get_config_var("Py_GIL_DISABLED"))
    for mod in (_ckernels, _cykernels):
        report = inspect_module(mod.__file__)
        assert report.errors == ()
        assert report.init == "multi-phase"
        if sys.version_info >= (3, 12):
            assert report.subinterpreters.value == "own-gil", report.subinterpreters.reason
        else:
            # no Py_mod_multiple_interpreters before 3.12: multi-phase default, shared GIL only
            assert report.subinterpreters.value == "shared-gil-only", report.subinterpreters.reason
        expected_ft = "ready" if free_threaded else "not-built-for-ft"
        assert report.free_threading.value == expected_ft, report.free_threading.reason


def test_313_build_static_and_runtime_verdicts_agree(tmp_path):
    """Static inspection of a 3.13 build says own-GIL; the runtime check (an import in an
    own-GIL sub-interpreter of pyenv 3.13, as `ft-audit env --verify` does) agrees."""
    inspect_module = _inspect()
    from auditor.verify import compare, run_module, runtime_subinterpreters
    from tests.support.pyenv import pyenv_python
    from tests.support.unavailable import skip_or_fail

    python = pyenv_python(13)
    if python is None:
        skip_or_fail("no pyenv CPython 3.13")
    c_mod, cy_mod = _build_for(13, tmp_path, headers="pyenv")
    for path, name in ((c_mod, "_ckernels"), (cy_mod, "_cykernels")):
        report = inspect_module(path)
        assert report.subinterpreters.value == "own-gil"
        runtime = run_module([str(python)], name, str(path))
        assert runtime.status == "ok", runtime.detail
        assert runtime_subinterpreters(runtime) == "own-gil"
        comparison = compare(report, runtime, free_threaded=False)
        assert comparison.agrees is True, comparison.disagreements


def test_source_audit_of_ext_reports_nothing(capsys):
    from auditor.cli import main

    assert main(["source", "--format", "json", str(EXT)]) == 0
    report = json.loads(capsys.readouterr().out)
    # both sources (_ckernels.c, _cykernels.pyx) were read, and nothing is reported
    assert report["files_checked"] == 2 and report["files_unchecked"] == 0
    assert report["findings"] == [] and report["errors"] == []


# --- builds on every supported CPython, GIL and free-threaded -----------------------------

C_WARNINGS = ["-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-Wno-missing-field-initializers",
              "-Wno-cast-function-type"]


@pytest.mark.parametrize("minor,free_threaded", [(10, False), (11, False), (12, False), (13, False), (13, True),
                                                 (14, False), (14, True), (15, False), (15, True)],
                         ids=lambda v: str(v))
def test_builds_on_310_to_315_gil_and_free_threaded(minor, free_threaded, tmp_path):
    """Both modules compile against every supported version's headers (the C one warning-free),
    and the inspector gives the verdicts the declarations mean for that build."""
    from tests.support.compile import compile_extension
    from tests.support.unavailable import SupportUnavailable, skip_or_fail

    inspect_module = _inspect()
    try:
        c_mod = compile_extension(C_SOURCE, "_ckernels", python=f"3.{minor}", free_threaded=free_threaded,
                                  out_dir=tmp_path, cflags=C_WARNINGS)
        cy_mod = compile_extension(_cython_c(), "_cykernels", python=f"3.{minor}",
                                   free_threaded=free_threaded, out_dir=tmp_path,
                                   cflags=["-DCYTHON_USE_MODULE_STATE=1", "-Wno-unused-function", "-fopenmp"])
    except SupportUnavailable as exc:
        skip_or_fail(exc.reason)
    for path in (c_mod, cy_mod):
        report = inspect_module(path)
        assert report.init == "multi-phase", path.name
        expected_si = "own-gil" if minor >= 12 else "shared-gil-only"
        assert report.subinterpreters.value == expected_si, (path.name, report.subinterpreters.reason)
        expected_ft = "ready" if free_threaded else "not-built-for-ft"
        assert report.free_threading.value == expected_ft, (path.name, report.free_threading.reason)


@pytest.mark.network
@pytest.mark.parametrize("minor", [14, 15])
def test_sid_interpreters_confirm_own_gil_at_run_time(minor, tmp_path):
    """CPython 3.14/3.15 (Debian sid GIL builds): the runtime check imports each module in an
    own-GIL sub-interpreter (concurrent.interpreters) and agrees with the static verdict."""
    inspect_module = _inspect()
    from auditor.verify import compare, run_module, runtime_subinterpreters
    from tests.support.sid import sid_python_cmd, sid_python_env
    from tests.support.unavailable import SupportUnavailable, skip_or_fail

    try:
        cmd, env = sid_python_cmd(minor), sid_python_env(minor)
    except SupportUnavailable as exc:
        skip_or_fail(exc.reason)
    c_mod, cy_mod = _build_for(minor, tmp_path)
    for path, name in ((c_mod, "_ckernels"), (cy_mod, "_cykernels")):
        report = inspect_module(path)
        runtime = run_module(cmd, name, str(path), env=env)
        assert runtime.status == "ok", runtime.detail
        assert runtime.loaded, runtime.load_error
        assert runtime_subinterpreters(runtime) == "own-gil", runtime.own_gil
        comparison = compare(report, runtime, free_threaded=False)
        assert comparison.agrees is True, comparison.disagreements
