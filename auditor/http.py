"""HTTP with an on-disk cache, revalidation, retries and an offline mode.

Concern of its own (as in pip-audit's _cache.py): the PyPI client and the community-data
importers both fetch JSON/text through `HttpClient`, so every fetch is cached the same way:

* each response body is stored under the cache dir with its ETag / Last-Modified and fetch time;
* a cached answer younger than `max_age` is used without asking; older ones are revalidated
  with If-None-Match / If-Modified-Since (a 304 costs no body);
* `offline=True` answers from the cache only, and marks the answer stale with its age;
* when the network fails and a cached copy exists, that copy is returned marked stale, so a
  PyPI outage degrades an audit instead of ending it; with no copy, ServiceError names the URL.

Every request is bounded: an overall deadline (retries included; each socket wait is cut to
what is left, so a server dripping one byte every few seconds ends on time), and the bytes read
from a response, counted both as received and once decompressed (a gzip bomb ends at the cap,
decompressed a chunk at a time, never held whole). The body is read and decoded here, not by
requests, so both counts are exact.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import socket
import tempfile
import textwrap
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor import __version__
from auditor.cache import CacheStore, atomic_write, cache_dir
from auditor.errors import ServiceError

if TYPE_CHECKING:
    import requests  # imported on the first request (start-up time)

__all__ = ["CachedResponse", "HttpClient", "NotFound", "RangeRefused", "ServiceError", "atomic_write"]

USER_AGENT = f"ft-audit/{__version__} (+https://pypi.org/project/ft-audit/)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REQUEST_DEADLINE = 120.0          # seconds for one get() / get_range(), retries included
DOWNLOAD_DEADLINE = 1800.0        # seconds for one download(), retries included
MAX_RESPONSE_BYTES = 64 << 20     # get(): PyPI's largest PEP 691 pages are about 10 MB
_CHUNK = 1 << 16


class NotFound(ServiceError):
    """The server answered 404: the resource does not exist (not a transient failure)."""


class RangeRefused(ServiceError):
    """The server does not answer HTTP range requests for this URL (it sent the whole file)."""


# Ctrl-C (auditor.cli): every request of every client is refused from then on, and the sockets
# being read are shut down, so worker threads end now rather than at their timeouts and the
# interpreter's join of the pools' threads returns at once.
_ABORTED = threading.Event()
_READING: set[socket.socket] = set()
_READING_LOCK = threading.Lock()


def abort_requests() -> None:
    """Refuse every further request (they raise KeyboardInterrupt in their thread: an
    interrupted fetch is not a service failure to remember) and cut the ones being read."""
    _ABORTED.set()
    with _READING_LOCK:
        reading = list(_READING)
    for sock in reading:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def requests_aborted() -> bool:
    """True after Ctrl-C (abort_requests): a pool need not wait for its workers then."""
    return _ABORTED.is_set()


def _check_aborted() -> None:
    if _ABORTED.is_set():
        raise KeyboardInterrupt


class _Transient(Exception):
    """One attempt failed in a way the next may not (connection reset, body cut short)."""


@dataclass(frozen=True)
class _Answer:
    status_code: int
    headers: Any
    content: bytes


@dataclass(frozen=True)
class CachedResponse:
    url: str
    body: bytes
    fetched_at: float      # epoch seconds of the last successful fetch or revalidation
    from_cache: bool       # True when no body was transferred for this call
    stale: bool            # True when it could not be revalidated (offline or network failure)

    @property
    def age_seconds(self) -> float:
        return max(0.0, time.time() - self.fetched_at)

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ServiceError(self.url, f"invalid JSON ({describe(exc, 80)})") from None

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class HttpClient:
    def __init__(
        self,
        *,
        offline: bool = False,
        max_age: float = 600.0,
        timeout: float = 20.0,
        retries: int = 3,
        cache_root: Path | None = None,
        pool_size: int = 24,
        deadline: float = REQUEST_DEADLINE,
        download_deadline: float = DOWNLOAD_DEADLINE,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self.offline = offline
        self.max_age = max_age
        self.timeout = timeout            # longest wait for one connect or one read
        self.deadline = deadline
        self.download_deadline = download_deadline
        self.max_response_bytes = max_response_bytes
        self.retries = retries
        self.cache_root = cache_root or cache_dir("http")
        # Layout: <key[:2]>/<key>.body and <key>.meta.json, key = sha256(url NUL accept).
        self.store = CacheStore("http", root=self.cache_root, fanout=True)
        self.pool_size = pool_size
        self._shared: requests.Session | None = None
        self._shared_lock = threading.Lock()

    # -- plumbing -------------------------------------------------------------------------

    def session(self):
        """One requests.Session shared by every worker thread, so a connection opened by one
        worker is reused by the next request of any worker: with a session per thread, a cold
        resolution with 24 fetch threads over two hosts opened ~48 TLS connections and the
        handshakes were a visible share of its CPU time. (Sharing a Session across threads is
        what pip does; the index sets no cookies.)"""
        with self._shared_lock:
            if self._shared is None:
                import requests

                from auditor.tls import SharedContextAdapter

                session = requests.Session()
                session.headers["User-Agent"] = USER_AGENT
                # The body is decoded by _body (bounded); only what it decodes is asked for.
                session.headers["Accept-Encoding"] = "gzip, deflate"
                # One TLS context per CA bundle, not one per connection (auditor.tls).
                adapter = SharedContextAdapter(pool_connections=4, pool_maxsize=self.pool_size)
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                self._shared = session
            return self._shared

    def _meta(self, url: str, accept: str | None) -> dict | None:
        """The entry's validators and fetch time, or None when absent or not usable."""
        raw = self.store.read(f"{url}\0{accept or ''}", META)
        if raw is None:
            return None
        try:
            meta = json.loads(raw)
        except ValueError:
            meta = None
        if not usable_meta(meta, url):
            self.store.miss("corrupt")
            return None
        return meta

    def _load(self, url: str, accept: str | None) -> tuple[bytes, dict] | None:
        meta = self._meta(url, accept)
        if meta is None:
            return None
        body = self.store.read(f"{url}\0{accept or ''}", BODY)
        if body is None:
            return None
        if len(body) != meta["size"]:
            self.store.miss("torn")   # body and meta.json of different fetches
            return None
        return body, meta

    def _store(self, url: str, accept: str | None, body: bytes, headers: dict) -> float:
        now = time.time()
        meta = {
            "url": url,
            "size": len(body),
            "etag": headers.get("ETag"),
            "last_modified": headers.get("Last-Modified"),
            "fetched_at": now,
        }
        key = f"{url}\0{accept or ''}"
        # Body first: a meta.json never describes a body that is not there yet.
        if self.store.write(key, BODY, body):
            self.store.write(key, META, json.dumps(meta).encode())
        return now

    def _touch(self, url: str, accept: str | None, meta: dict) -> float:
        meta = dict(meta, fetched_at=time.time())
        self.store.write(f"{url}\0{accept or ''}", META, json.dumps(meta).encode())
        return meta["fetched_at"]

    # -- public ---------------------------------------------------------------------------

    def get(self, url: str, *, accept: str | None = None, max_age: float | None = None) -> CachedResponse:
        """GET `url`, through the cache. Raises NotFound for 404, ServiceError otherwise."""
        max_age = self.max_age if max_age is None else max_age
        cached = self._load(url, accept)
        if cached is not None:
            body, meta = cached
            fresh = time.time() - meta["fetched_at"] < max_age
            if fresh or self.offline:
                return CachedResponse(url, body, meta["fetched_at"], True, stale=not fresh)
        elif self.offline:
            raise ServiceError(url, "not in the cache and --offline was given")

        headers = {}
        if accept:
            headers["Accept"] = accept
        if cached is not None:
            if cached[1].get("etag"):
                headers["If-None-Match"] = cached[1]["etag"]
            if cached[1].get("last_modified"):
                headers["If-Modified-Since"] = cached[1]["last_modified"]
        try:
            response = self._request(url, headers)
        except ServiceError:
            if cached is not None:  # degrade: the last good answer, marked stale
                return CachedResponse(url, cached[0], cached[1]["fetched_at"], True, stale=True)
            raise
        if response.status_code == 304 and cached is not None:
            return CachedResponse(url, cached[0], self._touch(url, accept, cached[1]), True, stale=False)
        body = response.content
        return CachedResponse(url, body, self._store(url, accept, body, response.headers), False, stale=False)

    def fresh_meta(self, url: str, accept: str | None = None, *, max_age: float | None = None) -> dict | None:
        """The cache entry's metadata when `get` (with the same `max_age`) would answer from the
        cache without a request (fresh, or --offline), with its age and staleness; else None.
        Reads no body."""
        max_age = self.max_age if max_age is None else max_age
        meta = self._meta(url, accept)
        if meta is None:
            return None
        age = max(0.0, time.time() - meta["fetched_at"])
        if age < max_age or self.offline:
            return {**meta, "age": age, "stale": age >= max_age}
        return None

    def get_range(self, url: str, first: int, last: int) -> bytes:
        """Bytes first..last (inclusive) of `url` with an HTTP range request (not cached).

        A server that ignores `Range` (200 with the whole file) raises RangeRefused before its
        body is read, so the caller can fall back to a cached full download; a 206 body is read
        only up to the length asked for, and a short or long one is an error, never a silent
        truncation.
        """
        if self.offline:
            raise ServiceError(url, "not in the cache and --offline was given")
        wanted = last - first + 1
        deadline = time.monotonic() + self.deadline
        last_error = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt and not _backoff(min(4.0, 0.5 * 2 ** (attempt - 1)), deadline):
                break
            try:
                with self._open(url, {"Range": f"bytes={first}-{last}"}, deadline) as response:
                    if response.status_code == 200:
                        raise RangeRefused(url, "the server ignored the Range header (answered the whole file)")
                    if response.status_code in RETRY_STATUSES:
                        last_error = f"HTTP {response.status_code}"
                        continue
                    if response.status_code != 206:
                        raise ServiceError(url, f"range request answered HTTP {response.status_code}")
                    total = _range_total(response.headers.get("Content-Range"))
                    if total is not None and last >= total:   # a range past the end is cut at the end
                        wanted = max(0, total - first)
                    body = b"".join(self._body(response, url, wanted, deadline, self.deadline))
            except _Transient as exc:
                last_error = str(exc)
                continue
            if len(body) != wanted:
                raise ServiceError(url, f"range {first}-{last} answered {len(body)} bytes, expected {wanted}")
            return body
        raise ServiceError(url, f"range request failed after {attempt + 1} attempt(s) ({last_error})")

    def get_json(self, url: str, *, accept: str | None = None, max_age: float | None = None) -> Any:
        return self.get(url, accept=accept, max_age=max_age).json()

    def _request(self, url: str, headers: dict) -> _Answer:
        """One GET within the deadline and the size cap, retried on transient failures."""
        deadline = time.monotonic() + self.deadline
        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt and not _backoff(min(8.0, 0.5 * 2 ** (attempt - 1)) * (0.75 + random.random() / 2), deadline):
                break
            try:
                with self._open(url, headers, deadline) as response:
                    if response.status_code == 404:
                        raise NotFound(url, "HTTP 404 Not Found")
                    if response.status_code in RETRY_STATUSES:
                        last = f"HTTP {response.status_code}"
                        continue
                    if response.status_code >= 400:
                        raise ServiceError(url, f"HTTP {response.status_code}")
                    if response.status_code == 304:
                        return _Answer(304, response.headers, b"")
                    body = b"".join(self._body(response, url, self.max_response_bytes, deadline, self.deadline))
                    return _Answer(response.status_code, response.headers, body)
            except _Transient as exc:
                last = str(exc)
        raise ServiceError(url, f"unreachable after {attempt + 1} attempt(s) ({last})")

    def _open(self, url: str, headers: dict, deadline: float):
        """The streamed response (headers read, body not), each wait cut to the deadline."""
        import requests

        _check_aborted()
        wait = _remaining(url, deadline, self.timeout)
        try:
            return self.session().get(url, headers=headers, stream=True, timeout=(wait, wait))
        except requests.RequestException as exc:
            if time.monotonic() >= deadline:
                raise ServiceError(url, "no answer within the deadline") from None
            raise _Transient(describe(exc)) from None

    def _body(self, response, url: str, limit: int, deadline: float, budget: float) -> Iterator[bytes]:
        """The decoded body in chunks, ending with ServiceError past `limit` bytes (received or
        decoded) or past `deadline`; _Transient when the connection breaks or the body is shorter
        than its Content-Length. gzip/deflate are decoded here a chunk at a time (max_length),
        so a bomb never expands past one chunk beyond the cap."""
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("", "identity"):
            decoder = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            decoder = zlib.decompressobj(47)   # gzip or zlib header, detected
        else:
            raise ServiceError(url, f"unsupported Content-Encoding {encoding!r}")
        declared = response.headers.get("Content-Length", "")
        raw = response.raw
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        if sock is not None:
            with _READING_LOCK:
                _READING.add(sock)
        try:
            yield from self._decoded(raw, url, decoder, encoding, declared, limit, deadline, budget)
        finally:
            if sock is not None:
                with _READING_LOCK:
                    _READING.discard(sock)

    def _decoded(self, raw, url: str, decoder, encoding: str, declared: str, limit: int, deadline: float,
                 budget: float) -> Iterator[bytes]:
        import urllib3.exceptions

        received = produced = 0
        cap = f"response larger than {_megabytes(limit)}"
        while True:
            _check_aborted()
            _set_read_timeout(raw, _remaining(url, deadline, self.timeout, budget))
            try:
                data = raw.read1(_CHUNK, decode_content=False)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                _check_aborted()
                if time.monotonic() >= deadline:
                    raise ServiceError(url, f"no complete answer within {budget:g} s") from None
                raise _Transient(describe(exc)) from None
            if not data:
                break
            received += len(data)
            if received > limit + _CHUNK:   # the encoded form may be a little larger than the decoded
                raise ServiceError(url, cap)
            if decoder is None:
                produced += len(data)
                if produced > limit:
                    raise ServiceError(url, cap)
                yield data
                continue
            pending = data
            while pending:
                try:
                    out = decoder.decompress(pending, _CHUNK)
                except zlib.error as exc:
                    raise ServiceError(url, f"cannot decode the {encoding} body ({exc})") from None
                pending = decoder.unconsumed_tail
                if decoder.eof and decoder.unused_data:   # a gzip stream of several members
                    pending, decoder = decoder.unused_data, zlib.decompressobj(47)
                produced += len(out)
                if produced > limit:
                    raise ServiceError(url, cap)
                if out:
                    yield out
        if declared.isdigit() and received < int(declared):
            raise _Transient(f"body cut short ({received} of {declared} bytes)")
        if decoder is not None and not decoder.eof and received:
            raise _Transient(f"{encoding} body cut short")

    def download(self, url: str, sha256: str | None, dest: Path, *, max_bytes: int = 2 << 30) -> Path:
        """Download `url` to `dest` (atomic rename), checking sha256 when given.

        An existing `dest` whose hash matches is reused without a request.
        """
        if dest.exists() and sha256 and _sha256_file(dest) == sha256.lower():
            return dest
        if self.offline:
            raise ServiceError(url, "not in the cache and --offline was given")
        dest.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.download_deadline
        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt and not _backoff(min(8.0, 0.5 * 2 ** (attempt - 1)), deadline):
                break
            digest = hashlib.sha256()
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as out, self._open(url, {}, deadline) as r:
                    if r.status_code == 404:
                        raise NotFound(url, "HTTP 404 Not Found")
                    if r.status_code >= 400:
                        last = f"HTTP {r.status_code}"
                        if r.status_code in RETRY_STATUSES:
                            continue
                        raise ServiceError(url, last)
                    for chunk in self._body(r, url, max_bytes, deadline, self.download_deadline):
                        digest.update(chunk)
                        out.write(chunk)
                if sha256 and digest.hexdigest() != sha256.lower():
                    last = f"sha256 mismatch (got {digest.hexdigest()[:16]}…, expected {sha256[:16]}…)"
                    continue
                os.replace(tmp, dest)
                return dest
            except _Transient as exc:
                last = str(exc)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        raise ServiceError(url, f"download failed ({last})")


