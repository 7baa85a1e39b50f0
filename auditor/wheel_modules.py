"""The one path from "something to audit" to "extension modules to inspect" (abi3audit's
`_extract` shape).

Every source yields modules that name where they came from, so a message can say
`lxml-6.1.3-cp314-cp314t-....whl!lxml/etree.cpython-314t-x86_64-linux-gnu.so`:

* a local wheel file: `wheel_modules(path)`;
* a PyPI release (`wheel --pypi`): `release_modules(spec)` downloads each wheel (sha256-checked,
  cached) and reads it as a local wheel;
* a remote wheel read with HTTP range requests: `wheel_modules(name, stream=RangeFile(...))`
  (auditor.wheel_verdicts: only the central directory and the module members are fetched);
* a bare `.so` / `.pyd` file: `module_file(path)`.

Reading is auditor.sources.wheel's safe reader; inspecting is `inspect_member` (the wheel gate
calls it on every member of its shares too). A published wheel's verdict, in the census, in
`requirements` and in `env`'s offers alike, comes from `wheel_modules` and is rolled up by
auditor.wheel_verdicts.wheel_rollup, so one file is never judged two ways. An inspector failure
becomes an "unknown" report naming the member, never an exception that ends the audit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from auditor.model import (
    Abi,
    FreeThreading,
    GilDeclaration,
    InitStyle,
    ModuleReport,
    MultipleInterpreters,
    Subinterpreters,
    Verdict,
)

__all__ = [
    "InspectedModule", "WheelModules", "failed_module_report", "inspect_extensions", "inspect_member",
    "is_read_as_module", "module_file", "release_modules", "wheel_modules",
]


@dataclass(frozen=True)
class InspectedModule:
    """One extension module, where it came from, and the inspector's report on it."""

    wheel: str | None          # the wheel's file name; None for a bare module file
    member: str                # the member's path in the wheel, or the module file's path
    report: ModuleReport
    claimed: str | None        # the ABI the member's own file name claims ("cp314t", "abi3", ...)

    @property
    def where(self) -> str:
        """`wheel.whl!pkg/mod.so`, or the file's path for a bare module."""
        return location(self.wheel, self.member)


@dataclass(frozen=True)
class WheelModules:
    """A wheel's extension modules as read and inspected.

    `not_read`: `.so`/`.pyd` members left out on purpose, each with the reason; `problems`: the
    archive's unsafe, oversized or unreadable members as `wheel.whl!member: reason` lines (any
    of them may be a module, so a verdict from the others would be a guess)."""

    wheel: str
    modules: tuple[InspectedModule, ...]
    not_read: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def reports(self) -> tuple[ModuleReport, ...]:
        return tuple(m.report for m in self.modules)


def location(wheel: str | None, member: str) -> str:
    return f"{wheel}!{member}" if wheel else member


# ------------------------------------------------------------------ which members are modules
def is_read_as_module(name: str) -> bool:
    """Which `.so`/`.pyd` members a verdict inspects: every member with a Python ABI tag or a
    `.pyd` suffix, and untagged `.so` files unless named like a shared library (`lib*.so`:
    torch/lib/libtorch_cpu.so is hundreds of MB and never imported as a module)."""
    from auditor.inspect import claimed_abi_from_filename

    base = name.rsplit("/", 1)[-1]
    return base.endswith(".pyd") or claimed_abi_from_filename(base) is not None or not base.startswith("lib")


# ------------------------------------------------------------------ inspecting one member
def inspect_member(member: Any, wheel_abis: frozenset[str] = frozenset(), wheel: str | None = None) -> tuple:
    """(member, ModuleReport, ABI claimed by the file name) for one extension member
    (an auditor.sources.wheel.ExtensionMember) of the wheel named `wheel`.

    A plain `.so` / `.pyd` claims nothing by name; the inspector is then told the wheel's ABI
    tag when there is exactly one (a Windows abi3 or cp314t wheel names modules `x.pyd`).
    """
    from auditor.inspect import (
        claimed_abi_from_filename,
        inspect_module,
        module_name_from_path,
    )

    basename = member.name.rsplit("/", 1)[-1]
    claimed = claimed_abi_from_filename(basename)
    module_name = module_name_from_path(member.install_path)
    hint = claimed
    if hint is None and len(wheel_abis) == 1 and not wheel_abis & {"none"}:
        hint = next(iter(wheel_abis))
    try:
        report = inspect_module(member.source, display=member.name, claimed=hint, module_name=module_name)
    except Exception as exc:  # noqa: BLE001 - the inspector promises not to raise; if it does, say so
        report = failed_module_report(module_name, member.name, claimed,
                                      f"{location(wheel, member.name)}: inspector failed: "
                                      f"{exc.__class__.__name__}: {exc}")
    return member, report, claimed


