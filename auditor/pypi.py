"""A small PyPI (or compatible index) client.

Two endpoints, because each knows something the other does not:

* the simple JSON API (PEP 691 / PEP 700), `GET {index}/{name}/` with
  `Accept: application/vnd.pypi.simple.v1+json`: every file of every release with its hashes,
  size, upload time, yanked flag, requires-python and PEP 658 metadata availability. This is
  the source of truth for "which wheels exist"; mirrors serve it too.
* the project JSON API, `GET {json}/{name}/json`: the latest release's metadata (classifiers,
  requires_dist, summary). Per-version JSON (`/pypi/NAME/VER/json`) is *not* used: some mirrors
  answer 404 for it, so nothing here depends on it. Per-version metadata comes from PEP 658
  `.metadata` files instead, when the index serves them.

All requests go through auditor.http.HttpClient (cache, revalidation, retries, offline mode).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from auditor.cache import MARSHAL, CacheStore
from auditor.errors import ServiceError
from auditor.http import CachedResponse, HttpClient, NotFound
from auditor.target import is_free_threaded_abi

if TYPE_CHECKING:
    from email.message import Message

DEFAULT_INDEX_URL = "https://pypi.org/simple"
DEFAULT_JSON_URL = "https://pypi.org/pypi"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
ONE_DAY = 86400.0      # how long a compact answer (free_threaded_files) is used without revalidating


class ProjectNotFound(NotFound):
    """The index has no project of that name."""


@dataclass(frozen=True)
class DistFile:
    filename: str
    url: str
    version: Version | None          # None when the file name cannot be parsed
    kind: str                        # "wheel" | "sdist" | "other"
    tags: frozenset[Tag] = frozenset()
    sha256: str | None = None
    size: int | None = None
    upload_time: str | None = None   # ISO 8601, as served
    yanked: bool = False
    requires_python: str | None = None
    has_metadata: bool = False       # PEP 658/714: `url + ".metadata"` is served
    metadata_sha256: str | None = None   # its hash, when the page gives one

    @property
    def abi_tags(self) -> frozenset[str]:
        return frozenset(t.abi for t in self.tags)


@dataclass(frozen=True)
class ProjectFiles:
    """Every file of every release of one project, from the simple JSON API."""

    name: str                         # canonical name
    files: tuple[DistFile, ...]
    versions: tuple[Version, ...]     # all release versions, ascending (including file-less ones)
    source_url: str
    fetched_age_seconds: float = 0.0
    stale: bool = False

    def files_for(self, version: Version) -> tuple[DistFile, ...]:
        return tuple(f for f in self.files if f.version == version)

    def wheels(self) -> tuple[DistFile, ...]:
        return tuple(f for f in self.files if f.kind == "wheel")


def release_files(client: PyPIClient, spec: str, kind: str) -> tuple[ProjectFiles, Version, list[DistFile]]:
    """`NAME` (its newest release with files of `kind`, yanked and pre-releases aside) or
    `NAME==VERSION`: the project's page, the version, and that release's files of `kind`
    ("wheel" or "sdist"; possibly none). The one reading of a `--pypi` spec (wheel, source)."""
    from packaging.requirements import InvalidRequirement, Requirement

    from auditor.errors import InputError

    try:
        requirement = Requirement(spec)
    except InvalidRequirement as exc:
        raise InputError(spec, f"not NAME or NAME==VERSION ({exc})") from None
    pinned = [s.version for s in requirement.specifier if s.operator in ("==", "===")]
    if len(requirement.specifier) and not pinned:
        raise InputError(spec, "only NAME or NAME==VERSION is supported")
    files = client.project_files(requirement.name)
    of_kind = [f for f in files.files if f.kind == kind and f.version is not None]
    if pinned:
        version = Version(pinned[0])
        if version not in files.versions:
            raise InputError(spec, f"{files.name} has no release {version} on the index")
    else:
        released = [f.version for f in of_kind if f.version and not f.yanked and not f.version.is_prerelease]
        if not released:
            raise InputError(spec, f"{files.name} has no released {kind}s on the index")
        version = max(released)
    return files, version, [f for f in of_kind if f.version == version]


@dataclass(frozen=True)
class ProjectInfo:
    """The latest release's metadata, from the project JSON API."""

    name: str
    version: str
    classifiers: tuple[str, ...] = ()
    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    summary: str = ""
    release_upload_times: dict[str, str] = field(default_factory=dict)  # version -> first upload time
    stale: bool = False


