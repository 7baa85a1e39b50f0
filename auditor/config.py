"""`[tool.ft-audit]` in pyproject.toml: parsed and validated here, into frozen dataclasses.

    [tool.ft-audit.wheel]
    require-ft = "3.14"
    ignore = [{code = "FTW402", reason = "classifier added at the next release", until = 2027-03-01}]

    [tool.ft-audit.requirements]
    target = "3.14t"
    platforms = ["manylinux_2_28_x86_64", "win_amd64"]
    fail-on = ["sdist-only", "reenables-gil"]
    ignore = [{package = "lxml", reason = "only imported by the GIL build's tests"}]

One table per command (`wheel`, `env`, `requirements`, `source`); the source linter's older
top-level `ignore` / `exclude` keys stay valid and mean `[tool.ft-audit.source]`. Every key is
checked: an unknown key, a value of the wrong type, an unknown finding code, a date that is
not a date is an InputError naming the file, the line (TOML parsers give no positions: found
by a scan of the text) and the key. Commands only merge: a flag given on the command line
wins, else the config's value, else the command's default.

An ignore carries a reason and an optional last day (`until`); past it the ignore is no
longer applied and becomes a finding of its own, FTC001 (auditor/finding_codes.json).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from auditor.errors import InputError

EXPIRED_IGNORE = "FTC001"
FORMATS = {
    "wheel": ("text", "json", "markdown", "sarif"),
    "env": ("text", "json", "markdown", "sarif"),
    "requirements": ("text", "json", "markdown"),
    "source": ("text", "json", "sarif"),
}
COMMANDS = tuple(FORMATS)


def _toml_loader():
    # By version, not by trying: the checker then follows both branches (tomllib is 3.11+).
    if sys.version_info >= (3, 11):
        import tomllib
        return tomllib
    try:
        import tomli
        return tomli
    except ModuleNotFoundError:
        return None


class IgnoreKind(str, Enum):
    CODE = "code"          # a finding code: FTW402, FTE302, FTS201
    PACKAGE = "package"    # a distribution (requirements, env), by its canonical name


@dataclass(frozen=True)
class Ignore:
    kind: IgnoreKind
    value: str                 # the code (upper case) or the canonical package name
    reason: str | None         # None only for the plain-string form of a code
    until: date | None         # the last day it applies
    where: str                 # "path/pyproject.toml:LINE"

    def expired(self, today: date) -> bool:
        return self.until is not None and today > self.until


@dataclass(frozen=True)
class ConfigFinding:
    """An expired ignore, reported by every command whose config holds it."""

    code: str
    severity: str
    message: str
    where: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message, "where": self.where}

    def line(self) -> str:
        return f"{self.where}: {self.code} {self.message}"


@dataclass(frozen=True)
class WheelSettings:
    require_ft: str | None = None
    ignore: tuple[Ignore, ...] = ()
    format: str | None = None
    record_hashes: str | None = None
    select: tuple[str, ...] | None = None     # on-request codes the text report lists (FTW402)


@dataclass(frozen=True)
class RequirementsSettings:
    target: str | None = None
    platforms: tuple[str, ...] | None = None
    fail_on: tuple[str, ...] | None = None
    format: str | None = None
    index_url: str | None = None
    ignore: tuple[Ignore, ...] = ()


@dataclass(frozen=True)
class EnvSettings:
    target: tuple[str, ...] | None = None
    fail_on: tuple[str, ...] | None = None
    format: str | None = None
    ignore: tuple[Ignore, ...] = ()


@dataclass(frozen=True)
class SourceSettings:
    select: tuple[str, ...] | None = None
    ignore: tuple[Ignore, ...] = ()
    exclude: tuple[str, ...] = ()
    format: str | None = None


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    wheel: WheelSettings = WheelSettings()
    requirements: RequirementsSettings = RequirementsSettings()
    env: EnvSettings = EnvSettings()
    source: SourceSettings = SourceSettings()
    # "section.key" -> "path:line", so a value the command rejects is named where it was written
    locations: Mapping[str, str] = field(default_factory=dict)

    def where(self, section: str, key: str, flag: str) -> str:
        """How to name a value in an error: the file and line when it came from here, else the flag."""
        return self.locations.get(f"{section}.{key}", flag)


def active_codes(ignores: tuple[Ignore, ...], today: date) -> frozenset[str]:
    return frozenset(i.value for i in ignores if not i.expired(today))


def expired_findings(ignores: tuple[Ignore, ...], today: date) -> tuple[ConfigFinding, ...]:
    from auditor.finding_codes import finding_code

    entry = finding_code(EXPIRED_IGNORE)
    out = []
    for i in ignores:
        if i.expired(today):
            reason = f" ({i.reason})" if i.reason else ""
            out.append(ConfigFinding(entry.id, entry.severity,
                                     f"the ignore of {i.kind.value} {i.value}{reason} expired on "
                                     f"{i.until}: it is no longer applied", i.where))
    return tuple(out)


def exit_with(code: int, findings: tuple[ConfigFinding, ...]) -> int:
    """An expired ignore is an error finding: exit 1 unless the run already says 1 or 2."""
    return 1 if findings and code == 0 else code


# -- discovery -------------------------------------------------------------------------------

def _read(path: Path) -> tuple[dict[str, Any], str] | None:
    loader = _toml_loader()
    if loader is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return loader.loads(text), text
    except Exception as exc:  # noqa: BLE001 - tomllib.TOMLDecodeError and tomli's equivalent
        raise InputError(str(path), f"invalid TOML: {exc}") from None


def _table_of(data: dict[str, Any]) -> Any:
    tool = data.get("tool")
    return tool.get("ft-audit") if isinstance(tool, dict) else None


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml holding a [tool.ft-audit] table, from `start` upwards (as
    ruff finds [tool.ruff]); a pyproject.toml without one is passed over."""
    here = start.resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            read = _read(candidate)
            if read is None or _table_of(read[0]) is not None:
                return candidate    # (no TOML parser: the nearest one; reading it says so)
    return None


