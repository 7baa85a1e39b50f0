"""Dependency resolution for a *target* interpreter and platform, not for the host.

Resolver: resolvelib (pure Python, the engine inside pip) driven by our own provider:

* candidates come from the simple JSON API (every file of every release); a release is
  installable for the target when one of its wheels carries a tag from packaging.tags for the
  target (cp314t + the platform tags), or when it has an sdist. Releases that are not
  installable are still offered, *after* every installable one, so a pin that cannot install
  on the target is reported (as abi3-only, no-release, ...) instead of failing the resolution;
* dependencies come from core metadata: PEP 658 `.metadata` of a wheel when the index serves
  it, otherwise METADATA read from the smallest wheel of that release; an sdist-only release
  has unknown dependencies (reported as incomplete: finding them would mean running a build);
* markers are evaluated with an environment dict for the target (python_version,
  sys_platform, platform_machine, ...), so a host/target difference is visible.

Index pages and metadata are fetched ahead of the resolver by a bounded thread pool: when a
project name first appears its page is requested, and when a release becomes the preferred
candidate its metadata is requested, so network latency overlaps instead of adding up.

Why this and not `pip install --dry-run --report` with --python-version/--abi/--platform:
pip requires `--only-binary=:all:` with --platform, so it cannot represent "this pin would
build from an sdist" or "only abi3 wheels": it stops at the first project without a cp314t wheel
("No matching distribution found for grpcio") and reports nothing. Measured on the 25 popular
requirements of benchmarks/bench_requirements.py (3.14t, manylinux_2_28_x86_64, same machine,
same hour): pip 26.3 failed at once on grpcio; with the 4 projects lacking cp314t wheels removed
it took 28.5 s cold / 21.9 s warm and still ended in ResolutionImpossible with no report,
where this resolver took 5.1 s cold / 0.8 s warm and reported 66 packages. pip also needs a
subprocess per target and platform.
"""

from __future__ import annotations

import struct
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from auditor.cache import CacheStore
from auditor.errors import AuditError, ServiceError
from auditor.migration import ReleaseFile, installable_kind
from auditor.project_index import ProjectIndex, load_index
from auditor.pypi import SIMPLE_JSON, DistFile, PyPIClient, core_metadata, page_cache_key
from auditor.target import Target

if TYPE_CHECKING:
    # resolvelib is imported only when a resolution runs (a cached resolution never needs it);
    # the checker still holds TargetProvider to resolvelib's provider interface.
    from resolvelib import AbstractProvider

    _ProviderBase = AbstractProvider["Need", "Candidate", str]
else:
    _ProviderBase = object

# Fetch threads. More hide more latency, but every thread takes the interpreter lock to read
# and parse what it fetched: on the 25 popular requirements (cold, 2 cores, one TLS context per
# bundle) 6 threads took 2.43-2.53 s, 8 took 2.29-2.36 s, 12 took 2.75-3.32 s, 24 took 2.73-2.85 s.
MAX_WORKERS = 8


def marker_applies(marker: Marker | None, env: Mapping[str, str], extras: Iterable[str] = ("",)) -> bool:
    if marker is None:
        return True
    return any(marker.evaluate({**env, "extra": extra}) for extra in (tuple(extras) or ("",)))


