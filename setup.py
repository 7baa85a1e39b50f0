"""Build ft-audit's bundled reference extension `ftaudit_ext` (sources in ext/).

Metadata, dependencies and the `auditor` package come from pyproject.toml; this file adds
only what pyproject cannot express: the two compiled modules and the `ftaudit_ext` package
mapped from the ext/ folder.

  ftaudit_ext._ckernels   ext/_ckernels.c     hand-written C, no numpy
  ftaudit_ext._cykernels  ext/_cykernels.pyx  Cython, no numpy; OpenMP if the compiler has it

Not abi3: the modules must build on free-threaded interpreters (no limited API before 3.15t)
and declare Py_mod_gil, which needs the version-specific API.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.dist import Distribution

EXT_PACKAGE = "ftaudit_ext"
# The bundled compatibility census (data/) ships as the package `ftaudit_data`, so a
# non-editable install can read it (auditor/compat/dataset.py looks there first).
DATA_PACKAGE = "ftaudit_data"

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
    """build_ext that adds OpenMP flags to the Cython module only when the compiler supports them."""

    def build_extensions(self) -> None:
        compiler_cmd = list(getattr(self.compiler, "compiler_so", None) or [])
        # drop -c and object-specific flags: keep the driver and its base flags
        driver = [arg for arg in compiler_cmd if arg not in ("-c",)][:1] or (
            [sysconfig.get_config_var("CC").split()[0]] if sysconfig.get_config_var("CC") else []
        )
        if driver and shutil.which(driver[0]) is None and not os.path.isabs(driver[0]):
            driver = []
        compile_args, link_args = openmp_flags(driver)
        for ext in self.extensions:
            if ext.name == "ftaudit_ext._cykernels":
                ext.extra_compile_args = [*ext.extra_compile_args, *compile_args]
                ext.extra_link_args = [*ext.extra_link_args, *link_args]
        if not compile_args:
            print("ftaudit_ext: building _cykernels without OpenMP (prange runs serially)", file=sys.stderr)
        super().build_extensions()


def extensions() -> list[Extension]:
    from Cython.Build import cythonize

    c_kernels = Extension(
        "ftaudit_ext._ckernels",
        sources=["ext/_ckernels.c"],
        libraries=[] if sys.platform == "win32" else ["m"],
    )
    cy_kernels = Extension(
        "ftaudit_ext._cykernels",
        sources=["ext/_cykernels.pyx"],
        depends=["ext/_cykernels.pyx"],  # keeps the .pyx in the sdist (sources become the generated .c)
        libraries=[] if sys.platform == "win32" else ["m"],
        # subinterpreters_compatible=own_gil only emits Py_mod_multiple_interpreters when
        # Cython keeps its globals in module state.
        define_macros=[("CYTHON_USE_MODULE_STATE", "1")],
    )
    return [c_kernels, *cythonize([cy_kernels], build_dir="build/cython", quiet=True)]


setup(
    distclass=FtAuditDistribution,
    package_dir={EXT_PACKAGE: "ext", DATA_PACKAGE: "data"},
    packages=[EXT_PACKAGE, DATA_PACKAGE],
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExt},
)
