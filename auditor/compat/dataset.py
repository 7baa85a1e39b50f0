"""The bundled census dataset: where it lives, how it is read and (atomically) written.

Two copies can exist:
  * the bundled one, shipped with ft-audit (`data/census.json` in the source tree, installed as
    the `ftaudit_data` package), regenerated with `ft-audit data refresh --output data/census.json`;
  * a user one, written by a plain `ft-audit data refresh` into the user cache dir.
The newer of the two (by `generated_at`) is used.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from auditor.cache import atomic_write, cache_dir
from auditor.errors import InputError

CENSUS_SCHEMA = "ft-audit-census/1"
CENSUS_FILE = "census.json"
PACKAGES_FILE = "packages.txt"
REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "data"


class DatasetError(InputError):
    """A census file exists but cannot be used (bad JSON, wrong schema)."""


def bundled_path(filename: str) -> Path | None:
    """The installed `ftaudit_data` package's file, else the source tree's data/ folder.

    find_spec locates an installed package without importing importlib.resources (which pulls
    in tempfile, shutil and the compression modules: a third of a lookup's cold-start cost);
    importlib.resources is kept for the zip-installed case.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec("ftaudit_data")
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        for location in spec.submodule_search_locations or ():
            candidate = Path(location) / filename
            if candidate.is_file():
                return candidate
        try:
            from importlib.resources import files

            resource = files("ftaudit_data") / filename
            if resource.is_file():
                return Path(str(resource))
        except (ModuleNotFoundError, TypeError, OSError):
            pass
    candidate = REPO_DATA_DIR / filename
    return candidate if candidate.is_file() else None


def user_census_path() -> Path:
    return cache_dir("compat") / CENSUS_FILE


# A census file's parsed document, by the file's identity: read once per process, and kept as
# marshal in the cache ("census-parsed"), which loads in a fifth of json's time. The document
# is shared: readers must not change it.
_PARSED: dict[tuple[str, int, int, int], dict[str, Any]] = {}


def read_census(path: Path) -> dict[str, Any]:
    from auditor.cache import MARSHAL, CacheStore

    try:
        st = path.stat()
    except OSError as exc:
        raise DatasetError(str(path), f"cannot read ({exc.strerror or exc})") from None
    identity = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    doc = _PARSED.get(identity)
    if doc is not None:
        return doc
    store = CacheStore("census-parsed")
    key = "\0".join(map(str, identity))
    doc = store.get(key, MARSHAL, check=_is_census)
    if doc is None:
        try:
            doc = json.loads(path.read_bytes())
        except OSError as exc:
            raise DatasetError(str(path), f"cannot read ({exc.strerror or exc})") from None
        except ValueError as exc:
            raise DatasetError(str(path), f"invalid JSON ({str(exc)[:80]})") from None
        if not _is_census(doc):
            raise DatasetError(str(path), f"not an ft-audit census (expected schema {CENSUS_SCHEMA!r})")
        store.put(key, doc, MARSHAL)     # False (read-only cache): only costs speed
    _PARSED[identity] = doc
    return doc


def _is_census(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("schema") == CENSUS_SCHEMA and isinstance(doc.get("packages"), dict)


def newest_census() -> tuple[dict[str, Any] | None, Path | None, list[str]]:
    """(document, path, problems): the newer of the bundled and the user census."""
    problems: list[str] = []
    best: tuple[dict[str, Any] | None, Path | None] = (None, None)
    user = cache_dir("compat") / CENSUS_FILE
    for path in (bundled_path(CENSUS_FILE), user if user.is_file() else None):
        if path is None:
            continue
        try:
            doc = read_census(path)
        except DatasetError as exc:
            problems.append(exc.one_line())
            continue
        if best[0] is None or str(doc.get("generated_at", "")) > str(best[0].get("generated_at", "")):
            best = (doc, path)
    return best[0], best[1], problems


def write_json_atomic(path: Path, doc: Any) -> None:
    """Write to a temporary file beside `path`, then replace: never a truncated file."""
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=False).encode()
    atomic_write(path, data + b"\n", mode=0o644)   # the dataset is shipped and shared: not 0600


def read_package_list(path: Path) -> list[str]:
    """Names, one a line; '#' starts a comment; blank lines ignored; order kept, duplicates dropped."""
    from packaging.utils import canonicalize_name

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(str(path), f"cannot read package list ({exc.strerror or exc})") from None
    names: list[str] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if not all(c.isalnum() or c in "-_." for c in name):
            raise InputError(f"{path}:{line_no}", f"not a project name: {name!r}")
        canonical = canonicalize_name(name)
        if canonical not in names:
            names.append(canonical)
    return names


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def age_days(iso: str | None, *, now: datetime | None = None) -> float | None:
    if not iso:
        return None
    try:
        stamp = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return ((now or datetime.now(timezone.utc)) - stamp).total_seconds() / 86400
