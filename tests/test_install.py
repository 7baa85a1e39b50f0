"""Installing ft-audit: the bundled extension is optional (no C compiler, no Cython), the sdist
carries Cython's C, the project's own wheel passes `ft-audit wheel`, and Python < 3.10 is refused
by pip (requires-python) and by `python -m auditor`.

The installs run pip on a copy of this checkout (no build/, no in-place .so, no venvs) into
fresh venvs under tmp; they are slow, and need PyPI for the isolated build environment
(setuptools>=77, Cython) and the runtime dependencies.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from auditor.__main__ import MINIMUM_PYTHON
from auditor.bench.workers import EXT_NOT_BUILT
from tests.support.pyenv import pyenv_python

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXT_MODULES = ("ftaudit_ext._ckernels", "ftaudit_ext._cykernels")
LEFT_OUT = "warning: ftaudit_ext left out ("
# Not copied into the build tree: build output, in-place extensions, venvs, caches.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "*.so", "*.pyd",
                                    "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache")
BUILD_TIMEOUT = 900

def run(cmd: list[str | Path], *, env: dict[str, str | None] | None = None, cwd: Path | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """`env` is laid over this process's environment; a None value removes that variable."""
    merged = {**os.environ, **(env or {})}
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd,
                          env={k: v for k, v in merged.items() if v is not None}, timeout=BUILD_TIMEOUT)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def without_build_settings() -> dict[str, str | None]:
    """The test run's own environment minus what would change the build under test (CI exports
    FTAUDIT_REQUIRE_EXT=1, which the no-compiler installs must not inherit)."""
    return {k: None for k in ("CC", "FTAUDIT_REQUIRE_EXT", "PIP_NO_INDEX", "PIP_FIND_LINKS", "PYTHONPATH")}


def fresh_venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / ("Scripts" if os.name == "nt" else "bin") / "python"


def module_files(python: Path) -> dict[str, bool]:
    """Which ftaudit_ext modules import in that interpreter (outside this checkout)."""
    code = ("import importlib.util, json; print(json.dumps({m: importlib.util.find_spec(m) is not None "
            f"for m in {EXT_MODULES!r}}}))")
    return json.loads(run([python, "-c", code], cwd=python.parent).stdout)


def ft_audit_env_runs(python: Path) -> None:
    proc = run([python, "-m", "auditor", "env", "-q"], cwd=python.parent, check=False)
    assert proc.returncode in (0, 1), proc.stderr  # 2 would be "could not check"


@pytest.fixture(scope="session")
def source_tree(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("source") / "ft-audit"
    shutil.copytree(ROOT, tree, ignore=NOT_SOURCE)
    return tree


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory) -> Path:
    """setuptools (the static build requirement) and ft-audit's runtime dependencies, not Cython:
    with PIP_NO_INDEX this is all pip can find."""
    house = tmp_path_factory.mktemp("wheelhouse")
    run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", house,
         *PYPROJECT["build-system"]["requires"], *PYPROJECT["project"]["dependencies"]],
        env=without_build_settings())
    assert not [p for p in house.iterdir() if p.name.lower().startswith("cython")]
    return house


def offline(house: Path) -> dict[str, str]:
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(house)}


@pytest.fixture(scope="session")
def sdist(source_tree, tmp_path_factory) -> Path:
    """`python -m build --sdist` where `build` is installed; else the same PEP 517 hook it calls,
    in a venv holding the build requirements setup.py reports (Cython, for a checkout)."""
    out = tmp_path_factory.mktemp("sdist")
    # by distribution: a checkout's build/ folder is importable as a namespace package `build`
    if importlib.util.find_spec("build.__main__") is not None:
        run([sys.executable, "-m", "build", "--sdist", "-o", out, source_tree], env=without_build_settings())
    else:
        python = fresh_venv(tmp_path_factory.mktemp("sdist-env") / "venv")
        run([python, "-m", "pip", "install", "-q", *PYPROJECT["build-system"]["requires"], "Cython>=3.1"],
            env=without_build_settings())
        run([python, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(out)!r})"],
            cwd=source_tree, env=without_build_settings())
    (archive,) = out.glob("ft_audit-*.tar.gz")
    return archive