# ------------------------------------------------------------------ fetching, ahead of the resolver
class Fetcher:
    """Bounded-concurrency, memoised access to index pages and release metadata."""

    def __init__(self, client: PyPIClient, *, workers: int = MAX_WORKERS, on_fetch=None) -> None:
        self.client = client
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ft-audit-fetch")
        self._futures: dict[tuple, Future] = {}
        self._lock = threading.RLock()
        self._seen_needs: set[tuple] = set()
        self.on_fetch = on_fetch
        self.notes: list[tuple[str, str]] = []      # (where, reason): non-fatal, e.g. fallbacks
        self._closed = False

    def close(self) -> None:
        from auditor.http import requests_aborted

        with self._lock:
            self._closed = True
        # After Ctrl-C a worker may still wait for a server's first byte: do not wait for it.
        self.pool.shutdown(wait=not requests_aborted(), cancel_futures=True)

    def _submit(self, key: tuple, fn, *args, inline: bool = False) -> Future:
        """The one future for `key`; `inline` runs fn here when it needs no network (a warm
        cache): handing such work to a thread costs more than doing it."""
        with self._lock:
            future = self._futures.get(key)
            if future is not None:
                return future
            if self._closed:
                # After close() (the end, or Ctrl-C): a prefetch callback of a finishing worker
                # asks for more; the pool would raise "cannot schedule new futures after shutdown".
                future = Future()
                future.cancel()
                return future
            if not inline:
                future = self._futures[key] = self.pool.submit(fn, *args)
                on_fetch = self.on_fetch
                if on_fetch:
                    future.add_done_callback(lambda _f: on_fetch(key))
                return future
            future = self._futures[key] = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future, as from a worker
            future.set_exception(exc)
        if self.on_fetch:
            self.on_fetch(key)
        return future

    def _page_url(self, name: str) -> str:
        return self.client.page_url(name)

    def _cached_meta(self, url: str) -> dict | None:
        fresh = getattr(self.client.http, "fresh_meta", None)
        return fresh(url, SIMPLE_JSON) if fresh else None

    def prefetch_index(self, name: str) -> None:
        name = canonicalize_name(name)
        self._submit(("index", name), self._fetch_index, name,
                     inline=self._cached_meta(self._page_url(name)) is not None)

    def index(self, name: str) -> ProjectIndex:
        """Raises AuditError (NotFound for an unknown project)."""
        name = canonicalize_name(name)
        return self._submit(("index", name), self._fetch_index, name,
                            inline=self._cached_meta(self._page_url(name)) is not None).result()

    def _fetch_index(self, name: str) -> ProjectIndex:
        return load_index(self.client, name)       # ProjectNotFound for an unknown project

    def prefetch_need(self, need: Need, target: Target) -> None:
        """Speculatively fetch the page of `need` and the metadata of its newest installable match.

        The resolver asks for one thing at a time; this walks the likely graph ahead of it, in
        parallel, so a cold run costs about the depth of the graph in round trips, not its size.
        """
        key = ("need", need.name, str(need.specifier), target.label, target.platform)
        with self._lock:
            if key in self._seen_needs:
                return
            self._seen_needs.add(key)
        self._prefetch_need(need, target)

    def _prefetch_need(self, need: Need, target: Target) -> None:
        # Chained with callbacks, never by waiting inside a worker: a worker blocked on a future
        # queued behind it in the same pool would deadlock the pool.
        future = self._submit(("index", need.name), self._fetch_index, need.name)
        future.add_done_callback(lambda f: self._after_index(f, need, target))

    def _after_index(self, future: Future, need: Need, target: Target) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        index = future.result()
        if index.from_cache:
            # A page answered from the cache means a warm run: the metadata is memoised too,
            # and speculating would only take the interpreter lock from the resolver.
            return
        for version in index.releases.newest_first():
            if version.is_prerelease or not need.specifier.contains(version, prereleases=True):
                continue
            if installable_kind([f for f in index.releases[version] if not f.yanked], target):
                key = ("meta", index.name, str(version))
                requires = self._submit(key, self._fetch_requires, index, version, target)
                requires.add_done_callback(lambda f: self._after_requires(f, target))
                return

    def _after_requires(self, future: Future, target: Target) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        for text in future.result() or ():
            try:
                req = parse_requirement_text(text)
                if marker_applies(req.marker, target.marker_env):
                    self.prefetch_need(Need(canonicalize_name(req.name), frozenset(), req.specifier, "", text), target)
            except Exception:  # an unparsable line is reported by the resolver, not by the prefetcher
                continue

    def prefetch_requires(self, index: ProjectIndex, version: Version, target: Target) -> None:
        key = ("meta", index.name, str(version))
        if key in self._futures or REQUIRES_DIST.has(self._memo_key(index, version)):
            return  # already asked, or memoised: `requires` reads it inline when needed
        self._submit(key, self._fetch_requires, index, version, target)

    def requires(self, index: ProjectIndex, version: Version, target: Target) -> list[str] | None:
        """Requires-Dist of one release; None when unknown (sdist-only). Raises AuditError."""
        return self._submit(("meta", index.name, str(version)), self._fetch_requires, index, version, target,
                            inline=REQUIRES_DIST.has(self._memo_key(index, version))).result()

    def _memo_key(self, index: ProjectIndex, version: Version) -> str:
        return f"{self.client.index_url}\0{index.name}\0{version}"

    def _fetch_requires(self, index: ProjectIndex, version: Version, target: Target) -> list[str] | None:
        """Released metadata is immutable, so what was read once is kept on disk (no revalidation)."""
        memo = self._memo_key(index, version)
        cached = REQUIRES_DIST.get(memo, check=_is_str_list)
        if cached is not None:
            return cached
        requires = self._read_requires(index, version, target)
        if requires is not None:
            REQUIRES_DIST.put(memo, requires)
        return requires

    def _read_requires(self, index: ProjectIndex, version: Version, target: Target) -> list[str] | None:
        from auditor.migration import best_wheel

        files = index.releases.get(version, [])
        wheels = [f for f in files if f.kind == "wheel"]
        if not wheels:
            return None
        match = best_wheel(files, target)
        # The wheel the target would install, else one whose entry came with the packed page
        # (free-threaded or pure), so that reading its metadata needs no parse of the full page.
        others = sorted((w for w in wheels if not match or w is not match[0]),
                        key=lambda w: w.filename not in index.kept_entries)
        ordered = ([match[0]] if match else []) + others
        # PEP 658 metadata: the first wheel in that order the index serves it for. The other
        # wheels' entries (the full page) are searched only when the page serves it for some file
        # (PyPI: every wheel since its backfill; this machine's mirror: none).
        with_metadata = ordered[:1] if _serves_metadata(index.entry(ordered[0].filename)) else [
            w for w in ordered[1:] if index.serves_metadata and _serves_metadata(index.entries.get(w.filename))]
        if with_metadata:
            dist = index.dist_file(with_metadata[0].filename)
            try:
                message = self.client.file_metadata(dist)
            except ServiceError as exc:
                self.notes.append((exc.where, f"{exc.reason}; reading METADATA from the wheel instead"))
            else:
                if message is not None:
                    return list(message.get_all("Requires-Dist") or ())
        # Not the project JSON API's requires_dist: it comes from one uploaded file and can
        # differ from the wheels (python-dateutil 4.0.0: JSON lists six, the wheel does not).
        chosen = index.dist_file(ordered[0].filename)
        try:
            return _requires_via_range(self.client.http, chosen)
        except (ServiceError, ValueError, zipfile.BadZipFile, zlib.error) as exc:
            self.notes.append((chosen.filename, f"ranged METADATA read failed ({exc}); downloading a wheel"))
        return self._requires_from_wheel(index, wheels)

    def _requires_from_wheel(self, index: ProjectIndex, wheels: Sequence[ReleaseFile]) -> list[str]:
        from auditor.cache import cache_dir

        smallest = min((index.dist_file(w.filename) for w in wheels), key=lambda d: d.size or 1 << 62)
        dest = cache_dir("wheels") / smallest.filename
        path = self.client.http.download(smallest.url, smallest.sha256, dest)
        try:
            with zipfile.ZipFile(path) as archive:
                name = next((n for n in archive.namelist()
                             if n.count("/") == 1 and n.endswith(".dist-info/METADATA")), None)
                if name is None:
                    raise ServiceError(smallest.filename, "wheel has no .dist-info/METADATA")
                raw = archive.read(name)
        except (zipfile.BadZipFile, OSError, KeyError) as exc:
            raise ServiceError(smallest.filename, f"cannot read METADATA: {exc}") from None
        return requires_dist(raw, smallest.filename)


