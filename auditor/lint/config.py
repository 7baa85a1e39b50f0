"""The source linter's view of `[tool.ft-audit]`, from the nearest pyproject.toml above
each PATH that has the table (parsed and validated by auditor.config, the one config module):

    [tool.ft-audit.source]             # (or the older top-level ignore / exclude keys)
    select = ["FTS101", "FTS102"]      # only these rule IDs
    ignore = ["FTS201", {code = "FTS207", reason = "...", until = 2027-03-01}]
    exclude = ["vendor/**", "*_gen.c"] # globs, relative to the pyproject.toml's folder

tomllib on 3.11+, `tomli` on 3.10 if installed; otherwise the config is skipped with a note.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from auditor import config as project_config


@dataclass(frozen=True)
class LintConfig:
    ignore: frozenset[str] = frozenset()
    exclude: tuple[str, ...] = ()
    root: Path | None = None          # folder of the pyproject.toml the values came from
    source: Path | None = None
    select: frozenset[str] | None = None                           # only these rules, when given
    expired: tuple[project_config.ConfigFinding, ...] = ()         # FTC001: ignores past their date

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


def find_pyproject(start: Path) -> Path | None:
    return project_config.find_config(start)


def load_config(pyproject: Path, today: date | None = None) -> tuple[LintConfig, str | None]:
    """Read [tool.ft-audit]; returns (config, note). Raises InputError on a broken file."""
    if project_config._toml_loader() is None:
        return LintConfig(), f"{pyproject}: not read (no TOML parser on this Python; install tomli)"
    settings = project_config.load(pyproject).source
    today = today or date.today()
    return LintConfig(project_config.active_codes(settings.ignore, today), settings.exclude,
                      pyproject.parent, pyproject,
                      frozenset(settings.select) if settings.select is not None else None,
                      project_config.expired_findings(settings.ignore, today)), None
