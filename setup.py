"""Build ft-audit's bundled reference extension `ftaudit_ext` (sources in ext/).

Metadata, dependencies and the `auditor` package come from pyproject.toml; this file adds
only what pyproject cannot express: the two compiled modules and the `ftaudit_ext` package
mapped from the ext/ folder.

  ftaudit_ext._ckernels   ext/_ckernels.c     hand-written C, no numpy
  ftaudit_ext._cykernels  ext/_cykernels.pyx  Cython, no numpy; OpenMP if the compiler has it

Not abi3: the modules must build on free-threaded interpreters (no limited API before 3.15t)
and declare Py_mod_gil, which needs the version-specific API.

The extension is optional: ft-audit itself is pure Python and only `ft-audit bench`'s c_*/cy_*
workloads use it. A module that cannot be built (no working C compiler, or neither Cython nor
the generated C) is left out with one warning line, unless FTAUDIT_REQUIRE_EXT=1 (CI) makes
that a build error. Cython is not a static build requirement: an sdist carries the C that
Cython generated from _cykernels.pyx (written by the sdist command below), so installing it
needs no Cython, and offline without Cython it still builds; a checkout without that C asks
for Cython through `setup_requires`, which setuptools' PEP 517 backend reports to pip as a
dynamic build requirement (get_requires_for_build_wheel).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist
from setuptools.dist import Distribution
from setuptools.errors import CCompilerError, CompileError, ExecError, LinkError, PlatformError

EXT_PACKAGE = "ftaudit_ext"
# The bundled compatibility census (data/) ships as the package `ftaudit_data`, so a
# non-editable install can read it (auditor/compat/dataset.py looks there first).
DATA_PACKAGE = "ftaudit_data"

CYTHON_MODULE = "ftaudit_ext._cykernels"
CYTHON_SOURCE = "ext/_cykernels.pyx"
# Cython's output for CYTHON_SOURCE: present in an sdist only (never in git; see BuildSdist).
GENERATED_C = "ext/_cykernels.c"
CYTHON_REQUIREMENT = "Cython>=3.1"
# A build error instead of a warning when a module of ftaudit_ext cannot be built.
REQUIRE_EXT = os.environ.get("FTAUDIT_REQUIRE_EXT") == "1"
BUILD_FAILURES = (CCompilerError, CompileError, LinkError, ExecError, PlatformError, OSError)

OPENMP_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return omp_get_max_threads() > 0 && n > 0 ? 0 : 1;
}
"""


def openmp_flags(compiler_cmd: list[str]) -> tuple[list[str], list[str]]:
    """(compile args, link args) for OpenMP, or ([], []) when a tiny OpenMP program fails to build.

    Set FTAUDIT_NO_OPENMP=1 to build without OpenMP on purpose.
    """
    if os.environ.get("FTAUDIT_NO_OPENMP") == "1" or not compiler_cmd:
        return [], []
    if sys.platform == "win32":
        return ["/openmp"], []
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "omp_probe.c")
        with open(source, "w") as fh:
            fh.write(OPENMP_PROBE)
        cmd = [*compiler_cmd, "-fopenmp", source, "-o", os.path.join(tmp, "omp_probe"), "-fopenmp"]
        try:
            ok = subprocess.run(cmd, capture_output=True, timeout=120).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
    return (["-fopenmp"], ["-fopenmp"]) if ok else ([], [])