def _requires_via_range(http, dist: DistFile) -> list[str]:
    return requires_dist(metadata_via_range(http, dist), dist.filename)


def requires_dist(metadata: bytes, where: str) -> list[str]:
    """Requires-Dist of core metadata; ServiceError when it is not core metadata (never [])."""
    message = core_metadata(metadata, where)
    return [str(v) for v in message.get_all("Requires-Dist") or ()]


def metadata_via_range(http, dist: DistFile, tail: int = 1 << 17) -> bytes:
    """A remote wheel's .dist-info/METADATA with HTTP range requests (as pip's lazy wheel).

    Two or three small requests instead of the whole wheel (torch wheels are 100+ MB): the
    tail holds the end-of-central-directory record and usually the whole central directory;
    then the local header + compressed METADATA member.
    """
    size = dist.size
    if not size:
        raise ValueError("file size unknown")
    end = _ranged(http, dist.url, max(0, size - tail), size - 1)
    eocd = end.rfind(b"PK\x05\x06")
    if eocd < 0 or len(end) - eocd < 22:
        raise ValueError("no end-of-central-directory record in the tail read")
    cd_size, cd_offset = struct.unpack_from("<II", end, eocd + 12)
    if cd_offset == 0xFFFFFFFF:
        raise ValueError("zip64 archive")
    start_in_tail = cd_offset - (size - len(end))
    directory = end[start_in_tail:start_in_tail + cd_size] if start_in_tail >= 0 else \
        _ranged(http, dist.url, cd_offset, cd_offset + cd_size - 1)
    tail_start = size - len(end)
    pos = 0
    while pos + 46 <= len(directory) and directory[pos:pos + 4] == b"PK\x01\x02":
        (method, _, _, _, comp_size, _, name_len, extra_len, comment_len) = struct.unpack_from("<HHHIIIHHH", directory, pos + 10)
        local_offset = struct.unpack_from("<I", directory, pos + 42)[0]
        name = directory[pos + 46:pos + 46 + name_len].decode("utf-8", "replace")
        pos += 46 + name_len + extra_len + comment_len
        if name.count("/") != 1 or not name.endswith(".dist-info/METADATA"):
            continue
        if local_offset >= tail_start and local_offset + 30 + 1024 + comp_size <= size:
            # .dist-info is written last, so METADATA is usually inside the tail already read.
            head = end[local_offset - tail_start:]
        else:
            head = _ranged(http, dist.url, local_offset, local_offset + 30 + 1024 + comp_size - 1)
        if head[:4] != b"PK\x03\x04":
            raise ValueError("bad local header")
        n, e = struct.unpack_from("<HH", head, 26)
        data = head[30 + n + e:30 + n + e + comp_size]
        if method == 8:
            data = zlib.decompress(data, -15)
        elif method != 0:
            raise ValueError(f"compression method {method}")
        return data
    raise ValueError("no .dist-info/METADATA in the central directory")


