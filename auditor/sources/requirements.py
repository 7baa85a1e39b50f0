"""Input parsers for `ft-audit requirements`: what the user asked for, and where each ask came from.

Four inputs, one output shape (`RequirementSet`):

* pip requirements files: `-r`/`-c` includes (relative to the including file), markers,
  extras, `--hash` options, `-i/--index-url` and `--extra-index-url` lines, backslash
  continuations and comments. Editable installs, local paths, direct URLs and VCS requirements
  cannot be looked up on an index: they are kept as "cannot check" entries, not dropped.
* `pyproject.toml`: `[project] dependencies`, every `[project.optional-dependencies]` group
  and every PEP 735 `[dependency-groups]` group (with `{include-group = ...}`).
* `pylock.toml` (PEP 751): every `[[packages]]` entry becomes a `name==version` pin with its marker.
* `uv.lock`: every `[[package]]` from an index becomes a `name==version` pin.

Every entry carries its origin ("requirements.txt:12"); a malformed line becomes a problem
naming file and line, and the rest of the file is still read.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from auditor.errors import InputError

# Options pip accepts in a requirements file that do not change *what* is required; they are
# accepted silently (with their argument, if they take one).
_IGNORED_WITH_ARG = {"-f", "--find-links", "--trusted-host", "--no-binary", "--only-binary",
                     "--config-settings", "--global-option", "--use-feature", "--progress-bar"}
_IGNORED_FLAGS = {"--pre", "--prefer-binary", "--require-hashes", "--no-index"}
_URL_SCHEMES = ("http://", "https://", "file://", "git+", "hg+", "svn+", "bzr+")
_COMMENT = re.compile(r"(^|\s+)#.*$")
_MAX_INCLUDE_DEPTH = 20


@dataclass(frozen=True)
class RequirementEntry:
    """One requirement as the user wrote it."""

    requirement: Requirement | None   # None when it cannot be looked up (URL, VCS, local path)
    origin: str                       # "path:line" (or "path:[table]" for TOML inputs)
    raw: str
    constraint: bool = False          # from a `-c` file: limits versions, adds nothing
    unchecked: str | None = None      # why it cannot be checked (only when requirement is None)

    @property
    def name(self) -> str | None:
        return canonicalize_name(self.requirement.name) if self.requirement else None


@dataclass
class RequirementSet:
    entries: list[RequirementEntry] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)   # (origin, reason)
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)                # files read, in order
    notes: list[str] = field(default_factory=list)                  # what was simplified, said once

    @property
    def requirements(self) -> list[RequirementEntry]:
        return [e for e in self.entries if e.requirement is not None and not e.constraint]

    @property
    def constraints(self) -> list[RequirementEntry]:
        return [e for e in self.entries if e.requirement is not None and e.constraint]

    @property
    def unchecked(self) -> list[RequirementEntry]:
        return [e for e in self.entries if e.requirement is None]

    def extend(self, other: RequirementSet) -> None:
        self.entries += other.entries
        self.problems += other.problems
        self.index_url = self.index_url or other.index_url
        self.extra_index_urls += [u for u in other.extra_index_urls if u not in self.extra_index_urls]
        self.sources += other.sources
        self.notes += other.notes


def read_inputs(paths: list[str | Path]) -> RequirementSet:
    """Read every input file; the kind is decided by the file name."""
    result = RequirementSet()
    for path in paths:
        result.extend(read_input(Path(path)))
    return result


def read_input(path: Path) -> RequirementSet:
    name = path.name.lower()
    if name == "pyproject.toml":
        return read_pyproject(path)
    if name == "uv.lock":
        return read_uv_lock(path)
    if name == "pylock.toml" or (name.startswith("pylock.") and name.endswith(".toml")):
        return read_pylock(path)
    return read_requirements_file(path)


# ------------------------------------------------------------------ reading an input file
MAX_INPUT_BYTES = 16 << 20          # a requirements or lock file; far above any real one
MAX_GROUP_ITEMS = 100_000           # requirement strings one dependency group may expand to


def read_input_text(path: Path, encoding: str = "utf-8") -> str:
    """An input file's text, refusing what is not a regular file (a device, a FIFO: `-r
    /dev/zero` would never end) and anything over MAX_INPUT_BYTES."""
    import stat

    try:
        info = path.stat()
    except ValueError:               # a NUL byte in the path
        raise InputError(repr(str(path)), "not a valid path (NUL byte)") from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (device, FIFO or socket)"
        raise InputError(str(path), f"cannot read: {kind}")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(str(path), f"larger than {MAX_INPUT_BYTES >> 20} MiB: not a requirements or lock file")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"cannot read: not {encoding.replace('-sig', '')} text ({exc.reason} at byte {exc.start})") from None


# ------------------------------------------------------------------ requirements files
def read_requirements_file(path: Path, *, constraint: bool = False, _seen: tuple[Path, ...] = ()) -> RequirementSet:
    result = RequirementSet(sources=[str(path)])
    text = read_input_text(path, "utf-8-sig")
    for lineno, line in logical_lines(text):
        origin = f"{path}:{lineno}"
        try:
            _parse_line(line, origin, path, constraint, _seen + (path.resolve(),), result)
        except InputError as exc:
            result.problems.append((exc.where, exc.reason))
    return result


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first physical line number, joined line) with comments stripped and continuations joined."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, physical in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        stripped = _COMMENT.sub("", physical)
        if stripped.endswith("\\"):
            pending.append(stripped[:-1])
            continue
        pending.append(stripped)
        joined = " ".join(p.strip() for p in pending).strip()
        pending = []
        if joined:
            out.append((start, joined))
    if pending:
        joined = " ".join(p.strip() for p in pending).strip()
        if joined:
            out.append((start, joined))
    return out


def _parse_line(line: str, origin: str, path: Path, constraint: bool, seen: tuple[Path, ...],
                result: RequirementSet) -> None:
    if line.startswith("-"):
        _parse_option_line(line, origin, path, constraint, seen, result)
        return
    # Per-requirement options (`--hash=...`, `--config-settings ...`) follow the requirement.
    requirement_text, _, options = _split_options(line)
    if options and not all(o.startswith(("--hash", "--config-settings", "--global-option", "--install-option"))
                           for o in options if o.startswith("-")):
        raise InputError(origin, f"unknown option in requirement line: {' '.join(options)}")
    result.entries.append(parse_requirement(requirement_text, origin, constraint=constraint))


def _split_options(line: str) -> tuple[str, str, list[str]]:
    match = re.search(r"\s--?[A-Za-z]", line)
    if not match:
        return line.strip(), "", []
    head, tail = line[:match.start()].strip(), line[match.start():].strip()
    try:
        return head, tail, shlex.split(tail)
    except ValueError:
        return head, tail, tail.split()


def _parse_option_line(line: str, origin: str, path: Path, constraint: bool, seen: tuple[Path, ...],
                       result: RequirementSet) -> None:
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise InputError(origin, f"cannot split option line: {exc}") from None
    option, value = words[0], (words[1] if len(words) > 1 else None)
    if "=" in option and option.startswith("--"):
        option, value = option.split("=", 1)
    elif len(option) > 2 and option[:2] in ("-r", "-c", "-e", "-i", "-f") and not option.startswith("--"):
        option, value = option[:2], option[2:]   # "-rbase.txt"
    if option in ("-r", "--requirement", "-c", "--constraint"):
        if not value:
            raise InputError(origin, f"{option} needs a file name")
        include = (path.parent / value) if not Path(value).is_absolute() else Path(value)
        try:
            resolved = include.resolve()
        except (ValueError, OSError, RuntimeError) as exc:   # a NUL byte; a symlink loop (3.11-3.12)
            raise InputError(origin, f"{option} {value!r}: not a readable path ({exc})") from None
        if resolved in seen:
            raise InputError(origin, f"{value}: include cycle")
        if len(seen) > _MAX_INCLUDE_DEPTH:
            raise InputError(origin, "includes nested too deeply")
        try:
            nested = read_requirements_file(include, constraint=constraint or option in ("-c", "--constraint"),
                                            _seen=seen)
        except InputError as exc:
            raise InputError(origin, f"{value}: {exc.reason}" if exc.where == str(include) else exc.one_line()) from None
        result.extend(nested)
    elif option in ("-i", "--index-url"):
        if not value:
            raise InputError(origin, f"{option} needs a URL")
        result.index_url = result.index_url or value
    elif option == "--extra-index-url":
        if not value:
            raise InputError(origin, f"{option} needs a URL")
        result.extra_index_urls.append(value)
    elif option in ("-e", "--editable"):
        result.entries.append(RequirementEntry(None, origin, line, constraint,
                                               unchecked=f"editable install ({value}): not on an index"))
    elif option in _IGNORED_WITH_ARG or option in _IGNORED_FLAGS:
        pass
    else:
        raise InputError(origin, f"unknown option {option}")


def parse_requirement(text: str, origin: str, *, constraint: bool = False) -> RequirementEntry:
    """One PEP 508 requirement; URLs, VCS links and local paths become "cannot check" entries."""
    text = text.strip()
    lowered = text.lower()
    if lowered.startswith(_URL_SCHEMES) or text.startswith((".", "/", "~")):
        return RequirementEntry(None, origin, text, constraint, unchecked="URL, VCS or local path: not on an index")
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        if lowered.endswith((".whl", ".tar.gz", ".zip")):
            return RequirementEntry(None, origin, text, constraint, unchecked="local archive: not on an index")
        raise InputError(origin, f"invalid requirement {text!r}: {str(exc).splitlines()[0]}") from None
    if requirement.url:
        return RequirementEntry(None, origin, text, constraint,
                                unchecked=f"direct reference ({requirement.url}): not on an index")
    return RequirementEntry(requirement, origin, text, constraint)


# ------------------------------------------------------------------ TOML inputs
def _load_toml(path: Path) -> tuple[dict, str]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        try:
            import tomli as tomllib
        except ImportError:
            raise InputError(str(path), "reading TOML needs Python 3.11+ or the 'tomli' package") from None
    text = read_input_text(path)
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(path), f"invalid TOML: {exc}") from None


class TomlLines:
    """Where quoted strings and table headers stand in a TOML text (TOML parsers give no
    positions). Built once per file, so looking up every dependency of a large file stays
    linear: 16,000 dependencies used to take 74 s with a rescan per lookup."""

    _QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'')

    def __init__(self, text: str) -> None:
        self.headers: dict[str, int] = {}
        self.strings: dict[str, list[int]] = {}
        for number, line in enumerate(text.splitlines()):
            stripped = line.strip()
            if stripped.startswith("["):
                self.headers.setdefault(stripped.split("]", 1)[0] + "]", number)
            for match in self._QUOTED.finditer(line):
                value = match.group(1) if match.group(1) is not None else match.group(2)
                positions = self.strings.setdefault(value, [])
                if not positions or positions[-1] != number:
                    positions.append(number)

    def line_of(self, needle: str, table: str = "") -> int | None:
        """The first line holding `needle` as a quoted string, searched from the header of the
        table it belongs to (the same string may also stand in another table, e.g.
        [build-system] requires), then from the top."""
        import bisect

        positions = self.strings.get(needle)
        if not positions:
            return None
        start = next((self.headers[h] for h in _candidate_headers(table) if h in self.headers), 0)
        index = bisect.bisect_left(positions, start)
        return (positions[index] if index < len(positions) else positions[0]) + 1


def _candidate_headers(table: str) -> list[str]:
    """Most specific first: "project.optional-dependencies.test" -> [project.optional-dependencies], [project]."""
    parts = table.split(".")
    return [f"[{'.'.join(parts[:n])}]" for n in range(len(parts), 0, -1)]


def _toml_origin(path: Path, lines: TomlLines, raw: str, table: str) -> str:
    line = lines.line_of(raw, table)
    return f"{path}:{line}" if line else f"{path}:[{table}]"


def read_pyproject(path: Path) -> RequirementSet:
    doc, text = _load_toml(path)
    lines = TomlLines(text)
    result = RequirementSet(sources=[str(path)])

    def add(items, table: str) -> None:
        if not isinstance(items, list):
            result.problems.append((f"{path}:[{table}]", "expected a list of requirement strings"))
            return
        # A string repeated in one table (a group included many times over) is parsed once:
        # its origin depends only on the string and the table, so the outcome is the same.
        outcomes: dict[str, RequirementEntry | InputError] = {}
        for item in items:
            if not isinstance(item, str):
                result.problems.append((f"{path}:[{table}]", f"not a requirement string: {item!r}"))
                continue
            if item not in outcomes:
                try:
                    outcomes[item] = parse_requirement(item, _toml_origin(path, lines, item, table))
                except InputError as exc:
                    outcomes[item] = exc
            outcome = outcomes[item]
            if isinstance(outcome, InputError):
                result.problems.append((outcome.where, outcome.reason))
            else:
                result.entries.append(outcome)

    project = doc.get("project", {})
    if not isinstance(project, dict):
        result.problems.append((f"{path}:[project]", f"expected a table, found {_toml_type(project)}"))
        project = {}
    add(project.get("dependencies", []), "project.dependencies")
    extras = project.get("optional-dependencies", {})
    if not isinstance(extras, dict):
        result.problems.append((f"{path}:[project.optional-dependencies]", f"expected a table, found {_toml_type(extras)}"))
        extras = {}
    for extra, items in extras.items():
        add(items, f"project.optional-dependencies.{extra}")
    groups = doc.get("dependency-groups", {})
    if not isinstance(groups, dict):
        result.problems.append((f"{path}:[dependency-groups]", f"expected a table, found {_toml_type(groups)}"))
        groups = {}
    expanded: dict[str, list[str]] = {}
    by_canonical = _groups_by_canonical_name(groups)
    for group in groups:
        try:
            items = _expand_group(groups, by_canonical, group, (), expanded)
        except InputError as exc:
            result.problems.append((f"{path}:[dependency-groups.{group}]", exc.reason))
            continue
        add(items, f"dependency-groups.{group}")
    unique: dict[tuple[str, str], RequirementEntry] = {}
    for entry in result.entries:   # a group included by another is listed once
        unique.setdefault((entry.raw, entry.origin), entry)
    result.entries = list(unique.values())
    if not result.entries and not result.problems and "project" not in doc and "dependency-groups" not in doc:
        result.problems.append((str(path), "no [project] table and no [dependency-groups]: nothing to check"))
    return result


def _toml_type(value: object) -> str:
    return {str: "a string", list: "an array", bool: "a boolean", int: "an integer", float: "a float"}.get(
        type(value), type(value).__name__)


def expand_dependency_group(groups: dict, name: str) -> list[str]:
    """PEP 735: a group's requirement strings, with `{include-group = ...}` expanded.

    Each group is expanded once (memoised), the nesting is bounded by _MAX_INCLUDE_DEPTH and
    the result by MAX_GROUP_ITEMS, so a chain of 1,200 includes or a diamond that doubles at
    every level is an error, not a RecursionError or a minute of work."""
    return _expand_group(groups, _groups_by_canonical_name(groups), name, (), {})


def _groups_by_canonical_name(groups: dict) -> dict[str, str]:
    """Built once per file, not once per include: per include it is quadratic in the groups
    (a chain of 1,200 includes took 6 s)."""
    return {canonicalize_name(k): k for k in groups}


def _expand_group(groups: dict, by_canonical: dict[str, str], name: str, _stack: tuple[str, ...],
                  memo: dict[str, list[str]]) -> list[str]:
    wanted = canonicalize_name(name)
    if wanted in memo:
        return memo[wanted]
    if wanted not in by_canonical:
        raise InputError(name, f"include of unknown dependency group {name!r}")
    if wanted in _stack:
        raise InputError(name, f"dependency group include cycle: {' -> '.join(_stack + (wanted,))}")
    if len(_stack) >= _MAX_INCLUDE_DEPTH:
        raise InputError(name, f"dependency group includes nested more than {_MAX_INCLUDE_DEPTH} deep")
    items = groups[by_canonical[wanted]]
    if not isinstance(items, list):
        raise InputError(name, f"a dependency group must be an array, found {_toml_type(items)}")
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
            out += _expand_group(groups, by_canonical, item["include-group"], _stack + (wanted,), memo)
        else:
            raise InputError(name, f"unsupported dependency group item {item!r}")
        if len(out) > MAX_GROUP_ITEMS:
            raise InputError(name, f"dependency group expands to more than {MAX_GROUP_ITEMS} requirements")
    memo[wanted] = out
    return out


def read_pylock(path: Path) -> RequirementSet:
    doc, text = _load_toml(path)
    lines = TomlLines(text)
    result = RequirementSet(sources=[str(path)])
    packages = doc.get("packages")
    if not isinstance(packages, list):
        raise InputError(str(path), "not a PEP 751 lock file (no [[packages]] array)")
    for number, package in enumerate(packages, start=1):
        where = f"{path}:[[packages]] #{number}"
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            result.problems.append((where, "package entry without a name"))
            continue
        name = package["name"]
        origin = _toml_origin(path, lines, name, f"[packages] #{number}")
        if package.get("vcs") or package.get("directory") or package.get("archive"):
            result.entries.append(RequirementEntry(None, origin, name, unchecked="VCS, directory or archive source: not on an index"))
            continue
        version = package.get("version")
        spec = f"{name}=={version}" if isinstance(version, str) else name
        if isinstance(package.get("marker"), str):
            spec += f"; {package['marker']}"
        try:
            result.entries.append(parse_requirement(spec, origin))
        except InputError as exc:
            result.problems.append((exc.where, exc.reason))
    return result


def read_uv_lock(path: Path) -> RequirementSet:
    doc, text = _load_toml(path)
    lines = TomlLines(text)
    result = RequirementSet(sources=[str(path)])
    packages = doc.get("package")
    if not isinstance(packages, list):
        raise InputError(str(path), "not a uv lock file (no [[package]] array)")
    for number, package in enumerate(packages, start=1):
        if not isinstance(package, dict) or not isinstance(package.get("name"), str):
            result.problems.append((f"{path}:[[package]] #{number}", "package entry without a name"))
            continue
        name, version = package["name"], package.get("version")
        origin = _toml_origin(path, lines, name, f"[package] #{number}")
        source = package.get("source") or {}
        if not isinstance(source, dict) or not source.get("registry"):
            # The project itself (editable/virtual) or a git/path/url source: not on an index.
            if isinstance(source, dict) and (source.get("editable") or source.get("virtual")):
                continue  # the project being locked, not a dependency
            result.entries.append(RequirementEntry(None, origin, name, unchecked="git, path or URL source: not on an index"))
            continue
        spec = f"{name}=={version}" if isinstance(version, str) else name
        try:
            result.entries.append(parse_requirement(spec, origin))
        except InputError as exc:
            result.problems.append((exc.where, exc.reason))
    return _one_pin_per_name(result, path)


def _one_pin_per_name(result: RequirementSet, path: Path) -> RequirementSet:
    """A forked uv resolution locks one project at several versions (one per marker fork); the
    lock keeps no marker per package, so the newest is audited and the others are named."""
    from packaging.version import InvalidVersion, Version

    by_name: dict[str, list[RequirementEntry]] = {}
    for entry in result.requirements:          # each has a requirement, so a name
        if entry.name is not None:
            by_name.setdefault(entry.name, []).append(entry)
    drop: set[int] = set()
    for name, entries in by_name.items():
        if len(entries) < 2:
            continue

        def version(e: RequirementEntry):
            try:
                return Version(next(iter(e.requirement.specifier)).version) if e.requirement else Version("0")
            except (StopIteration, InvalidVersion):
                return Version("0")

        entries = sorted(entries, key=version, reverse=True)
        drop |= {id(e) for e in entries[1:]}
        result.notes.append(f"{path}: {name} is locked at {', '.join(str(version(e)) for e in entries)} "
                            f"(forked resolution); auditing {version(entries[0])}")
    result.entries = [e for e in result.entries if id(e) not in drop]
    return result