def inspect_extensions(contents: Any) -> list[tuple]:
    """inspect_member for every extension member of an open WheelContents (or one share of
    it), told the ABI tags of the wheel's file name."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        abis = frozenset(t.abi for t in parse_wheel_filename(contents.filename)[3])
    except InvalidWheelFilename:   # read_wheel parsed it already; a share built by hand may not be
        abis = frozenset()
    return [inspect_member(member, abis, contents.filename) for member in contents.extensions]


def failed_module_report(name: str, path: str, claimed: str | None, reason: str) -> ModuleReport:
    unknown = Verdict("unknown", reason)
    return ModuleReport(
        name=name, path=path, format=None, arch=None, abi=Abi(claimed, None),
        init=InitStyle.UNKNOWN, gil=GilDeclaration.UNKNOWN, multiple_interpreters=MultipleInterpreters.UNKNOWN,
        framework=None, free_threading=Verdict(FreeThreading.UNKNOWN, reason),
        subinterpreters=Verdict(Subinterpreters.UNKNOWN, unknown.reason), errors=(reason,),
    )


# ------------------------------------------------------------------ the sources
def wheel_modules(path: Path | str, *, stream: BinaryIO | None = None,
                  is_module: Callable[[str], bool] = is_read_as_module) -> WheelModules:
    """Read a wheel and inspect its extension modules: the local file `path`, or, with
    `stream`, a seekable file holding the wheel named `path` (an HTTP range reader, an open
    download). Only what a verdict needs is read (the module members, WHEEL, METADATA).

    Raises ArchiveError when the wheel cannot be opened at all; a bad member is a problem
    in the result, not an exception."""
    from auditor.sources.wheel import HASH_MODULES_ONLY, is_extension_member, read_wheel

    with read_wheel(Path(path), hashes=HASH_MODULES_ONLY, stream=stream, is_module=is_module) as contents:
        name = contents.filename
        modules = tuple(InspectedModule(name, member.name, report, claimed)
                        for member, report, claimed in inspect_extensions(contents))
        not_read = tuple(f"{member}: not inspected (named like a shared library, no Python ABI tag)"
                         for member in contents.members if is_extension_member(member) and not is_module(member))
        problems = tuple(f"{location(name, p.member)}: {p.reason}" for p in contents.problems)
    return WheelModules(name, modules, not_read, problems)


def release_modules(spec: str, *, platforms: Sequence[str] = (), abis: Sequence[str] = (),
                    offline: bool = False) -> Iterator[WheelModules]:
    """The modules of every wheel of one PyPI release (`NAME` for the latest, or
    `NAME==VERSION`), as `wheel --pypi` downloads them (sha256-checked, cached); `platforms` /
    `abis` are the same globs as its --platform / --abi. Raises InputError / ServiceError when
    the release cannot be had; a wheel that cannot be downloaded or opened comes back with no
    modules and its one-line reason in `problems`, and the rest go on."""
    from auditor.audit.wheels import fetch_pypi
    from auditor.errors import ArchiveError

    fetched = fetch_pypi(spec, platforms=platforms, abis=abis, offline=offline)
    for name, reason in fetched.problems:
        yield WheelModules(name, (), problems=(f"{name}: {reason}",))
    for path in fetched.wheels:
        try:
            yield wheel_modules(path)
        except ArchiveError as exc:
            yield WheelModules(path.name, (), problems=(exc.one_line(),))


def module_file(path: Path | str) -> InspectedModule:
    """A bare extension module file (`.so`, `.pyd`, `.dylib`): it names itself; the ABI its
    file name claims is the inspector's hint, as for a wheel member. Never raises."""
    from auditor.inspect import claimed_abi_from_filename, inspect_module

    member = str(path)
    claimed = claimed_abi_from_filename(Path(member).name)
    return InspectedModule(None, member, inspect_module(Path(member), display=member), claimed)