def _meta_key(url: str, meta: Mapping[str, Any]) -> str | None:
    return page_cache_key(url, meta)


# The resolver's caches: Requires-Dist of released files (immutable: never revalidated), and
# whole resolutions (valid while every page they read is unchanged). Pages: auditor.project_index.
REQUIRES_DIST = CacheStore("requires-dist", versioned=True)
RESOLUTIONS = CacheStore("resolutions", versioned=True)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _serves_metadata(entry: dict | None) -> bool:
    """PEP 658/714: the index serves `url + ".metadata"` for this file."""
    return bool(entry and (entry.get("core-metadata") or entry.get("dist-info-metadata")))


def _ranged(http, url: str, first: int, last: int) -> bytes:
    return http.get_range(url, first, last)


# ------------------------------------------------------------------ resolvelib provider
@dataclass(frozen=True)
class Need:
    """A requirement as the resolver sees it (markers already evaluated for the target)."""

    name: str                          # canonical
    extras: frozenset[str]
    specifier: SpecifierSet
    origin: str                        # "requirements.txt:3" or "pandas 2.3.1"
    text: str

    @property
    def key(self) -> str:
        return identifier(self.name, self.extras)


@dataclass(frozen=True)
class Candidate:
    name: str
    version: Version | None            # None: the project could not be looked up (see `problem`)
    extras: frozenset[str] = frozenset()
    installable: str | None = None     # "wheel" | "sdist" | None
    problem: str | None = None

    @property
    def key(self) -> str:
        return identifier(self.name, self.extras)


class _Peekable:
    def __init__(self, iterator: Iterator) -> None:
        self._it = iter(iterator)
        self._buffer: list = []

    def __iter__(self):
        return self

    def __next__(self):
        return self._buffer.pop(0) if self._buffer else next(self._it)

    def peek(self, n: int) -> list:
        while len(self._buffer) < n:
            try:
                self._buffer.append(next(self._it))
            except StopIteration:
                break
        return self._buffer[:n]


class _Lazy:
    """find_matches' answer: a factory resolvelib calls (it tees the iterator), built once."""

    def __init__(self, iterator: Iterator[Candidate]) -> None:
        self._it = iterator

    def __call__(self) -> Iterator[Candidate]:
        return self._it


