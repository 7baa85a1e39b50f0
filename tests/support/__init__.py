"""Shared test support for ft-audit: interpreters, headers, compiled fixtures, pinned wheels.

Modules:
  pyenv    pyenv_python(minor): local GIL interpreters 3.9-3.13 (and their headers)
  sid      Debian sid CPython 3.13/3.14/3.15 (GIL builds) + headers, fetched once and cached
  compile  compile_extension / compile_cython: fixtures for GIL, free-threaded, abi3, abi3t
  wheels   pinned real PyPI wheels (version + sha256), fetch_wheel(key)

Anything that needs the network or a toolchain raises SupportUnavailable when it cannot be
had; the require_* helpers turn that into pytest.skip offline and pytest.fail when CI=true.
"""

from tests.support.unavailable import SupportUnavailable, skip_or_fail

__all__ = ["SupportUnavailable", "skip_or_fail"]
