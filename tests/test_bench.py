"""`ft-audit bench`: every mode runs in --quick mode and returns the sequential result; modes
that cannot run here are reported with the reason while the rest runs. No timing is asserted."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.bench import runner
from auditor.bench.engines import chunks
from auditor.bench.model import BenchReport
from auditor.bench.render import render_text
from auditor.cli import main
from tests.support.json_schema import assert_valid

pytestmark = pytest.mark.slow   # runs the parallelism benchmark: over a few seconds

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("FT_AUDIT_TEST_CACHE", "~/.cache/ft-audit-tests")).expanduser()


def _have_ext() -> bool:
    try:
        import ftaudit_ext._ckernels
        import ftaudit_ext._cykernels  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def quick_report() -> BenchReport:
    """One full --quick run through the CLI (JSON), shared by the assertions below."""
    if not _have_ext():
        pytest.fail("ftaudit_ext is not built: run `pip install -e .` (CI does)")
    out = subprocess.run([sys.executable, "-m", "auditor", "bench", "--quick", "--format", "json", "--no-progress"],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert_valid(doc, "bench")          # the ft-audit/1 JSON Schema (auditor/schema)
    return BenchReport.from_dict(doc)


def test_chunks_cover_the_range_exactly():
    assert chunks(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert chunks(2, 4) == [(0, 1), (1, 2), (2, 2), (2, 2)]
    for n, parts in ((1_000_003, 7), (5, 1), (0, 2)):
        bounds = chunks(n, parts)
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in itertools.pairwise(bounds))


def test_quick_bench_every_mode_runs_and_agrees(quick_report):
    r = quick_report
    assert r.quick and r.size == runner.QUICK_SIZE and r.repeats == 3
    assert r.workers == tuple(range(1, runner.cores() + 1))
    assert {w.name for w in r.workloads} == set(runner.WORKLOADS)
    assert all(w.unavailable is None for w in r.workloads), [w.unavailable for w in r.workloads]
    ran = [c for c in r.cells if c.unavailable is None]
    assert ran and all(c.agrees for c in ran), [(c.workload, c.mode, c.workers) for c in ran if not c.agrees]
    assert all(len(c.times) == 3 and c.median > 0 and c.speedup_low <= c.speedup <= c.speedup_high for c in ran)
    by_mode = {m: {(c.workload, c.workers) for c in ran if c.mode == m} for m in runner.ALL_MODES}
    every = {(w, n) for w in runner.WORKLOADS for n in r.workers}
    # shared-nothing modes run every workload at every worker count
    for mode in ("threads", "fork", "spawn"):
        assert by_mode[mode] == every, mode
    # shared memory: all but the object-dtype op, which cannot live in shared memory
    assert by_mode["shm"] == {(w, n) for (w, n) in every if w != "np_object"}
    unshareable = [c for c in r.cells if c.mode == "shm" and c.workload == "np_object"]
    assert unshareable and all("shared memory" in c.unavailable for c in unshareable)
    # OpenMP: only the Cython prange kernel, built with OpenMP here
    import ftaudit_ext._cykernels as cy

    if cy.HAVE_OPENMP:
        assert by_mode["openmp"] == {("cy_norm", n) for n in r.workers}
    assert r.all_agree


def test_quick_bench_reports_subinterpreters_by_version(quick_report):
    cells = [c for c in quick_report.cells if c.mode == "interpreters"]
    if sys.version_info < (3, 12):
        assert cells and all("need CPython 3.12+" in c.unavailable for c in cells)
        mode = next(m for m in quick_report.modes if m.name == "interpreters")
        assert "3.12+" in mode.unavailable
        assert "Sub-interpreters were not measured" in quick_report.conclusion
    else:
        ran = {c.workload for c in cells if c.unavailable is None}
        assert {"py_loop", "c_sincos", "c_norm", "cy_sincos", "cy_norm"} <= ran


def test_startup_costs_are_measured(quick_report):
    start = {s.kind: s for s in quick_report.startup}
    for kind in ("thread", "fork", "spawn"):
        assert start[kind].median and start[kind].median > 0 and len(start[kind].times) == 3
    if sys.version_info < (3, 12):
        assert start["subinterpreter"].unavailable
    # a spawned process re-imports the interpreter; a thread does not
    assert start["spawn"].median > start["thread"].median


def test_report_renders_and_round_trips(quick_report):
    again = BenchReport.from_dict(json.loads(json.dumps(quick_report.to_dict())))
    assert again == quick_report
    text = render_text(quick_report)
    assert "np_sincos: numpy element-wise" in text
    assert "worker start-up" in text and "conclusion:" in text
    assert quick_report.conclusion in text
    assert "quick mode" in quick_report.conclusion
    with pytest.raises(ValueError, match="schema"):
        BenchReport.from_dict({**quick_report.to_dict(), "schema_version": 99})


def test_not_enough_memory_marks_only_the_hungry_workloads(monkeypatch):
    """Memory for the shared input but not for np_sincos's temporaries: np_sincos is
    reported unavailable with the reason, the cheaper workloads still run."""
    n = 50_000
    # 0.8 * memory must lie between c_norm's need (16n + 16n) and np_sincos's (16n + 40n)
    monkeypatch.setattr(runner, "available_memory", lambda: int(48 * n / 0.8))
    config = runner.BenchConfig(size=n, repeats=1, workers=(1,), modes=("sequential", "threads"),
                                workloads=("np_sincos", "c_norm"), quick=True, startup_repeats=1)
    report = runner.run_bench(config)
    info = {w.name: w for w in report.workloads}
    assert "use --size or --quick" in info["np_sincos"].unavailable
    assert info["c_norm"].unavailable is None
    assert {(c.workload, c.mode) for c in report.cells} == {("c_norm", "sequential"), ("c_norm", "threads")}
    assert all(c.agrees for c in report.cells)


def test_size_larger_than_memory_is_a_one_line_error(capsys):
    assert main(["bench", "--size", "1e13", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ft-audit: error:") and "memory" in err and "--size" in err
    assert len(err.splitlines()) == 1


def test_bad_python_path_is_a_one_line_error(capsys, tmp_path):
    missing = tmp_path / "no-such-python"
    assert main(["bench", "--quick", "--python", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(missing) in err and "cannot run" in err and len(err.splitlines()) == 1


def test_bad_arguments_are_usage_errors(capsys):
    for argv in (["--modes", "threads,gpu"], ["--workers", "0"], ["--size", "abc"]):
        with pytest.raises(SystemExit) as exc:
            main(["bench", *argv])
        assert exc.value.code == 2
    assert "gpu" in capsys.readouterr().err


def test_plot_or_a_clear_error(tmp_path, capsys, monkeypatch):
    config = runner.BenchConfig(size=20_000, repeats=1, workers=(1, 2), modes=("sequential", "threads"),
                                workloads=("c_norm", "py_loop"), quick=True, startup_repeats=1)
    report = runner.run_bench(config)
    from auditor.bench.plot import PlotUnavailable, plot

    target = tmp_path / "bench.png"
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(PlotUnavailable, match="ft-audit\\[plot\\]"):
            plot(report, target)
        assert not target.exists()
    else:
        plot(report, target)
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _build_ext_package(minor: int, root: Path) -> None:
    """ftaudit_ext for pyenv 3.<minor>, built from ext/ with the test compile helpers."""
    from tests.support.compile import compile_extension, cython_to_c

    pkg = root / "ftaudit_ext"
    pkg.mkdir(parents=True)
    shutil.copy(ROOT / "ext" / "__init__.py", pkg / "__init__.py")
    compile_extension((ROOT / "ext" / "_ckernels.c").read_text(), "_ckernels", python=f"3.{minor}",
                      out_dir=pkg, headers="pyenv", cflags=["-lm"])
    compile_extension(cython_to_c((ROOT / "ext" / "_cykernels.pyx").read_text(), "_cykernels"), "_cykernels",
                      python=f"3.{minor}", out_dir=pkg, headers="pyenv",
                      cflags=["-DCYTHON_USE_MODULE_STATE=1", "-fopenmp", "-Wno-unused-function", "-lm"])


@pytest.mark.network
@pytest.mark.slow
def test_python_313_runs_subinterpreters_and_agrees(tmp_path, monkeypatch):
    """`--python` with pyenv 3.13: own-GIL sub-interpreters run the pure-Python loop and the
    ftaudit_ext kernels on shared memory and agree with sequential; numpy is reported as not
    importable in a sub-interpreter."""
    from tests.support.pyenv import pyenv_python
    from tests.support.unavailable import skip_or_fail

    python = pyenv_python(13)
    if python is None:
        skip_or_fail("no pyenv CPython 3.13")
    numpy_dir = CACHE / "bench-numpy-cp313"
    if not (numpy_dir / "numpy").is_dir():
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--only-binary=:all:",
                               "--target", str(numpy_dir), "numpy>=2.0"], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"cannot install numpy for 3.13: {done.stderr[-500:]}")
    _build_ext_package(13, tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), str(numpy_dir)]))
    out = subprocess.run(
        [sys.executable, "-m", "auditor", "bench", "--python", str(python), "--quick", "--format", "json",
         "--no-progress", "--modes", "interpreters",
         "--workloads", "py_loop,np_sincos,c_sincos,c_norm,cy_sincos,cy_norm"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    report = BenchReport.from_dict(json.loads(out.stdout))
    assert report.python["version"].startswith("3.13")
    cells = [c for c in report.cells if c.mode == "interpreters"]
    ran = {(c.workload, c.workers) for c in cells if c.unavailable is None and c.agrees}
    assert ran == {(w, n) for w in ("py_loop", "c_sincos", "c_norm", "cy_sincos", "cy_norm") for n in report.workers}
    numpy_cells = [c for c in cells if c.workload == "np_sincos"]
    assert numpy_cells and all("does not support loading in subinterpreters" in c.unavailable for c in numpy_cells)
    start = {s.kind: s for s in report.startup}
    assert start["subinterpreter"].median and start["subinterpreter"].median > 0


def test_without_openmp_the_openmp_mode_is_unavailable(tmp_path):
    """_cykernels built without OpenMP: prange runs serially (same result), and the bench's
    openmp mode says why it is unavailable instead of timing a serial loop."""
    from tests.support.compile import compile_extension, cython_to_c
    from tests.support.pyenv import pyenv_include_dir
    from tests.support.unavailable import skip_or_fail

    minor = sys.version_info[1]
    if sys.version_info[0] != 3 or pyenv_include_dir(minor) is None or sysconfig_is_ft():
        skip_or_fail(f"no pyenv headers for this interpreter (3.{minor})")
    pkg = tmp_path / "ftaudit_ext"
    pkg.mkdir()
    shutil.copy(ROOT / "ext" / "__init__.py", pkg / "__init__.py")
    import ftaudit_ext._ckernels as ck

    shutil.copy(ck.__file__, pkg / Path(ck.__file__).name)
    compile_extension(cython_to_c((ROOT / "ext" / "_cykernels.pyx").read_text(), "_cykernels"), "_cykernels",
                      python=f"3.{minor}", out_dir=pkg, headers="pyenv",
                      cflags=["-DCYTHON_USE_MODULE_STATE=1", "-Wno-unused-function", "-lm"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    probe = subprocess.run([sys.executable, "-c", "import ftaudit_ext._cykernels as m, array; "
                            "a = array.array('d', [1.0, 2.0]); print(m.__file__, m.HAVE_OPENMP, m.sumsq_parallel(a, 0, -1, 2))"],
                           capture_output=True, text=True, env=env, timeout=60)
    assert probe.returncode == 0, probe.stderr
    path, have, value = probe.stdout.split()
    assert path.startswith(str(tmp_path)) and have == "False" and float(value) == 5.0
    out = subprocess.run([sys.executable, "-m", "auditor.bench", "--quick", "--format", "json", "--no-progress",
                          "--modes", "openmp", "--workloads", "cy_norm,c_norm"],
                         capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    report = BenchReport.from_dict(json.loads(out.stdout))
    omp = [c for c in report.cells if c.mode == "openmp"]
    assert {c.workload for c in omp} == {"cy_norm"}
    assert all("built without OpenMP" in c.unavailable for c in omp)
    assert [c.workload for c in report.cells if c.mode == "sequential"] == ["cy_norm", "c_norm"]


def sysconfig_is_ft() -> bool:
    import sysconfig

    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def _synthetic(speedups: dict[tuple[str, str], float], notes=()) -> BenchReport:
    """A 2-core report with the given (workload, mode) -> speedup at 2 workers."""
    from auditor.bench.model import Cell, ModeInfo, Startup, WorkloadInfo

    workloads = sorted({w for w, _ in speedups})
    cells = [Cell(w, "sequential", 1, (0.5,), 0.5, (0.5,), 1.0, 1.0, 1.0, True, 0.0) for w in workloads]
    cells += [Cell(w, m, 2, (0.5 / s,), 0.5 / s, (0.5,), s, s * 0.9, s * 1.1, True, 0.0)
              for (w, m), s in speedups.items()]
    return BenchReport(
        python={"implementation": "cpython", "version": "3.13.0", "gil_disabled": False}, cores=2,
        size=10_000_000, quick=False, repeats=1, workers=(1, 2),
        workloads=tuple(WorkloadInfo(w, w, 10) for w in workloads),
        modes=tuple(ModeInfo(m, m) for m in ("sequential", "threads", "fork", "spawn", "shm", "interpreters")),
        cells=tuple(cells), startup=(Startup("thread", (1e-4,), 1e-4), Startup("subinterpreter", (0.006,), 0.006)),
        notes=tuple(notes))


def test_conclusion_follows_the_measurements():
    from auditor.bench.conclude import conclusion

    text = conclusion(_synthetic({
        ("c_sincos", "threads"): 1.9, ("c_sincos", "fork"): 0.4, ("c_sincos", "shm"): 1.8,
        ("py_loop", "threads"): 0.95, ("py_loop", "interpreters"): 1.85, ("py_loop", "fork"): 1.7,
        ("np_object", "threads"): 1.0, ("np_object", "fork"): 0.3,
    }))
    assert "Threads scale for c_sincos (up to 1.90x)" in text
    assert "pickle their chunks reach 0.40x" in text and "with shared memory they reach 1.80x" in text
    assert "Where the code holds the GIL (np_object and py_loop), threads take turns (1.00x, 0.95x)" in text
    assert "a separate GIL per worker helps: py_loop interpreters 1.85x" in text
    assert "nothing beat sequential for np_object" in text
    assert "Against expectation" not in text
    assert "6.0 ms for a sub-interpreter" in text


def test_conclusion_names_results_against_expectation():
    from auditor.bench.conclude import conclusion

    text = conclusion(_synthetic({("cy_sincos", "threads"): 1.02, ("cy_sincos", "shm"): 1.9,
                                  ("np_object", "threads"): 1.6, ("np_object", "fork"): 0.4},
                                 notes=("load average 3.40 at start and 3.60 at end, on 2 cores",)))
    assert ("Against expectation, cy_sincos releases the GIL, yet threads gave 1.02x, while cy_sincos shm 1.90x"
            in text)
    assert "second core was taken by other work (load average 3.40" in text
    assert "threads gave 1.60x for np_object, which holds the GIL" in text


def test_conclusion_on_a_busy_machine_draws_no_gil_conclusion():
    from auditor.bench.conclude import conclusion

    text = conclusion(_synthetic({("c_sincos", "threads"): 1.05, ("c_sincos", "fork"): 0.3,
                                  ("py_loop", "threads"): 0.9, ("py_loop", "fork"): 1.1},
                                 notes=("load average 9.00 at start and 8.00 at end, on 2 cores",)))
    assert "No mode ran more than 1.10x faster" in text and "load average 9.00" in text
    assert "GIL" not in text.split("No mode ran")[1].split("Starting")[0]


def test_conclusion_explains_a_multithreaded_blas():
    from auditor.bench.conclude import conclusion

    notes = ("numpy's BLAS is scipy-openblas 0.3.31 with its own thread pool: np.linalg.norm may already "
             "use several cores in the sequential run (OPENBLAS_NUM_THREADS=1 turns that off)",)
    text = conclusion(_synthetic({("np_norm", "threads"): 0.7, ("np_norm", "shm"): 0.8,
                                  ("c_sincos", "threads"): 1.9}, notes=notes))
    assert "np_norm releases the GIL, yet threads gave 0.70x" in text
    assert "BLAS with its own thread pool" in text


def test_blas_note_names_numpys_blas(monkeypatch):
    import numpy as np

    for var in runner.BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    note = runner.blas_note(np)
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    assert note is not None and blas in note and "own thread pool" in note
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert "limited by OPENBLAS_NUM_THREADS=1" in runner.blas_note(np)
