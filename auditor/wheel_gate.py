"""The wheel gate: pure checks from wheel facts and module reports to findings and a verdict.

Inputs are what `auditor.sources.wheel.read_wheel` read and what `auditor.inspect` concluded
about each extension module; no I/O happens here. Every finding carries a stable code from
the finding-code table (`auditor/finding_codes.json`, family `wheel`, documented in the
README); `--ignore CODE` removes findings before the verdict.

Verdict per wheel:
  "error" -- could not check: the wheel is unreadable (FTW001, whatever --ignore says), or a
             member could not be read or inspected safely (FTW002-FTW005, unless ignored);
  "fail"  -- at least one error-severity finding that was not ignored;
  "pass"  -- otherwise (warnings and info do not fail the gate).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from auditor.finding_codes import finding_code
from auditor.model import Finding, FreeThreading, InitStyle, ModuleReport, Severity, WheelReport
from auditor.sources.wheel import RECORD_EXEMPT_SUFFIXES, ExtensionMember, WheelContents
from auditor.target import PythonTarget, is_free_threaded_abi

# Codes this module's logic names (raise sites name theirs through `finding`); each is looked
# up in the table at import, so a typo fails at once.
UNREADABLE = finding_code("FTW001").id          # stays "error" whatever --ignore says
_ABI_CODES = frozenset(finding_code(c).id for c in ("FTW301", "FTW302", "FTW304"))

FT_CLASSIFIER = "Programming Language :: Python :: Free Threading"


def finding(code: str, message: str, *, module: str | None = None, path: str | None = None,
            severity: str | None = None) -> Finding:
    """A finding with the table's severity (unless the check says otherwise) for `code`, which
    must be in the table (UnknownFindingCode)."""
    entry = finding_code(code)
    return Finding(entry.id, severity or entry.severity, message.replace("\n", " "), module, path)


# -- tags ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class WheelTags:
    """The tag facts of one wheel file name."""

    project: str
    version: str
    pythons: frozenset[str]
    abis: frozenset[str]
    platforms: frozenset[str]

    @classmethod
    def from_filename(cls, filename: str) -> WheelTags | None:
        try:
            name, version, _, tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, ValueError):
            return None
        return cls(
            project=str(canonicalize_name(name)),
            version=str(version),
            pythons=frozenset(t.interpreter for t in tags),
            abis=frozenset(t.abi for t in tags),
            platforms=frozenset(t.platform for t in tags),
        )

    @property
    def free_threaded(self) -> bool:
        """The wheel claims to serve a free-threaded interpreter (cp3XYt or abi3t)."""
        return any(is_free_threaded_abi(a) for a in self.abis)

    @property
    def pure(self) -> bool:
        return self.abis == {"none"} and self.platforms == {"any"}


# Platform tag -> (binary format, architectures that must be present in every module).
_ARCH_SUFFIXES = {
    "x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64",
    "i686": "i686", "i386": "i686", "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le",
    "ppc64": "ppc64", "s390x": "s390x", "riscv64": "riscv64",
}


def platform_expectation(platform: str) -> tuple[str, frozenset[str]] | None:
    """What a module in a wheel with this platform tag must be; None when the tag says nothing
    checkable (any, or a platform this gate has no rule for)."""
    if platform == "any":
        return None
    if platform == "win32":
        return "pe", frozenset({"i686"})
    if platform.startswith("win_"):
        arch = _ARCH_SUFFIXES.get(platform[4:])
        return ("pe", frozenset({arch})) if arch else None
    if platform.startswith("macosx_"):
        suffix = platform.split("_", 3)[-1]
        if suffix == "universal2":
            return "macho", frozenset({"x86_64", "aarch64"})
        arch = _ARCH_SUFFIXES.get(suffix)
        return ("macho", frozenset({arch})) if arch else None
    if platform.startswith(("manylinux", "musllinux", "linux_")):
        for suffix, arch in _ARCH_SUFFIXES.items():
            if platform.endswith("_" + suffix):
                return "elf", frozenset({arch})
    return None


def platform_family(platform: str) -> tuple[str, str | None]:
    """(OS family, arch) used to match a GIL wheel with its free-threaded sibling."""
    expectation = platform_expectation(platform)
    arch = ",".join(sorted(expectation[1])) if expectation else None
    for family in ("manylinux", "musllinux", "macosx", "win", "linux"):
        if platform.startswith(family):
            return family, arch
    return platform, arch


def module_arches(report: ModuleReport) -> frozenset[str]:
    """Architectures of a module; fat Mach-O files may report several, comma- or plus-separated."""
    if not report.arch:
        return frozenset()
    inner = re.fullmatch(r"[\w]+\((.*)\)", report.arch)   # "universal2(x86_64,aarch64)"
    text = inner.group(1) if inner else report.arch
    return frozenset(a for a in re.split(r"[,+ ]+", text) if a and a != "None")


# -- archive and RECORD -------------------------------------------------------------------

_PROBLEM_CODES = {
    "unsafe-member": "FTW002",
    "duplicate-member": "FTW002",
    "oversized-member": "FTW003",
    "corrupt-member": "FTW004",
}


def archive_findings(contents: WheelContents) -> list[Finding]:
    return [
        finding(_PROBLEM_CODES[p.kind], f"{p.member!r}: {p.reason}", path=p.member)
        for p in contents.problems
    ]


def record_findings(contents: WheelContents) -> list[Finding]:
    if contents.record is None:
        return [finding("FTW101", contents.record_error or "RECORD is missing")]
    record = contents.record
    out = [finding("FTW105", f"{record.member} line {n}: {reason}", path=record.member)
           for n, reason in record.malformed_lines]
    listed: set[str] = set()
    stored = set(contents.members)
    for entry in record.entries:
        if entry.path in listed:
            out.append(finding("FTW105", f"{record.member} line {entry.line}: {entry.path} is listed twice", path=entry.path))
            continue
        listed.add(entry.path)
        if entry.path.endswith(RECORD_EXEMPT_SUFFIXES) or entry.path == record.member:
            continue
        if entry.path not in stored:
            out.append(finding("FTW104", f"{entry.path}: listed in RECORD but not in the wheel", path=entry.path))
            continue
        digest = contents.digests.get(entry.path)
        declared = contents.declared_sizes.get(entry.path)
        if digest is None and declared is None:
            continue  # unsafe, oversized or corrupt: reported by archive_findings
        if entry.algorithm is None:
            out.append(finding("FTW105", f"{entry.path}: RECORD gives no hash", path=entry.path))
        elif entry.algorithm != "sha256":
            if entry.algorithm in ("md5", "sha1", "sha224"):
                out.append(finding("FTW105", f"{entry.path}: RECORD uses {entry.algorithm}, weaker than sha256", path=entry.path))
            else:
                out.append(finding("FTW105", f"{entry.path}: RECORD hash {entry.algorithm} not verified (only sha256 is)",
                                   path=entry.path, severity=Severity.WARNING))
        elif digest is not None and entry.digest != digest.sha256:
            out.append(finding("FTW102", f"{entry.path}: sha256 {digest.sha256} does not match RECORD's {entry.digest}",
                               path=entry.path))
        size = digest.size if digest is not None else declared
        if entry.size is not None and entry.size != size:
            out.append(finding("FTW102", f"{entry.path}: size {size} does not match RECORD's {entry.size}",
                               path=entry.path))
    for name in contents.members:
        if name.endswith("/") or name in listed or name == record.member or name.endswith(RECORD_EXEMPT_SUFFIXES):
            continue
        if name in contents.declared_sizes:
            out.append(finding("FTW103", f"{name}: in the wheel but not listed in RECORD", path=name))
    return out


def wheel_file_findings(contents: WheelContents) -> list[Finding]:
    out = []
    if contents.wheel_file_error:
        out.append(finding("FTW110", contents.wheel_file_error))
    if contents.dist_info and contents.metadata_name is None:
        out.append(finding("FTW110", f"{contents.dist_info}/METADATA is missing or has no Name"))
    elif contents.metadata_name and canonicalize_name(contents.metadata_name) != contents.project:
        out.append(finding("FTW110", f"METADATA Name {contents.metadata_name!r} is not the file name's "
                                     f"project {contents.project!r}"))
    if contents.metadata_version and _same_version(contents.metadata_version, contents.version) is False:
        out.append(finding("FTW110", f"METADATA Version {contents.metadata_version!r} is not the file name's "
                                     f"version {contents.version!r}"))
    wheel_tags = contents.wheel_tags
    if wheel_tags is not None:
        in_name, in_file = set(contents.filename_tags), set(wheel_tags)
        if not in_file:
            out.append(finding("FTW111", "WHEEL has no Tag lines"))
        elif in_name != in_file:
            parts = []
            if in_name - in_file:
                parts.append("only in the file name: " + ", ".join(sorted(in_name - in_file)))
            if in_file - in_name:
                parts.append("only in WHEEL: " + ", ".join(sorted(in_file - in_name)))
            out.append(finding("FTW111", "tags differ; " + "; ".join(parts)))
    return out


def _same_version(a: str, b: str) -> bool | None:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return None


# -- modules --------------------------------------------------------------------------------

def module_findings(tags: WheelTags, member: ExtensionMember, report: ModuleReport,
                    claimed_in_name: str | None) -> list[Finding]:
    """Checks of one extension module against the wheel's tags.

    claimed_in_name -- the ABI the module's own file name claims ("cp314t", "cp314", "abi3",
                       "abi3t" or None for a plain .so / .pyd).
    """
    name, path = report.name, member.name
    out: list[Finding] = []

    def add(code: str, message: str, severity: str | None = None) -> None:
        out.append(finding(code, f"{path}: {message}", module=name, path=path, severity=severity))

    # File-name checks need no binary.
    if tags.free_threaded and claimed_in_name == "abi3":
        add("FTW302", f"module {name} is a GIL stable-ABI (.abi3) build, which free-threaded "
                      "interpreters do not load, in a wheel tagged " + _abis(tags))
    if claimed_in_name and claimed_in_name not in ("abi3", "abi3t") and claimed_in_name not in tags.abis:
        add("FTW303", f"module {name} is named for {claimed_in_name} but the wheel is tagged {_abis(tags)}")
    elif claimed_in_name == "abi3t" and "abi3t" not in tags.abis and not tags.free_threaded:
        add("FTW303", f"module {name} is named for abi3t but the wheel is tagged {_abis(tags)}")

    if report.errors and (report.format is None or report.init == InitStyle.UNKNOWN):
        add("FTW005", f"cannot inspect module {name}: {_strip_prefix(report.errors[0], path)}")
        return out

    out.extend(_platform_findings(tags, report, add))

    if not report.extension_module:
        add("FTW903", f"{name} exports no PyInit_*/PyModExport_* function: a helper shared library, "
                      "not audited as a module")
        return out

    if tags.free_threaded:
        built_for_gil = report.abi.free_threaded is False
        if built_for_gil and claimed_in_name != "abi3":
            add("FTW301", f"module {name} is built for the GIL ABI in a wheel tagged {_abis(tags)}: "
                          + _abi_reason(report))
        verdict = report.free_threading
        if verdict.value == FreeThreading.REENABLES_GIL:
            add("FTW310", f"module {name} would re-enable the GIL: {verdict.reason}")
        elif verdict.value == FreeThreading.UNKNOWN:
            add("FTW311", f"module {name}: free-threading readiness unknown: {verdict.reason}")
        elif verdict.value == FreeThreading.NOT_BUILT_FOR_FT and not built_for_gil and claimed_in_name != "abi3":
            add("FTW301", f"module {name} is not built for the free-threaded ABI: {verdict.reason}")
    elif report.abi.free_threaded is True and not tags.pure:
        add("FTW304", f"module {name} is built for the free-threaded ABI in a wheel tagged {_abis(tags)}: "
                      + _abi_reason(report))
    mismatch = getattr(report, "abi_mismatch", None)
    if mismatch and not any(f.code in _ABI_CODES for f in out):
        add("FTW305", _strip_prefix(mismatch, path))
    return out


def _strip_prefix(message: str, path: str) -> str:
    """Inspector messages start with the display path; findings already name it."""
    return message[len(path) + 2:] if message.startswith(path + ": ") else message


def _platform_findings(tags: WheelTags, report: ModuleReport, add) -> list[Finding]:
    expectations = [e for e in (platform_expectation(p) for p in sorted(tags.platforms)) if e]
    if not expectations or not report.format:
        return []
    arches = module_arches(report)
    if any(fmt == report.format and (not arches or need <= arches) for fmt, need in expectations):
        return []
    platforms = ", ".join(sorted(tags.platforms))
    universal = [need for fmt, need in expectations if fmt == report.format and len(need) > 1]
    if universal and arches and arches <= universal[0]:
        missing = ", ".join(sorted(universal[0] - arches))
        add("FTW202", f"module {report.name} lacks the {missing} slice required by {platforms} "
                      f"(has {', '.join(sorted(arches))})")
    else:
        what = f"{_FORMAT_NAMES.get(report.format, 'a ' + report.format)} {report.arch or '(unknown arch)'}"
        add("FTW201", f"module {report.name} is {what} binary, foreign to the platform tag {platforms}")
    return []


_FORMAT_NAMES = {"elf": "an ELF", "macho": "a Mach-O", "pe": "a PE (Windows)"}


def _abis(tags: WheelTags) -> str:
    return ".".join(sorted(tags.abis))


def _abi_reason(report: ModuleReport) -> str:
    """What in the binary shows its ABI (the file name's own claim is not evidence of that)."""
    details = [e.detail for e in report.abi.evidence if e.kind != "filename"]
    return "; ".join(details[:2]) if details else (report.abi_mismatch or "the binary shows it")


# -- wheel-level rules ----------------------------------------------------------------------

def classifier_findings(tags: WheelTags, classifiers: Sequence[str], modules: Sequence[ModuleReport]) -> list[Finding]:
    modules = [m for m in modules if m.extension_module]     # helper libraries are never imported
    if not tags.free_threaded or not modules:
        return []
    declared = [c for c in classifiers if c == FT_CLASSIFIER or c.startswith(FT_CLASSIFIER + " ::")]
    blocking = [m.name for m in modules
                if m.free_threading.value in (FreeThreading.REENABLES_GIL, FreeThreading.NOT_BUILT_FOR_FT)]
    if declared and blocking:
        return [finding("FTW401", f"METADATA declares {declared[-1]!r} but {', '.join(blocking)} "
                                  f"would not run without the GIL")]
    if not declared and all(m.free_threading.value == FreeThreading.READY for m in modules):
        return [finding("FTW402", f"every module is free-threading ready; METADATA could declare "
                                  f"'{FT_CLASSIFIER} :: N - ...'")]
    return []


def sibling_findings(filenames: Iterable[str], require_ft: PythonTarget) -> dict[str, list[Finding]]:
    """--require-ft 3.X: every GIL wheel for CPython 3.X needs a free-threaded sibling
    (same project, version, OS family and architecture) among `filenames`.

    GIL wheels are the compiled wheels a 3.X GIL interpreter installs (`cp3X-cp3X`, `cp3Y-abi3`
    with Y <= X); siblings are those 3.Xt installs (`cp3X-cp3Xt`, for 3.15+ `cp315-abi3t`):
    both read from auditor.target.PythonTarget.wheel_tags.
    """
    ft = require_ft.as_free_threaded()
    gil = PythonTarget(ft.major, ft.minor, False)
    parsed = [(f, WheelTags.from_filename(f)) for f in filenames]
    ft_keys: set[tuple] = set()
    for _, tags in parsed:
        if tags is not None and _installs(ft, tags):
            ft_keys.update((tags.project, tags.version) + platform_family(p) for p in tags.platforms)
    out: dict[str, list[Finding]] = {}
    for filename, tags in parsed:
        if tags is None or tags.free_threaded or not _installs(gil, tags):
            continue
        keys = {(tags.project, tags.version) + platform_family(p) for p in tags.platforms}
        if not keys & ft_keys:
            platforms = ", ".join(sorted(tags.platforms))
            out[filename] = [finding("FTW501", f"no {ft.abi} wheel of {tags.project} {tags.version} for "
                                               f"{platforms} among the wheels given (--require-ft {ft.major}.{ft.minor})")]
    return out


def _installs(interpreter: PythonTarget, tags: WheelTags) -> bool:
    """Would `interpreter` install this wheel, on the wheel's own platforms, for its compiled code?"""
    accepted = set(interpreter.wheel_tags(sorted(tags.platforms)))
    return any(f"{py}-{abi}-{plat}" in accepted
               for py in tags.pythons for abi in tags.abis if abi != "none" for plat in tags.platforms)


# -- assembling a report --------------------------------------------------------------------

def assess_wheel(
    contents: WheelContents,
    modules: Sequence[tuple[ExtensionMember, ModuleReport, str | None]],
    *,
    extra: Sequence[Finding] = (),
    ignore: frozenset[str] = frozenset(),
) -> WheelReport:
    """Every check for one readable wheel. `modules` pairs each extension member with its
    report and the ABI its file name claims; `extra` carries set-level findings (FTW501)."""
    tags = WheelTags.from_filename(contents.filename)
    assert tags is not None  # read_wheel refuses unparseable names
    findings: list[Finding] = []
    findings += archive_findings(contents)
    findings += wheel_file_findings(contents)
    findings += record_findings(contents)
    for member, report, claimed in modules:
        findings += module_findings(tags, member, report, claimed)
    findings += classifier_findings(tags, contents.classifiers, [r for _, r, _ in modules])
    if not contents.extensions and not any(p.kind != "corrupt-member" for p in contents.problems):
        kind = "pure Python wheel" if tags.pure else f"wheel tagged {_abis(tags)} but"
        findings.append(finding("FTW901", f"{kind} has no extension modules: only tags and RECORD were checked"))
    if contents.vendored_libraries:
        shown = ", ".join(contents.vendored_libraries[:5]) + (" ..." if len(contents.vendored_libraries) > 5 else "")
        findings.append(finding("FTW902", f"{len(contents.vendored_libraries)} vendored shared libraries "
                                          f"(loaded by the modules, not audited themselves): {shown}"))
    findings += extra
    return build_report(contents.filename, contents.filename_tags, findings, [r for _, r, _ in modules], ignore)


def unreadable_wheel(filename: str, reason: str, *, extra: Sequence[Finding] = (),
                     ignore: frozenset[str] = frozenset()) -> WheelReport:
    try:
        from auditor.sources.wheel import expand_filename_tags

        tags = expand_filename_tags(filename)
    except Exception:  # noqa: BLE001 - an unparseable name is part of what is being reported
        tags = ()
    return build_report(filename, tags, [finding("FTW001", reason), *extra], [], ignore)


def build_report(filename: str, tags: Sequence[str], findings: Sequence[Finding],
                 modules: Sequence[ModuleReport], ignore: frozenset[str]) -> WheelReport:
    unreadable = any(f.code == UNREADABLE for f in findings)
    kept = tuple(f for f in findings if f.code not in ignore)
    return WheelReport(
        filename=filename,
        tags=tuple(tags),
        verdict=verdict_of(kept, unreadable=unreadable),
        findings=kept,
        modules=tuple(modules),
    )


def verdict_of(findings: Sequence[Finding], *, unreadable: bool = False) -> str:
    if unreadable or any(finding_code(f.code).could_not_check for f in findings):
        return "error"
    if any(f.severity == Severity.ERROR for f in findings):
        return "fail"
    return "pass"


def exit_code(reports: Sequence[WheelReport]) -> int:
    """2 if nothing was checked or anything could not be checked, 1 for failures, else 0."""
    if not reports or any(r.verdict == "error" for r in reports):
        return 2
    return 1 if any(r.verdict == "fail" for r in reports) else 0