class PyPIClient:
    def __init__(
        self,
        index_url: str = DEFAULT_INDEX_URL,
        json_url: str | None = DEFAULT_JSON_URL,
        *,
        http: HttpClient | None = None,
        offline: bool = False,
    ) -> None:
        self.index_url = index_url.rstrip("/") + "/"
        # The project JSON API is PyPI-specific; for a custom index it is only used if given.
        self.json_url = json_url.rstrip("/") + "/" if json_url else None
        self.http = http or HttpClient(offline=offline)

    def page_url(self, name: str) -> str:
        return urljoin(self.index_url, f"{canonicalize_name(name)}/")

    def project_page(self, name: str) -> CachedResponse:
        """The project's PEP 691 page, through the HTTP cache: the one fetch of an index page,
        for ProjectFiles here and for the resolver's compact pages (auditor.resolve)."""
        url = self.page_url(name)
        try:
            return self.http.get(url, accept=SIMPLE_JSON)
        except NotFound:
            raise ProjectNotFound(url, f"no project named {name!r} on the index") from None

    def project_files(self, name: str) -> ProjectFiles:
        return parse_simple_json(canonicalize_name(name), self.project_page(name))

    def free_threaded_files(self, name: str, wheel_tags: frozenset[str], *, max_age: float = ONE_DAY) -> ProjectFiles:
        """The project narrowed to what "which free-threaded wheels would these interpreters
        install?" needs: every release version, and the wheels built for a free-threaded ABI
        with a tag in `wheel_tags` (the `files`: DistFiles built by dist_file_from_entry, as
        project_files builds them). The compact answer is cached per page and tag set (keyed by
        the HTTP cache entry, page_cache_key), so a warm run reads a few kilobytes instead of
        parsing a page of every file of every release; the page is revalidated at most once per
        `max_age`."""
        cached = self.cached_free_threaded_files(name, wheel_tags, max_age=max_age)
        if cached is not None:
            return cached
        url = self.page_url(name)
        try:
            response = self.http.get(url, accept=SIMPLE_JSON, max_age=max_age)
        except NotFound:
            raise ProjectNotFound(url, f"no project named {name!r} on the index") from None
        compact = ft_compact(response.json(), response.url, wheel_tags)
        key = self._ft_key(url, wheel_tags, max_age)
        if key:
            FT_WHEELS.put(key, compact, MARSHAL)
        return project_from_ft_compact(canonicalize_name(name), compact, response.url, age=response.age_seconds,
                                       stale=response.stale)

    def cached_free_threaded_files(self, name: str, wheel_tags: frozenset[str], *,
                                   max_age: float = ONE_DAY) -> ProjectFiles | None:
        """free_threaded_files when its compact answer is cached and fresh (or --offline), else
        None: no request, no page read."""
        found = self.fresh_ft_answer(name, wheel_tags, max_age=max_age)
        if found is None:
            return None
        key, meta = found
        compact = FT_WHEELS.get(key, MARSHAL, check=is_ft_compact)
        if compact is None:
            return None
        url = self.page_url(name)
        return project_from_ft_compact(canonicalize_name(name), compact, url, age=meta["age"], stale=meta["stale"])

    def fresh_ft_answer(self, name: str, wheel_tags: frozenset[str], *,
                        max_age: float = ONE_DAY) -> tuple[str, dict] | None:
        """(the key naming free_threaded_files' answer for this page body and tag set, the page's
        cache metadata with its `age` and `stale`) when the page is cached and fresh (or
        --offline), else None. Reads one small metadata file: a caller can key what it derives
        from the answer (auditor.audit.env's offers) without loading the answer."""
        url = self.page_url(name)
        meta = self.http.fresh_meta(url, SIMPLE_JSON, max_age=max_age)
        key = self._ft_key(url, wheel_tags, max_age, meta) if meta is not None else None
        return (key, meta) if key and meta is not None else None

    def _ft_key(self, url: str, wheel_tags: frozenset[str], max_age: float, meta: Any = None) -> str | None:
        meta = meta if meta is not None else self.http.fresh_meta(url, SIMPLE_JSON, max_age=max_age)
        page = page_cache_key(url, meta)
        if page is None:
            return None
        import hashlib

        return page + "-" + hashlib.sha1("\n".join(sorted(wheel_tags)).encode()).hexdigest()

    def project_info(self, name: str) -> ProjectInfo:
        if not self.json_url:
            raise ServiceError(self.index_url, "this index has no project JSON API")
        canonical = canonicalize_name(name)
        url = f"{self.json_url}{canonical}/json"
        try:
            response = self.http.get(url)
        except NotFound:
            raise ProjectNotFound(url, f"no project named {name!r} on the index") from None
        return parse_project_json(canonical, response)

    def file_metadata(self, dist: DistFile) -> Message | None:
        """Core metadata of one file via PEP 658 (`.metadata` next to the file), or None."""
        if not dist.has_metadata:
            return None
        response = self.http.get(dist.url + ".metadata", max_age=30 * 86400)  # immutable
        if dist.metadata_sha256 and hashlib.sha256(response.body).hexdigest() != dist.metadata_sha256.lower():
            raise ServiceError(response.url, "sha256 mismatch with the page's core-metadata hash")
        return core_metadata(response.body, response.url)


