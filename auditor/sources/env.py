"""An installed environment as something to audit: interpreter facts, distributions, and the
extension-module files each distribution owns.

Two ways in:
* `probe_interpreter(cmd)` runs the stdlib-only probe (auditor/sources/probe.py) inside the
  audited interpreter, in a subprocess with a timeout, and parses its one JSON document;
* `snapshot_from_path(dir, target)` reads one site-packages folder from here, for an explicit
  target interpreter description (`--path DIR --target 3.14t`).

Then `collect_extension_files(snapshot)` walks the environment folders and maps each extension
file to its distribution: by RECORD first, then by top-level name ownership; files nobody owns
are kept as orphans (never dropped). Nothing here imports or runs audited code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from auditor.cache import CacheStore
from auditor.errors import InputError
from auditor.sources import probe as probe_module
from auditor.target import SUPPORTED, PythonTarget

PROBE_TIMEOUT = 60.0

# Folders that hold vendored shared libraries (auditwheel's `numpy.libs`, delocate's
# `.dylibs`) rather than extension modules.
VENDORED_LIB_DIRS = (".libs", ".dylibs")
SKIP_DIRS = ("__pycache__",)


@dataclass(frozen=True)
class Interpreter:
    """What the probe learned about the audited interpreter (or what --target declares)."""

    executable: str | None
    version: tuple[int, int, int]
    implementation: str
    abiflags: str
    free_threaded: bool
    ext_suffix: str | None
    extension_suffixes: tuple[str, ...]
    platform: str
    machine: str
    pointer_bits: int
    glibc: str | None
    prefix: str | None
    base_prefix: str | None
    sys_path: tuple[str, ...]
    environment_dirs: tuple[str, ...]
    markers: Mapping[str, str]
    subinterpreter_module: str | None
    probed: bool = True          # False for --path with a declared --target

    @property
    def minor(self) -> int:
        return self.version[1]

    @property
    def label(self) -> str:
        return f"{self.version[0]}.{self.version[1]}{'t' if self.free_threaded else ''}"

    @property
    def is_venv(self) -> bool:
        return bool(self.prefix and self.base_prefix and self.prefix != self.base_prefix)

    def to_json(self) -> dict[str, Any]:
        return {
            "executable": self.executable,
            "version": ".".join(str(v) for v in self.version),
            "label": self.label,
            "implementation": self.implementation,
            "abiflags": self.abiflags,
            "free_threaded": self.free_threaded,
            "ext_suffix": self.ext_suffix,
            "extension_suffixes": list(self.extension_suffixes),
            "platform": self.platform,
            "machine": self.machine,
            "prefix": self.prefix,
            "base_prefix": self.base_prefix,
            "environment_dirs": list(self.environment_dirs),
            "subinterpreter_module": self.subinterpreter_module,
            "probed": self.probed,
        }


@dataclass(frozen=True)
class InstalledDistribution:
    name: str                       # as written in METADATA
    version: str | None
    location: str                   # the folder it is installed into (site-packages)
    metadata_dir: str
    requires_dist: tuple[str, ...] = ()
    record: tuple[str, ...] | None = None   # RECORD's shared-object files, relative to `location`; None if no RECORD
    record_top_level: tuple[str, ...] = ()   # first path components of every RECORD row
    installer: str | None = None
    top_level: tuple[str, ...] | None = None
    classifiers: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return canonicalize_name(self.name)


@dataclass(frozen=True)
class ExtensionFile:
    path: str                       # absolute
    relpath: str                    # relative to its environment folder, '/'-separated
    module: str                     # dotted import name ("numpy._core._multiarray_umath")
    suffix: str                     # the EXTENSION_SUFFIXES entry it matched
    loadable: bool                  # False when the name only fits another interpreter's suffix
    owner: str | None               # canonical distribution name, None for an orphan
    ownership: str                  # "record" | "top-level" | "orphan"
    note: str = ""


@dataclass(frozen=True)
class EnvSnapshot:
    interpreter: Interpreter
    distributions: tuple[InstalledDistribution, ...]
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


# -- probing an interpreter ----------------------------------------------------------------

# The interpreters ft-audit audits: CPython, the versions in auditor.target.SUPPORTED.
SUPPORTED_IMPLEMENTATION = "CPython"
SUPPORTED_LABEL = f"CPython {SUPPORTED.first[0]}.{SUPPORTED.first[1]}-{SUPPORTED.last[0]}.{SUPPORTED.last[1]}"

# Passed with -c before the probe: written so that every Python from 2.6 on parses it. It says
# which interpreter this is on its first line, and only then compiles the probe (read from
# stdin), so an old or foreign interpreter is named instead of failing on the probe's syntax.
BOOTSTRAP = (
    "import sys, platform\n"
    "v = sys.version_info\n"
    "i = platform.python_implementation()\n"
    "sys.stdout.write('ft-audit-interpreter %d.%d.%d %s\\n' % (v[0], v[1], v[2], i))\n"
    "sys.stdout.flush()\n"
    f"if v[:2] >= {SUPPORTED.first!r} and i == {SUPPORTED_IMPLEMENTATION!r}:\n"
    "    exec(compile(sys.stdin.buffer.read(), '<ft-audit probe>', 'exec'), {'__name__': '__main__'})\n"
)
_HEADER = re.compile(rb"ft-audit-interpreter (\d+)\.(\d+)\.(\d+) (\S+)")


def interpreter_command(path: str) -> list[str]:
    """The argv prefix for `--python PATH`. A path with a folder in it is made absolute against
    the current folder, since the probe and --verify run from a temporary folder; abspath, not
    realpath: a venv's python is a symlink whose location is what makes it the venv's. A bare
    name (`python3.13`) is left to the PATH lookup."""
    if os.sep in path or (os.altsep and os.altsep in path):
        return [os.path.abspath(path)]
    return [path]


def unsupported_reason(where: str, implementation: str, version: tuple[int, ...]) -> str | None:
    """None for an interpreter ft-audit audits, else the one-line reason it does not."""
    if implementation.lower() == SUPPORTED_IMPLEMENTATION.lower() and tuple(version[:2]) in SUPPORTED:
        return None
    name = "Python" if implementation.lower() == SUPPORTED_IMPLEMENTATION.lower() else implementation
    return f"ft-audit audits {SUPPORTED_LABEL}; {where} is {name} {'.'.join(str(v) for v in version)}"


def probe_interpreter(cmd: Sequence[str], *, env: Mapping[str, str] | None = None,
                      timeout: float = PROBE_TIMEOUT, cache: bool = False) -> EnvSnapshot:
    """Run the probe in `cmd` (argv prefix of the target interpreter).

    BOOTSTRAP is passed with -c (no script folder on sys.path): it names the interpreter, so
    one that ft-audit does not audit (Python 2, 3.8, PyPy) is refused with that name, then runs
    the probe source, read from stdin. It runs with -S (no .pth `import` line or sitecustomize of
    the audited environment is executed; the probe reads the .pth path entries itself) in an
    empty temporary folder, without -I: PYTHONPATH / PYTHONHOME are part of the environment the
    user's code would see, so they are honoured. Raises InputError with one line for a path
    that is not Python, a crash, a hang, or output that is not the probe's document.

    cache=True reuses the previous answer for the same interpreter and environment variables
    while the interpreter file, every environment folder and every metadata folder keep their
    modification times (installing, removing or upgrading a distribution changes them).
    """
    where = " ".join(cmd)
    source = Path(probe_module.__file__).read_text(encoding="utf-8")
    run_env = dict(os.environ if env is None else env)
    cache_key = _probe_cache_key(cmd, run_env, BOOTSTRAP + source) if cache else None
    if cache_key is not None:
        cached = _probe_cache_read(cache_key, where)
        if cached is not None:
            return cached
    run_env["PYTHONIOENCODING"] = "utf-8"
    run_env.pop("PYTHONSTARTUP", None)
    with tempfile.TemporaryDirectory(prefix="ft-audit-probe-") as cwd:
        try:
            proc = subprocess.run([*cmd, "-S", "-c", BOOTSTRAP], capture_output=True, timeout=timeout,
                                  cwd=cwd, env=run_env, input=source.encode("utf-8"))
        except FileNotFoundError:
            raise InputError(where, "no such interpreter") from None
        except PermissionError:
            raise InputError(where, "not executable") from None
        except OSError as exc:
            raise InputError(where, f"cannot run ({exc.strerror or exc})") from None
        except subprocess.TimeoutExpired:
            raise InputError(where, f"the probe did not finish within {timeout:g} s") from None
    stdout = proc.stdout
    header = _HEADER.match(stdout)
    if header:
        stdout = stdout[header.end():].lstrip(b"\r\n")
        version = tuple(int(header.group(n)) for n in (1, 2, 3))
        reason = unsupported_reason(where, header.group(4).decode("ascii", "replace"), version)
        if reason:
            raise InputError(where, reason)
    if proc.returncode != 0:
        if proc.returncode < 0:
            raise InputError(where, f"the probe was killed by signal {-proc.returncode}")
        tail = _last_line(proc.stderr) or _last_line(proc.stdout)
        raise InputError(where, f"not a working Python 3.9+ interpreter (exit {proc.returncode}: {tail or 'no output'})")
    snapshot = parse_probe_output(stdout, where=where)
    if cache_key is not None:
        _probe_cache_write(cache_key, stdout, snapshot)
    return snapshot


_PROBE_ENV_KEYS = ("PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "PYTHONUSERBASE", "PYTHONSAFEPATH", "PATH")


# The probe's answer for one interpreter file and environment, valid while the folders it
# names keep their modification times (checked on read: the stamps are part of the value).
PROBE_CACHE = CacheStore("env-probe")


def _probe_cache_key(cmd: Sequence[str], env: Mapping[str, str], source: str) -> str | None:
    import hashlib
    import shutil

    exe = shutil.which(cmd[0], path=env.get("PATH")) if os.sep not in cmd[0] else cmd[0]
    try:
        st = os.stat(exe) if exe else None
    except OSError:
        st = None
    if exe is None or st is None:
        return None           # let the real run produce the error
    return json.dumps([list(cmd), os.path.realpath(exe), st.st_ino, st.st_size, st.st_mtime_ns,
                       [env.get(k) for k in _PROBE_ENV_KEYS], hashlib.sha256(source.encode()).hexdigest()])


def _folder_stamps(folders: Sequence[str]) -> list[list[Any]]:
    stamps = []
    for folder in folders:
        try:
            stamps.append([folder, os.stat(folder).st_mtime_ns])
        except OSError:
            stamps.append([folder, None])
    return stamps


def _is_probe_entry(doc: Any) -> bool:
    return (isinstance(doc, dict) and isinstance(doc.get("stdout"), str) and isinstance(doc.get("stamps"), list)
            and all(isinstance(s, list) and len(s) == 2 and isinstance(s[0], str) for s in doc["stamps"]))


def _probe_cache_read(key: str, where: str) -> EnvSnapshot | None:
    doc = PROBE_CACHE.get(key, check=_is_probe_entry)
    if doc is None:
        return None
    stamps = doc["stamps"]
    if _folder_stamps([f for f, _ in stamps]) != stamps:
        return None           # something was installed or removed: probe again
    try:
        return parse_probe_output(doc["stdout"], where=where)
    except Exception:  # noqa: BLE001 - a stored answer the parser refuses: probe again (a real
        PROBE_CACHE.miss("wrong type")   # parser fault then shows on the fresh output)
        return None


def _probe_cache_write(key: str, stdout: bytes, snapshot: EnvSnapshot) -> None:
    folders = [*snapshot.interpreter.environment_dirs, *(d.metadata_dir for d in snapshot.distributions)]
    PROBE_CACHE.put(key, {"stamps": _folder_stamps(folders), "stdout": stdout.decode("utf-8", "replace")})


def _last_line(data: bytes) -> str:
    lines = [line for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1].strip()[:160] if lines else ""


def parse_probe_output(stdout: bytes | str, *, where: str) -> EnvSnapshot:
    text = stdout.decode("utf-8", "replace") if isinstance(stdout, bytes) else stdout
    try:
        doc = json.loads(text)
    except ValueError:
        first = text.strip().splitlines()[0][:80] if text.strip() else "nothing"
        raise InputError(where, f"the probe printed something that is not JSON ({first!r})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("interpreter"), dict) \
            or not isinstance(doc.get("distributions"), list):
        raise InputError(where, "the probe's output is not a probe document")
    try:
        interpreter = interpreter_from_facts(doc["interpreter"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(where, f"the probe's interpreter facts are incomplete ({exc!r})") from None
    dists, errors = distributions_from_json(doc["distributions"])
    return EnvSnapshot(interpreter=interpreter, distributions=dists, errors=errors)


def interpreter_from_facts(facts: Mapping[str, Any]) -> Interpreter:
    version = tuple(int(v) for v in facts["version"][:3])
    if unsupported_reason("it", str(facts.get("implementation")), version):
        raise ValueError(f"unsupported interpreter {facts.get('implementation')} {version}")
    return Interpreter(
        executable=facts.get("executable"),
        version=version,  # type: ignore[arg-type]
        implementation=str(facts.get("implementation")),
        abiflags=str(facts.get("abiflags") or ""),
        free_threaded=bool(facts.get("py_gil_disabled")),
        ext_suffix=facts.get("ext_suffix"),
        extension_suffixes=tuple(facts.get("extension_suffixes") or ()),
        platform=str(facts.get("platform") or ""),
        machine=str(facts.get("machine") or ""),
        pointer_bits=int(facts.get("pointer_bits") or 64),
        glibc=facts.get("glibc"),
        prefix=facts.get("prefix"),
        base_prefix=facts.get("base_prefix"),
        sys_path=tuple(facts.get("sys_path") or ()),
        environment_dirs=tuple(facts.get("environment_dirs") or ()),
        markers=dict(facts.get("markers") or {}),
        subinterpreter_module=facts.get("subinterpreter_module"),
    )


def distributions_from_json(entries: Sequence[Any]) -> tuple[tuple[InstalledDistribution, ...], tuple[str, ...]]:
    dists: list[InstalledDistribution] = []
    errors: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("name") or not entry.get("location"):
            errors.append(f"probe: unusable distribution entry {str(entry)[:80]!r}")
            continue
        record = entry.get("record")
        top = entry.get("top_level")
        record_top = entry.get("record_top_level")
        dists.append(InstalledDistribution(
            name=str(entry["name"]),
            version=entry.get("version"),
            location=os.path.normpath(str(entry["location"])),
            metadata_dir=str(entry.get("metadata_dir") or ""),
            requires_dist=tuple(str(r) for r in entry.get("requires_dist") or ()),
            record=tuple(str(r) for r in record) if isinstance(record, list) else None,
            installer=entry.get("installer"),
            top_level=tuple(str(t) for t in top) if isinstance(top, list) else None,
            record_top_level=tuple(str(t) for t in record_top) if isinstance(record_top, list) else (),
            classifiers=tuple(str(c) for c in entry.get("classifiers") or ()),
            errors=tuple(str(e) for e in entry.get("errors") or ()),
        ))
    return tuple(dists), tuple(errors)


# -- a folder with a declared target --------------------------------------------------------

def target_interpreter(target: str, *, directory: str, platform_tag: str | None = None) -> Interpreter:
    """An Interpreter description for `--target 3.14t` (x86-64 Linux unless told otherwise)."""
    python = PythonTarget.parse(target, "--target")
    minor, t = python.minor, python.free_threaded
    plat = platform_tag or "linux-x86_64"
    machine = plat.rsplit("-", 1)[-1] if "-" in plat else plat
    abi = f"{minor}{'t' if t else ''}"
    if plat.startswith("linux"):
        suffixes = [f".cpython-3{abi}-{machine}-linux-gnu.so"]
        if t:
            suffixes += [".abi3t.so"] if minor >= 15 else []
        else:
            suffixes += [".abi3.so"] + ([".abi3t.so"] if minor >= 15 else [])
        suffixes.append(".so")
        sys_platform, system = "linux", "Linux"
    elif plat.startswith("macosx"):
        suffixes = [f".cpython-3{abi}-darwin.so"] + ([] if t else [".abi3.so"]) + [".so"]
        sys_platform, system = "darwin", "Darwin"
    elif plat.startswith("win"):
        arch = {"win-amd64": "win_amd64", "win-arm64": "win_arm64", "win32": "win32"}.get(plat, "win_amd64")
        suffixes = [f".cp3{abi}-{arch}.pyd", ".pyd"]
        sys_platform, system = "win32", "Windows"
    else:
        raise InputError(f"--target-platform {plat}", "expected linux-<arch>, macosx-<ver>-<arch> or win-amd64")
    markers = python.marker_environment({"sys_platform": sys_platform, "platform_system": system,
                                         "os_name": "nt" if system == "Windows" else "posix",
                                         "platform_machine": machine})
    return Interpreter(
        executable=None, version=(3, minor, 0), implementation="cpython", abiflags="t" if t else "",
        free_threaded=t, ext_suffix=suffixes[0], extension_suffixes=tuple(suffixes), platform=plat,
        machine=machine, pointer_bits=64, glibc=None, prefix=None, base_prefix=None,
        sys_path=(directory,), environment_dirs=(os.path.normpath(directory),), markers=markers,
        subinterpreter_module=None, probed=False,
    )


def snapshot_from_path(directory: str, target: str, *, platform_tag: str | None = None) -> EnvSnapshot:
    if not os.path.isdir(directory):
        raise InputError(directory, "not a folder")
    interpreter = target_interpreter(target, directory=directory, platform_tag=platform_tag)
    raw = probe_module.read_distributions([os.path.normpath(directory)])
    dists, errors = distributions_from_json(raw)
    return EnvSnapshot(interpreter=interpreter, distributions=dists, errors=errors)


# -- extension files and their owners ------------------------------------------------------

def _suffix_match(filename: str, suffixes: Sequence[str]) -> str | None:
    for suffix in sorted(suffixes, key=len, reverse=True):
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return suffix
    return None


_FOREIGN_TAG = re.compile(r"\.(cpython-\d+t?[^.]*|cp\d+t?-[^.]+|abi3t?|pypy\d*[^.]*|graalpy[^.]*)$")


def module_name_for(relpath: str, suffix: str) -> tuple[str, bool]:
    """(dotted module name, loadable). A leftover dot in the last component means the file is
    tagged for another interpreter (`x.cpython-312-….so` in a 3.13 environment): Python's
    import system would never load it under any name."""
    parts = relpath.split("/")
    stem = parts[-1][: -len(suffix)]
    loadable = "." not in stem
    if not loadable:
        stem = _FOREIGN_TAG.sub("", stem)
    return ".".join([*parts[:-1], stem]), loadable


def walk_extension_files(directory: str, suffixes: Sequence[str]) -> list[tuple[str, str, str]]:
    """(absolute path, relpath, matched suffix) of every extension candidate below `directory`.

    Skips metadata folders, __pycache__ and vendored-library folders (`numpy.libs`)."""
    found: list[tuple[str, str, str]] = []
    all_suffixes = tuple(set(suffixes) | {".so", ".pyd"})
    stack = [(directory, "")]
    while stack:
        current, rel = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if name in SKIP_DIRS or name.endswith((".dist-info", ".egg-info", *VENDORED_LIB_DIRS)):
                    continue
                stack.append((entry.path, f"{rel}{name}/"))
                continue
            if not name.endswith(all_suffixes):
                continue
            suffix = _suffix_match(name, suffixes) or _suffix_match(name, all_suffixes)
            if suffix:
                found.append((entry.path, rel + name, suffix))
    found.sort(key=lambda item: item[1])
    return found


def collect_extension_files(snapshot: EnvSnapshot) -> list[ExtensionFile]:
    """Every extension file in the environment folders, each with its owning distribution."""
    interp = snapshot.interpreter
    owners = Owners.of(snapshot.distributions)
    seen: set[str] = set()
    files: list[ExtensionFile] = []
    for directory in interp.environment_dirs:
        for path, rel, suffix in walk_extension_files(directory, interp.extension_suffixes):
            real = os.path.normpath(path)
            if real in seen:
                continue
            seen.add(real)
            module, loadable = module_name_for(rel, suffix)
            owner, ownership = owners.owner_of(real, directory, rel, module)
            note = "" if loadable else f"named for another interpreter; {interp.label} will not import it"
            files.append(ExtensionFile(path=real, relpath=rel, module=module, suffix=suffix,
                                       loadable=loadable, owner=owner, ownership=ownership, note=note))
    return files


@dataclass(frozen=True)
class Owners:
    """Which distribution owns an extension file: its RECORD first, then the top-level name
    (RECORD's first path components, top_level.txt) in the same folder; else nobody (orphan).
    The one ownership rule of `env` and the pytest plugin."""

    by_path: Mapping[str, str]                  # normalised absolute path -> dist key
    top_owner: Mapping[tuple[str, str], str]    # (location, top-level name) -> dist key

    @classmethod
    def of(cls, distributions: Sequence[InstalledDistribution]) -> Owners:
        by_path: dict[str, str] = {}
        top_owner: dict[tuple[str, str], str] = {}
        for dist in distributions:
            loc = dist.location
            for rel in dist.record or ():
                by_path.setdefault(os.path.normpath(os.path.join(loc, rel)), dist.key)
            for top in dist.record_top_level:
                if top and not top.endswith((".dist-info", ".egg-info", ".data")) and top != "..":
                    top_owner.setdefault((loc, _strip_ext(top)), dist.key)
            for top in dist.top_level or ():
                top_owner.setdefault((loc, top), dist.key)
        return cls(by_path, top_owner)

    def owner_of(self, real: str, directory: str, rel: str, module: str) -> tuple[str | None, str]:
        """(dist key or None, "record" | "top-level" | "orphan") of the file `real`, found
        at `rel` ('/'-separated) below the environment folder `directory`."""
        owner = self.by_path.get(real)
        if owner is not None:
            return owner, "record"
        owner = self.top_owner.get((os.path.normpath(directory), rel.split("/", 1)[0] if "/" in rel else module))
        return owner, ("top-level" if owner else "orphan")


def _strip_ext(top: str) -> str:
    for ext in (".py", ".pth"):
        if top.endswith(ext):
            return top[: -len(ext)]
    return top.split(".", 1)[0] if top.endswith((".so", ".pyd")) else top


def active_environment_warning(interpreter: Interpreter) -> str | None:
    """A note when a virtual environment is active (VIRTUAL_ENV) but another one is audited."""
    active = os.environ.get("VIRTUAL_ENV")
    if not active or not interpreter.prefix:
        return None
    if os.path.realpath(active) == os.path.realpath(interpreter.prefix):
        return None
    return (f"the active virtual environment ({active}) is not the one audited "
            f"({interpreter.prefix}); pass --python {active}/bin/python to audit it")


def current_python() -> list[str]:
    return [sys.executable]
