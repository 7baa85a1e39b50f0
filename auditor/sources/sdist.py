"""Read a source distribution safely: write the members a caller wants into a private folder.

`extract_members(archive, dest, wanted)` reads a `.tar.gz` / `.tgz` / `.tar.bz2` / `.zip` and
writes the regular-file members whose name `wanted` accepts (the linter asks for C, C++ and
Cython sources and pyproject.toml) under `dest`, a folder the caller created for this alone
(`tempfile.mkdtemp`: mode 0700, removed by the caller). Nothing else of the archive is written.

Hostile archives are expected. The rules:

* every member name is validated with the wheel reader's `unsafe_member_reason` (absolute
  paths, `..`, backslashes, drive letters, NUL bytes); an unsafe member is reported and never
  read, the other members still are;
* a wanted member that is not a regular file (a symbolic or hard link, a device, a FIFO) is
  reported and not followed; links and the like under names nobody wants are passed over;
* only regular files and folders are created, with exclusive opens, inside `dest`: a duplicate
  member is reported, and no member can land outside `dest` or through a link;
* sizes are bounded before data is read: the member count, each wanted member's declared size
  (`max_member_bytes`, as the linter's own file limit), and for tar archives the whole
  decompressed stream -- the sum of every member's declared size, skipped ones included, as
  skipping a member of a compressed stream decompresses it -- against `max_total_bytes` and
  `max_ratio` times the archive's size (tar bomb). The stream itself is read through a counter
  that refuses to decompress past that bound or to read a header larger than `max_read_bytes`
  (a huge GNU long-name or pax header), whatever the headers claim. Zip members are read at
  random, so only the wanted ones count, each also held to `max_ratio`.

An archive that cannot be read at all (not an archive, truncated, over the limits) raises
ArchiveError(archive, reason); a problem with one member is returned with the others.
"""

from __future__ import annotations

import bz2
import gzip
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from auditor.errors import ArchiveError
from auditor.sources.wheel import unsafe_member_reason

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".zip")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SdistLimits:
    max_members: int = 100_000
    max_member_bytes: int = 64 << 20       # one wanted member (larger "source" files are not source)
    max_total_bytes: int = 2 << 30         # the decompressed tar stream / the wanted zip members
    max_ratio: int = 200                   # decompressed / compressed, above ratio_floor
    ratio_floor: int = 64 << 20            # a small archive may compress arbitrarily well
    max_read_bytes: int = 16 << 20         # one read of the tar stream outside member data (headers)


DEFAULT_LIMITS = SdistLimits()


@dataclass(frozen=True)
class MemberProblem:
    member: str      # the name as the archive spells it
    reason: str


@dataclass
class ExtractedMembers:
    top: str | None                  # the one folder every member sits in ("markupsafe-3.0.2"), if any
    written: list[str] = field(default_factory=list)
    problems: list[MemberProblem] = field(default_factory=list)

    def shown(self, member: str) -> str:
        """A member's name without the common top folder, as the sdist's own tree names it."""
        if self.top and member.startswith(self.top + "/"):
            return member[len(self.top) + 1:]
        return member


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def split_member_path(shown: str) -> tuple[str, str] | None:
    """`ARCHIVE!member` (how the linter names a file inside an sdist) as (archive, member);
    None for any other path, a `!` in a plain file name included."""
    archive, sep, member = shown.partition("!")
    if sep and member and is_archive(Path(archive)):
        return archive, member
    return None


def extract_members(archive: Path, dest: Path, wanted: Callable[[str], bool], *, shown_as: str | None = None,
                    limits: SdistLimits = DEFAULT_LIMITS) -> ExtractedMembers:
    """Write the wanted members of `archive` under `dest` (see the module's rules); `shown_as`
    names the archive in errors (default: its path)."""
    where = shown_as or str(archive)
    try:
        size = archive.stat().st_size
    except OSError as exc:
        raise ArchiveError(where, f"cannot read: {exc.strerror or exc}") from None
    if archive.name.lower().endswith(".zip"):
        return _Extraction(where, dest, wanted, limits).zip(archive)
    return _Extraction(where, dest, wanted, limits).tar(archive, size)


class _Inflated(Exception):
    """The decompressed stream went past its bound."""


