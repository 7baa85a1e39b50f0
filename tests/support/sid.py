"""Debian sid CPython 3.13/3.14/3.15 (GIL builds) and their headers, for tests.

Follows /work/shared/reference/test-interpreters.md: a private apt state for sid, `apt-get
download` of the interpreter and the few libraries it links, `dpkg -x` into a private root,
run through sid's own dynamic loader. Nothing is installed system-wide.

Cache layout (~/.cache/ft-audit-tests/sid/, override with FT_AUDIT_TEST_CACHE):
    lock                  fcntl lock held while anything below is built
    apt-amd64/            private apt state (sources, lists, cache) per Debian architecture
    root-3.14/            dpkg -x of the runtime + libpython3.14-dev (x86_64)
    headers-3.14-i386/    dpkg -x of libpython3.14-dev:i386 (only when asked for i686)
    headers-3.14-arm64/   dpkg -x of libpython3.14-dev:arm64 (only when asked for aarch64)
Every root is built in a temporary sibling and renamed into place, so a root that exists is
complete; concurrent pytest processes wait on the lock and then find it there.

Interpreters started here use sid's ld.so, so a child they spawn through sys.executable
would not start; tests run code in them with run_sid() and keep to one process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.support.unavailable import SupportUnavailable, skip_or_fail

SID_MINORS = (13, 14, 15)

# Debian architecture names for the arch names compile.py uses.
DEBIAN_ARCH = {"x86_64": "amd64", "i686": "i386", "aarch64": "arm64"}
TRIPLET = {"amd64": "x86_64-linux-gnu", "i386": "i386-linux-gnu", "arm64": "aarch64-linux-gnu"}

# Exactly the set the reference names: the interpreter, its stdlib, and what they link.
RUNTIME_PACKAGES = ("libc6", "libexpat1", "libffi8", "libssl3t64", "libzstd1", "zlib1g")


def python_packages(minor: int) -> tuple[str, ...]:
    v = f"3.{minor}"
    return (f"python{v}-minimal", f"libpython{v}-minimal", f"libpython{v}-stdlib",
            f"libpython{v}", f"libpython{v}-dev")


SID_SOURCES = """\
Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

APT_TIMEOUT = 600
APT_RETRIES = 3


def cache_dir() -> Path:
    base = os.environ.get("FT_AUDIT_TEST_CACHE")
    root = Path(base).expanduser() if base else Path("~/.cache/ft-audit-tests").expanduser()
    return root / "sid"


def _check_minor(minor: int) -> None:
    if minor not in SID_MINORS:
        raise ValueError(f"sid provides CPython 3.13-3.15, not 3.{minor}")


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- private apt state --------------------------------------------------------------------

def _apt_dir(debian_arch: str) -> Path:
    return cache_dir() / f"apt-{debian_arch}"


def _apt_options(debian_arch: str) -> list[str]:
    state = _apt_dir(debian_arch)
    options = {
        "Dir::Etc::SourceList": "/dev/null",
        "Dir::Etc::SourceParts": str(state / "etc"),
        "Dir::State::Lists": str(state / "lists"),
        "Dir::Cache": str(state / "cache"),
        # One architecture per state: `apt-get download NAME` then picks that arch.
        "APT::Architecture": debian_arch,
        "APT::Architectures::": debian_arch,
        # Only Packages indices; no translations or Contents files.
        "Acquire::Languages": "none",
        "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled": "false",
        "Acquire::Retries": str(APT_RETRIES),
    }
    if os.geteuid() == 0:
        # Files land in our own cache dir, which the _apt sandbox user cannot write.
        options["APT::Sandbox::User"] = "root"
    args: list[str] = []
    for key, value in options.items():
        args += ["-o", f"{key}={value}"]
    return args


