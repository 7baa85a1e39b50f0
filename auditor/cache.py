"""ft-audit's cache: where it lives, the one atomic write, and the one typed store.

Where: `--cache-dir` (exported as FT_AUDIT_CACHE_DIR by the CLI), $FT_AUDIT_CACHE_DIR,
then the platform's user cache dir (platformdirs).

Every cache (HTTP responses, compact index pages, Requires-Dist memos, resolutions, env probe
answers, module reports, wheel verdicts) is a `CacheStore` namespace under that folder, and
every file ft-audit writes for later (those, and the census) goes through `atomic_write`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import marshal
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    """The cache folder (not created)."""
    root = os.environ.get("FT_AUDIT_CACHE_DIR")
    if root:
        return Path(root).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("ft-audit", appauthor=False))


def cache_dir(*parts: str) -> Path:
    """A folder under the cache folder, created."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@functools.lru_cache(maxsize=1)
def inspector_fingerprint() -> str:
    """Changes whenever the inspector, its rules, its readers or its knowledge change: cached
    module reports and wheel verdicts made by another inspector are read again."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for pattern in ("inspect.py", "verdicts.py", "model.py", "target.py", "rollup.py", "binary/*.py", "knowledge/*.json",
                    "knowledge/*.py"):
        for path in sorted(root.glob(pattern)):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


# ------------------------------------------------------------------ one atomic write
def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write to a temp file in the same folder, then rename: readers never see a torn file.
    `mode` sets the permissions (mkstemp makes files 0600; a shipped dataset is 0644)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:40]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------ the typed store
@dataclass(frozen=True)
class Codec:
    """How a payload becomes bytes. `loads` may raise anything on a hostile file: the store
    turns every failure into a miss."""

    suffix: str
    dumps: Callable[[Any], bytes]
    loads: Callable[[bytes], Any]


def _json_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _pickle_dumps(value: Any) -> bytes:
    import pickle

    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def _pickle_loads(data: bytes) -> Any:
    import pickle

    return pickle.loads(data)


JSON = Codec(".json", _json_dumps, json.loads)
MARSHAL = Codec(".marshal", marshal.dumps, marshal.loads)   # plain data, loads in a millisecond
PICKLE = Codec(".pickle", _pickle_dumps, _pickle_loads)     # frozen dataclasses round-trip exactly


# Every store's misses in this process, by (namespace, reason): what `--verbose` reports.
ALL_MISSES: Counter[tuple[str, str]] = Counter()
_ALL_MISSES_LOCK = threading.Lock()


class CacheStore:
    """One namespace of ft-audit's cache: entries keyed by strings, written atomically.

    The rule for every reader: a missing, corrupt, truncated, wrongly-typed or foreign entry
    is a miss (counted in `misses` by reason), never an exception. Typed entries (`get`/`put`)
    are stored in an envelope `{"key", "validity", "value"}`, so an entry written for another
    key (a hash collision, a copied file) or under another validity key (another inspector
    fingerprint, another upstream ETag) is a miss. Raw payloads (`read`/`write`) are for
    callers that own their format (the HTTP cache's body and meta.json).

    A write that fails (read-only or full disk) returns False: a cache only costs speed.

    `versioned=True` is for stores of values ft-audit derives with its own code (compact pages,
    evaluated markers, offers, release facts, resolutions): their entries are valid only for the
    code that wrote them (code_fingerprint), so an upgrade or a fix never reads an old answer.
    """

    def __init__(self, namespace: str, *, root: Path | None = None, fanout: bool = False,
                 versioned: bool = False) -> None:
        self.namespace = namespace
        self._root = root
        self.fanout = fanout          # entries under a two-character subfolder (large namespaces)
        self.versioned = versioned
        self.misses: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        # Resolved on each use: FT_AUDIT_CACHE_DIR is set by the CLI (and by tests) after import.
        return self._root if self._root is not None else cache_root() / self.namespace

    def path(self, key: str, suffix: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        folder = self.folder / digest[:2] if self.fanout else self.folder
        return folder / f"{digest}{suffix}"

    def miss(self, reason: str) -> None:
        with self._lock:
            self.misses[reason] += 1
        with _ALL_MISSES_LOCK:
            ALL_MISSES[(self.namespace, reason)] += 1

    # -- raw payloads ----------------------------------------------------------------------
    def read(self, key: str, suffix: str) -> bytes | None:
        try:
            return self.path(key, suffix).read_bytes()
        except FileNotFoundError:
            self.miss("absent")
        except OSError:
            self.miss("unreadable")
        return None

    def write(self, key: str, suffix: str, data: bytes) -> bool:
        try:
            atomic_write(self.path(key, suffix), data)
        except OSError:
            return False
        return True

    def has(self, key: str, codec: Codec = JSON) -> bool:
        """An entry exists (cheap: it is not read, so it may still turn out to be a miss)."""
        return self.path(key, codec.suffix).exists()

    # -- typed entries ---------------------------------------------------------------------
    def get(self, key: str, codec: Codec = JSON, *, validity: str | None = None,
            check: Callable[[Any], bool] | None = None) -> Any:
        """The value stored under `key` with this `validity`, or None (a miss).

        `check(value)` decides whether a value has the shape its reader needs; False, or an
        exception inside it, makes the entry a miss."""
        data = self.read(key, codec.suffix)
        if data is None:
            return None
        if self.versioned:
            validity = f"{code_fingerprint()}|{validity}"
        try:
            envelope = codec.loads(data)
        except Exception:  # noqa: BLE001 - truncated or hostile: a miss, whatever the codec raised
            self.miss("corrupt")
            return None
        if not isinstance(envelope, dict) or "value" not in envelope:
            self.miss("corrupt")
            return None
        if envelope.get("key") != key:
            self.miss("foreign")
            return None
        if envelope.get("validity") != validity:
            self.miss("outdated")
            return None
        value = envelope["value"]
        try:
            fits = check is None or bool(check(value))
        except Exception:  # noqa: BLE001 - a checker meeting an unexpected shape: a miss
            fits = False
        if not fits:
            self.miss("wrong type")
            return None
        return value

    def put(self, key: str, value: Any, codec: Codec = JSON, *, validity: str | None = None) -> bool:
        if self.versioned:
            validity = f"{code_fingerprint()}|{validity}"
        try:
            data = codec.dumps({"key": key, "validity": validity, "value": value})
        except (TypeError, ValueError):
            return False
        return self.write(key, codec.suffix, data)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Changes whenever any of ft-audit's code or data files change (about 4 ms, once per
    process): the validity of every value derived by ft-audit's own code."""
    import hashlib

    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".json") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:20]