class _BoundedStream:
    """A decompressed stream that refuses to go past `limit` bytes or to serve one read larger
    than `max_read`: tarfile reads headers (and GNU long names, pax records) with one read of
    whatever size they declare. (It has the read / seek / tell that tarfile uses.)"""

    def __init__(self, raw: gzip.GzipFile | bz2.BZ2File, limit: int, max_read: int) -> None:
        self._raw, self._limit, self._max_read = raw, limit, max_read

    def read(self, n: int = -1) -> bytes:
        room = self._limit - self._raw.tell()
        if n is None or n < 0 or n > room or n > self._max_read:
            raise _Inflated()
        return self._raw.read(n)

    def seek(self, pos: int, whence: int = 0) -> int:
        target = pos if whence == 0 else self._raw.tell() + pos if whence == 1 else None
        if target is None or target > self._limit:
            raise _Inflated()
        return self._raw.seek(target)

    def tell(self) -> int:
        return self._raw.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True


class _Extraction:
    def __init__(self, where: str, dest: Path, wanted: Callable[[str], bool], limits: SdistLimits) -> None:
        self.where, self.dest, self.wanted, self.limits = where, dest, wanted, limits
        self.names: list[str] = []
        self.out = ExtractedMembers(top=None)

    # -- tar --------------------------------------------------------------------------------
    def tar(self, archive: Path, compressed: int) -> ExtractedMembers:
        lim = self.limits
        bound = min(lim.max_total_bytes, max(lim.ratio_floor, lim.max_ratio * compressed))
        bz = archive.name.lower().endswith(".bz2")
        try:
            with open(archive, "rb") as raw, (bz2.BZ2File(raw) if bz else gzip.GzipFile(fileobj=raw)) as stream, \
                    tarfile.TarFile(fileobj=cast(IO[bytes], _BoundedStream(stream, bound, lim.max_read_bytes))) as tf:
                while True:
                    info = tf.next()
                    if info is None:
                        break
                    if len(self.names) >= lim.max_members:
                        raise ArchiveError(self.where, f"more than {lim.max_members} members")
                    if info.offset_data + info.size > bound:
                        raise ArchiveError(self.where, _bomb(info.name, info.size, bound, compressed, lim))
                    self._tar_member(tf, info)
        except _Inflated:
            raise ArchiveError(self.where, f"decompresses past {bound} bytes ({lim.max_ratio} times its "
                                           f"{compressed} bytes, at most {lim.max_total_bytes}): tar bomb?") from None
        except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as exc:
            raise ArchiveError(self.where, f"not a readable tar.gz / tar.bz2 ({_short(exc)})") from None
        return self._done()

    def _tar_member(self, tf: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        name = info.name
        if not self._admit(name, is_dir=info.isdir()):
            return
        if not info.isreg():
            kind = ("symbolic link" if info.issym() else "hard link" if info.islnk() else
                    "device" if info.isdev() else "FIFO" if info.isfifo() else "special member")
            target = f" to {info.linkname!r}" if info.issym() or info.islnk() else ""
            self._problem(name, f"{kind}{target}; not followed")
            return
        if info.size > self.limits.max_member_bytes:
            self._problem(name, f"declares {info.size} bytes (limit {self.limits.max_member_bytes} for a source file); not read")
            return
        data = tf.extractfile(info)
        if data is None:     # pragma: no cover - isreg() members always have data
            return
        with data:
            self._write(name, data)

    # -- zip --------------------------------------------------------------------------------
    def zip(self, archive: Path) -> ExtractedMembers:
        lim = self.limits
        try:
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                if len(infos) > lim.max_members:
                    raise ArchiveError(self.where, f"more than {lim.max_members} members")
                total = 0
                for info in infos:
                    name = info.orig_filename
                    if not self._admit(name, is_dir=info.is_dir()):
                        continue
                    mode = info.external_attr >> 16
                    if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                        kind = "symbolic link" if stat.S_ISLNK(mode) else "special member"
                        self._problem(name, f"{kind}; not followed")
                        continue
                    reason = self._zip_oversized(info)
                    if reason:
                        self._problem(name, reason)
                        continue
                    total += info.file_size
                    if total > lim.max_total_bytes:
                        raise ArchiveError(self.where, f"member {name!r}: the wanted members declare more than "
                                                       f"{lim.max_total_bytes} bytes")
                    try:
                        with zf.open(info) as data:
                            self._write(name, data)
                    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
                        self._problem(name, f"cannot be decompressed ({_short(exc)}); not read")
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ArchiveError(self.where, f"not a readable zip ({_short(exc)})") from None
        return self._done()

    def _zip_oversized(self, info: zipfile.ZipInfo) -> str | None:
        lim = self.limits
        if info.file_size > lim.max_member_bytes:
            return f"declares {info.file_size} bytes (limit {lim.max_member_bytes} for a source file); not read"
        if info.file_size > lim.ratio_floor and info.file_size > lim.max_ratio * max(info.compress_size, 1):
            return (f"compression ratio {info.file_size // max(info.compress_size, 1)}:1 exceeds "
                    f"{lim.max_ratio}:1 (zip bomb?); not read")
        return None

    # -- shared -----------------------------------------------------------------------------
    def _admit(self, name: str, *, is_dir: bool) -> bool:
        """Record the member; True when it is a wanted file with a safe name."""
        name = name.rstrip("/") if is_dir else name
        reason = unsafe_member_reason(name)
        if reason:
            self._problem(name, f"unsafe member name ({reason}); not read")
            return False
        self.names.append(name)
        return not is_dir and self.wanted(name)

    def _write(self, name: str, data: IO[bytes]) -> None:
        target = self.dest.joinpath(*[p for p in name.split("/") if p not in ("", ".")])
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "xb") as out:
                left = self.limits.max_member_bytes + 1
                while chunk := data.read(min(_CHUNK, left)):
                    out.write(chunk)
                    left -= len(chunk)
            if left <= 0:
                target.unlink()
                self._problem(name, f"more than {self.limits.max_member_bytes} bytes; not read")
                return
        except FileExistsError:
            self._problem(name, "duplicate member (or a file where a folder is expected); the first one was read")
            return
        except NotADirectoryError:
            self._problem(name, "a folder of its path is a file member; not read")
            return
        self.out.written.append(name)

    def _problem(self, name: str, reason: str) -> None:
        self.out.problems.append(MemberProblem(name, reason))

    def _done(self) -> ExtractedMembers:
        tops = {n.split("/", 1)[0] for n in self.names}
        if len(tops) == 1 and any("/" in n for n in self.names):
            self.out.top = tops.pop()
        return self.out