# --- fast -------------------------------------------------------------------------------------

def test_cli_minimum_python_is_requires_python():
    requires = SpecifierSet(PYPROJECT["project"]["requires-python"])
    oldest = ".".join(map(str, MINIMUM_PYTHON))
    assert f"{oldest}.0" in requires
    assert f"{MINIMUM_PYTHON[0]}.{MINIMUM_PYTHON[1] - 1}.99" not in requires


def test_python_39_gets_one_line_refusal_from_the_cli():
    python = pyenv_python(9)
    if python is None:
        pytest.skip("no pyenv 3.9 here")
    proc = run([python, "-m", "auditor", "env"], env={"PYTHONPATH": str(ROOT)}, cwd=ROOT.parent, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("ft-audit needs Python 3.10+ (this is 3.9."), proc.stderr


def test_cibuildwheel_builds_cpython_310_to_314_and_314t():
    config = PYPROJECT["tool"]["cibuildwheel"]
    assert set(config["build"].split()) == {"cp310-*", "cp311-*", "cp312-*", "cp313-*", "cp314-*", "cp314t-*"}
    assert "{wheel}" in config["test-command"] and "ft-audit wheel" in config["test-command"]
    assert config["environment"]["FTAUDIT_REQUIRE_EXT"] == "1"


# --- slow: real installs ----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.network
def test_install_without_a_compiler_warns_once_and_works(source_tree, tmp_path):
    """The README's `pip install .` with CC=false: installed, one warning line, no ftaudit_ext,
    `ft-audit env` runs, and the bench's ext workloads say how to get them."""
    python = fresh_venv(tmp_path / "venv")
    proc = run([python, "-m", "pip", "install", "-v", source_tree, "numpy"],
               env={**without_build_settings(), "CC": "false"})
    warnings = [line.strip() for line in (proc.stdout + proc.stderr).splitlines() if LEFT_OUT in line]
    assert len(warnings) == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "ftaudit_ext._ckernels, ftaudit_ext._cykernels: the C compiler failed (exit status 1)" in warnings[0]
    assert module_files(python) == dict.fromkeys(EXT_MODULES, False)
    ft_audit_env_runs(python)
    bench = run([python, "-m", "auditor", "bench", "--quick", "--workloads", "py_loop,c_norm,cy_norm",
                 "--modes", "sequential,threads", "--workers", "1", "--repeats", "1", "--no-progress",
                 "--format", "json"], cwd=tmp_path)
    workloads = {w["name"]: w["unavailable"] for w in json.loads(bench.stdout)["workloads"]}
    assert workloads["py_loop"] is None
    assert workloads["c_norm"] == f"cannot import ftaudit_ext._ckernels: {EXT_NOT_BUILT}"
    assert workloads["cy_norm"] == f"cannot import ftaudit_ext._cykernels: {EXT_NOT_BUILT}"


@pytest.mark.slow
@pytest.mark.network
def test_require_ext_turns_a_failed_build_into_an_error(source_tree, tmp_path):
    proc = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path, source_tree],
               env={**without_build_settings(), "CC": "false", "FTAUDIT_REQUIRE_EXT": "1"}, check=False)
    assert proc.returncode != 0
    assert "error: ftaudit_ext left out (" in proc.stdout + proc.stderr
    assert not list(tmp_path.glob("*.whl"))


