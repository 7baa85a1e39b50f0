"""What `ft-audit source` produces: findings at a source position, and per-file diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SourceFinding:
    rule: str          # stable rule ID, e.g. "FTS101" (auditor.lint.rules)
    path: str
    line: int          # 1-based
    column: int        # 1-based, in characters
    message: str       # what is wrong here, naming the API / macro / global involved
    fix: str           # the safe replacement for this occurrence
    severity: str = "warning"

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "path": self.path, "line": self.line, "column": self.column,
                "message": self.message, "fix": self.fix, "severity": self.severity}


@dataclass(frozen=True)
class SourceDiagnostic:
    """A file that could not be (fully) checked, and why. `checked` says whether any findings
    from this file were still produced (a partial result) or the file was skipped entirely."""

    path: str
    message: str
    checked: bool
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "message": self.message,
                "checked": self.checked}


@dataclass(frozen=True)
class FileResult:
    path: str
    findings: tuple[SourceFinding, ...] = ()
    diagnostics: tuple[SourceDiagnostic, ...] = ()
    lines: int = 0


@dataclass(frozen=True)
class LintReport:
    files: tuple[FileResult, ...] = field(default_factory=tuple)
    config_notes: tuple[str, ...] = ()
    config_findings: tuple = ()          # auditor.config.ConfigFinding: FTC001, expired ignores

    @property
    def findings(self) -> tuple[SourceFinding, ...]:
        return tuple(f for r in self.files for f in r.findings)

    @property
    def diagnostics(self) -> tuple[SourceDiagnostic, ...]:
        return tuple(d for r in self.files for d in r.diagnostics)

    @property
    def checked_files(self) -> int:
        return sum(1 for r in self.files if not any(not d.checked for d in r.diagnostics))

    @property
    def unchecked_files(self) -> int:
        return len(self.files) - self.checked_files

    def to_json(self) -> dict[str, Any]:
        return {
            "findings": [f.to_json() for f in self.findings],
            "errors": [d.to_json() for d in self.diagnostics],
            "files_checked": self.checked_files,
            "files_unchecked": self.unchecked_files,
            "notes": list(self.config_notes),
            **({"config_findings": [f.to_json() for f in self.config_findings]} if self.config_findings else {}),
        }