def _bomb(name: str, size: int, bound: int, compressed: int, lim: SdistLimits) -> str:
    return (f"member {name!r} declares {size} bytes: the archive would decompress past {bound} bytes "
            f"({lim.max_ratio} times its {compressed} bytes, at most {lim.max_total_bytes}): tar bomb?")


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def fetch_sdist(spec: str, *, offline: bool = False) -> Path:
    """Download the sdist of one release (`NAME` for the latest, or `NAME==VERSION`) from the
    index into the cache's sdists/ folder, sha256-checked (a cached copy whose hash matches is
    reused). InputError when there is no such release or it has no sdist; ServiceError when the
    index or the download fails."""
    from auditor.cache import cache_dir
    from auditor.errors import InputError
    from auditor.pypi import PyPIClient, release_files

    client = PyPIClient(offline=offline)
    files, version, sdists = release_files(client, spec, "sdist")
    # an old release may have both a .zip and a .tar.gz: the .tar.gz, as pip prefers it
    candidates = sorted(sdists, key=lambda f: not f.filename.endswith(".tar.gz"))
    if not candidates:
        raise InputError(spec, f"{files.name} {version} has no sdist on the index (wheels only)")
    dist = candidates[0]
    if "/" in dist.filename or "\\" in dist.filename or dist.filename.startswith(".") or not is_archive(Path(dist.filename)):
        raise InputError(spec, f"the index served an unusable sdist file name {dist.filename!r}")
    if not dist.sha256:
        raise InputError(spec, f"the index gave no sha256 for {dist.filename}; not downloaded")
    return client.http.download(dist.url, dist.sha256, cache_dir("sdists", files.name) / dist.filename)