@lru_cache(maxsize=8192)
def parse_requirement_text(text: str) -> Requirement:
    """Requires-Dist lines repeat across releases and targets; parsing one costs ~0.3 ms."""
    return Requirement(text)


def identifier(name: str, extras: Iterable[str]) -> str:
    extras = sorted(extras)
    return f"{name}[{','.join(extras)}]" if extras else name


class TargetProvider(_ProviderBase):
    """resolvelib provider over a Fetcher, for one Target."""

    def __init__(self, fetcher: Fetcher, target: Target, constraints: Mapping[str, Sequence[Need]],
                 exact_pins: set[str], *, transitive: bool = True) -> None:
        self.fetcher = fetcher
        self.transitive = transitive               # False (--no-deps): only the requirements themselves
        self.target = target
        self.constraints = constraints
        self.exact_pins = exact_pins               # names pinned with ==: yanked releases allowed (PEP 592)
        self.problems: dict[str, str] = {}         # name -> why it could not be looked up
        self.unknown_deps: dict[str, str] = {}     # "name version" -> why its dependencies are unknown
        self.skipped: list[tuple[str, str]] = []   # (origin, requirement) not for this target (marker)
        self._marker_memo: dict[tuple[str, frozenset[str]], bool] = {}

    # resolvelib API
    def identify(self, requirement_or_candidate) -> str:
        return requirement_or_candidate.key

    def get_preference(self, identifier, resolutions, candidates, information, backtrack_causes):
        pinned = any(s.operator in ("==", "===") for need, _ in information[identifier] for s in need.specifier)
        return (not pinned, identifier)

    def narrow_requirement_selection(self, identifiers, resolutions, candidates, information, backtrack_causes):
        return identifiers

    def find_matches(self, identifier, requirements,
                     incompatibilities) -> list[Candidate] | Callable[[], Iterator[Candidate]]:
        needs = list(requirements[identifier])
        if not needs:
            return []
        name, extras = needs[0].name, needs[0].extras
        try:
            index = self.fetcher.index(name)
        except AuditError as exc:
            self.problems[name] = exc.one_line()
            return [Candidate(name, None, extras, problem=exc.one_line())]
        specifiers = [n.specifier for n in needs] + [c.specifier for c in self.constraints.get(name, ())]
        bad = {c.version for c in incompatibilities[identifier]}
        versions = index.releases.newest_first()
        allow_pre = any(s.prereleases for spec in specifiers for s in spec) or not any(
            not v.is_prerelease and all(spec.contains(v) for spec in specifiers) for v in versions)
        allowed = (v for v in versions
                   if v not in bad and (allow_pre or not v.is_prerelease)
                   and all(spec.contains(v, prereleases=True) for spec in specifiers))
        return _Lazy(self._candidates(index, extras, allowed))

    def _candidates(self, index: ProjectIndex, extras: frozenset[str], allowed: Iterator[Version]) -> Iterator[Candidate]:
        """Installable releases newest first, then the rest; built lazily, as the resolver asks.

        Most projects are settled by their first candidate, so the files of older releases are
        never looked at. Once the resolver asks past the first (backtracking), the metadata of
        the next releases is fetched ahead of it.
        """
        fallback: list[Candidate] = []
        yielded = 0
        allowed = _Peekable(allowed)
        for version in allowed:
            files = index.releases[version]
            live = files if index.name in self.exact_pins else [f for f in files if not f.yanked]
            kind = installable_kind(live, self.target)
            if not kind:
                fallback.append(Candidate(index.name, version, extras, None))
                continue
            if yielded:
                for later in [version] + allowed.peek(7):
                    self.fetcher.prefetch_requires(index, later, self.target)
            else:
                self.fetcher.prefetch_requires(index, version, self.target)
            yielded += 1
            yield Candidate(index.name, version, extras, kind)
        yield from fallback

    def is_satisfied_by(self, requirement: Need, candidate: Candidate) -> bool:
        return candidate.version is None or requirement.specifier.contains(candidate.version, prereleases=True)

    def _wanted(self, text: str, req: Requirement, extras: frozenset[str]) -> bool:
        """Does this Requires-Dist line apply to the target, for a candidate with `extras`?

        Without extras: lines whose marker holds with extra == "". With extras: only the lines
        that the extras add (the base candidate, a dependency of it, carries the rest).
        Memoised: the same lines recur across releases and candidates."""
        key = (text, extras)
        cached = self._marker_memo.get(key)
        if cached is None:
            env = self.target.marker_env
            try:
                if req.marker is None:
                    cached = not extras
                elif extras:
                    cached = (not marker_applies(req.marker, env, ("",))
                              and marker_applies(req.marker, env, tuple(extras)))
                else:
                    cached = marker_applies(req.marker, env, ("",))
            except Exception:  # an unknown marker variable: pip skips such requirements as well
                cached = False
            self._marker_memo[key] = cached
        return cached

    def get_dependencies(self, candidate: Candidate) -> list[Need]:
        if candidate.version is None:
            return []
        origin = f"{candidate.name} {candidate.version}"
        out: list[Need] = []
        if candidate.extras:
            out.append(Need(candidate.name, frozenset(), SpecifierSet(f"=={candidate.version}"), origin,
                            f"{candidate.name}=={candidate.version}"))
        if not self.transitive:
            return out
        try:
            index = self.fetcher.index(candidate.name)
            requires = self.fetcher.requires(index, candidate.version, self.target)
        except AuditError as exc:
            self.unknown_deps[origin] = f"dependencies unknown: {exc.one_line()}"
            return out
        if requires is None:
            self.unknown_deps[origin] = ("dependencies unknown: no wheel of this release to read them from "
                                         "(finding them from the sdist needs a build)")
            return out
        for text in requires:
            try:
                req = parse_requirement_text(text)
            except InvalidRequirement:
                self.unknown_deps.setdefault(origin, f"unparsable Requires-Dist {text!r}")
                continue
            if not self._wanted(text, req, candidate.extras):
                continue
            need = Need(canonicalize_name(req.name), frozenset(canonicalize_name(e) for e in req.extras),
                        req.specifier, origin, text)
            self.fetcher.prefetch_need(need, self.target)
            out.append(need)
        return out


