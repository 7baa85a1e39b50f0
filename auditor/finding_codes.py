"""Every finding code ft-audit reports, as one table: `finding_codes.json` beside this module.

Four families share it: `wheel` (FTW, the wheel gate), `env` (FTE, the environment roll-up and
its `--fail-on` tokens), `source` (FTS, the C/Cython lint rules; SARIF's rule table) and
`config` (FTC, about `[tool.ft-audit]` itself, reported by any command: auditor.config). Each
entry gives the stable ID, the severity, a one-line title (the meaning the README documents,
Markdown code spans allowed), the README anchor of that documentation and, where they apply,
the `--fail-on` token that selects it, whether it means "could not check", and a lint rule's
why / fix / since. Code never repeats this text: it raises a finding through `finding_code(ID)`,
which fails loudly on an ID the table does not have; tests hold the README's tables to this one.

`requirements --fail-on` tokens are not here: they name a package's status (`sdist-only`,
`abi3-only`, ...) or verdict, one value per package in the `status` vocabulary of the JSON
contract, not a finding with a code, a severity and a message of its own.

Unlike `auditor/knowledge/`, this is not knowledge about CPython: changing a title must not
invalidate the inspector's caches, so the table lives outside that package.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from typing import Any

from auditor.model import Severity, StrEnum

TABLE_FILE = "finding_codes.json"


class Family(StrEnum):
    """The command whose findings a code belongs to; the ID's prefix says it too."""

    WHEEL = "wheel"
    ENV = "env"
    SOURCE = "source"
    CONFIG = "config"   # FTC: about [tool.ft-audit] itself (an expired ignore), any command

    @property
    def prefix(self) -> str:
        return _PREFIXES[self]


_PREFIXES = {Family.WHEEL: "FTW", Family.ENV: "FTE", Family.SOURCE: "FTS", Family.CONFIG: "FTC"}


class UnknownFindingCode(KeyError):
    """An ID that is not in the table: a typo at a raise site, or a code retired from it."""

    def __str__(self) -> str:
        return f"{self.args[0]!r} is not a finding code in auditor/{TABLE_FILE}"


@dataclass(frozen=True)
class FindingCode:
    id: str                  # stable: never renumbered, never reused once retired
    family: Family
    severity: str            # Severity.*
    title: str               # the meaning, as the README documents it
    anchor: str              # README anchor of that documentation
    fail_on: str | None = None                    # env: the --fail-on token that selects it
    could_not_check: bool = False                 # wheel: the wheel's verdict becomes "error"
    gil_interpreter_severity: str | None = None   # env: severity when auditing a GIL interpreter
    why: str = ""            # source: why it matters
    fix: str = ""            # source: the safe replacement
    since: str = ""          # source: CPython (or Cython) version that introduced the fix
    source: str = ""         # section of the C-API reference the rule was checked against
    on_request: bool = False  # wheel text: listed only when selected (--select / config), else counted in one line

    @property
    def docs(self) -> str:
        """Where this code is documented (`https://pypi.org/project/ft-audit/#fts201`)."""
        return docs_link(self.anchor)

    def severity_for(self, *, free_threaded_interpreter: bool = True) -> str:
        if not free_threaded_interpreter and self.gil_interpreter_severity:
            return self.gil_interpreter_severity
        return self.severity


@functools.lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    # The table sits beside this module (checkout, wheel); importlib.resources, which imports
    # zipfile and more on every start, only for a package installed as a zip.
    try:
        with open(os.path.join(os.path.dirname(__file__), TABLE_FILE), encoding="utf-8") as table:
            text = table.read()
    except OSError:
        from importlib import resources

        text = resources.files("auditor").joinpath(TABLE_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def documentation() -> str:
    """The published documentation every anchor points into (one line of the table): the
    README as PyPI shows it. PyPI renders it with readme_renderer, which keeps the `id` of the
    README's `<a id="fts201"></a>` anchors as written (headings get GitHub's `user-content-`
    prefix, so links go to the explicit anchors, never to heading ids)."""
    return _document()["documentation"]


def docs_link(anchor: str) -> str:
    return f"{documentation()}#{anchor}"


@functools.lru_cache(maxsize=1)
def all_codes() -> dict[str, FindingCode]:
    """ID -> FindingCode, in the table's order. Malformed entries raise ValueError."""
    out: dict[str, FindingCode] = {}
    tokens: set[str] = set()
    for entry in _document()["codes"]:
        code = FindingCode(**{**entry, "family": Family(entry["family"])})
        problem = _problem(code, out, tokens)
        if problem:
            raise ValueError(f"auditor/{TABLE_FILE}: {code.id}: {problem}")
        out[code.id] = code
        if code.fail_on:
            tokens.add(code.fail_on)
    return out


def _problem(code: FindingCode, seen: dict[str, FindingCode], tokens: set[str]) -> str | None:
    if code.id in seen:
        return "listed twice"
    if not (code.id.startswith(code.family.prefix) and len(code.id) == 6 and code.id[3:].isdigit()):
        return f"a {code.family.value} code is {code.family.prefix} and three digits"
    severities = [s.value for s in Severity]
    if code.severity not in severities or (code.gil_interpreter_severity or "error") not in severities:
        return f"severity must be one of {', '.join(severities)}"
    if not code.title or not code.anchor:
        return "needs a title and an anchor"
    if code.fail_on in tokens:
        return f"--fail-on token {code.fail_on!r} already selects another code"
    return None


def finding_code(code_id: str) -> FindingCode:
    """The table entry of `code_id`; UnknownFindingCode if there is none."""
    try:
        return all_codes()[code_id]
    except KeyError:
        raise UnknownFindingCode(code_id) from None


def codes_of(family: Family | str) -> tuple[FindingCode, ...]:
    family = Family(family)
    return tuple(c for c in all_codes().values() if c.family is family)


def fail_on_tokens(family: Family | str) -> dict[str, str]:
    """--fail-on token -> the code it selects, for one family."""
    return {c.fail_on: c.id for c in codes_of(family) if c.fail_on}