def core_metadata(body: bytes, where: str) -> Message:
    """Core metadata (a wheel's METADATA, a PEP 658 `.metadata`) as a message.

    Raises ServiceError when `body` is not core metadata: an HTML login or error page served
    with status 200 parses as a message with no headers, and reading its Requires-Dist would
    turn "dependencies unknown" into "no dependencies"."""
    if body.lstrip()[:1] == b"<":
        raise ServiceError(where, "an HTML page where core metadata was expected")
    import email.parser  # here: env and wheel runs read no core metadata
    import email.policy

    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(body)
    missing = [h for h in ("Metadata-Version", "Name", "Version") if message.get(h) is None]
    if missing:
        raise ServiceError(where, f"not core metadata (no {', '.join(missing)} header)")
    return message


def page_entries(doc: Any, page_url: str) -> list[dict]:
    """The usable file entries of a PEP 691 project page (a dict with a string `filename` and a
    `url`): the one reader of a page's entries, for ProjectFiles and the resolver's compact
    pages. Raises ServiceError when `doc` is not a project page."""
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise ServiceError(page_url, "not a PEP 691 project page (no 'files' list)")
    # A malformed entry cannot be used; the rest of the page can.
    return [e for e in doc["files"] if isinstance(e, dict) and isinstance(e.get("filename"), str) and "url" in e]


def parse_simple_json(canonical: str, response: CachedResponse) -> ProjectFiles:
    doc = response.json()
    files = [dist_file_from_entry(entry, response.url) for entry in page_entries(doc, response.url)]
    versions: set[Version] = {f.version for f in files if f.version is not None}
    listed = doc.get("versions")
    for raw in listed if isinstance(listed, list) else ():   # PEP 700; anything else is ignored
        try:
            versions.add(Version(raw))
        except (InvalidVersion, TypeError):
            pass
    return ProjectFiles(
        name=canonical,
        files=tuple(files),
        versions=tuple(sorted(versions)),
        source_url=response.url,
        fetched_age_seconds=response.age_seconds,
        stale=response.stale,
    )


# -- compact answers: a project's free-threaded wheels ----------------------------------------
FT_WHEELS = CacheStore("index-ft-wheels", versioned=True)    # page_cache_key -> ft_compact(page)


def page_cache_key(url: str, meta: Any) -> str | None:
    """A cache key for a page from its HTTP cache entry, without reading the body.

    The entry's fetch time changes whenever a body is stored (PyPI's simple pages carry no
    ETag here, so every refresh stores one), so (url, size, fetch time, validators) names one
    body; a revalidation only costs a recompute.
    """
    import hashlib

    if not isinstance(meta, dict) or not meta.get("fetched_at") or meta.get("size") is None:
        return None
    raw = f"{url}\0{meta.get('size')}\0{meta.get('fetched_at')!r}\0{meta.get('etag')}\0{meta.get('last_modified')}"
    return "m-" + hashlib.sha1(raw.encode()).hexdigest()


_SDISTS = (".tar.gz", ".zip")     # what parse_simple_json reads a version from


def ft_compact(doc: Any, page_url: str, wheel_tags: frozenset[str]) -> dict:
    """A PEP 691 page -> {"versions": [every release version, as text], "files": [the raw
    entries of wheels with a free-threaded ABI and a tag in `wheel_tags`]}. The versions are
    those parse_simple_json finds (file names that parse, and PEP 700's list), read with string
    operations and one Version per distinct text: packaging's exact file-name parser costs
    ~0.1 ms a file, and a big project has thousands. Only the kept wheels go through it (on
    load)."""
    entries = page_entries(doc, page_url)
    texts: set[str] = set()
    kept: list[dict] = []
    for entry in entries:
        filename = entry["filename"]
        if filename.endswith(".whl"):
            parts = filename[:-4].split("-")
            if len(parts) not in (5, 6):
                continue
            texts.add(parts[1])
            abis = parts[-2]
            if "t" in abis and any(is_free_threaded_abi(a.lower()) for a in abis.split(".")) and any(
                    f"{i}-{a}-{p}".lower() in wheel_tags for i in parts[-3].split(".") for a in abis.split(".")
                    for p in parts[-1].split(".")):
                kept.append(entry)
        elif filename.endswith(_SDISTS):
            stem = filename[:-7] if filename.endswith(".tar.gz") else filename[:-4]
            if "-" in stem:
                texts.add(stem.rsplit("-", 1)[1])
    listed = doc.get("versions")
    texts.update(v for v in (listed if isinstance(listed, list) else ()) if isinstance(v, str))
    versions: set[Version] = set()
    for text in texts:
        try:
            versions.add(Version(text))
        except InvalidVersion:
            pass
    return {"versions": [str(v) for v in sorted(versions)], "files": kept}


