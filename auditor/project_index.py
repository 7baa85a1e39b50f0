"""The one model of a project's files on an index, and the one way to load it.

Every command asks the index about a project's files: the resolver (which releases could
install on the target, and their metadata), `env` (which free-threaded wheels a release
has), `wheel --pypi` and `source --pypi` (one release's files), `data refresh` (every file,
for the census). They all read a ProjectIndex:

* the releases, packed per version (compact_index): file names, requires-python and yanked
  flags, unpacked to migration.ReleaseFile only for the releases looked at. A warm audit of 25
  popular projects touches ~70 pages and ~60,000 files; building typed files up front cost more
  than the rest of the run;
* the raw PEP 691 entries (URLs, hashes, sizes) of the wheels a free-threaded interpreter can
  install (a free-threaded ABI, or pure: ABI "none"), kept with the packed releases: what `env`
  and a free-threaded resolution need, without parsing a page of every file of every release
  again (numpy's is 7 MB of JSON);
* typed DistFiles (auditor.pypi.DistFile) built on demand from those entries, or from the full
  page, which is parsed only when a file outside them is asked for.

The packed form is cached by the page's HTTP cache entry (page_cache_key), so a warm run reads
a few kilobytes per project, and by the page body's fingerprint, so a revalidated but unchanged
page is not parsed again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from auditor.cache import MARSHAL, CacheStore
from auditor.errors import ServiceError
from auditor.migration import ReleaseFile
from auditor.pypi import SIMPLE_JSON, DistFile, dist_file_from_entry, page_cache_key, page_entries
from auditor.target import is_free_threaded_abi

if TYPE_CHECKING:
    from auditor.http import CachedResponse
    from auditor.pypi import PyPIClient

# Packed pages by page body ("body-..."), which packed page a page's HTTP cache entry holds
# (page_cache_key -> body key: one small read finds it on a warm run without the body), and
# single file entries outside a packed page's kept entries (page key + file name).
COMPACT_PAGES = CacheStore("index-compact", versioned=True)
COMPACT_OF_PAGE = CacheStore("index-compact-of-page", versioned=True)
FILE_ENTRIES = CacheStore("index-entries", fanout=True)

# The fields of a PEP 691 file entry that dist_file_from_entry and the resolver read; a kept
# entry holds only these (pages also carry provenance and other fields, as many objects again).
_ENTRY_KEYS = ("filename", "url", "hashes", "requires-python", "yanked", "size", "upload-time",
               "core-metadata", "dist-info-metadata")

_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tar")


# ------------------------------------------------------------------ releases, unpacked lazily
class LazyReleases(Mapping):
    """Version -> [ReleaseFile], built per release on first access (one packed row each)."""

    def __init__(self, raw: dict[Version, list]) -> None:
        self._raw = raw
        self._built: dict[Version, list[ReleaseFile]] = {}
        self._sorted: list[Version] | None = None

    def __getitem__(self, version: Version) -> list[ReleaseFile]:
        built = self._built.get(version)
        if built is None:
            built = self._built[version] = _unpack(self._raw[version])
        return built

    def __iter__(self):
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def newest_first(self) -> list[Version]:
        if self._sorted is None:
            self._sorted = sorted(self._raw, reverse=True)
        return self._sorted

    def mentioning(self, needles: Sequence[str]) -> list[Version]:
        """Releases with a file whose name contains one of `needles` (a cheap pre-filter)."""
        return [v for v, packed in self._raw.items() if any(n in packed[0] for n in needles)]

    def files_mentioning(self, version: Version, needles: Sequence[str]) -> list[ReleaseFile]:
        return _unpack(self._raw[version], needles)


def _unpack(packed: list, needles: Sequence[str] = ()) -> list[ReleaseFile]:
    joined, requires_python, yanked = packed
    if not joined:
        return []
    out = []
    for i, filename in enumerate(joined.split("\n")):
        if needles and not any(n in filename for n in needles):
            continue
        rp = requires_python[i] if isinstance(requires_python, list) else requires_python
        out.append(_release_file(filename, rp, i in yanked))
    return out


def _wheel_tags(filename: str) -> tuple[str, ...]:
    """A wheel file name's expanded "py-abi-plat" tags, by string operations (see compact_index)."""
    parts = filename[:-4].split("-")
    return tuple(f"{i}-{a}-{p}" for i in parts[-3].split(".") for a in parts[-2].split(".")
                 for p in parts[-1].split("."))


