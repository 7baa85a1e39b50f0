"""Display names used by the py-free-threading tracking table -> PyPI project names.

The table names projects the way their documentation does ("NumPy", "PyTorch", "ultrajson"),
not by their PyPI names, and lists some things that are not PyPI projects at all (build
tools, Rust crates, package managers). This map is ft-audit's own curated knowledge; a name
not listed here is taken to be its own PyPI name after PEP 503 normalisation, which is right
for most rows ("PyYAML" -> "pyyaml", "ruamel.yaml.clib" -> "ruamel-yaml-clib").

Each value lists the PyPI projects the row speaks for; the first one is the primary name.
Extra names are the distributions that actually carry the compiled code (jaxlib for JAX,
the cupy-cudaNNx wheels for CuPy, the CuTe DSL library packages named in the table's footnote).
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[-_.]+")


def canonicalize_name(name: str) -> str:
    """PEP 503 normalisation (as packaging.utils.canonicalize_name), without importing packaging:
    the lookup path stays cheap to load."""
    return _SEPARATORS.sub("-", name).lower()

DISPLAY_TO_PYPI: dict[str, tuple[str, ...]] = {
    "pytorch": ("torch",),
    "ultrajson": ("ujson",),
    "mypyc": ("mypy",),
    "pyav": ("av",),
    "pytables": ("tables",),
    "opencv": ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
               "opencv-contrib-python-headless"),
    "jax": ("jax", "jaxlib"),
    "pyobjc": ("pyobjc", "pyobjc-core"),
    "cute-dsl": ("nvidia-cutlass-dsl", "nvidia-cutlass-dsl-libs-base", "nvidia-cutlass-dsl-libs-cu13"),
    "connector-x": ("connectorx",),
    "nvimagecodec": ("nvidia-nvimgcodec-cu12", "nvidia-nvimgcodec-cu13"),
    "cupy": ("cupy", "cupy-cuda12x", "cupy-cuda13x"),
    "psycopg": ("psycopg", "psycopg-binary", "psycopg-c"),
    "pyzmq": ("pyzmq",),
    "brotli": ("brotli",),
    "triton": ("triton",),
}

# Rows that are not PyPI projects (or whose PyPI name is not what the row tracks): kept, marked.
NOT_ON_PYPI: dict[str, str] = {
    "bazel-rules-python": "Bazel ruleset (Bazel Central Registry)",
    "boost-python": "C++ library (Boost)",
    "pyo3": "Rust crate (crates.io)",
    "rust-numpy": "Rust crate (crates.io)",
    "swig": "code generator (swig.org)",
    "spack": "package manager",
    "pixi": "package manager",
    "conda": "package manager (conda-forge)",
    "mamba": "package manager (conda-forge)",
    "mlir-python": "LLVM/MLIR Python bindings (not published on PyPI)",
}


def display_key(display_name: str) -> str:
    """A normalised key for a display name: "Bazel (rules-python)" -> "bazel-rules-python"."""
    cleaned = display_name.replace("(", " ").replace(")", " ").strip()
    return canonicalize_name("-".join(cleaned.split()))


def pypi_names_for(display_name: str) -> tuple[tuple[str, ...], str | None]:
    """(PyPI names, None) for a PyPI project, or ((), why-not) for a row that is not one."""
    key = display_key(display_name)
    if key in NOT_ON_PYPI:
        return (), NOT_ON_PYPI[key]
    if key in DISPLAY_TO_PYPI:
        return DISPLAY_TO_PYPI[key], None
    return (key,), None
