"""Binary verdicts for published wheels: does this exact file keep the GIL off, and which
sub-interpreters can import it?

A wheel's tags are a claim; its modules are the evidence (lxml 6.1.3's cp314t wheels declare
Py_mod_gil USED). `requirements` and `env` ask this module for the verdict of the wheel a user
would install, from the cheapest source that inspected that exact file:

1. the census (bundled or refreshed) when it inspected the same file: same sha256 when the
   census recorded one, else the same PyPI file URL, which is content-addressed (its path is
   the file's blake2b-256 digest);
2. the verdict cache (one small JSON per sha256, written by an earlier read of the same
   inspector: auditor.cache.inspector_fingerprint);
3. HTTP range requests: the zip's central directory and only the extension-module members,
   through the same safe wheel reader as local wheels (a torch wheel costs kilobytes);
4. a full download (sha256-checked, cached) when the index refuses range requests.

Nothing here returns "ready" from missing bytes: a wheel that cannot be read is `unknown` with
the reason; members not read (shared libraries named `lib*.so` with no Python ABI tag) are
listed in the verdict's `not_read`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.cache import CacheStore, inspector_fingerprint
from auditor.errors import AuditError
from auditor.model import FreeThreading, ModuleReport, Subinterpreters

if TYPE_CHECKING:
    from auditor.wheel_modules import WheelModules, is_read_as_module


def __getattr__(name: str) -> Any:
    # Re-exported on first use: a run whose verdicts are all cached does not import the reader.
    if name == "is_read_as_module":
        from auditor.wheel_modules import is_read_as_module

        return is_read_as_module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "FROM_CACHE", "FROM_CENSUS", "FROM_DOWNLOAD", "FROM_LOCAL", "FROM_RANGE_READ", "NOT_READ", "WheelFile",
    "WheelVerdict", "census_entries", "census_verdict", "is_read_as_module", "local_verdict", "read_verdict",
    "unknown_verdict", "verdict_of", "wheel_rollup", "wheel_verdicts",
]

# How a verdict was obtained (JSON `verdict_source`).
FROM_CENSUS = "census"
FROM_CACHE = "cache"
FROM_RANGE_READ = "range-read"
FROM_DOWNLOAD = "download"
FROM_LOCAL = "local"           # a wheel file on disk (the census's download, the library API)
NOT_READ = "not-read"          # --no-download / --offline and no census or cached verdict

CACHE_SCHEMA = 1


@dataclass(frozen=True)
class WheelFile:
    """The published file whose verdict is asked for (what the index says about it)."""

    project: str
    filename: str
    url: str
    sha256: str | None
    size: int | None


@dataclass(frozen=True)
class WheelVerdict:
    wheel: str
    free_threading: str                  # FreeThreading.*
    subinterpreters: str                 # Subinterpreters.*
    evidence: str                        # one line: which module decided, and how
    source: str                          # FROM_*
    modules: tuple[dict[str, Any], ...] = ()   # ModuleReport.to_json() of each module read
    bytes_read: int = 0                  # bytes fetched from the index for this verdict
    not_read: tuple[str, ...] = ()       # members not inspected, with the reason
    error: str | None = None             # why the wheel could not be read (verdicts then unknown)

    @property
    def decided(self) -> bool:
        return self.error is None and self.source != NOT_READ

    def to_json(self) -> dict[str, Any]:
        return {"wheel": self.wheel, "free_threading": self.free_threading, "subinterpreters": self.subinterpreters,
                "evidence": self.evidence, "verdict_source": self.source, "bytes_read": self.bytes_read,
                "not_read": list(self.not_read), "error": self.error}


# ------------------------------------------------------------------ roll-up (pure)
def wheel_rollup(reports: Sequence[ModuleReport]) -> tuple[str, str, str]:
    """(free_threading, subinterpreters, evidence) of a wheel: its worst module decides
    (auditor.rollup, so a package rolls up the same here as in `env` and the census)."""
    from auditor import rollup

    ft = rollup.package_verdict(reports, rollup.FREE_THREADING)
    si = rollup.package_verdict(reports, rollup.SUBINTERPRETERS)
    if ft.module is None:
        return ft.value, si.value, "no extension modules in the wheel"
    if ft.value == FreeThreading.READY:
        evidence = f"all {ft.modules} extension module(s) keep the GIL off"
    else:
        more = f" and {len(ft.same) - 1} more module(s)" if len(ft.same) > 1 else ""
        evidence = f"{ft.module.name}{more}: {ft.module.free_threading.reason}"
    return ft.value, si.value, evidence


def unknown_verdict(wheel: str, source: str, reason: str, *, bytes_read: int = 0) -> WheelVerdict:
    return WheelVerdict(wheel, FreeThreading.UNKNOWN, Subinterpreters.UNKNOWN, reason, source,
                        bytes_read=bytes_read, error=reason if source != NOT_READ else None)


# ------------------------------------------------------------------ census (pure)
def census_verdict(census: Any, wheel: WheelFile) -> WheelVerdict | None:
    """The census's verdict when it inspected this exact file; `census` is a CensusEntry."""
    for deep in getattr(census, "deep", ()) or ():
        if deep.wheel != wheel.filename:
            continue
        same = (deep.sha256 and wheel.sha256 and deep.sha256.lower() == wheel.sha256.lower()) or \
            (not deep.sha256 and deep.url and deep.url == wheel.url)
        if not same:
            continue
        when = f", {deep.inspected_at[:10]}" if deep.inspected_at else ""
        if deep.free_threading == FreeThreading.REENABLES_GIL and deep.reenables_gil:
            names = deep.reenables_gil
            evidence = names[0] + (f" and {len(names) - 1} more module(s)" if len(names) > 1 else "")
        elif deep.free_threading == FreeThreading.READY:
            evidence = f"all {deep.modules} extension module(s) keep the GIL off"
        else:
            counts = ", ".join(f"{n} {v}" for v, n in sorted(deep.verdicts.items()))
            evidence = f"{deep.modules} module(s): {counts}" if counts else f"{deep.modules} module(s)"
        return WheelVerdict(wheel.filename, deep.free_threading, deep.subinterpreters,
                            f"{evidence}; ft-audit census of this file{when}", FROM_CENSUS)
    return None