def load(path: Path, *, required: bool = False) -> Config:
    """Parse [tool.ft-audit] of `path`. `required`: the user named the file (--config), so a
    file without the table is an error rather than an empty config."""
    if not path.is_file():
        raise InputError(str(path), "no such file")
    read = _read(path)
    if read is None:
        raise InputError(str(path), "reading TOML needs Python 3.11+ or the 'tomli' package")
    data, text = read
    table = _table_of(data)
    if table is None:
        if required:
            raise InputError(str(path), "no [tool.ft-audit] table")
        return Config(path=path)
    return _Parser(path, text).config(table)


def load_for(config_file: str | None, no_config: bool, cwd: Path | None = None) -> Config:
    """The config a command runs with: --no-config, --config FILE, or found from the cwd up."""
    if no_config:
        return Config()
    if config_file:
        return load(Path(config_file), required=True)
    found = find_config(cwd or Path.cwd())
    return load(found) if found else Config()


# -- validation ------------------------------------------------------------------------------

_KEY_AT = r"(?:^|[{,\s.])[\"']?{key}[\"']?\s*="
_HEADER = re.compile(r"^\s*\[\[?\s*[A-Za-z0-9_.\"' -]+\]\]?\s*(#.*)?$")


class _Parser:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.locations: dict[str, str] = {}

    # where things are written
    def _header_line(self, table: str) -> int | None:
        pattern = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(
            f"(?:{re.escape(p)}|\"{re.escape(p)}\")" for p in table.split(".")) + r"\s*\]")
        return next((n for n, line in enumerate(self.lines) if pattern.match(line)), None)

    def line_of(self, table: str, key: str) -> str:
        """`path:LINE` of `key = ` in `table` (searched from its header to the next one, then in
        the parent table for dotted keys), else the table's header line, else `path`."""
        pattern = re.compile(_KEY_AT.replace("{key}", re.escape(key)))
        parts = table.split(".")
        header_seen = None
        for depth in range(len(parts), 1, -1):
            start = self._header_line(".".join(parts[:depth]))
            if start is None:
                continue
            header_seen = header_seen if header_seen is not None else start
            for n in range(start + 1, len(self.lines)):
                if _HEADER.match(self.lines[n]):
                    break
                if pattern.search(self.lines[n]):
                    return f"{self.path}:{n + 1}"
        return f"{self.path}:{header_seen + 1}" if header_seen is not None else str(self.path)

    def error(self, table: str, key: str, reason: str) -> InputError:
        return InputError(self.line_of(table, key), f"[{table}] {key}: {reason}")

    # the tables
    def config(self, table: Any) -> Config:
        if not isinstance(table, dict):
            raise InputError(str(self.path), "[tool.ft-audit] must be a table")
        base = "tool.ft-audit"
        for key in table:
            if key not in (*COMMANDS, "ignore", "exclude"):
                raise self.error(base, key, "unknown key (expected one of the tables "
                                 f"{', '.join(COMMANDS)}, or the source keys ignore, exclude)")
        sections: dict[str, dict[str, Any]] = {}
        for name in COMMANDS:
            value = table.get(name, {})
            if not isinstance(value, dict):
                raise self.error(base, name, "must be a table ([tool.ft-audit." + name + "])")
            sections[name] = value
        legacy = {k: table[k] for k in ("ignore", "exclude") if k in table}
        return Config(
            path=self.path,
            wheel=self.wheel(sections["wheel"]),
            requirements=self.requirements(sections["requirements"]),
            env=self.env(sections["env"]),
            source=self.source(sections["source"], legacy),
            locations=self.locations,
        )

    def _check_keys(self, table: str, values: Mapping[str, Any], known: tuple[str, ...]) -> None:
        for key in values:
            if key not in known:
                raise self.error(table, key, f"unknown key (known: {', '.join(known)})")
            self.locations[f"{table.rsplit('.', 1)[-1]}.{key}"] = f"{self.line_of(table, key)}: [{table}] {key}"

    def wheel(self, values: Mapping[str, Any]) -> WheelSettings:
        t = "tool.ft-audit.wheel"
        self._check_keys(t, values, ("require-ft", "ignore", "format", "record-hashes", "select"))
        select = self.selected_codes(t, values, "FTW")
        return WheelSettings(
            select=select,
            require_ft=self.string(t, values, "require-ft"),
            ignore=self.ignores(t, values, kinds=(IgnoreKind.CODE,), family="FTW"),
            format=self.choice(t, values, "format", FORMATS["wheel"]),
            record_hashes=self.choice(t, values, "record-hashes", ("audited", "all")),
        )

    def requirements(self, values: Mapping[str, Any]) -> RequirementsSettings:
        t = "tool.ft-audit.requirements"
        self._check_keys(t, values, ("target", "platforms", "fail-on", "format", "index-url", "ignore"))
        return RequirementsSettings(
            target=self.string(t, values, "target"),
            platforms=self.strings(t, values, "platforms"),
            fail_on=self.strings(t, values, "fail-on"),
            format=self.choice(t, values, "format", FORMATS["requirements"]),
            index_url=self.string(t, values, "index-url"),
            ignore=self.ignores(t, values, kinds=(IgnoreKind.PACKAGE,), family=None),
        )

    def env(self, values: Mapping[str, Any]) -> EnvSettings:
        t = "tool.ft-audit.env"
        self._check_keys(t, values, ("target", "fail-on", "format", "ignore"))
        target = values.get("target")
        return EnvSettings(
            target=(target,) if isinstance(target, str) else self.strings(t, values, "target"),
            fail_on=self.strings(t, values, "fail-on"),
            format=self.choice(t, values, "format", FORMATS["env"]),
            ignore=self.ignores(t, values, kinds=(IgnoreKind.CODE, IgnoreKind.PACKAGE), family="FTE"),
        )

    def source(self, values: Mapping[str, Any], legacy: Mapping[str, Any]) -> SourceSettings:
        t = "tool.ft-audit.source"
        self._check_keys(t, values, ("select", "ignore", "exclude", "format"))
        select = self.selected_codes(t, values, "FTS")
        return SourceSettings(
            select=select,
            ignore=(self.ignores("tool.ft-audit", legacy, kinds=(IgnoreKind.CODE,), family="FTS")
                    + self.ignores(t, values, kinds=(IgnoreKind.CODE,), family="FTS")),
            exclude=(self.strings("tool.ft-audit", legacy, "exclude") or ()) + (self.strings(t, values, "exclude") or ()),
            format=self.choice(t, values, "format", FORMATS["source"]),
        )

    # the value types
    def string(self, t: str, values: Mapping[str, Any], key: str) -> str | None:
        value = values.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(t, key, f"must be a non-empty string, not {_shown(value)}")
        return value.strip()

    def strings(self, t: str, values: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
        value = values.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error(t, key, f"must be a list of strings, not {_shown(value)}")
        return tuple(v.strip() for v in value)

    def choice(self, t: str, values: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str | None:
        value = self.string(t, values, key)
        if value is not None and value not in choices:
            raise self.error(t, key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def selected_codes(self, t: str, values: Mapping[str, Any], family: str) -> tuple[str, ...] | None:
        """`select = [...]`: finding codes of `family`, upper-cased, each one known."""
        select = self.strings(t, values, "select")
        if select is None:
            return None
        select = tuple(s.upper() for s in select)
        self._known_codes(t, "select", select, family)
        return select

    def _known_codes(self, t: str, key: str, codes: tuple[str, ...], family: str) -> None:
        from auditor.finding_codes import all_codes

        bad = [c for c in codes if not c.startswith(family) or c not in all_codes()]
        if bad:
            raise self.error(t, key, f"unknown {family} finding code(s): {', '.join(bad)}")

    def ignores(self, t: str, values: Mapping[str, Any], *, kinds: tuple[IgnoreKind, ...],
                family: str | None) -> tuple[Ignore, ...]:
        value = values.get("ignore")
        if value is None:
            return ()
        accepted = " or ".join(f"{{{k.value} = ..., reason = ..., until = YYYY-MM-DD}}" for k in kinds)
        if not isinstance(value, list):
            raise self.error(t, "ignore", f"must be a list of {accepted}, not {_shown(value)}")
        out: list[Ignore] = []
        for item in value:
            if isinstance(item, str) and IgnoreKind.CODE in kinds:
                code = item.strip().upper()
                self._known_codes(t, "ignore", (code,), family or "")
                out.append(Ignore(IgnoreKind.CODE, code, None, None, self._entry_line(t, item)))
                continue
            if not isinstance(item, dict):
                raise self.error(t, "ignore", f"each entry must be {accepted}, not {_shown(item)}")
            named = [k for k in kinds if k.value in item]
            if len(named) != 1:
                raise self.error(t, "ignore", f"each entry must be {accepted}; got {_shown(item)}")
            kind = named[0]
            for key in item:
                if key not in (kind.value, "reason", "until"):
                    raise self.error(t, key, f"unknown key in an ignore entry (known: {kind.value}, reason, until)")
            raw = item[kind.value]
            if not isinstance(raw, str) or not raw.strip():
                raise self.error(t, kind.value, f"must be a non-empty string, not {_shown(raw)}")
            where = self._entry_line(t, raw)
            reason = item.get("reason")
            if not isinstance(reason, str) or not reason.strip():
                raise InputError(where, f"[{t}] ignore of {raw}: needs a reason (a non-empty string)")
            try:
                until = _date(item.get("until"))
            except ValueError:
                raise InputError(where, f"[{t}] ignore of {raw}: until must be a date (YYYY-MM-DD), "
                                        f"not {_shown(item.get('until'))}") from None
            if kind is IgnoreKind.CODE:
                value_ = raw.strip().upper()
                self._known_codes(t, "ignore", (value_,), family or "")
            else:
                from packaging.utils import canonicalize_name

                value_ = canonicalize_name(raw.strip())
            out.append(Ignore(kind, value_, reason.strip(), until, where))
        return tuple(out)

    def _entry_line(self, t: str, needle: str) -> str:
        start = self._header_line(t) or 0
        quoted = re.compile(r"[\"']" + re.escape(needle) + r"[\"']")
        for n in range(start, len(self.lines)):
            if quoted.search(self.lines[n]):
                return f"{self.path}:{n + 1}"
        return self.line_of(t, "ignore")


def _date(value: Any) -> date | None:
    """A TOML date or an ISO date string; None when absent; ValueError when it is not a date."""
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value.strip())
    raise ValueError(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def pick(flag: Any, configured: Any, default: Any) -> Any:
    """The command line wins, then the config, then the default (None / [] mean 'not given')."""
    if flag not in (None, [], ()):
        return flag
    if configured is not None:
        return configured
    return default
