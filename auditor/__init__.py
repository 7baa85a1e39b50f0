"""ft-audit: a C-extension compatibility auditor for free-threaded CPython and sub-interpreters.

The library API (README, "Use as a library") is re-exported here lazily: `import auditor`
imports nothing else, and each name loads its module on first use (PEP 562), so a tool that
only needs `auditor.__version__`, or one command, pays for nothing more.
"""

# Postponed annotations keep this module importable on 3.7-3.9, so `python3.9 -m auditor`
# reaches the version check in __main__ instead of failing here.
from __future__ import annotations

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS = {
    "inspect_module": "auditor.api",
    "audit_wheel": "auditor.api",
    "audit_environment": "auditor.api",
    "check_requirements": "auditor.api",
    "judge_wheel": "auditor.api",
    "ModuleReport": "auditor.model",
    "WheelReport": "auditor.model",
    "EnvAudit": "auditor.envaudit",
    "RequirementsAudit": "auditor.audit.requirements",
    "WheelVerdict": "auditor.wheel_verdicts",
    "WheelFile": "auditor.wheel_verdicts",
    "AuditError": "auditor.errors",
}

__all__ = [
    "AuditError",
    "EnvAudit",
    "ModuleReport",
    "RequirementsAudit",
    "WheelFile",
    "WheelReport",
    "WheelVerdict",
    "__version__",
    "audit_environment",
    "audit_wheel",
    "check_requirements",
    "inspect_module",
    "judge_wheel",
]

# Only for type checkers and IDEs (mypy reads any `TYPE_CHECKING` name so): importing typing
# here would cost `import auditor` more than everything else in this file.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from auditor.api import (
        audit_environment as audit_environment,
    )
    from auditor.api import (
        audit_wheel as audit_wheel,
    )
    from auditor.api import (
        check_requirements as check_requirements,
    )
    from auditor.api import (
        inspect_module as inspect_module,
    )
    from auditor.api import (
        judge_wheel as judge_wheel,
    )
    from auditor.audit.requirements import RequirementsAudit as RequirementsAudit
    from auditor.envaudit import EnvAudit as EnvAudit
    from auditor.errors import AuditError as AuditError
    from auditor.model import ModuleReport as ModuleReport
    from auditor.model import WheelReport as WheelReport
    from auditor.wheel_verdicts import WheelFile as WheelFile
    from auditor.wheel_verdicts import WheelVerdict as WheelVerdict


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'auditor' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value          # later lookups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
