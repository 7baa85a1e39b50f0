"""Locate pyenv's GIL interpreters (3.9-3.13 on this machine) and their C headers."""

from __future__ import annotations

import os
import re
from pathlib import Path

# Only plain release directories ("3.13.0"); "3.13.0t", "3.14-dev" and friends are not GIL
# release builds we can rely on.
_RELEASE_DIR = re.compile(r"^3\.(\d+)\.(\d+)$")


def pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser()


def pyenv_version_dir(minor: int) -> Path | None:
    """The newest installed 3.<minor>.<patch> directory, or None."""
    versions = pyenv_root() / "versions"
    if not versions.is_dir():
        return None
    best: tuple[int, Path] | None = None
    for entry in versions.iterdir():
        match = _RELEASE_DIR.match(entry.name)
        if not match or int(match.group(1)) != minor:
            continue
        patch = int(match.group(2))
        if best is None or patch > best[0]:
            best = (patch, entry)
    return best[1] if best else None


def pyenv_python(minor: int) -> Path | None:
    """e.g. 13 -> /root/.pyenv/versions/3.13.0/bin/python3.13 (newest patch), or None."""
    version_dir = pyenv_version_dir(minor)
    if version_dir is None:
        return None
    python = version_dir / "bin" / f"python3.{minor}"
    return python if python.is_file() else None


def pyenv_include_dir(minor: int) -> Path | None:
    """The directory holding Python.h for pyenv's 3.<minor>, or None."""
    version_dir = pyenv_version_dir(minor)
    if version_dir is None:
        return None
    include = version_dir / "include" / f"python3.{minor}"
    return include if (include / "Python.h").is_file() else None