def _release_file(filename: str, requires_python: str | None, yanked: bool) -> ReleaseFile:
    if filename.endswith(".whl"):
        return ReleaseFile(filename, "wheel", _wheel_tags(filename), yanked, requires_python)
    return ReleaseFile(filename, "sdist", (), yanked, requires_python)


# ------------------------------------------------------------------ the model
@dataclass
class ProjectIndex:
    """Every release of one project on one index, with its files typed on demand."""

    name: str                                    # canonical
    releases: LazyReleases
    page_url: str
    kept_entries: Mapping[str, dict]             # file name -> raw entry: free-threaded and pure wheels
    serves_metadata: bool = True                 # the page offers PEP 658 metadata for some file
    stale: bool = False                          # answered from an old copy (offline, index down)
    age_seconds: float = 0.0
    from_cache: bool = False                     # no body was transferred for this page
    compact: dict | None = None                  # the packed form, when just built
    compact_key: str | None = None               # its key in COMPACT_PAGES (the body's fingerprint)
    page_key: str | None = None                  # the page's HTTP cache entry (page_cache_key)
    _entries: dict[str, dict] | None = None      # file name -> raw entry, every file
    _load_entries: Callable[[], dict[str, dict]] | None = None    # reads the full page, when needed
    _ft_tags: dict[str, list[str]] | None = None  # free_threaded_wheels' reading of the kept names

    @property
    def versions(self) -> tuple[Version, ...]:
        """Every release version, ascending (including releases listed without files)."""
        return tuple(reversed(self.releases.newest_first()))

    @property
    def entries(self) -> dict[str, dict]:
        """Every file's raw entry: parses the full page when it is not already in memory."""
        if self._entries is None:
            self._entries = self._load_entries() if self._load_entries else {}
        return self._entries

    def entry(self, filename: str) -> dict | None:
        """One file's raw PEP 691 entry. Free-threaded and pure wheels come with the packed page;
        any other file read is also kept on its own, keyed by the page's cache entry, so a warm run
        asking for the same few files does not parse the whole page again."""
        found = self.kept_entries.get(filename)
        if found is not None:
            return found
        key = f"{self.page_key}\0{filename}" if self.page_key else None
        if self._entries is None and key:
            cached = FILE_ENTRIES.get(key, MARSHAL, check=_is_entry)
            if cached is not None:
                return cached
        found = self.entries.get(filename)
        if found is not None and key:
            FILE_ENTRIES.put(key, found, MARSHAL)
        return found

    def dist_file(self, filename: str) -> DistFile:
        entry = self.entry(filename)
        if entry is None:   # the page changed between the packed form and this read
            raise ServiceError(self.page_url, f"{filename} is no longer listed on the page")
        return dist_file_from_entry(entry, self.page_url)

    def files_for(self, version: Version) -> tuple[DistFile, ...]:
        """One release's files, typed."""
        names = [f.filename for f in self.releases.get(version, ())]
        if any(n not in self.kept_entries for n in names):
            entries = self.entries                        # one page parse, not one cache file per name
            return tuple(dist_file_from_entry(entries[n], self.page_url) for n in names if n in entries)
        return tuple(dist_file_from_entry(self.kept_entries[n], self.page_url) for n in names)

    @property
    def files(self) -> tuple[DistFile, ...]:
        """Every file of every release, typed (the census reads them all): parses the full page."""
        return tuple(f for version in self.versions for f in self.files_for(version))

    def free_threaded_wheels(self, wheel_tags: frozenset[str] | None = None) -> tuple[DistFile, ...]:
        """The wheels built for a free-threaded ABI (cp313t, cp314t, abi3t, ...), optionally only
        those with a tag in `wheel_tags` ("py-abi-plat", lower case): no page parse."""
        if self._ft_tags is None:        # file name -> its free-threaded tags, once per index
            self._ft_tags = {}
            for filename in self.kept_entries:
                if "t" in filename.rsplit("-", 2)[-2]:     # the ABI part: pure wheels have none
                    tags = [t.lower() for t in _wheel_tags(filename)]
                    ft = [t for t in tags if is_free_threaded_abi(t.split("-")[1])]
                    if ft:
                        self._ft_tags[filename] = ft
        return tuple(dist_file_from_entry(self.kept_entries[filename], self.page_url)
                     for filename, tags in self._ft_tags.items()
                     if wheel_tags is None or any(t in wheel_tags for t in tags))


