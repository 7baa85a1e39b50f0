"""Compile C (and Cython) extension fixtures during the test run.

Headers come from Debian sid's libpython3.X-dev for 3.13/3.14/3.15 (see sid.py) and from
pyenv for 3.9-3.12 (3.13 GIL also from pyenv with headers="pyenv"). Free-threaded fixtures
are the same sources compiled with -DPy_GIL_DISABLED=1: object layout, slot arrays and
imported symbols are those of a real cpython-3XXt build, but no interpreter here can import
them; they are for static analysis. GIL fixtures for 3.13-3.15 import under the matching
sid interpreter (sid.run_sid), which gives the dynamic ground truth for the same source.

Output names follow the interpreter's EXT_SUFFIX:
    NAME.cpython-314t-x86_64-linux-gnu.so   free_threaded=True
    NAME.cpython-313-i386-linux-gnu.so      arch="i686"
    NAME.abi3.so                            limited_api=0x030C0000 (or 12)
    NAME.abi3t.so                           3.15 abi3t: abi3t=0x030F0000, or
                                            limited_api together with free_threaded=True
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from tests.support.pyenv import pyenv_include_dir
from tests.support.unavailable import SupportUnavailable, skip_or_fail

Arch = Literal["x86_64", "i686", "aarch64"]
HeaderSource = Literal["auto", "sid", "pyenv"]

# Minimum minor per header source.
SID_MINORS = (13, 14, 15)
PYENV_MINORS = (9, 10, 11, 12, 13)


class CompileError(Exception):
    """The compiler (or Cython) rejected the fixture; carries the command and its stderr."""

    def __init__(self, command: Sequence[str], stderr: str) -> None:
        self.command = list(command)
        self.stderr = stderr
        super().__init__(f"{' '.join(self.command)}\n{stderr}")


# Debian multiarch triplet (used in EXT_SUFFIX and in sid's include/lib paths) and the
# compiler driver + flags for each target arch.
_TRIPLET: dict[str, str] = {
    "x86_64": "x86_64-linux-gnu",
    "i686": "i386-linux-gnu",
    "aarch64": "aarch64-linux-gnu",
}
# Candidate compiler drivers per arch, first working one wins. The Debian cross compilers
# (gcc-i686-linux-gnu, gcc-aarch64-linux-gnu) coexist; gcc-multilib (for `gcc -m32`)
# conflicts with every Debian 12 cross compiler, so it is only a fallback.
_COMPILER_CANDIDATES: dict[str, list[list[str]]] = {
    "x86_64": [["gcc"]],
    "i686": [["i686-linux-gnu-gcc"], ["gcc", "-m32"]],
    "aarch64": [["aarch64-linux-gnu-gcc"]],
}


def parse_python(python: str) -> int:
    """'3.14' -> 14. Free-threading is a separate flag, so '3.14t' is rejected."""
    major, _, minor = python.partition(".")
    if major != "3" or not minor.isdigit():
        raise ValueError(f"python must look like '3.14', got {python!r}")
    return int(minor)


def limited_api_hex(limited_api: int) -> int:
    """Accept a Py_LIMITED_API value (0x030C0000) or a bare minor (12 -> 0x030C0000)."""
    if limited_api < 0x100:
        return 0x03000000 | (limited_api << 16)
    return limited_api


def ext_suffix(minor: int, *, free_threaded: bool = False, limited_api: int | None = None,
               abi3t: int | None = None, arch: str = "x86_64") -> str:
    """The file suffix an interpreter of that flavour looks for (Linux)."""
    if abi3t is not None or (limited_api is not None and free_threaded):
        return ".abi3t.so"
    if limited_api is not None:
        return ".abi3.so"
    flags = "t" if free_threaded else ""
    return f".cpython-3{minor}{flags}-{_TRIPLET[arch]}.so"


def _driver_works(driver: Sequence[str]) -> bool:
    """Can this driver link a trivial shared object? (needs the target's libc dev files)."""
    if shutil.which(driver[0]) is None:
        return False
    with tempfile.TemporaryDirectory(prefix="ft-audit-cc-") as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text("#include <stddef.h>\n#include <stdio.h>\nint probe(void) { return (int)sizeof(size_t); }\n")
        result = subprocess.run([*driver, "-shared", "-fPIC", "-o", str(Path(tmp) / "probe.so"), str(src)],
                                capture_output=True, text=True)
        return result.returncode == 0


_driver_cache: dict[str, list[str] | None] = {}


def compiler_for(arch: str) -> list[str] | None:
    """The compiler argv prefix that builds shared objects for arch here, or None."""
    if arch not in _TRIPLET:
        raise ValueError(f"unknown arch {arch!r}; expected one of {sorted(_TRIPLET)}")
    if arch not in _driver_cache:
        _driver_cache[arch] = next((list(d) for d in _COMPILER_CANDIDATES[arch] if _driver_works(d)), None)
    return _driver_cache[arch]


def have_toolchain(arch: str) -> bool:
    """True when a C compiler for arch can build shared objects here (headers not included)."""
    return compiler_for(arch) is not None


def require_toolchain(arch: str) -> None:
    """pytest helper: skip (fail in CI) when there is no compiler for arch."""
    if not have_toolchain(arch):
        skip_or_fail(f"no working C compiler for {arch} (see tests/support/compile.py)")


def include_dirs(minor: int, *, arch: str = "x86_64", headers: HeaderSource = "auto") -> list[Path]:
    """The -I directories for 3.<minor> headers of the given arch."""
    source = headers
    if source == "auto":
        source = "sid" if minor in SID_MINORS else "pyenv"
    if source == "sid":
        if minor not in SID_MINORS:
            raise ValueError(f"sid has headers for 3.13-3.15 only, not 3.{minor}")
        from tests.support.sid import sid_include_dirs  # imported late: sid downloads

        return sid_include_dirs(minor, arch=arch)
    if arch != "x86_64":
        raise SupportUnavailable(f"pyenv headers are x86_64 only; 3.{minor} {arch} needs sid headers")
    include = pyenv_include_dir(minor)
    if include is None:
        raise SupportUnavailable(f"no pyenv CPython 3.{minor} with headers under ~/.pyenv/versions")
    return [include]


def compile_extension(source: str, module_name: str, *, python: str = "3.14",
                      free_threaded: bool = False, out_dir: Path,
                      limited_api: int | None = None, abi3t: int | None = None,
                      cflags: Sequence[str] = (), arch: str = "x86_64",
                      headers: HeaderSource = "auto") -> Path:
    """Compile one C source into out_dir/NAME<EXT_SUFFIX> and return that path.

    limited_api: Py_LIMITED_API value (0x030C0000) or bare minor (12); gives NAME.abi3.so.
    abi3t: Py_TARGET_ABI3T value (3.15+); gives NAME.abi3t.so. limited_api together with
    free_threaded also selects abi3t on 3.15 (the 3.13/3.14 headers refuse it, and that
    CompileError is the real behaviour).
    Raises CompileError with the compiler's stderr, SupportUnavailable when headers or the
    toolchain cannot be had.
    """
    minor = parse_python(python)
    if free_threaded and minor < 13:
        raise ValueError(f"free-threaded builds exist from 3.13 on, not {python}")
    compiler = compiler_for(arch)
    if compiler is None:
        raise SupportUnavailable(f"no working C compiler for {arch} "
                                 f"(apt-get install gcc-i686-linux-gnu gcc-aarch64-linux-gnu)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / (module_name + ext_suffix(minor, free_threaded=free_threaded,
                                                 limited_api=limited_api, abi3t=abi3t, arch=arch))
    defines: list[str] = []
    if free_threaded:
        defines.append("-DPy_GIL_DISABLED=1")
    if limited_api is not None:
        defines.append(f"-DPy_LIMITED_API=0x{limited_api_hex(limited_api):08X}")
    if abi3t is not None:
        defines.append(f"-DPy_TARGET_ABI3T=0x{limited_api_hex(abi3t):08X}")
    includes = [f"-I{d}" for d in include_dirs(minor, arch=arch, headers=headers)]
    with tempfile.TemporaryDirectory(prefix="ft-audit-fixture-") as tmp:
        src = Path(tmp) / f"{module_name}.c"
        src.write_text(source)
        built = Path(tmp) / output.name
        command = [*compiler, "-shared", "-fPIC", "-O1", "-g0", *defines, *includes,
                   *cflags, "-o", str(built), str(src)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise CompileError(command, result.stderr)
        # Move into place whole, so a concurrent reader never sees half a file.
        shutil.move(str(built), str(output))
    return output


def cython_to_c(pyx_source: str, module_name: str, *, directives: Mapping[str, object] = {},
                cython_args: Sequence[str] = ()) -> str:
    """Run Cython 3 (the one installed next to sys.executable) and return the C text."""
    with tempfile.TemporaryDirectory(prefix="ft-audit-cython-") as tmp:
        pyx = Path(tmp) / f"{module_name}.pyx"
        pyx.write_text(pyx_source)
        out_c = Path(tmp) / f"{module_name}.c"
        command = [sys.executable, "-m", "cython", "-3", "--module-name", module_name]
        for key, value in directives.items():
            command += ["-X", f"{key}={value}"]
        command += [*cython_args, "-o", str(out_c), str(pyx)]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise CompileError(command, result.stderr + result.stdout)
        return out_c.read_text()


def compile_cython(pyx_source: str, module_name: str, *, directives: Mapping[str, object] = {},
                   python: str = "3.14", free_threaded: bool = False, out_dir: Path,
                   limited_api: int | None = None, cflags: Sequence[str] = (),
                   arch: str = "x86_64", headers: HeaderSource = "auto",
                   cython_args: Sequence[str] = ()) -> Path:
    """Cythonize pyx_source with the given directives (e.g. {"freethreading_compatible": True})
    and compile it with compile_extension. Cython's output is version-agnostic C, so one
    .c serves GIL and free-threaded builds alike."""
    c_source = cython_to_c(pyx_source, module_name, directives=directives, cython_args=cython_args)
    return compile_extension(c_source, module_name, python=python, free_threaded=free_threaded,
                             out_dir=out_dir, limited_api=limited_api,
                             cflags=[*cflags, "-Wno-unused-function"], arch=arch, headers=headers)


def require_extension(source: str, module_name: str, **kwargs: object) -> Path:
    """pytest helper: compile_extension(...), but a missing toolchain or sid headers skips the
    test (fails it when CI=true). CompileError still propagates: broken fixtures are bugs."""
    try:
        return compile_extension(source, module_name, **kwargs)  # type: ignore[arg-type]
    except SupportUnavailable as exc:
        skip_or_fail(f"cannot build fixture {module_name}: {exc.reason}")


def require_cython_extension(pyx_source: str, module_name: str, **kwargs: object) -> Path:
    """pytest helper: compile_cython(...) with the same skip/fail rule as require_extension."""
    try:
        return compile_cython(pyx_source, module_name, **kwargs)  # type: ignore[arg-type]
    except SupportUnavailable as exc:
        skip_or_fail(f"cannot build Cython fixture {module_name}: {exc.reason}")
