"""ft-audit's own evidence about a PyPI project: which free-threaded wheels it published, when.

Pure functions over auditor.project_index's ProjectIndex and auditor.pypi's ProjectInfo. A "free-threaded wheel" is one
with a tag an FT interpreter can load:

    3.13t / 3.14t / 3.15t -- interpreter cp3XY with ABI tag cp3XYt (PEP 703)
    abi3t                 -- the free-threaded stable ABI (PEP 803), any cp3XY interpreter tag

Yanked files are ignored: nobody resolves to them. Platforms are reduced to family + arch
("manylinux-x86_64", "macos-arm64", "win-amd64") because the glibc / macOS floor is not what
this data answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.tags import Tag
from packaging.version import Version

from auditor.compat.classifiers import ft_classifiers
from auditor.pypi import DistFile, ProjectInfo
from auditor.target import PythonTarget

if TYPE_CHECKING:
    from auditor.project_index import ProjectIndex

FT_TARGETS = ("3.13t", "3.14t", "3.15t", "abi3t")

_VERSION_FLOOR = re.compile(r"^(\d+_)*")


def ft_target(tag: Tag) -> str | None:
    """The FT target a wheel tag serves, or None for a GIL-build / pure / abi3 tag."""
    if tag.abi == "abi3t":
        return "abi3t"
    built_for = PythonTarget.from_tag(tag.abi)
    if built_for and built_for.free_threaded and tag.interpreter == built_for.interpreter:
        return str(built_for)
    return None


def platform_family(platform: str) -> str:
    """'manylinux_2_17_x86_64' -> 'manylinux-x86_64'; 'macosx_11_0_arm64' -> 'macos-arm64'."""
    if platform == "any":
        return "any"
    if platform.startswith("win"):
        return {"win32": "win-x86", "win_amd64": "win-amd64", "win_arm64": "win-arm64"}.get(platform, platform)
    if platform.startswith("linux_"):
        return "linux-" + platform[len("linux_"):]
    for prefix, family in (("manylinux", "manylinux"), ("musllinux", "musllinux"), ("macosx", "macos"),
                           ("android", "android"), ("ios", "ios")):
        if platform.startswith(prefix):
            # drop the version floor: "_2_17_", "2014_", "_11_0_"
            arch = _VERSION_FLOOR.sub("", platform[len(prefix):].lstrip("_"))
            return f"{family}-{arch}"
    return platform


def ft_wheel_platforms(files: tuple[DistFile, ...] | list[DistFile]) -> dict[str, tuple[str, ...]]:
    """{target: sorted platform families} over the given (non-yanked) wheels."""
    found: dict[str, set[str]] = {}
    for dist in files:
        if dist.kind != "wheel" or dist.yanked:
            continue
        for tag in dist.tags:
            target = ft_target(tag)
            if target:
                found.setdefault(target, set()).add(platform_family(tag.platform))
    return {t: tuple(sorted(found[t])) for t in FT_TARGETS if t in found}


@dataclass(frozen=True)
class CensusFacts:
    """What PyPI shows for one project (the census entry before serialisation)."""

    name: str
    latest_version: str | None
    latest_uploaded: str | None
    compiled: bool                 # the latest release has wheels with a non-'none' ABI tag
    pure_wheel: bool               # the latest release has a '*-none-any' wheel
    first_ft: dict[str, tuple[str, str | None]]          # target -> (version, upload date)
    latest_ft: dict[str, tuple[str, ...]]                # target -> platform families
    ft_releases: dict[str, dict[str, tuple[str, ...]]]   # version -> target -> platforms
    releases_checked: int
    classifiers: tuple[str, ...]

    def to_json(self, intern: Callable[[tuple[str, ...]], int]) -> dict:
        """Compact JSON: platform lists are stored once in the dataset and referenced by index."""
        return {
            "latest": self.latest_version,
            "latest_uploaded": self.latest_uploaded,
            "compiled": self.compiled,
            "pure_wheel": self.pure_wheel,
            "first_ft": {t: list(v) for t, v in self.first_ft.items()},
            "latest_ft": {t: intern(p) for t, p in self.latest_ft.items()},
            "ft_releases": {v: {t: intern(p) for t, p in targets.items()}
                            for v, targets in self.ft_releases.items()},
            "releases_checked": self.releases_checked,
            "classifiers": list(self.classifiers),
        }


def latest_version(files: ProjectIndex, info: ProjectInfo | None) -> Version | None:
    """PyPI's own 'latest' when known, else the newest final release that has files."""
    if info and info.version:
        try:
            return Version(info.version)
        except ValueError:
            pass
    with_files = {f.version for f in files.files if f.version is not None and not f.yanked}
    finals = [v for v in with_files if not v.is_prerelease and not v.is_devrelease]
    candidates = finals or list(with_files)
    return max(candidates) if candidates else None


def census_facts(files: ProjectIndex, info: ProjectInfo | None) -> CensusFacts:
    latest = latest_version(files, info)
    by_version: dict[Version, list[DistFile]] = {}
    for dist in files.files:
        if dist.version is not None and not dist.yanked:
            by_version.setdefault(dist.version, []).append(dist)

    ft_releases: dict[str, dict[str, tuple[str, ...]]] = {}
    first_ft: dict[str, tuple[str, str | None]] = {}
    # Final releases first: a 7.0.0a2 with FT wheels does not make 7.0.0a2 "the first release"
    # when 6.0.2 (a final) already had them; a pre-release counts only if no final has them yet.
    ordered = sorted(by_version, key=lambda v: (v.is_prerelease or v.is_devrelease, v))
    for version in ordered:
        platforms = ft_wheel_platforms(by_version[version])
        if not platforms:
            continue
        ft_releases[str(version)] = platforms
        for target in platforms:
            if target not in first_ft:
                uploads = [f.upload_time for f in by_version[version]
                           if f.kind == "wheel" and any(ft_target(t) == target for t in f.tags) and f.upload_time]
                first_ft[target] = (str(version), _date(min(uploads)) if uploads else None)

    latest_files = by_version.get(latest, []) if latest is not None else []
    wheels = [f for f in latest_files if f.kind == "wheel"]
    uploads = [f.upload_time for f in latest_files if f.upload_time]
    return CensusFacts(
        name=files.name,
        latest_version=str(latest) if latest is not None else None,
        latest_uploaded=_date(min(uploads)) if uploads else None,
        compiled=any(abi != "none" for f in wheels for abi in f.abi_tags),
        pure_wheel=any(t.abi == "none" and t.platform == "any" for f in wheels for t in f.tags),
        first_ft={t: first_ft[t] for t in FT_TARGETS if t in first_ft},
        latest_ft=ft_wheel_platforms(latest_files),
        ft_releases={str(v): ft_releases[str(v)] for v in sorted(by_version) if str(v) in ft_releases},
        releases_checked=len(by_version),
        classifiers=ft_classifiers(info.classifiers) if info else (),
    )


def has_compiled_wheels(files: ProjectIndex, info: ProjectInfo | None = None) -> bool:
    """Does the latest release ship any wheel with a non-'none' ABI tag (i.e. compiled code)?"""
    latest = latest_version(files, info)
    return any(abi != "none" for f in files.files
               if f.kind == "wheel" and not f.yanked and f.version == latest for abi in f.abi_tags)


def _date(iso: str) -> str:
    return iso[:10]
