"""The target model: which CPython an audit is for, on which platform, and what that means in
wheel tags.

* `PythonTarget` -- one parser for "3.14t" / "cp314t" / "3.13" / "314t" with one error
  (InputError naming the option and the accepted forms), the ABI tag, the marker environment
  and the wheel tags such an interpreter installs;
* `SUPPORTED` / `FREE_THREADED` -- the CPython versions ft-audit audits and those with a
  free-threaded build, as data;
* `platform_tags` -- a wheel platform tag PyPI publishes wheels for, expanded into every tag an
  installer there accepts (the manylinux legacy aliases written once);
* `Target` -- an interpreter on a platform: what the resolver and auditor.migration judge
  release files against;
* `is_free_threaded_abi` and `WheelName` -- "is this ABI tag free-threaded?" and a wheel file
  name read by packaging.utils.parse_wheel_filename.

Every command's --target / --platform / --require-ft / --ft-target goes through here. Cheap
to import (packaging only): `ft-audit env` imports it at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging import tags as ptags
from packaging.utils import BuildTag, NormalizedName, parse_wheel_filename
from packaging.version import Version

from auditor.errors import InputError

__all__ = [
    "FREE_THREADED", "NEWEST_FREE_THREADED", "PLATFORM_EXAMPLES", "SUPPORTED", "PythonTarget", "Target",
    "VersionRange", "WheelName", "host_platform_name", "is_free_threaded_abi", "make_target",
    "marker_platform", "platform_tags",
]


# ------------------------------------------------------------------ supported versions
@dataclass(frozen=True)
class VersionRange:
    """An inclusive range of CPython (major, minor) versions."""

    first: tuple[int, int]
    last: tuple[int, int]

    def __contains__(self, version: object) -> bool:
        return isinstance(version, tuple) and self.first <= tuple(version[:2]) <= self.last

    def label(self, suffix: str = "") -> str:
        """"3.9 to 3.15"; with suffix "t": "3.13t to 3.15t"."""
        return f"{self.first[0]}.{self.first[1]}{suffix} to {self.last[0]}.{self.last[1]}{suffix}"


# The interpreters ft-audit audits: the probe's syntax and the verdict rules' knowledge.
SUPPORTED = VersionRange((3, 9), (3, 15))
# CPython releases with a free-threaded build (PEP 703: experimental from 3.13).
FREE_THREADED = VersionRange((3, 13), (3, 15))
# The free-threaded stable ABI (PEP 803): abi3t extensions load from 3.15 on.
ABI3T_FROM = (3, 15)


# ------------------------------------------------------------------ the interpreter
_VERSION_TEXT = re.compile(r"(?:cp)?3\.?(\d{1,2})(t?)")
_CPYTHON_TAG = re.compile(r"cp3(\d+)(t?)")
_CPYTHON_ABI = re.compile(r"cp\d+([a-z]*)")        # cp314, cp314t, cp314td: the flags after the version
ACCEPTED_FORMS = "3.14t, 3.13 or cp314t"


@dataclass(frozen=True)
class PythonTarget:
    """A CPython interpreter an audit is for: 3.14t is PythonTarget(3, 14, True)."""

    major: int
    minor: int
    free_threaded: bool

    @classmethod
    def parse(cls, text: str, option: str = "--target", *, free_threaded: bool = False) -> PythonTarget:
        """"3.14t" / "3.14" / "cp314t" / "314t" -> PythonTarget(3, 14, True/False).

        free_threaded=True reads a free-threaded interpreter whatever the spelling ("3.14" is
        3.14t): the version must have such a build. Raises InputError naming `option`.
        """
        match = _VERSION_TEXT.fullmatch(text.strip().lower())
        if not match:
            raise InputError(option, f"expected a CPython version like {ACCEPTED_FORMS}, got {text!r}")
        minor, ft = int(match.group(1)), bool(match.group(2)) or free_threaded
        if (3, minor) not in SUPPORTED:
            raise InputError(option, f"3.{minor} is not supported ({SUPPORTED.label()})")
        if ft and (3, minor) not in FREE_THREADED:
            raise InputError(option, f"3.{minor} has no free-threaded build ({FREE_THREADED.label('t')})")
        return cls(3, minor, ft)

    @classmethod
    def from_tag(cls, tag: str) -> PythonTarget | None:
        """The interpreter a CPython interpreter or ABI tag names ("cp314" -> 3.14, "cp314t" ->
        3.14t); None for any other tag (abi3, abi3t, none, py3, pp310, cp314d)."""
        match = _CPYTHON_TAG.fullmatch(tag)
        return cls(3, int(match.group(1)), bool(match.group(2))) if match else None

    @property
    def version(self) -> tuple[int, int]:
        return self.major, self.minor

    @property
    def full_version(self) -> str:
        """"3.14.0": what requires-python and python_full_version markers are checked against."""
        return f"{self.major}.{self.minor}.0"

    @property
    def interpreter(self) -> str:
        """The wheel interpreter tag: "cp314"."""
        return f"cp{self.major}{self.minor}"

    @property
    def abi(self) -> str:
        """The wheel ABI tag: "cp314t" / "cp314"."""
        return self.interpreter + ("t" if self.free_threaded else "")

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}{'t' if self.free_threaded else ''}"

    def as_free_threaded(self) -> PythonTarget:
        return PythonTarget(self.major, self.minor, True)

    def wheel_tags(self, platforms: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """Every "py-abi-plat" tag this interpreter installs on `platforms`, best first (packaging.tags)."""
        out: list[str] = []
        for tag in ptags.cpython_tags(python_version=self.version, abis=[self.abi], platforms=platforms):
            # abi3t exists from 3.15 (PEP 803); packaging also emits cp32..cp314-abi3t tags, which
            # cannot be built ("reserved"), and a 3.13t/3.14t interpreter has no .abi3t.so suffix.
            if tag.abi == "abi3t" and (self.version < ABI3T_FROM or int(tag.interpreter[3:]) < ABI3T_FROM[1]):
                continue
            out.append(str(tag))
        out += [str(t) for t in ptags.compatible_tags(python_version=self.version, interpreter=self.interpreter,
                                                      platforms=platforms)]
        return tuple(out)

    def marker_environment(self, platform_markers: Mapping[str, str]) -> dict[str, str]:
        """PEP 508 marker environment of this interpreter; `platform_markers` holds sys_platform,
        platform_system, os_name and platform_machine (see marker_platform)."""
        return {
            "implementation_name": "cpython",
            "platform_python_implementation": "CPython",
            "implementation_version": self.full_version,
            "python_version": f"{self.major}.{self.minor}",
            "python_full_version": self.full_version,
            "platform_release": "",
            "platform_version": "",
            **platform_markers,
        }


# The requirements audit's default: the newest CPython with a free-threaded build (3.15.0: Oct 2026).
NEWEST_FREE_THREADED = PythonTarget(*FREE_THREADED.last, True)


def is_free_threaded_abi(abi: str) -> bool:
    """Does a wheel ABI tag serve the free-threaded build? cp313t / cp314t / cp314td / abi3t:
    yes; cp314 / abi3 / none: no. The "t" ABI flag decides, as in packaging.tags."""
    if abi == "abi3t":
        return True
    match = _CPYTHON_ABI.fullmatch(abi)
    return match is not None and "t" in match.group(1)


# ------------------------------------------------------------------ platforms
_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}   # glibc 2.X -> PEP 599/571/513
# Platform tags PyPI accepts wheels for (warehouse's upload check): a tag outside these has no
# wheel on the index, so auditing for it would call every compiled project "sdist-only".
_LINUX_ARCHES = frozenset({"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x", "riscv64",
                           "loongarch64"})
_LEGACY_ARCHES = {"manylinux1": frozenset({"x86_64", "i686"}), "manylinux2010": frozenset({"x86_64", "i686"}),
                  "manylinux2014": frozenset({"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"})}
_MACOS_ARCHES = frozenset({"x86_64", "arm64", "universal2", "intel", "universal", "i386", "ppc", "ppc64",
                           "fat", "fat3", "fat64"})
_WINDOWS = ("win_amd64", "win32", "win_arm64")
PLATFORM_EXAMPLES = "manylinux_2_28_x86_64, manylinux2014_x86_64, musllinux_1_2_x86_64, macosx_14_0_arm64, win_amd64"


def _unusable(name: str, why: str) -> InputError:
    return InputError(f"--platform {name}", f"{why}; use a platform tag PyPI publishes wheels for, such as "
                      f"{PLATFORM_EXAMPLES}")


def platform_tags(name: str) -> tuple[str, ...]:
    """Every platform tag an installer on `name` accepts, best first.

    `name` must be a tag PyPI publishes wheels for (manylinux_2_X_ARCH, manylinux1/2010/2014_ARCH,
    musllinux_1_X_ARCH, macosx_M_N_ARCH, win32, win_amd64, win_arm64); anything else raises
    InputError naming the accepted forms (linux_x86_64 or manylinux_x86_64 match no wheel on PyPI).
    The order is packaging's for an interpreter on that platform (glibc / musl / macOS newest first).
    """
    n = name.strip().lower().replace("-", "_").replace(".", "_")
    legacy = re.fullmatch(r"(manylinux2014|manylinux2010|manylinux1)_(\w+)", n)
    if legacy:
        if legacy.group(2) not in _LEGACY_ARCHES[legacy.group(1)]:
            raise _unusable(name, f"{legacy.group(1)} has no {legacy.group(2)} wheels "
                                  f"({', '.join(sorted(_LEGACY_ARCHES[legacy.group(1)]))})")
        glibc = next(g for g, policy in _LEGACY_MANYLINUX.items() if policy == legacy.group(1))
        n = f"manylinux_2_{glibc}_{legacy.group(2)}"
    m = re.fullmatch(r"manylinux_(\d+)_(\d+)_(\w+)", n)
    if m:
        major, minor, arch = int(m.group(1)), int(m.group(2)), m.group(3)
        if major != 2:
            raise _unusable(name, "only glibc 2.x manylinux tags exist")
        if arch not in _LINUX_ARCHES:
            raise _unusable(name, f"no manylinux wheels for architecture {arch!r} ({', '.join(sorted(_LINUX_ARCHES))})")
        floor = 5 if arch in ("x86_64", "i686") else 17        # as packaging._manylinux
        out: list[str] = []
        for glibc in range(minor, floor - 1, -1):
            out.append(f"manylinux_2_{glibc}_{arch}")
            if glibc in _LEGACY_MANYLINUX:
                out.append(f"{_LEGACY_MANYLINUX[glibc]}_{arch}")
        return tuple(out) + (f"linux_{arch}",)
    if n.startswith("manylinux"):
        raise _unusable(name, "a manylinux tag names its glibc version (manylinux_2_28_ARCH) or policy "
                              "(manylinux2014_ARCH)")
    m = re.fullmatch(r"musllinux_(\d+)_(\d+)_(\w+)", n)
    if m:
        major, minor, arch = int(m.group(1)), int(m.group(2)), m.group(3)
        if major != 1:
            raise _unusable(name, "only musl 1.x musllinux tags exist")
        if arch not in _LINUX_ARCHES:
            raise _unusable(name, f"no musllinux wheels for architecture {arch!r} ({', '.join(sorted(_LINUX_ARCHES))})")
        return tuple(f"musllinux_1_{v}_{arch}" for v in range(minor, -1, -1)) + (f"linux_{arch}",)
    if n.startswith("musllinux"):
        raise _unusable(name, "a musllinux tag names its musl version (musllinux_1_2_ARCH)")
    m = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", n)
    if m:
        if int(m.group(1)) < 10 or m.group(3) not in _MACOS_ARCHES:
            raise _unusable(name, "not a macOS wheel tag (macosx_10_9_x86_64, macosx_11_0_arm64, macosx_14_0_universal2)")
        return tuple(ptags.mac_platforms((int(m.group(1)), int(m.group(2))), m.group(3)))
    if n.startswith("macosx"):
        raise _unusable(name, "a macOS tag names its version and architecture (macosx_14_0_arm64)")
    if n in _WINDOWS:
        return (n,)
    if n.startswith("win"):
        raise _unusable(name, f"Windows wheels are tagged {', '.join(_WINDOWS)}")
    if re.fullmatch(r"linux_\w+", n):
        raise _unusable(name, "PyPI accepts no linux_* wheels (they are local builds): Linux wheels are "
                              "manylinux or musllinux")
    raise _unusable(name, "not a wheel platform tag")


def marker_platform(name: str) -> dict[str, str]:
    """The platform part of the marker environment of a wheel platform tag."""
    n = name.strip().lower()
    if n.startswith(("manylinux", "musllinux", "linux")):
        arch = n.rsplit("_", 1)[-1] if not n.endswith(("x86_64",)) else "x86_64"
        return {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix", "platform_machine": arch}
    if n.startswith("macosx"):
        arch = "x86_64" if n.endswith("x86_64") else "arm64"
        return {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix", "platform_machine": arch}
    machine = {"win_amd64": "AMD64", "win32": "x86", "win_arm64": "ARM64"}.get(n, "AMD64")
    return {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt", "platform_machine": machine}


def host_platform_name() -> str:
    """The best platform tag of this machine that PyPI publishes wheels for (e.g. manylinux_2_36_x86_64)."""
    seen = list(ptags.platform_tags())
    for tag in seen:
        try:
            platform_tags(tag)
        except InputError:
            continue
        return tag
    raise InputError("--platform", f"this machine's platform ({seen[0] if seen else 'unknown'}) has no wheels on PyPI: "
                     f"name the target platform, such as {PLATFORM_EXAMPLES}")


# ------------------------------------------------------------------ interpreter + platform
@dataclass(frozen=True)
class Target(PythonTarget):
    """An interpreter on a platform: the tags an installer there accepts (best first) and its
    marker environment. What the resolver and auditor.migration judge release files against."""

    platform: str                               # as the user named it ("manylinux_2_28_x86_64")
    platforms: tuple[str, ...]                  # every platform tag accepted there, best first
    tags: tuple[str, ...]                       # "py-abi-plat", best first
    marker_env: Mapping[str, str]

    @classmethod
    def on(cls, python: PythonTarget, platform: str) -> Target:
        platforms = platform_tags(platform)
        return cls(python.major, python.minor, python.free_threaded, platform=platform, platforms=platforms,
                   tags=python.wheel_tags(platforms),
                   marker_env=python.marker_environment(marker_platform(platform)))

    @property
    def label(self) -> str:
        """The ABI tag ("cp314t"): how messages name the target."""
        return self.abi

    @property
    def python(self) -> str:
        """"3.14t"."""
        return str(PythonTarget(self.major, self.minor, self.free_threaded))

    @property
    def python_full_version(self) -> str:
        return self.full_version

    def rank(self) -> Mapping[str, int]:
        """tag -> position in `tags` (0 is best)."""
        cached = self.__dict__.get("_rank")
        if cached is None:
            cached = {t: i for i, t in enumerate(self.tags)}
            object.__setattr__(self, "_rank", cached)
        return cached

    def to_json(self) -> dict[str, Any]:
        return {"python": self.python, "abi": self.label, "free_threaded": self.free_threaded,
                "platform": self.platform, "marker_environment": dict(self.marker_env)}


def make_target(python: str | None = None, platform: str | None = None) -> Target:
    """`--target 3.14t --platform manylinux_2_28_x86_64` -> Target; the defaults are the newest
    free-threaded CPython and this machine's best platform tag PyPI has wheels for."""
    interpreter = PythonTarget.parse(python) if python else NEWEST_FREE_THREADED
    return Target.on(interpreter, platform or host_platform_name())