def _remaining(url: str, deadline: float, timeout: float, budget: float | None = None) -> float:
    """How long the next wait may last: the per-wait timeout, cut to what is left of the deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise ServiceError(url, f"no complete answer within {budget:g} s" if budget else "no answer within the deadline")
    return min(timeout, left)


def _backoff(seconds: float, deadline: float) -> bool:
    """Sleep before a retry; False when the deadline leaves no time for one."""
    if deadline - time.monotonic() <= seconds:
        return False
    if _ABORTED.wait(seconds):
        raise KeyboardInterrupt
    return True


def _set_read_timeout(raw, seconds: float) -> None:
    """Cut the socket's wait to `seconds`: requests' read timeout applies per read, so a body
    trickling in one byte at a time would otherwise never time out."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(max(0.001, seconds))


def _megabytes(limit: int) -> str:
    return f"{limit / (1 << 20):g} MB" if limit >= 1 << 20 else f"{limit} bytes"


def _range_total(content_range: str | None) -> int | None:
    """The complete length from `Content-Range: bytes 0-99/1234` (None when absent or `*`)."""
    if not content_range or "/" not in content_range:
        return None
    total = content_range.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


BODY, META = ".body", ".meta.json"


def usable_meta(meta: Any, url: str) -> bool:
    """A meta.json the client can act on: this URL's, with a byte count, a real fetch time and
    string (or absent) validators. Anything else (`[]`, `"fetched_at": "yesterday"` or null,
    another URL's entry) is a miss, so the page is fetched again."""
    if not isinstance(meta, dict) or meta.get("url") != url:
        return False
    size, fetched_at = meta.get("size"), meta.get("fetched_at")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return False
    if not isinstance(fetched_at, (int, float)) or isinstance(fetched_at, bool) or not math.isfinite(fetched_at):
        return False
    return all(meta.get(k) is None or isinstance(meta.get(k), str) for k in ("etag", "last_modified"))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# The parts of a requests / urllib3 message that say nothing about the failure and differ per