@pytest.mark.slow
@pytest.mark.network
def test_checkout_without_cython_builds_the_c_module_only(source_tree, wheelhouse, tmp_path):
    """No Cython and no index: --no-build-isolation in a venv that has setuptools and the
    runtime dependencies (from the wheelhouse) but not Cython."""
    python = fresh_venv(tmp_path / "venv")
    env = {**without_build_settings(), **offline(wheelhouse)}
    run([python, "-m", "pip", "install", "-q", *PYPROJECT["build-system"]["requires"],
         *PYPROJECT["project"]["dependencies"]], env=env)
    proc = run([python, "-m", "pip", "install", "-v", "--no-build-isolation", "--no-deps", source_tree], env=env)
    warnings = [line.strip() for line in (proc.stdout + proc.stderr).splitlines() if LEFT_OUT in line]
    assert len(warnings) == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert ("ftaudit_ext._cykernels: Cython>=3.1 is not installed and this tree has no generated "
            "ext/_cykernels.c") in warnings[0]
    assert module_files(python) == {"ftaudit_ext._ckernels": True, "ftaudit_ext._cykernels": False}
    ft_audit_env_runs(python)


@pytest.mark.slow
@pytest.mark.network
def test_sdist_ships_the_generated_c_and_installs_offline_without_cython(sdist, wheelhouse, tmp_path):
    with tarfile.open(sdist) as tar:
        names = {Path(n).relative_to(Path(n).parts[0]).as_posix() for n in tar.getnames() if "/" in n}
        generated = tar.extractfile(f"{sdist.name.removesuffix('.tar.gz')}/ext/_cykernels.c")
        assert generated is not None
        assert b"Generated by Cython" in generated.read(200)
    assert {"ext/_cykernels.pyx", "ext/_cykernels.c", "ext/_ckernels.c", "setup.py", "PKG-INFO"} <= names
    python = fresh_venv(tmp_path / "venv")
    proc = run([python, "-m", "pip", "install", "-v", sdist], env={**without_build_settings(), **offline(wheelhouse)})
    assert LEFT_OUT not in proc.stdout + proc.stderr
    assert "Cython" not in run([python, "-m", "pip", "list"]).stdout
    assert module_files(python) == dict.fromkeys(EXT_MODULES, True)
    ft_audit_env_runs(python)


@pytest.mark.slow
@pytest.mark.network
def test_pip_refuses_python_39(sdist, wheelhouse):
    python = pyenv_python(9)
    if python is None:
        pytest.skip("no pyenv 3.9 here")
    proc = run([python, "-m", "pip", "install", "--dry-run", "--no-deps", sdist],
               env={**without_build_settings(), **offline(wheelhouse)}, check=False)
    assert proc.returncode != 0
    assert "requires a different Python: 3.9." in proc.stderr and "not in '>=3.10'" in proc.stderr, proc.stderr


@pytest.mark.slow
@pytest.mark.network
def test_own_wheel_passes_its_own_gate(source_tree, tmp_path):
    """`pip wheel .` (extension required) then `ft-audit wheel` on it: exit 0, and both bundled
    modules judged by the rules for the build that runs the tests. A GIL build makes a GIL wheel
    (cp3X, not cp3Xt): not built for free-threading; the Py_mod_multiple_interpreters slot the
    modules declare exists from 3.12 (before it, CPython's default: shared GIL only)."""
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path, source_tree],
        env={**without_build_settings(), "FTAUDIT_REQUIRE_EXT": "1"})
    (wheel,) = tmp_path.glob("ft_audit-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        compiled = sorted(n for n in zf.namelist() if n.endswith((".so", ".pyd")))
    assert [n.split(".")[0] for n in compiled] == ["ftaudit_ext/_ckernels", "ftaudit_ext/_cykernels"]
    proc = run([sys.executable, "-m", "auditor", "wheel", wheel, "--format", "json", "--no-config"], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (report,) = json.loads(proc.stdout)["wheels"]
    assert report["verdict"] == "pass"
    modules = {m["name"]: m for m in report["modules"]}
    assert sorted(modules) == list(EXT_MODULES)
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    for module in modules.values():
        assert module["free_threading"] == ("ready" if free_threaded else "not-built-for-ft"), module
        assert module["subinterpreters"] == ("own-gil" if sys.version_info >= (3, 12) else "shared-gil-only"), module