# ------------------------------------------------------------------ wheel file names
@dataclass(frozen=True)
class WheelName:
    """A wheel file name, read by packaging.utils.parse_wheel_filename."""

    filename: str
    project: NormalizedName
    version: Version
    build: BuildTag
    pythons: tuple[str, ...]         # the compressed tag set as written: ("cp311",), ("abi3", "abi3t"), ...
    abis: tuple[str, ...]
    platforms: tuple[str, ...]

    @classmethod
    def parse(cls, filename: str) -> WheelName:
        """Raises packaging.utils.InvalidWheelFilename when packaging rejects the name."""
        project, version, build, _ = parse_wheel_filename(filename)
        # parse_wheel_filename answers a set of tags; the order written is the order a report
        # shows, so the (validated) compressed tag set is read again here.
        pythons, abis, platforms = (tuple(part.split(".")) for part in filename[: -len(".whl")].rsplit("-", 3)[1:])
        return cls(filename, project, version, build, pythons, abis, platforms)

    @property
    def tags(self) -> tuple[str, ...]:
        """Every "py-abi-plat" tag the name stands for, in file-name order."""
        return tuple(f"{py}-{abi}-{plat}" for py in self.pythons for abi in self.abis for plat in self.platforms)

    @property
    def free_threaded(self) -> bool:
        """The wheel claims to serve a free-threaded interpreter (cp3XYt or abi3t)."""
        return any(is_free_threaded_abi(abi) for abi in self.abis)