# ------------------------------------------------------------------ result
@dataclass
class ResolvedPackage:
    name: str
    version: Version | None
    extras: set[str] = field(default_factory=set)
    requested_by: list[str] = field(default_factory=list)
    specifier: SpecifierSet = field(default_factory=SpecifierSet)
    user_specifier: SpecifierSet | None = None     # only the top-level lines' specifiers
    children: set[str] = field(default_factory=set)
    installable: str | None = None
    problem: str | None = None


@dataclass
class Resolution:
    target: Target
    packages: dict[str, ResolvedPackage]
    indexes: dict[str, ProjectIndex]
    incomplete: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    resolved: bool = True                          # False: fell back to classifying top-level pins only


def top_level_needs(entries, target: Target) -> tuple[list[Need], list[tuple[str, str]]]:
    """(needs for the target, skipped (origin, text) whose markers exclude the target)."""
    needs, skipped = [], []
    for entry in entries:
        req = entry.requirement
        try:
            applies = marker_applies(req.marker, target.marker_env)
        except Exception as exc:
            skipped.append((entry.origin, f"{entry.raw}: marker cannot be evaluated ({exc})"))
            continue
        if not applies:
            skipped.append((entry.origin, f"{entry.raw}: marker excludes {target.python} on {target.platform}"))
            continue
        needs.append(Need(canonicalize_name(req.name), frozenset(canonicalize_name(e) for e in req.extras),
                          req.specifier, entry.origin, entry.raw))
    return needs, skipped


