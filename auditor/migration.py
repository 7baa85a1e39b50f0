"""Per-package migration facts, as pure functions over release files and a target.

Given every file of every release of a project (`ReleaseFile`), a target interpreter + platform
(auditor.target.Target: its tags best first) and the version the resolver chose, decide:

* the status of that version for that target (STATUSES below),
* the first and newest versions that ship a wheel built for the target's free-threaded ABI,
* an upgrade suggestion that respects the user's specifier.

Compatibility is decided only by tag strings from packaging.tags for the target (see
auditor.target.PythonTarget.wheel_tags), so "no abi3 on 3.13t/3.14t" and "abi3t on 3.15t" come from the
tag list, not from special cases here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, TypeGuard

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from auditor.target import Target, is_free_threaded_abi

FT_WHEEL = "ft-wheel"                      # a wheel built for the free-threaded ABI (cp3XXt, abi3t) matches
GIL_WHEEL = "gil-wheel"                    # GIL targets only: a compiled wheel (cp3XX, abi3) matches
PURE_PYTHON = "pure-python"                # only CPython-ABI-free files exist (py3-none-any, or no extension ABI)
PURE_FALLBACK_ONLY = "pure-fallback-only"  # compiled project; only its slow py3-none-any fallback matches
SDIST_ONLY = "sdist-only"                  # no matching wheel; pip would build the sdist (needs a compiler)
ABI3_ONLY = "abi3-only"                    # only abi3 wheels for this platform: a 3.13t/3.14t interpreter cannot load them
NO_RELEASE = "no-release"                  # nothing installable for this target at all
STATUSES = (FT_WHEEL, GIL_WHEEL, PURE_PYTHON, PURE_FALLBACK_ONLY, SDIST_ONLY, ABI3_ONLY, NO_RELEASE)
READY_STATUSES = frozenset({FT_WHEEL, GIL_WHEEL, PURE_PYTHON})
# Worst first: used to roll several platforms up into one status.
STATUS_ORDER = (NO_RELEASE, SDIST_ONLY, ABI3_ONLY, PURE_FALLBACK_ONLY, GIL_WHEEL, FT_WHEEL, PURE_PYTHON)


@dataclass(frozen=True)
class ReleaseFile:
    filename: str
    kind: str                       # "wheel" | "sdist" | "other"
    tags: tuple[str, ...] = ()      # expanded "py-abi-plat" strings, wheels only
    yanked: bool = False
    requires_python: str | None = None

    @property
    def is_pure(self) -> bool:
        return self.kind == "wheel" and all(t.endswith("-none-any") for t in self.tags)


@dataclass(frozen=True)
class Classification:
    status: str
    wheel: str | None               # the file that would be installed (best matching wheel), if any
    detail: str                     # one line: why this status


def requires_python_ok(file: ReleaseFile, python_full_version: str) -> bool:
    return not file.requires_python or _requires_python_ok(file.requires_python, python_full_version)


@lru_cache(maxsize=4096)
def _requires_python_ok(requires_python: str, python_full_version: str) -> bool:
    # Cached: a project repeats the same few strings over thousands of files, and
    # SpecifierSet.contains costs ~0.2 ms.
    try:
        return SpecifierSet(requires_python).contains(python_full_version, prereleases=True)
    except InvalidSpecifier:
        return True  # pip ignores an unparsable requires-python as well


def best_wheel(files: Iterable[ReleaseFile], target: Target) -> tuple[ReleaseFile, str] | None:
    """The wheel an installer would pick for the target, with the tag that matched."""
    rank = target.rank()
    best: tuple[int, ReleaseFile, str] | None = None
    for f in files:
        if f.kind != "wheel":
            continue
        for tag in f.tags:
            r = rank.get(tag)
            if r is not None and (best is None or r < best[0]) and requires_python_ok(f, target.python_full_version):
                best = (r, f, tag)
    return (best[1], best[2]) if best else None


def installable_kind(files: Sequence[ReleaseFile], target: Target) -> str | None:
    """"wheel" / "sdist" if an installer could install this release for the target, else None."""
    if best_wheel(files, target):
        return "wheel"
    if any(f.kind == "sdist" and requires_python_ok(f, target.python_full_version) for f in files):
        return "sdist"
    return None


def classify(files: Sequence[ReleaseFile], target: Target) -> Classification:
    """Status of one release (all its files) for one target."""
    live = [f for f in files if not f.yanked] or list(files)
    if not live:
        return Classification(NO_RELEASE, None, "this release has no files")
    match = best_wheel(live, target)
    compiled = [f for f in live if f.kind == "wheel" and not f.is_pure]
    if match:
        wheel, tag = match
        _, abi, platform = tag.split("-", 2)
        if abi == "none":
            if platform == "any" and compiled:
                return Classification(PURE_FALLBACK_ONLY, wheel.filename,
                                      f"compiled project; only its pure-Python fallback {wheel.filename} matches {target.label}")
            return Classification(PURE_PYTHON, wheel.filename, f"{wheel.filename} has no CPython ABI")
        if is_free_threaded_abi(abi):
            return Classification(FT_WHEEL, wheel.filename, f"{wheel.filename} ({tag})")
        return Classification(GIL_WHEEL, wheel.filename, f"{wheel.filename} ({tag})")
    sdist = any(f.kind == "sdist" for f in live)
    platforms = set(target.platforms)
    abi3 = [f for f in compiled
            if any(t.split("-")[1] == "abi3" and t.split("-", 2)[2] in platforms for t in f.tags)]
    if abi3 and target.free_threaded:
        extra = "; the sdist would be built instead (needs a compiler)" if sdist else ""
        return Classification(ABI3_ONLY, None,
                              f"only abi3 wheels ({abi3[0].filename}); {target.label} cannot load abi3{extra}")
    if sdist:
        return Classification(SDIST_ONLY, None, f"no wheel for {target.label} on this platform; "
                              "installing builds the sdist (needs a compiler and build dependencies)")
    have = sorted({t.split("-", 1)[1] for f in compiled for t in f.tags})[:4]
    return Classification(NO_RELEASE, None, f"no wheel for {target.label} on this platform and no sdist"
                          + (f" (wheels exist for {', '.join(have)})" if have else ""))


@dataclass(frozen=True)
class FtVersions:
    first: Version | None           # oldest final release with a wheel for the target's FT ABI
    newest: Version | None          # newest (final, else pre-release) with one
    first_tag: str | None = None    # the tag that matched in `first`, e.g. cp314-cp314t-manylinux_2_27_x86_64


def ft_markers(target: Target) -> tuple[str, ...]:
    """Substrings every file name with a wheel for the target's FT ABI contains (a pre-filter)."""
    return (f"-{target.label}-", f".{target.label}-", "abi3t")