# ------------------------------------------------------------------ verdict cache (I/O)
# One JSON entry per wheel sha256, valid for one entry format and one inspector fingerprint:
# another inspector may decide differently, so its verdicts are read again.
VERDICT_CACHE = CacheStore("wheel-verdicts")
_VERDICT_FIELDS = ("wheel", "free_threading", "subinterpreters", "evidence")


def _verdict_validity() -> str:
    return f"{CACHE_SCHEMA}:{inspector_fingerprint()}"


def _is_verdict_doc(doc: Any) -> bool:
    return (isinstance(doc, dict) and all(isinstance(doc.get(k), str) for k in _VERDICT_FIELDS)
            and isinstance(doc.get("modules", []), list) and all(isinstance(m, dict) for m in doc.get("modules", []))
            and isinstance(doc.get("not_read", []), list) and all(isinstance(n, str) for n in doc.get("not_read", [])))


def _cached(wheel: WheelFile) -> WheelVerdict | None:
    if not wheel.sha256:
        return None
    doc = VERDICT_CACHE.get(wheel.sha256.lower(), validity=_verdict_validity(), check=_is_verdict_doc)
    if doc is None:
        return None
    return WheelVerdict(doc["wheel"], doc["free_threading"], doc["subinterpreters"], doc["evidence"], FROM_CACHE,
                        tuple(doc.get("modules") or ()), 0, tuple(doc.get("not_read") or ()))


def _store(wheel: WheelFile, verdict: WheelVerdict) -> None:
    if not wheel.sha256 or not verdict.decided:
        return
    doc = {"wheel": verdict.wheel, "free_threading": verdict.free_threading,
           "subinterpreters": verdict.subinterpreters, "evidence": verdict.evidence,
           "modules": list(verdict.modules), "not_read": list(verdict.not_read)}
    VERDICT_CACHE.put(wheel.sha256.lower(), doc, validity=_verdict_validity())   # False: costs a re-read, nothing else


# ------------------------------------------------------------------ reading the wheel (I/O)
def read_verdict(http: Any, wheel: WheelFile, *, allow_download: bool = True) -> WheelVerdict:
    """Read the wheel's extension members with range requests (or download it) and inspect them."""
    from auditor.http import RangeRefused
    from auditor.sources.remote_file import RangeFile

    if not wheel.size:
        return _downloaded(http, wheel) if allow_download else \
            unknown_verdict(wheel.filename, FROM_RANGE_READ, "the index gives no file size for range reads")
    remote = RangeFile(http, wheel.url, wheel.size)
    try:
        return _inspect(wheel, remote, FROM_RANGE_READ, lambda: remote.bytes_fetched)
    except RangeRefused:
        if not allow_download:
            return unknown_verdict(wheel.filename, FROM_RANGE_READ, "the index refuses range requests",
                                   bytes_read=remote.bytes_fetched)
        return _downloaded(http, wheel)
    except AuditError as exc:
        return unknown_verdict(wheel.filename, FROM_RANGE_READ, exc.one_line(), bytes_read=remote.bytes_fetched)


