"""HTTP with an on-disk cache, revalidation, retries and an offline mode.

Concern of its own (as in pip-audit's _cache.py): the PyPI client and the community-data
importers both fetch JSON/text through `HttpClient`, so every fetch is cached the same way:

* each response body is stored under the cache dir with its ETag / Last-Modified and fetch time;
* a cached answer younger than `max_age` is used without asking; older ones are revalidated
  with If-None-Match / If-Modified-Since (a 304 costs no body);
* `offline=True` answers from the cache only, and marks the answer stale with its age;
* when the network fails and a cached copy exists, that copy is returned marked stale, so a
  PyPI outage degrades an audit instead of ending it; with no copy, ServiceError names the URL.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor import __version__
from auditor.cache import CacheStore, atomic_write, cache_dir
from auditor.errors import ServiceError

__all__ = ["CachedResponse", "HttpClient", "NotFound", "RangeRefused", "ServiceError", "atomic_write"]

USER_AGENT = f"ft-audit/{__version__} (+https://pypi.org/project/ft-audit/)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class NotFound(ServiceError):
    """The server answered 404: the resource does not exist (not a transient failure)."""


class RangeRefused(ServiceError):
    """The server does not answer HTTP range requests for this URL (it sent the whole file)."""


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
            raise ServiceError(self.url, f"invalid JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from None

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
    ) -> None:
        self.offline = offline
        self.max_age = max_age
        self.timeout = timeout
        self.retries = retries
        self.cache_root = cache_root or cache_dir("http")
        # Layout: <key[:2]>/<key>.body and <key>.meta.json, key = sha256(url NUL accept).
        self.store = CacheStore("http", root=self.cache_root, fanout=True)
        self.pool_size = pool_size
        self._shared = None
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
                from requests.adapters import HTTPAdapter

                session = requests.Session()
                session.headers["User-Agent"] = USER_AGENT
                adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.pool_size)
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

    def fresh_meta(self, url: str, accept: str | None = None) -> dict | None:
        """The cache entry's metadata when `get` would answer from the cache without a request
        (fresh, or --offline), with its age and staleness; else None. Reads no body."""
        meta = self._meta(url, accept)
        if meta is None:
            return None
        age = max(0.0, time.time() - meta["fetched_at"])
        if age < self.max_age or self.offline:
            return {**meta, "age": age, "stale": age >= self.max_age}
        return None

    def get_range(self, url: str, first: int, last: int) -> bytes:
        """Bytes first..last (inclusive) of `url` with an HTTP range request (not cached).

        A server that ignores `Range` (200 with the whole file) raises RangeRefused before its
        body is read, so the caller can fall back to a cached full download; a 206 body is read
        only up to the length asked for, and a short one is an error, never a silent truncation.
        """
        import requests

        if self.offline:
            raise ServiceError(url, "not in the cache and --offline was given")
        wanted = last - first + 1
        last_error = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(4.0, 0.5 * 2 ** (attempt - 1)))
            try:
                with self.session().get(url, headers={"Range": f"bytes={first}-{last}"}, timeout=self.timeout,
                                        stream=True) as response:
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
                    body = response.raw.read(wanted + 1, decode_content=True)
            except requests.RequestException as exc:
                last_error = f"{exc.__class__.__name__}: {str(exc)[:120]}"
                continue
            if len(body) != wanted:
                raise ServiceError(url, f"range {first}-{last} answered {len(body)} bytes, expected {wanted}")
            return body
        raise ServiceError(url, f"range request failed after {self.retries + 1} attempts ({last_error})")

    def get_json(self, url: str, *, accept: str | None = None, max_age: float | None = None) -> Any:
        return self.get(url, accept=accept, max_age=max_age).json()

    def _request(self, url: str, headers: dict):
        import requests

        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)) * (0.75 + random.random() / 2))
            try:
                response = self.session().get(url, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                last = f"{exc.__class__.__name__}: {str(exc)[:120]}"
                continue
            if response.status_code == 404:
                raise NotFound(url, "HTTP 404 Not Found")
            if response.status_code in RETRY_STATUSES:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise ServiceError(url, f"HTTP {response.status_code}")
            return response
        raise ServiceError(url, f"unreachable after {self.retries + 1} attempts ({last})")

    def download(self, url: str, sha256: str | None, dest: Path, *, max_bytes: int = 2 << 30) -> Path:
        """Download `url` to `dest` (atomic rename), checking sha256 when given.

        An existing `dest` whose hash matches is reused without a request.
        """
        if dest.exists() and sha256 and _sha256_file(dest) == sha256.lower():
            return dest
        if self.offline:
            raise ServiceError(url, "not in the cache and --offline was given")
        import requests

        dest.parent.mkdir(parents=True, exist_ok=True)
        last = "no attempt"
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)))
            digest = hashlib.sha256()
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
            try:
                with os.fdopen(fd, "wb") as out, self.session().get(url, stream=True, timeout=self.timeout) as r:
                    if r.status_code == 404:
                        raise NotFound(url, "HTTP 404 Not Found")
                    if r.status_code >= 400:
                        last = f"HTTP {r.status_code}"
                        if r.status_code in RETRY_STATUSES:
                            continue
                        raise ServiceError(url, last)
                    total = 0
                    for chunk in r.iter_content(1 << 16):
                        total += len(chunk)
                        if total > max_bytes:
                            raise ServiceError(url, f"download larger than {max_bytes} bytes")
                        digest.update(chunk)
                        out.write(chunk)
                if sha256 and digest.hexdigest() != sha256.lower():
                    last = f"sha256 mismatch (got {digest.hexdigest()[:16]}…, expected {sha256[:16]}…)"
                    continue
                os.replace(tmp, dest)
                return dest
            except requests.RequestException as exc:
                last = f"{exc.__class__.__name__}: {str(exc)[:120]}"
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        raise ServiceError(url, f"download failed ({last})")


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