# ------------------------------------------------------------------ the packed form
def compact_index(doc: Any, page_url: str) -> dict[str, Any]:
    """A PEP 691 page -> {"releases": {version text: [joined file names, requires_python (one
    value or one per file), yanked indices]}, "kept_entries": {file name: raw entry of each wheel
    built for a free-threaded ABI or pure}, "serves_metadata": whether any file has PEP 658
    metadata}.

    String operations only: packaging's parse_wheel_filename is exact but costs ~0.1 ms a file,
    and numpy and lxml have 4,000-5,000 files each. Files whose names do not parse are skipped,
    as pip does. Versions listed without files (PEP 700) are kept, with no files.
    """
    names: dict[str, list[str]] = {}
    rps: dict[str, list] = {}
    yanked: dict[str, list[int]] = {}
    kept_entries: dict[str, dict] = {}
    keys, sdist_suffixes = _ENTRY_KEYS, _SDIST_SUFFIXES     # locals: this loop runs ~300,000 times a run
    serves_metadata = False
    for entry in page_entries(doc, page_url):
        filename = entry["filename"]
        if not serves_metadata and (entry.get("core-metadata") or entry.get("dist-info-metadata")):
            serves_metadata = True
        if filename.endswith(".whl"):
            parts = filename.split("-")
            if len(parts) not in (5, 6):
                continue
            version = parts[1]
            abis = parts[-2]
            if abis == "none" or ("t" in abis and any(is_free_threaded_abi(a.lower()) for a in abis.split("."))):
                kept_entries[filename] = {k: entry[k] for k in keys if k in entry}
        elif filename.endswith(sdist_suffixes):
            stem = next(filename[: -len(x)] for x in sdist_suffixes if filename.endswith(x))
            if "-" not in stem:
                continue
            version = stem.rsplit("-", 1)[1]
        else:
            continue
        bucket = names.get(version)
        if bucket is None:
            bucket = names[version] = []
            rps[version] = []
        if entry.get("yanked"):
            yanked.setdefault(version, []).append(len(bucket))
        bucket.append(filename)
        rp = entry.get("requires-python")
        rps[version].append(rp if rp and type(rp) is str else None)
    releases: dict[str, list] = {}
    for version, bucket in names.items():
        distinct = set(rps[version])
        releases[version] = ["\n".join(bucket), rps[version][0] if len(distinct) == 1 else rps[version],
                             yanked.get(version, [])]
    listed = doc.get("versions")
    for raw in listed if isinstance(listed, list) else ():   # PEP 700; anything else is ignored
        if isinstance(raw, str) and raw not in releases:
            releases[raw] = ["", None, []]
    return {"releases": releases, "kept_entries": kept_entries, "serves_metadata": serves_metadata}


def _pack(rows: list) -> list:
    """[[filename, requires_python, yanked], ...] -> one packed release (see compact_index)."""
    rps = [r[1] for r in rows]
    return ["\n".join(r[0] for r in rows), rps[0] if len(set(rps)) <= 1 and rps else (rps or None),
            [i for i, r in enumerate(rows) if r[2]]]