def is_ft_compact(value: Any) -> bool:
    """The shape ft_compact produces (what a cached entry must have to be used)."""
    return (type(value) is dict and type(value.get("versions")) is list and type(value.get("files")) is list
            and all(type(v) is str for v in value["versions"])
            and all(type(e) is dict and type(e.get("filename")) is str and type(e.get("url")) is str
                    for e in value["files"]))


def project_from_ft_compact(canonical: str, compact: dict, page_url: str, *, age: float,
                            stale: bool) -> ProjectFiles:
    files = [dist_file_from_entry(entry, page_url) for entry in compact["files"]]
    versions: list[Version] = []
    for text in compact["versions"]:
        try:
            versions.append(Version(text))
        except InvalidVersion:
            pass
    return ProjectFiles(name=canonical, files=tuple(f for f in files if f.kind == "wheel"),
                        versions=tuple(versions), source_url=page_url, fetched_age_seconds=age, stale=stale)


def dist_file_from_entry(entry: dict, page_url: str) -> DistFile:
    """One PEP 691 file entry (from page_entries) -> DistFile: the one place a file of the index
    becomes the typed model."""
    filename = str(entry["filename"])
    version: Version | None = None
    tags: frozenset[Tag] = frozenset()
    kind = "other"
    try:
        if filename.endswith(".whl"):
            _, version, _, tags = parse_wheel_filename(filename)
            kind = "wheel"
        elif filename.endswith((".tar.gz", ".zip")):
            _, version = parse_sdist_filename(filename)
            kind = "sdist"
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        pass
    hashes = entry.get("hashes") or {}
    metadata = entry.get("core-metadata", entry.get("dist-info-metadata", False))
    yanked = entry.get("yanked", False)
    size = entry.get("size")
    return DistFile(
        filename=filename,
        url=_absolute(page_url, str(entry["url"])),
        version=version,
        kind=kind,
        tags=frozenset(tags),
        sha256=_sha256_of(hashes),
        size=size if isinstance(size, int) else None,
        upload_time=entry.get("upload-time"),
        yanked=bool(yanked),
        requires_python=entry.get("requires-python") or None,
        has_metadata=bool(metadata),
        metadata_sha256=_sha256_of(metadata),
    )


def _sha256_of(hashes: Any) -> str | None:
    """The sha256 of a PEP 691 `hashes` (or `core-metadata`) dict; None when absent or malformed."""
    value = hashes.get("sha256") if isinstance(hashes, dict) else None
    return value if isinstance(value, str) else None


def _absolute(page_url: str, url: str) -> str:
    # PyPI serves absolute file URLs; urljoin on each of a big project's thousands of files
    # was a third of a census's CPU time, so only relative URLs (mirrors) pay for it.
    if url.startswith(("https://", "http://")):
        return url
    return urljoin(page_url, url)


def parse_project_json(canonical: str, response: CachedResponse) -> ProjectInfo:
    doc = response.json()
    info = doc.get("info") if isinstance(doc, dict) else None
    if not isinstance(info, dict):
        raise ServiceError(response.url, "not a PyPI project JSON document (no 'info')")
    upload_times: dict[str, str] = {}
    for version, files in (doc.get("releases") or {}).items():
        times = [t for f in files or () if isinstance(f, dict)
                 if (t := f.get("upload_time_iso_8601") or f.get("upload_time"))]
        if times:
            upload_times[version] = min(times)
    return ProjectInfo(
        name=canonical,
        version=str(info.get("version") or ""),
        classifiers=tuple(info.get("classifiers") or ()),
        requires_dist=tuple(info.get("requires_dist") or ()),
        requires_python=info.get("requires_python") or None,
        summary=str(info.get("summary") or ""),
        release_upload_times=upload_times,
        stale=response.stale,
    )