class FtAuditDistribution(Distribution):
    """Adds `ftaudit_ext` and `ftaudit_data` to the package list that pyproject's [tool.setuptools.packages.find]
    computes: setuptools lets that table replace a `packages=` argument given to setup(), while
    `package_dir` (not set in pyproject) is kept."""

    def parse_config_files(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = super().parse_config_files(*args, **kwargs)
        packages = list(self.packages or [])
        self.packages = [*packages, *(p for p in (EXT_PACKAGE, DATA_PACKAGE) if p not in packages)]
        return result


class BuildExt(build_ext):
    """build_ext that adds OpenMP flags to the Cython module only when the compiler supports them,
    and leaves out (one warning line) each module that cannot be built, unless REQUIRE_EXT."""

    def build_extensions(self) -> None:
        compiler_cmd = list(getattr(self.compiler, "compiler_so", None) or [])
        # drop -c and object-specific flags: keep the driver and its base flags
        driver = [arg for arg in compiler_cmd if arg not in ("-c",)][:1] or (
            [sysconfig.get_config_var("CC").split()[0]] if sysconfig.get_config_var("CC") else []
        )
        if driver and shutil.which(driver[0]) is None and not os.path.isabs(driver[0]):
            driver = []
        compile_args, link_args = openmp_flags(driver)
        self.check_extensions_list(self.extensions)
        missing: dict[str, list[str]] = {}  # why -> the modules left out for that reason
        built: list[Extension] = []
        for ext in self.extensions:
            if ext.name == CYTHON_MODULE:
                why = use_cython_output(ext)
                if why:
                    missing.setdefault(why, []).append(ext.name)
                    continue
                ext.extra_compile_args = [*ext.extra_compile_args, *compile_args]
                ext.extra_link_args = [*ext.extra_link_args, *link_args]
            try:
                self.build_extension(ext)
                built.append(ext)
            except BUILD_FAILURES as exc:
                missing.setdefault(f"the C compiler failed ({failure_reason(exc)})", []).append(ext.name)
        # What was not built has no file for the in-place copy (editable installs) or the outputs.
        self.extensions = built
        if missing:
            reasons = "; ".join(f"{', '.join(names)}: {why}" for why, names in missing.items())
            message = (f"ftaudit_ext left out ({reasons}): ft-audit works without it except the "
                       "c_*/cy_* workloads of `ft-audit bench`")
            if REQUIRE_EXT:
                raise SystemExit(f"error: {message}; FTAUDIT_REQUIRE_EXT=1 makes that an error")
            message += " (FTAUDIT_REQUIRE_EXT=1 makes this an error)"
            print(f"warning: {message}", file=sys.stderr)
        elif not compile_args:
            print("ftaudit_ext: built _cykernels without OpenMP (prange runs serially)", file=sys.stderr)


def failure_reason(exc: BaseException) -> str:
    """Short: a failed compiler command's message repeats the whole command line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    status = re.search(r"exit (?:status|code) (-?\d+)", text)
    if status:
        return f"exit status {status.group(1)}"
    return text if len(text) <= 160 else text[:157] + "..."


def use_cython_output(ext: Extension) -> str | None:
    """Point `ext` at C it can compile: Cython's output for the .pyx when Cython is importable
    (always regenerated), else the C an sdist ships. None when done, else why it cannot be built."""
    try:
        from Cython.Build import cythonize
    except ImportError:
        if os.path.isfile(GENERATED_C):
            ext.sources = [GENERATED_C]
            return None
        return f"{CYTHON_REQUIREMENT} is not installed and this tree has no generated {GENERATED_C}"
    (cythonized,) = cythonize([ext], build_dir="build/cython", quiet=True)
    ext.sources = cythonized.sources
    return None


class BuildSdist(sdist):
    """Adds Cython's C for _cykernels.pyx to the sdist, so installing the sdist needs no Cython."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        try:
            from Cython.Build import cythonize
        except ImportError:
            message = f"sdist without {GENERATED_C}: {CYTHON_REQUIREMENT} is not installed"
            if REQUIRE_EXT:
                raise SystemExit(f"error: {message}") from None
            print(f"warning: {message}", file=sys.stderr)
            return
        (cythonized,) = cythonize([cython_extension()], build_dir="build/cython", quiet=True)
        (generated,) = [src for src in cythonized.sources if src.endswith(".c")]
        shutil.copyfile(generated, os.path.join(base_dir, GENERATED_C))


def cython_requirements() -> list[str]:
    """Cython as a build requirement only where the C for _cykernels must be generated: a
    checkout (an sdist has GENERATED_C, whose build must not need Cython: offline installs)."""
    return [] if os.path.isfile(GENERATED_C) else [CYTHON_REQUIREMENT]


def cython_extension() -> Extension:
    """_cykernels from its .pyx; BuildExt swaps in the C to compile (see use_cython_output)."""
    return Extension(
        CYTHON_MODULE,
        sources=[CYTHON_SOURCE],
        depends=[CYTHON_SOURCE],  # keeps the .pyx in the sdist whatever the sources become
        libraries=[] if sys.platform == "win32" else ["m"],
        # subinterpreters_compatible=own_gil only emits Py_mod_multiple_interpreters when
        # Cython keeps its globals in module state.
        define_macros=[("CYTHON_USE_MODULE_STATE", "1")],
    )


def extensions() -> list[Extension]:
    c_kernels = Extension(
        "ftaudit_ext._ckernels",
        sources=["ext/_ckernels.c"],
        libraries=[] if sys.platform == "win32" else ["m"],
    )
    return [c_kernels, cython_extension()]


setup(
    distclass=FtAuditDistribution,
    package_dir={EXT_PACKAGE: "ext", DATA_PACKAGE: "data"},
    packages=[EXT_PACKAGE, DATA_PACKAGE],
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExt, "sdist": BuildSdist},
    setup_requires=cython_requirements(),
)