def _downloaded(http: Any, wheel: WheelFile) -> WheelVerdict:
    from auditor.cache import cache_dir

    try:
        path = http.download(wheel.url, wheel.sha256, cache_dir("wheels") / wheel.filename)
        size = path.stat().st_size
        with open(path, "rb") as handle:
            return _inspect(wheel, handle, FROM_DOWNLOAD, lambda: size)
    except AuditError as exc:
        return unknown_verdict(wheel.filename, FROM_DOWNLOAD, exc.one_line())
    except OSError as exc:
        return unknown_verdict(wheel.filename, FROM_DOWNLOAD, f"{wheel.filename}: {exc.strerror or exc}")


def _inspect(wheel: WheelFile, stream: Any, source: str, bytes_read: Callable[[], int]) -> WheelVerdict:
    from auditor.wheel_modules import wheel_modules

    return verdict_of(wheel_modules(wheel.filename, stream=stream), source, bytes_read())


def verdict_of(read: WheelModules, source: str, bytes_read: int = 0) -> WheelVerdict:
    """The verdict of a wheel whose modules were read (auditor.wheel_modules, from any source):
    its worst module decides (wheel_rollup); an archive problem leaves it unknown."""
    if read.problems:
        # An unsafe or unreadable member may be a module: no verdict from the rest.
        return unknown_verdict(read.wheel, source, read.problems[0], bytes_read=bytes_read)
    ft, si, evidence = wheel_rollup(read.reports)
    return WheelVerdict(read.wheel, ft, si, evidence, source, tuple(r.to_json() for r in read.reports),
                        bytes_read, read.not_read)


def local_verdict(path: Path | str) -> WheelVerdict:
    """The verdict of a wheel file on disk, read the same way as a published one (the census
    and `requirements` cannot judge one file differently); an unreadable wheel is unknown."""
    from auditor.wheel_modules import wheel_modules

    path = Path(path)
    try:
        read = wheel_modules(path)
    except AuditError as exc:
        return unknown_verdict(path.name, FROM_LOCAL, exc.one_line())
    return verdict_of(read, FROM_LOCAL, _size(path))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# ------------------------------------------------------------------ the service
def wheel_verdicts(wheels: Iterable[WheelFile], *, http: Any, census: Mapping[str, Any] | None = None,
                   download: bool = True, allow_download_fallback: bool = True,
                   workers: int = 6) -> dict[str, WheelVerdict]:
    """file name -> verdict for each wheel. `census` maps a project name to its CensusEntry.

    download=False (--no-download, --offline) answers from the census and the cache only; the
    rest get a NOT_READ verdict saying so.
    """
    todo: list[WheelFile] = []
    out: dict[str, WheelVerdict] = {}
    for wheel in wheels:
        if wheel.filename in out:
            continue
        known = census_verdict((census or {}).get(wheel.project), wheel) or _cached(wheel)
        if known is not None:
            out[wheel.filename] = known
        elif not download:
            out[wheel.filename] = unknown_verdict(wheel.filename, NOT_READ,
                                                  "not inspected: no census or cached verdict for this file, "
                                                  "and downloads are off")
        else:
            todo.append(wheel)
            out[wheel.filename] = None  # type: ignore[assignment]   # placeholder keeps the order

    def one(wheel: WheelFile) -> WheelVerdict:
        try:
            verdict = read_verdict(http, wheel, allow_download=allow_download_fallback)
        except Exception as exc:  # noqa: BLE001 - one wheel's failure must not end the others
            verdict = unknown_verdict(wheel.filename, FROM_RANGE_READ,
                                      f"{wheel.filename}: internal error: {exc.__class__.__name__}: {exc}")
        _store(wheel, verdict)
        return verdict

    if todo:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo)))) as pool:
            for wheel, verdict in zip(todo, pool.map(one, todo)):
                out[wheel.filename] = verdict
    return out


def census_entries(projects: Iterable[str]) -> dict[str, Any]:
    """project -> CensusEntry for those the census knows (bundled or refreshed, the newer)."""
    try:
        from auditor.compat.lookup import load_compat

        data = load_compat(allow_network=False)
    except Exception:  # noqa: BLE001 - broken census data costs a range read, never the audit
        return {}
    out = {}
    for name in projects:
        try:
            record = data.lookup(name)
        except Exception:  # noqa: BLE001
            continue
        if record.census is not None and record.census.deep:
            out[name] = record.census
    return out
