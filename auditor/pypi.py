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

from auditor.errors import ServiceError
from auditor.http import CachedResponse, HttpClient, NotFound

if TYPE_CHECKING:
    from email.message import Message

    from auditor.project_index import Packer, ProjectIndex

DEFAULT_INDEX_URL = "https://pypi.org/simple"
DEFAULT_JSON_URL = "https://pypi.org/pypi"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
ONE_DAY = 86400.0      # how long env uses a project page without revalidating (auditor.audit.env)


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


def release_files(client: PyPIClient, spec: str, kind: str) -> tuple[ProjectIndex, Version, list[DistFile]]:
    """`NAME` (its newest release with files of `kind`, yanked and pre-releases aside) or
    `NAME==VERSION`: the project's index, the version, and that release's files of `kind`
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
    index = client.project_index(requirement.name)
    if pinned:
        version = Version(pinned[0])
        if version not in index.releases:
            raise InputError(spec, f"{index.name} has no release {version} on the index")
    else:
        released = [v for v in index.releases.newest_first() if not v.is_prerelease
                    and any(not f.yanked for f in index.releases[v] if f.kind == kind)]
        # The packed releases call every archive an sdist; DistFile is the exact reading.
        newest = next((v for v in released if any(f.kind == kind and not f.yanked for f in index.files_for(v))), None)
        if newest is None:
            raise InputError(spec, f"{index.name} has no released {kind}s on the index")
        version = newest
    return index, version, [f for f in index.files_for(version) if f.kind == kind]


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

    def project_page(self, name: str, *, max_age: float | None = None) -> CachedResponse:
        """The project's PEP 691 page, through the HTTP cache (revalidated once `max_age` has
        passed; the cache's default when None): the one fetch of an index page."""
        url = self.page_url(name)
        try:
            return self.http.get(url, accept=SIMPLE_JSON, max_age=max_age)
        except NotFound:
            raise ProjectNotFound(url, f"no project named {name!r} on the index") from None

    def project_index(self, name: str, *, max_age: float | None = None, packer: Packer | None = None,
                      entries: bool = False) -> ProjectIndex:
        """Every release and file of the project (auditor.project_index: the one model and the
        one loader; `entries` when every file will be read). Raises ProjectNotFound for an
        unknown project."""
        from auditor.project_index import load_index

        return load_index(self, name, max_age=max_age, packer=packer, entries=entries)


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
    string `url`): the one reader of a page's entries (auditor.project_index). Raises ServiceError when `doc` is not a project page."""
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), list):
        raise ServiceError(page_url, "not a PEP 691 project page (no 'files' list)")
    # A malformed entry cannot be used; the rest of the page can.
    return [e for e in doc["files"] if isinstance(e, dict) and isinstance(e.get("filename"), str)
            and isinstance(e.get("url"), str)]


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