def is_compact(value: Any) -> bool:
    """The shape compact_index produces (what a cached entry must have to be used). Exact types
    and one pass: it runs on every warm page load."""
    if type(value) is not dict or type(value.get("kept_entries")) is not dict or \
            type(value.get("serves_metadata")) is not bool:
        return False
    if not all(type(k) is str and _is_entry(e) for k, e in value["kept_entries"].items()):
        return False
    releases = value.get("releases")
    if type(releases) is not dict or not releases:
        return False
    for version, packed in releases.items():
        if type(version) is not str or type(packed) is not list or len(packed) != 3:
            return False
        joined, rp, yanked = packed
        if type(joined) is not str or type(yanked) is not list:
            return False
        if rp is not None and type(rp) is not str and (
                type(rp) is not list or len(rp) != joined.count("\n") + 1
                or not all(r is None or type(r) is str for r in rp)):
            return False
        if yanked:
            last = joined.count("\n")
            if not all(type(i) is int and 0 <= i <= last for i in yanked):
                return False
    return True


def _is_entry(value: Any) -> bool:
    return type(value) is dict and type(value.get("filename")) is str and type(value.get("url")) is str


def index_from_compact(name: str, compact: Mapping[str, Any], page_url: str) -> ProjectIndex:
    raw: dict[Version, list] = {}
    for text, packed in compact["releases"].items():
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        if version in raw:   # "1.0" and "1.0.0" name the same release
            merged = _unpack(raw[version]) + _unpack(packed)
            packed = _pack([[f.filename, f.requires_python, f.yanked] for f in merged])
        raw[version] = packed
    return ProjectIndex(canonicalize_name(name), LazyReleases(raw), page_url, compact["kept_entries"],
                        compact["serves_metadata"])


def parse_index(name: str, doc: Any, page_url: str) -> ProjectIndex:
    """A parsed PEP 691 page -> ProjectIndex (raises ServiceError when it is not a project page)."""
    compact = compact_index(doc, page_url)
    index = index_from_compact(name, compact, page_url)
    index.compact, index._entries = compact, _entries_by_name(doc, page_url)
    return index


def _parsing_slots() -> int:
    # A parsed page is ~10x its JSON as Python objects (torch's 7 MB page: ~70 MB). Threads that
    # fetch pages in parallel parsed them all at once, as the interpreter switched between them
    # (a requirements run peaked at 360 MB); with the GIL only one can parse at a time anyway, so
    # one slot costs no speed. A free-threaded build parses on every core.
    import os
    import sys

    return 1 if getattr(sys, "_is_gil_enabled", lambda: True)() else (os.cpu_count() or 1)


_PARSING = threading.BoundedSemaphore(_parsing_slots())


# Packs a page body into its packed form: in this process by default, or in a worker process
# (auditor.audit.env's cold run, where the interpreter lock is the bottleneck).
Packer = Callable[[bytes, str], dict]


def pack_page(body: bytes, url: str) -> dict[str, Any]:
    """A page body -> compact_index of it; ServiceError when it is not a PEP 691 project page.
    A plain function of bytes, so a worker process can run it."""
    from auditor.http import CachedResponse

    return compact_index(CachedResponse(url, body, 0.0, True, False).json(), url)


def index_from_response(name: str, response: CachedResponse, packer: Packer | None = None, *,
                        entries: bool = False) -> ProjectIndex:
    """A fetched page -> ProjectIndex. The packed form is cached by the body's fingerprint, so a
    revalidated page that did not change is not parsed again. The parsed page is not kept: the
    entries outside the kept ones are parsed again only if such a file is asked for (the pages of
    one requirements run held ~300 MB as Python objects), unless `entries`: then every file's
    entry is kept from the same parse (the census reads every file of every page)."""
    import hashlib

    # Keyed by URL, length and both ends of the body: PyPI's page starts with its "_last-serial",
    # which changes with every upload, so no full-body hash is needed.
    body, url = response.body, response.url
    fingerprint = hashlib.sha1(b"%s\0%d\0%s\0%s" % (url.encode(), len(body), body[:4096], body[-4096:]))
    key = "body-" + fingerprint.hexdigest()
    compact = COMPACT_PAGES.get(key, MARSHAL, check=is_compact)
    kept: dict[str, dict] | None = None
    if compact is None:
        if packer is not None and not entries:
            compact = packer(body, url)
        else:
            with _PARSING:
                doc = response.json()
                compact = compact_index(doc, url)
                kept = _entries_by_name(doc, url) if entries else None
                del doc
        COMPACT_PAGES.put(key, compact, MARSHAL)
    index = index_from_compact(name, compact, url)
    index.compact, index.compact_key, index._entries = compact, key, kept
    index._load_entries = lambda: _entries_of(response)
    index.stale, index.age_seconds, index.from_cache = response.stale, response.age_seconds, response.from_cache
    return index


