"""`[tool.ft-audit]` in the nearest pyproject.toml.

    [tool.ft-audit]
    ignore = ["FTS201", "FTS207"]      # rule IDs never reported
    exclude = ["vendor/**", "*_gen.c"] # globs, relative to the pyproject.toml's folder

tomllib on 3.11+, `tomli` on 3.10 if installed; otherwise the config is skipped with a note.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import InputError


@dataclass(frozen=True)
class LintConfig:
    ignore: frozenset[str] = frozenset()
    exclude: tuple[str, ...] = ()
    root: Path | None = None          # folder of the pyproject.toml the values came from
    source: Path | None = None

    def excludes(self, path: Path) -> bool:
        if not self.exclude or self.root is None:
            return False
        try:
            rel = path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return False
        parts = rel.split("/")
        candidates = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
        return any(fnmatch.fnmatchcase(c, pat.rstrip("/")) for pat in self.exclude for c in candidates)


def _toml_loader():
    try:
        import tomllib  # type: ignore[import-not-found]
        return tomllib
    except ModuleNotFoundError:
        try:
            import tomli  # type: ignore[import-not-found]
            return tomli
        except ModuleNotFoundError:
            return None


def find_pyproject(start: Path) -> Path | None:
    here = start.resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(pyproject: Path) -> tuple[LintConfig, str | None]:
    """Read [tool.ft-audit]; returns (config, note). Raises InputError on a broken file."""
    loader = _toml_loader()
    if loader is None:
        return LintConfig(), f"{pyproject}: not read (no TOML parser on this Python; install tomli)"
    try:
        with open(pyproject, "rb") as fh:
            data = loader.load(fh)
    except OSError as exc:
        raise InputError(str(pyproject), f"cannot read: {exc.strerror or exc}") from exc
    except Exception as exc:  # tomllib.TOMLDecodeError and tomli's equivalent
        raise InputError(str(pyproject), f"invalid TOML: {exc}") from exc
    section = data.get("tool", {}).get("ft-audit", {})
    if not isinstance(section, dict):
        raise InputError(str(pyproject), "[tool.ft-audit] must be a table")
    ignore = section.get("ignore", [])
    exclude = section.get("exclude", [])
    if not isinstance(ignore, list) or not all(isinstance(x, str) for x in ignore):
        raise InputError(str(pyproject), "[tool.ft-audit] ignore must be a list of rule IDs")
    if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
        raise InputError(str(pyproject), "[tool.ft-audit] exclude must be a list of glob patterns")
    return LintConfig(frozenset(x.strip().upper() for x in ignore), tuple(exclude),
                      pyproject.parent, pyproject), None