# URL: the connection pool and path ("HTTPSConnectionPool(host='pypi.org', port=443): Max retries
# exceeded with url: /simple/numpy/ (Caused by ...)"), the connection ("HTTPSConnection(host=
# 'pypi.org', port=443): Failed to establish ...") and object addresses.
_POOL = re.compile(r"^\w*Connection(?:Pool)?\([^)]*\):\s*")
_OBJECT = re.compile(r"^<[^>]*>:\s*|\s*object at 0x[0-9a-fA-F]+")


def describe(exc: BaseException, width: int = 120) -> str:
    """`ExceptionClass: the essential reason`, never cut mid-word: a requests error is described
    by the innermost urllib3 reason it wraps (MaxRetryError.reason, the exception in args[0]),
    without the pool, the URL path and object addresses around it, so the same failure reads the
    same for every package (auditor.report.problems collapses such lines)."""
    inner, seen = exc, {id(exc)}
    while True:
        nested = getattr(inner, "reason", None)
        if not isinstance(nested, BaseException):
            args = getattr(inner, "args", ())
            nested = args[0] if args and isinstance(args[0], BaseException) else None
        if nested is None or id(nested) in seen:
            break
        seen.add(id(nested))
        inner = nested
    text = _OBJECT.sub("", _POOL.sub("", str(inner))).strip()
    name = type(exc).__name__
    if not text:
        return name
    return f"{name}: {textwrap.shorten(text, width=max(width - len(name) - 2, 20), placeholder=' …')}"