def _entries_by_name(doc: Any, page_url: str) -> dict[str, dict]:
    """file name -> its entry, trimmed to _ENTRY_KEYS: kept for the rest of the run, so it holds
    a few objects per file rather than the page (grpcio's: ~12,000 files, ~50 MB parsed)."""
    keys = _ENTRY_KEYS
    return {e["filename"]: {k: e[k] for k in keys if k in e} for e in page_entries(doc, page_url)}


# ------------------------------------------------------------------ loading, through the cache
def fresh_page_key(client: PyPIClient, name: str, *, max_age: float | None = None) -> tuple[str, dict] | None:
    """(page_cache_key, the page's cache metadata with `age` and `stale`) when the page is cached
    and fresh within `max_age` (or --offline), else None. Reads one small metadata file and no
    body: a caller can key what it derives from the page (env's offers) without loading it."""
    url = client.page_url(name)
    fresh = getattr(client.http, "fresh_meta", None)
    meta = fresh(url, SIMPLE_JSON, max_age=max_age) if fresh else None
    key = page_cache_key(url, meta) if meta is not None else None
    return (key, meta) if key and meta is not None else None


def cached_index(client: PyPIClient, name: str, *, max_age: float | None = None) -> ProjectIndex | None:
    """The project's index from its packed page when that page is cached and fresh (or
    --offline), else None: no request, and neither the page body nor its JSON is touched."""
    found = fresh_page_key(client, name, max_age=max_age)
    if found is None:
        return None
    key, meta = found
    compact_key = COMPACT_OF_PAGE.get(key, MARSHAL, check=_is_body_key)
    compact = COMPACT_PAGES.get(compact_key, MARSHAL, check=is_compact) if compact_key else None
    if compact is None:
        return None
    index = index_from_compact(name, compact, client.page_url(name))
    index.stale, index.age_seconds, index.from_cache, index.page_key = meta["stale"], meta["age"], True, key
    index._load_entries = lambda: _entries_of(client.project_page(name, max_age=max_age))
    return index


def load_index(client: PyPIClient, name: str, *, max_age: float | None = None,
               packer: Packer | None = None, entries: bool = False) -> ProjectIndex:
    """The project's index: from the packed page when the page is fresh in the cache, else from
    the page (fetched or revalidated at most once per `max_age`; the HTTP cache's default when
    None), packed by `packer` (pack_page here when None). `entries`: every file will be read,
    so a page parsed here keeps them all. Raises pypi.ProjectNotFound for an unknown project,
    AuditError for index trouble."""
    cached = None if entries else cached_index(client, name, max_age=max_age)
    if cached is not None:
        return cached
    index = index_from_response(name, client.project_page(name, max_age=max_age), packer, entries=entries)
    # The full entries, if ever needed, from the HTTP cache rather than a body held in memory.
    index._load_entries = lambda: _entries_of(client.project_page(name, max_age=max_age))
    found = fresh_page_key(client, name, max_age=max_age)
    if found is not None:
        index.page_key = found[0]
        if index.compact_key:
            COMPACT_OF_PAGE.put(found[0], index.compact_key, MARSHAL)
    return index


def _is_body_key(value: Any) -> bool:
    return type(value) is str and value.startswith("body-")


def _entries_of(response: CachedResponse) -> dict[str, dict]:
    with _PARSING:
        return _entries_by_name(response.json(), response.url)