def _run_apt(debian_arch: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    if shutil.which("apt-get") is None:
        raise SupportUnavailable("apt-get is not available (sid interpreters need a Debian host)")
    command = ["apt-get", "-q", *_apt_options(debian_arch), *args]
    try:
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=APT_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise SupportUnavailable(f"apt-get {' '.join(args)} timed out after {APT_TIMEOUT}s") from exc


def _apt_update(debian_arch: str) -> None:
    state = _apt_dir(debian_arch)
    for sub in ("etc", "lists/partial", "cache/archives/partial"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    (state / "etc" / "sid.sources").write_text(SID_SOURCES)
    result = _run_apt(debian_arch, "update")
    # apt-get update exits 0 even when a fetch failed; "W:"/"E:" lines tell.
    failed = result.returncode != 0 or any(
        line.startswith("E:") or ("Failed to fetch" in line) for line in result.stderr.splitlines())
    if failed or not any((state / "lists").glob("*_Packages*")):
        raise SupportUnavailable(f"apt-get update for sid ({debian_arch}) failed: "
                                 f"{_last_lines(result.stderr)}")


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "no output"


def _apt_download(debian_arch: str, packages: Sequence[str], into: Path) -> list[Path]:
    """apt-get download PACKAGES into `into`; refresh the lists once if the mirror moved on."""
    if not any((_apt_dir(debian_arch) / "lists").glob("*_Packages*")):
        _apt_update(debian_arch)
    result = _run_apt(debian_arch, "download", *packages, cwd=into)
    if result.returncode != 0:
        # sid moves daily: stale lists name .debs the mirror no longer has.
        _apt_update(debian_arch)
        result = _run_apt(debian_arch, "download", *packages, cwd=into)
    if result.returncode != 0:
        raise SupportUnavailable(f"apt-get download {' '.join(packages)} failed: "
                                 f"{_last_lines(result.stderr)}")
    debs = sorted(into.glob("*.deb"))
    if len(debs) != len(packages):
        raise SupportUnavailable(f"apt-get download gave {len(debs)} files for {len(packages)} packages")
    return debs


def _build_root(final: Path, debian_arch: str, packages: Sequence[str]) -> Path:
    """Download + dpkg -x packages into a temp dir next to `final`, then rename it."""
    if final.is_dir():
        return final
    with _locked():
        if final.is_dir():  # another process finished it while we waited
            return final
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        try:
            debs_dir = staging / "debs"
            tree = staging / "tree"
            debs_dir.mkdir()
            tree.mkdir()
            for deb in _apt_download(debian_arch, packages, debs_dir):
                result = subprocess.run(["dpkg", "-x", str(deb), str(tree)],
                                        capture_output=True, text=True)
                if result.returncode != 0:
                    raise SupportUnavailable(f"dpkg -x {deb.name} failed: {_last_lines(result.stderr)}")
            # What went in, with sizes: provenance for whoever debugs a fixture later.
            (tree / "PACKAGES").write_text("".join(
                f"{deb.name} {deb.stat().st_size}\n" for deb in sorted(debs_dir.iterdir())))
            tree.rename(final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return final


# -- public API ---------------------------------------------------------------------------

def sid_root(minor: int) -> Path:
    """The extracted x86_64 root holding sid's python3.<minor>, its libs and headers."""
    _check_minor(minor)
    final = cache_dir() / f"root-3.{minor}"
    return _build_root(final, "amd64", [*RUNTIME_PACKAGES, *python_packages(minor)])


def sid_headers_root(minor: int, arch: str = "x86_64") -> Path:
    """A root whose usr/include holds 3.<minor>'s headers for arch (x86_64, i686, aarch64)."""
    _check_minor(minor)
    if arch not in DEBIAN_ARCH:
        raise ValueError(f"unknown arch {arch!r}; expected one of {sorted(DEBIAN_ARCH)}")
    debian_arch = DEBIAN_ARCH[arch]
    if debian_arch == "amd64":
        return sid_root(minor)
    final = cache_dir() / f"headers-3.{minor}-{debian_arch}"
    return _build_root(final, debian_arch, [f"libpython3.{minor}-dev"])


def sid_include_dirs(minor: int, arch: str = "x86_64") -> list[Path]:
    """Both -I dirs: Debian's python3.X/pyconfig.h includes <TRIPLET/python3.X/pyconfig.h>."""
    root = sid_headers_root(minor, arch)
    include = root / "usr" / "include"
    arch_config = include / TRIPLET[DEBIAN_ARCH[arch]] / f"python3.{minor}" / "pyconfig.h"
    if not (include / f"python3.{minor}" / "Python.h").is_file() or not arch_config.is_file():
        raise SupportUnavailable(f"sid libpython3.{minor}-dev for {arch} lacks Python.h or {arch_config.name}")
    return [include, include / f"python3.{minor}"]


def _lib_dirs(root: Path) -> list[Path]:
    return [root / "usr" / "lib" / "x86_64-linux-gnu", root / "lib" / "x86_64-linux-gnu"]


def sid_python_cmd(minor: int) -> list[str]:
    """argv prefix: sid's ld.so --library-path ... python3.<minor>."""
    root = sid_root(minor)
    loader = root / "usr" / "lib" / "x86_64-linux-gnu" / "ld-linux-x86-64.so.2"
    python = root / "usr" / "bin" / f"python3.{minor}"
    for needed in (loader, python):
        if not needed.exists():
            raise SupportUnavailable(f"sid root {root} lacks {needed.relative_to(root)}")
    library_path = ":".join(str(d) for d in _lib_dirs(root))
    return [str(loader), "--library-path", library_path, str(python)]


def sid_python_env(minor: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ (or base) plus what sid's interpreter needs, minus what would leak in."""
    root = sid_root(minor)
    env = dict(os.environ if base is None else base)
    for leaky in ("PYTHONPATH", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "PYTHONUSERBASE", "VIRTUAL_ENV"):
        env.pop(leaky, None)
    env["PYTHONHOME"] = str(root / "usr")
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_sid(minor: int, code: str, *, pythonpath: Sequence[os.PathLike[str] | str] = (),
            timeout: float = 60, cwd: os.PathLike[str] | str | None = None,
            args: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """Run `python3.<minor> -c code` under sid with pythonpath first on sys.path.

    Returns the CompletedProcess (text mode); the caller checks returncode. A timeout
    raises subprocess.TimeoutExpired."""
    env = sid_python_env(minor)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    return subprocess.run([*sid_python_cmd(minor), "-c", code, *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def require_sid(minor: int) -> Path:
    """pytest helper: the sid root, or skip (offline) / fail (CI=true) with the reason."""
    try:
        sid_python_cmd(minor)
        return sid_root(minor)
    except SupportUnavailable as exc:
        skip_or_fail(f"sid CPython 3.{minor}: {exc.reason}")


def require_sid_headers(minor: int, arch: str = "x86_64") -> list[Path]:
    """pytest helper: sid include dirs for arch, or skip / fail as require_sid does."""
    try:
        return sid_include_dirs(minor, arch)
    except SupportUnavailable as exc:
        skip_or_fail(f"sid headers 3.{minor} {arch}: {exc.reason}")