class MentioningReleases(Protocol):
    """auditor.project_index.LazyReleases: releases packed by page, unpacked only for the files a
    pre-filter names."""

    def mentioning(self, needles: Sequence[str]) -> list[Version]: ...

    def files_mentioning(self, version: Version, needles: Sequence[str]) -> list[ReleaseFile]: ...


def _mentioning(releases: Mapping[Version, Sequence[ReleaseFile]]) -> TypeGuard[MentioningReleases]:
    return hasattr(releases, "mentioning")


def ft_versions(releases: Mapping[Version, Sequence[ReleaseFile]], target: Target) -> FtVersions:
    markers = ft_markers(target)
    found: list[tuple[Version, str]] = []
    candidates: Iterable[tuple[Version, Sequence[ReleaseFile]]]
    if _mentioning(releases):   # look only at the candidates
        candidates = ((v, releases.files_mentioning(v, markers)) for v in releases.mentioning(markers))
    else:
        candidates = ((v, releases[v]) for v in list(releases))
    for version, files in candidates:
        live = [f for f in files if not f.yanked]
        match = best_wheel(live, target)
        if match and is_free_threaded_abi(match[1].split("-")[1]):
            found.append((version, match[1]))
    if not found:
        return FtVersions(None, None)
    finals = sorted((v, t) for v, t in found if not v.is_prerelease) or sorted(found)
    return FtVersions(finals[0][0], finals[-1][0], finals[0][1])


def suggestion(name: str, chosen: Version | None, status: str, specifier: SpecifierSet,
               ft: FtVersions, target: Target, required_by: str | None = None) -> str | None:
    """An upgrade suggestion that respects `specifier`: the user's own, or (for a dependency the
    user did not list, `required_by` naming who asks) the dependents' specifiers."""
    if status in READY_STATUSES:
        return None
    abi = target.label
    wanted = f"{name}{specifier}" if str(specifier) else (f"{name} {chosen}" if chosen else name)
    pin = f"{wanted} as required by {required_by}" if required_by else f"your {wanted}"
    if ft.first is None or ft.newest is None:      # both None, or neither
        if status == SDIST_ONLY:
            return f"no release ships a {abi} wheel; building from source needs a compiler and upstream free-threading support"
        return f"no release of {name} ships a {abi} wheel for this platform"
    if chosen is not None and ft.newest is not None and chosen > ft.newest:
        return f"{name}=={ft.newest} (newest release with a {abi} wheel; {chosen} has none)"
    if specifier.contains(ft.newest, prereleases=True):
        return (f"{name}>={ft.first} (first {abi} wheel: {ft.first}; newest: {ft.newest}; "
                f"allowed by {pin}, so another requirement holds {chosen} back)")
    return f"{name}>={ft.first} (first {abi} wheel: {ft.first}; {pin} has none)"


def worst_status(statuses: Iterable[str]) -> str:
    statuses = list(statuses)
    for status in STATUS_ORDER:
        if status in statuses:
            return status
    return NO_RELEASE