def no_release_reason(name: str, specifier: SpecifierSet, versions: Iterable[Version]) -> str | None:
    """Why a requirement can never be met when its specifier matches no release of the project
    at all ("lxml has no release 99.0.0; newest 6.1.3"): a missing version, not a conflict
    between requirements. None when some release (pre-releases included) matches."""
    versions = list(versions)
    if any(specifier.contains(v, prereleases=True) for v in versions):
        return None
    specs = list(specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        wanted = f"no release {specs[0].version}"
    else:
        wanted = f"no release matching {specifier}"
    finals = [v for v in versions if not v.is_prerelease] or versions
    newest = f"newest {max(finals)}" if finals else "it lists no releases"
    return f"{name} has {wanted}; {newest}"


def drop_impossible(needs: Sequence[Need], fetcher: Fetcher) -> tuple[list[Need], list[tuple[str, str]]]:
    """(needs that some release can meet, (origin, reason) for each one no release matches).

    A requirement nothing can satisfy would make the whole resolution impossible and hide
    every other package; it is reported on its own and the rest is resolved without it. A
    project that cannot be looked up stays in: the resolver reports it as a problem."""
    kept, dropped = [], []
    for need in needs:
        try:
            index = fetcher.index(need.name)
        except AuditError:
            kept.append(need)
            continue
        reason = no_release_reason(need.name, need.specifier, index.releases)
        if reason is None:
            kept.append(need)
        else:
            dropped.append((need.origin, reason))
    return kept, dropped


RESOLUTION_FORMAT = 2   # bump when what a resolution depends on or holds changes


def resolve(requirements, constraints, target: Target, fetcher: Fetcher, *, transitive: bool = True) -> Resolution:
    """Resolve RequirementEntry lists for one target. Never raises for index trouble: it is recorded.

    A resolution is a pure function of the inputs, the target and the index pages it read (release
    metadata is immutable), so it is kept on disk with the identity of every page it read and
    reused while all of those pages are unchanged in the HTTP cache: a warm run then skips the
    resolver entirely.
    """
    key = _resolution_key(requirements, constraints, target, transitive, fetcher.client.index_url)
    cached = _load_resolution(key, target, fetcher)
    if cached is not None:
        return cached
    result = _resolve_now(requirements, constraints, target, fetcher, transitive=transitive)
    _store_resolution(key, result, fetcher)
    return result


def _resolution_key(requirements, constraints, target: Target, transitive: bool, index_url: str) -> str:
    import hashlib

    from auditor import __version__

    lines = [f"{e.constraint}\0{e.origin}\0{e.raw}" for e in list(requirements) + list(constraints)]
    raw = "\n".join([str(RESOLUTION_FORMAT), __version__, index_url, target.label, target.platform,
                     str(transitive), *lines])
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def _page_keys(fetcher: Fetcher, names) -> dict[str, str] | None:
    keys = {}
    for name in names:
        meta = fetcher._cached_meta(fetcher._page_url(name))
        key = _meta_key(fetcher._page_url(name), meta) if meta else None
        if not key:
            return None
        keys[name] = key
    return keys


def _store_resolution(key: str, result: Resolution, fetcher: Fetcher) -> None:
    touched = sorted({k[1] for k in list(fetcher._futures) if k[0] == "index"})
    pages = _page_keys(fetcher, touched)
    if pages is None or any(p.problem for p in result.packages.values()):
        return   # something was not answered from a cacheable page: nothing to validate later
    doc = {
        "pages": pages,
        "resolved": result.resolved,
        "incomplete": result.incomplete,
        "skipped": result.skipped,
        "packages": [{"name": p.name, "version": str(p.version), "extras": sorted(p.extras),
                      "requested_by": p.requested_by, "specifier": str(p.specifier),
                      "user_specifier": None if p.user_specifier is None else str(p.user_specifier),
                      "children": sorted(p.children), "installable": p.installable}
                     for p in result.packages.values()],
    }
    RESOLUTIONS.put(key, doc)


def _load_resolution(key: str, target: Target, fetcher: Fetcher) -> Resolution | None:
    doc = RESOLUTIONS.get(key, check=lambda d: isinstance(d, dict))
    if doc is None:
        return None
    try:
        if _page_keys(fetcher, doc["pages"]) != doc["pages"]:
            return None   # a page changed (or left the cache): resolve again
        packages = {}
        for p in doc["packages"]:
            packages[p["name"]] = ResolvedPackage(
                p["name"], Version(p["version"]), set(p["extras"]), list(p["requested_by"]),
                SpecifierSet(p["specifier"]),
                None if p["user_specifier"] is None else SpecifierSet(p["user_specifier"]),
                set(p["children"]), p["installable"])
        indexes = {name: fetcher.index(name) for name in packages}
        return Resolution(target, packages, indexes, [tuple(i) for i in doc["incomplete"]],
                          [tuple(s) for s in doc["skipped"]], doc["resolved"])
    except (ValueError, KeyError, TypeError, InvalidVersion):
        RESOLUTIONS.miss("wrong type")
    except AuditError:    # a page it names is gone: resolve again
        pass
    return None


def _resolve_now(requirements, constraints, target: Target, fetcher: Fetcher, *, transitive: bool = True) -> Resolution:
    from resolvelib import BaseReporter, Resolver
    from resolvelib.resolvers import ResolutionError, ResolutionImpossible

    needs, skipped = top_level_needs(requirements, target)
    constraint_needs, _ = top_level_needs(constraints, target)
    for need in needs + constraint_needs:
        fetcher.prefetch_index(need.name)
    needs, impossible = drop_impossible(needs, fetcher)
    constraint_needs, impossible_constraints = drop_impossible(constraint_needs, fetcher)
    by_name: dict[str, list[Need]] = {}
    for need in constraint_needs:
        by_name.setdefault(need.name, []).append(need)
    exact = {n.name for n in needs + constraint_needs if any(s.operator in ("==", "===") for s in n.specifier)}
    if transitive:
        for need in needs:
            fetcher.prefetch_need(need, target)
    provider = TargetProvider(fetcher, target, by_name, exact, transitive=transitive)
    incomplete: list[tuple[str, str]] = impossible + impossible_constraints
    resolved = True
    try:
        result = Resolver(provider, BaseReporter()).resolve(needs, max_rounds=5000)
        mapping, criteria = result.mapping, result.criteria
    except ResolutionImpossible as exc:
        causes = "; ".join(sorted({f"{c.requirement.text} (from {c.parent.name} {c.parent.version})" if c.parent
                                   else f"{c.requirement.text} ({c.requirement.origin})" for c in exc.causes}))
        incomplete.append((target.label + " " + target.platform, f"no consistent set of versions: {causes}"))
        mapping, criteria, resolved = _unresolved(provider, needs), None, False
    except ResolutionError as exc:
        incomplete.append((target.label + " " + target.platform, f"resolution failed: {exc.__class__.__name__}"))
        mapping, criteria, resolved = _unresolved(provider, needs), None, False

    packages: dict[str, ResolvedPackage] = {}
    for candidate in mapping.values():
        pkg = packages.setdefault(candidate.name, ResolvedPackage(candidate.name, candidate.version))
        pkg.extras |= set(candidate.extras)
        pkg.installable = candidate.installable if candidate.version is not None else None
        pkg.problem = candidate.problem
    user: dict[str, SpecifierSet] = {}
    for need in needs:
        user[need.name] = user.get(need.name, SpecifierSet()) & need.specifier
    if criteria is not None:
        for key, criterion in criteria.items():
            base = mapping[key].name if key in mapping else key.split("[")[0]
            requested = packages.get(base)
            if requested is None:
                continue
            for info in criterion.information:
                req = info.requirement
                if info.parent is None:
                    label = req.origin
                elif info.parent.name == base:
                    continue          # name[extra] -> name: not a separate requester
                else:
                    label = f"{info.parent.name} {info.parent.version}"
                    packages[info.parent.name].children.add(base)
                if label not in requested.requested_by:
                    requested.requested_by.append(label)
                requested.specifier &= req.specifier
    else:
        for need in needs:
            requested = packages.get(need.name)
            if requested:
                requested.requested_by.append(need.origin)
                requested.specifier &= need.specifier
    for name, pkg in packages.items():
        pkg.user_specifier = user.get(name)
        if pkg.problem:
            where = ", ".join(pkg.requested_by) or name
            incomplete.append((where, pkg.problem))
    for origin, reason in sorted(provider.unknown_deps.items()):
        incomplete.append((origin, reason))
    indexes = {}
    for name in packages:
        try:
            indexes[name] = fetcher.index(name)
        except AuditError:
            pass
    return Resolution(target, packages, indexes, incomplete, skipped + provider.skipped, resolved)


def _unresolved(provider: TargetProvider, needs: Sequence[Need]) -> dict[str, Candidate]:
    """Without a consistent resolution: each top-level requirement's preferred candidate."""
    mapping: dict[str, Candidate] = {}
    for need in needs:
        found = provider.find_matches(need.key, {need.key: [need]}, {need.key: []})
        matches = list(found() if callable(found) else found)
        if matches:
            mapping[need.key] = matches[0]
    return mapping
