"""Read a wheel safely: facts about its members, never a verdict.

`read_wheel(path)` opens the archive with zipfile and returns a `WheelContents`: the file-name
tags, the WHEEL and METADATA fields, the parsed RECORD, the sha256 of every member as read,
and the bytes of every extension module. Judging those facts (RECORD mismatches, tags against
binaries, GIL declarations) is `auditor.wheel_gate`'s job.

Hostile archives are expected. The rules:

* every member name is validated (absolute paths, `..` components, backslashes, drive letters,
  NUL bytes, duplicates); an unsafe member is reported and *never read*, but the wheel's other
  members still are, so its modules are still inspected and reported;
* sizes are checked before anything is decompressed: member count, each member's declared size,
  its declared-to-compressed ratio, and the total declared size. zipfile never inflates past a
  member's declared size, so these limits bound the work and memory whatever the data says;
* a member that fails to decompress (CRC error, bad deflate stream, local header mismatch) is
  reported and skipped;
* nothing is extracted: members are read into memory; an extension module larger than
  `spill_bytes`, or one that would take the wheel's in-memory modules past `memory_bytes`, is
  streamed into a private `TemporaryDirectory` (owned by the WheelContents, removed by
  `close()`) so the binary reader can mmap it. Memory per wheel stays bounded by
  `memory_bytes` plus one member.

A wheel that cannot be opened at all (not a zip, truncated central directory, too many
members, absurd total size, unparseable file name) raises ArchiveError(path, reason).
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import email.parser
import hashlib
import io
import itertools
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from packaging.utils import InvalidWheelFilename

from auditor.errors import ArchiveError
from auditor.target import WheelName

if TYPE_CHECKING:   # tempfile (with shutil, bz2, lzma) is imported only when a member spills to disk
    import tempfile

try:  # libdeflate: optional, inflates extension modules 2-3x faster than zlib (same checks)
    import deflate as _libdeflate
except ImportError:  # pragma: no cover - depends on the environment
    # The checker keeps deflate's types this way; every use sits behind `_libdeflate is not None`.
    _libdeflate = None  # type: ignore[assignment]

_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
# RECORD lists every member except itself (hash-less) and its signatures (wheel spec).
RECORD_EXEMPT_SUFFIXES = ("/RECORD", "/RECORD.jws", "/RECORD.p7s")
# Folders of vendored shared libraries put there by auditwheel, delocate and delvewheel:
# loaded by the extension modules, never imported as modules themselves.
_VENDORED_DIRS = re.compile(r"(^|/)([^/]+\.libs|\.dylibs)/")


@dataclass(frozen=True)
class WheelLimits:
    max_members: int = 100_000
    max_member_bytes: int = 2 << 30         # one member's declared uncompressed size
    max_total_bytes: int = 8 << 30          # all members' declared uncompressed sizes
    max_ratio: int = 250                    # declared / compressed, for members above ratio_floor
    ratio_floor: int = 4 << 20              # small members may compress arbitrarily well
    spill_bytes: int = 64 << 20             # extension modules larger than this go to a temp file
    memory_bytes: int = 256 << 20           # extension bytes kept in memory per wheel; the rest spill too


# Which members are read and hashed against RECORD:
#   "all"     -- every member (complete RECORD check; costs a full decompression of the wheel)
#   "audited" -- extension modules and .dist-info files, the members the gate looks at; the other
#                members are checked against RECORD by name and declared size only.
HASH_ALL = "all"
HASH_AUDITED = "audited"
# Only the extension modules and the small WHEEL / METADATA files: what a verdict needs, and
# all that a remote wheel read with range requests should cost (RECORD can be megabytes).
HASH_MODULES_ONLY = "modules-only"


DEFAULT_LIMITS = WheelLimits()


@dataclass(frozen=True)
class ArchiveProblem:
    """Something wrong with the archive itself. kind: "unsafe-member" | "oversized-member" |
    "corrupt-member" | "duplicate-member"."""

    kind: str
    member: str
    reason: str


@dataclass(frozen=True)
class RecordEntry:
    path: str
    algorithm: str | None     # "sha256", ... ; None when the hash field is empty
    digest: str | None        # urlsafe base64 without padding, as written
    size: int | None
    line: int


@dataclass(frozen=True)
class Record:
    member: str                                   # e.g. "lxml-6.1.3.dist-info/RECORD"
    entries: tuple[RecordEntry, ...]
    malformed_lines: tuple[tuple[int, str], ...]  # (line number, reason)


@dataclass(frozen=True)
class MemberDigest:
    size: int
    sha256: str        # urlsafe base64 without padding, the RECORD spelling


@dataclass
class ExtensionMember:
    """An extension module found in the wheel: its bytes, or a private file holding them."""

    name: str                  # archive member path, e.g. "lxml/etree.cpython-314t-x86_64-linux-gnu.so"
    install_path: str          # path relative to site-packages ("NAME.data/platlib/" stripped)
    size: int
    data: bytes | bytearray | None = None   # bytearray: as libdeflate inflates it (not copied)
    file: Path | None = None   # set instead of `data` for members over spill_bytes

    @property
    def source(self) -> bytes | bytearray | Path:
        return self.file if self.file is not None else (self.data or b"")


@dataclass
class WheelContents:
    path: Path
    filename: str
    project: str                             # canonical name from the file name
    version: str
    build: str | None
    filename_tags: tuple[str, ...]           # "cp314-cp314t-manylinux_2_28_x86_64", in file-name order
    dist_info: str | None                    # "lxml-6.1.3.dist-info", or None if absent
    wheel_file: dict[str, list[str]] | None  # WHEEL header fields (Tag may repeat); None if absent
    wheel_file_error: str | None
    metadata_name: str | None
    metadata_version: str | None
    classifiers: tuple[str, ...]
    record: Record | None
    record_error: str | None
    digests: dict[str, MemberDigest]         # every member that was read in full
    declared_sizes: dict[str, int]           # every safe, size-checked member -> central-directory size
    members: tuple[str, ...]                 # every member name, as stored (unsafe ones included)
    extensions: list[ExtensionMember]
    vendored_libraries: tuple[str, ...]
    problems: tuple[ArchiveProblem, ...]
    _tempdir: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    @property
    def wheel_tags(self) -> tuple[str, ...] | None:
        if self.wheel_file is None:
            return None
        return tuple(self.wheel_file.get("Tag", ()))

    @property
    def root_is_purelib(self) -> bool | None:
        values = (self.wheel_file or {}).get("Root-Is-Purelib")
        return values[0].strip().lower() == "true" if values else None

    def close(self) -> None:
        for ext in self.extensions:
            ext.data = None
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def __enter__(self) -> WheelContents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# What inspecting a module costs besides its bytes, in bytes of inflating, hashing and reading
# symbols (~0.3 ms for a small module, ~5 ms per MB here).
MODULE_COST_BYTES = 64 << 10


def share_extensions(extensions: list[zipfile.ZipInfo], shares: int) -> list[set[str]]:
    """The extension members of each of `shares` shares of one wheel, balanced by estimated
    work: the largest first, each to the share with the least so far (the lowest on a tie), so
    a wheel with one large module and many small ones (a mypyc build: one 43 MB library, 232
    stubs) gives the large one a share of its own. Deterministic: every share computes the same."""
    load = [0] * shares
    out: list[set[str]] = [set() for _ in range(shares)]
    for info in sorted(extensions, key=lambda i: -i.file_size):     # sorted() is stable: archive order on ties
        k = load.index(min(load))
        load[k] += info.file_size + MODULE_COST_BYTES
        out[k].add(info.orig_filename)
    return out


def merge_parts(parts: list[WheelContents]) -> WheelContents:
    """Join the shares of one wheel read with `part=(k, n)` (share 0 first) into one
    WheelContents: share 0 carries the metadata, RECORD and archive-wide problems; each share
    adds the digests, extension members and read failures of its own members."""
    base = parts[0]
    order = {name: i for i, name in enumerate(base.members)}
    digests = dict(base.digests)
    extensions = list(base.extensions)
    problems = list(base.problems)
    for other in parts[1:]:
        digests.update(other.digests)
        extensions.extend(other.extensions)
        problems.extend(p for p in other.problems if p.kind == "corrupt-member")
    extensions.sort(key=lambda e: order.get(e.name, len(order)))
    problems.sort(key=lambda p: order.get(p.member, len(order)))
    return dataclasses.replace(base, digests=digests, extensions=extensions, problems=tuple(problems), _tempdir=None)


def expand_filename_tags(filename: str) -> tuple[str, ...]:
    """Every `py-abi-plat` tag a wheel file name stands for, in the order written.

    Raises ArchiveError when the name is not a valid wheel file name (packaging decides).
    """
    return wheel_name(filename).tags


def wheel_name(filename: str) -> WheelName:
    """The wheel's file name read by packaging; ArchiveError when it is not a valid one."""
    try:
        return WheelName.parse(filename)
    except InvalidWheelFilename as exc:
        raise ArchiveError(filename, f"not a valid wheel file name ({exc})") from None


def unsafe_member_reason(name: str) -> str | None:
    """Why a member name could escape or confuse an extraction folder, or None if it is safe."""
    if not name:
        return "empty member name"
    if "\x00" in name:
        return "NUL byte in member name"
    if "\\" in name:
        return "backslash in member name"
    if name.startswith("/"):
        return "absolute member path"
    if _DRIVE.match(name):
        return "drive letter in member path"
    if any(part == ".." for part in name.split("/")):
        return "'..' in member path"
    return None


def is_extension_member(name: str) -> bool:
    """Extension modules: `.so` / `.pyd` files outside vendored-library folders."""
    return name.endswith((".so", ".pyd")) and not _VENDORED_DIRS.search(name)


def is_vendored_library(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    if _VENDORED_DIRS.search(name) and not name.endswith("/"):
        return True
    return bool(re.search(r"\.(dylib|dll)$|\.so(\.\d+)+$", base))


def install_path(name: str, dist_data: str | None) -> str:
    """Path relative to site-packages: `NAME.data/platlib/x.so` and `.../purelib/` install there."""
    if dist_data and name.startswith(dist_data + "/"):
        rest = name[len(dist_data) + 1 :]
        for scheme in ("platlib/", "purelib/"):
            if rest.startswith(scheme):
                return rest[len(scheme) :]
    return name


def read_wheel(path: Path | str, limits: WheelLimits = DEFAULT_LIMITS, *, hashes: str = HASH_ALL,
               part: tuple[int, int] = (0, 1), stream: BinaryIO | None = None,
               is_module: Callable[[str], bool] | None = None) -> WheelContents:
    """Read one wheel. `part=(k, n)` reads only share k of n, so that n workers can split one
    wheel: the extension members share_extensions gives share k, and (share 0 only) every other
    member. Name and size checks cover the whole archive in
    every share; `merge_parts` joins the shares back into one WheelContents.

    `stream` reads the archive from a seekable binary file instead of `path` (whose name is then
    only the wheel's file name): a remote wheel read with HTTP range requests goes through the
    same checks as a local one. `is_module` narrows which `.so` / `.pyd` members are read as
    extension modules (default: is_extension_member)."""
    path = Path(path)
    filename = path.name
    parsed = wheel_name(filename)
    filename_tags, project, version, build = parsed.tags, parsed.project, parsed.version, parsed.build
    try:
        archive = zipfile.ZipFile(stream if stream is not None else path)
    except FileNotFoundError:
        raise ArchiveError(filename, "no such file") from None
    except IsADirectoryError:
        raise ArchiveError(filename, "is a directory") from None
    except zipfile.BadZipFile as exc:
        raise ArchiveError(filename, f"bad zip: {exc}") from None
    except (OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise ArchiveError(filename, f"cannot open: {exc.__class__.__name__}: {exc}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise ArchiveError(filename, f"too many members ({len(infos)} > {limits.max_members})")
        declared_total = sum(info.file_size for info in infos)
        if declared_total > limits.max_total_bytes:
            raise ArchiveError(
                filename, f"declared uncompressed size {declared_total} bytes exceeds the limit of {limits.max_total_bytes}"
            )
        return _read_members(archive, infos, path, filename, filename_tags, project, version, build, limits,
                             hashes, part, stream, is_module or is_extension_member)


def _read_members(archive, infos, path, filename, filename_tags, project, version, build, limits,
                  hashes, part, stream, is_module) -> WheelContents:
    archive_size = _archive_size(path, stream)
    problems: list[ArchiveProblem] = []
    digests: dict[str, MemberDigest] = {}
    readable: list[zipfile.ZipInfo] = []
    seen: set[str] = set()
    for info in infos:
        name = info.orig_filename
        reason = unsafe_member_reason(name)
        if reason:
            problems.append(ArchiveProblem("unsafe-member", name, reason))
            continue
        if name in seen:
            # Two members with one name: which one an installer writes depends on the tool.
            problems.append(ArchiveProblem("duplicate-member", name, "member name appears more than once"))
            continue
        seen.add(name)
        if info.is_dir():
            continue
        oversized = _oversized_reason(info, limits, archive_size)
        if oversized:
            problems.append(ArchiveProblem("oversized-member", name, oversized))
            continue
        readable.append(info)
    overlapping = _overlapping_members(readable)
    if overlapping:
        problems.extend(ArchiveProblem("oversized-member", i.orig_filename,
                                       "its data overlaps another member's (overlapping-entry zip bomb?)")
                        for i in overlapping)
        readable = [i for i in readable if i not in overlapping]

    dist_info = _find_dist_info(readable, project, version)
    dist_data = dist_info[: -len(".dist-info")] + ".data" if dist_info else None

    tempdir: tempfile.TemporaryDirectory | None = None
    extensions: list[ExtensionMember] = []
    declared_sizes = {info.orig_filename: info.file_size for info in readable}
    texts: dict[str, bytes] = {}
    wanted_texts = {f"{dist_info}/WHEEL", f"{dist_info}/METADATA", f"{dist_info}/RECORD"} if dist_info else set()
    in_memory = 0
    share, shares = part
    mine = share_extensions([i for i in readable if is_extension_member(i.orig_filename) and is_module(i.orig_filename)],
                            shares)[share] if shares > 1 else None
    # Closed in the finally below unless it is the caller's stream.
    raw = (stream if stream is not None else open(path, "rb")) if _libdeflate is not None else None  # noqa: SIM115
    if hashes == HASH_MODULES_ONLY:
        wanted_texts -= {f"{dist_info}/RECORD"}
    try:
        for info in readable:
            name = info.orig_filename
            extension = is_extension_member(name) and is_module(name)
            if extension:
                if mine is not None and name not in mine:
                    continue
            elif share != 0:
                continue
            if hashes != HASH_ALL and not extension and not (dist_info and name.startswith(dist_info + "/")):
                continue
            if hashes == HASH_MODULES_ONLY and not extension and name not in wanted_texts:
                continue
            spill = None
            if extension and (info.file_size > limits.spill_bytes
                              or in_memory + info.file_size > limits.memory_bytes):
                if tempdir is None:
                    import tempfile

                    tempdir = tempfile.TemporaryDirectory(prefix="ft-audit-wheel-")
                # A flat, generated name: the member name never becomes a path on disk.
                spill = Path(tempdir.name) / f"member-{len(extensions)}{PurePosixPath(name).suffix}"
            if stream is not None and hasattr(stream, "expect"):
                # A remote stream fetches the local header and the data in one request.
                stream.expect(info.header_offset, 30 + len(name.encode()) + len(info.extra) + info.compress_size + 256)
            try:
                if raw is not None and spill is None and _fast_path_applies(info) \
                        and info.file_size <= limits.spill_bytes:
                    data, digest = _read_deflated_member(raw, info)
                else:
                    data, digest = _read_member(archive, info, spill, keep=extension or name in wanted_texts)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError,
                    RuntimeError) as exc:  # RuntimeError: encrypted member
                problems.append(ArchiveProblem("corrupt-member", name, f"cannot read: {_short(exc)}"))
                continue
            digests[name] = digest
            if name in wanted_texts:
                texts[name] = bytes(data or b"")    # a few KB: WHEEL, METADATA, RECORD
            if extension:
                if spill is None:
                    in_memory += digest.size
                extensions.append(
                    ExtensionMember(
                        name=name,
                        install_path=install_path(name, dist_data),
                        size=digest.size,
                        data=None if spill else data,
                        file=spill,
                    )
                )
    except BaseException:
        if tempdir is not None:
            tempdir.cleanup()
        raise
    finally:
        if raw is not None and raw is not stream:
            raw.close()

    wheel_file, wheel_file_error = None, None
    metadata_name = metadata_version = None
    classifiers: tuple[str, ...] = ()
    record, record_error = None, None
    if dist_info is None:
        wheel_file_error = f"no {project}-{version}.dist-info folder"
        record_error = "no .dist-info folder, so no RECORD"
    else:
        wheel_file, wheel_file_error = _parse_wheel_file(texts.get(f"{dist_info}/WHEEL"), dist_info)
        metadata = texts.get(f"{dist_info}/METADATA")
        if metadata is not None:
            # Core metadata is UTF-8; bytes that are not would make the parser hand back
            # email Header objects instead of strings.
            text = metadata.decode("utf-8", "replace")
            message = email.parser.Parser().parsestr(text, headersonly=True)   # policy compat32 (the default)
            metadata_name = message.get("Name")
            metadata_version = message.get("Version")
            classifiers = tuple(str(c).strip() for c in message.get_all("Classifier") or ())
        record_bytes = texts.get(f"{dist_info}/RECORD")
        if record_bytes is None:
            record_error = f"{dist_info}/RECORD is missing"
        else:
            record = parse_record(f"{dist_info}/RECORD", record_bytes)

    # Archive order, whichever share read what: merged shares and a whole read list alike.
    order = {info.orig_filename: i for i, info in enumerate(infos)}
    problems.sort(key=lambda p: order.get(p.member, len(order)))
    return WheelContents(
        path=path,
        filename=filename,
        project=str(project),
        version=str(version),
        build=f"{build[0]}{build[1]}" if build else None,
        filename_tags=filename_tags,
        dist_info=dist_info,
        wheel_file=wheel_file,
        wheel_file_error=wheel_file_error,
        metadata_name=metadata_name,
        metadata_version=metadata_version,
        classifiers=classifiers,
        record=record,
        record_error=record_error,
        digests=digests,
        declared_sizes=declared_sizes,
        members=tuple(info.orig_filename for info in infos),
        extensions=extensions,
        vendored_libraries=tuple(i.orig_filename for i in readable if is_vendored_library(i.orig_filename)),
        problems=tuple(problems),
        _tempdir=tempdir,
    )


def _archive_size(path: Path, stream: BinaryIO | None) -> int | None:
    try:
        if stream is not None:
            return getattr(stream, "size", None) or stream.seek(0, 2)
        return path.stat().st_size
    except (OSError, ValueError):
        return None


def _overlapping_members(infos: list[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
    """Members whose compressed data runs into the next member's local header: the trick of
    zip bombs that let many entries share one deflate stream. The end is estimated from below
    (header, name, data; no extra field or data descriptor), so honest archives never match."""
    by_offset = sorted(infos, key=lambda i: i.header_offset)
    found = []
    for this, following in itertools.pairwise(by_offset):
        end = this.header_offset + 30 + len(this.orig_filename.encode("utf-8")) + this.compress_size
        if end > following.header_offset:
            found.append(this)
    return found


def _oversized_reason(info: zipfile.ZipInfo, limits: WheelLimits, archive_size: int | None = None) -> str | None:
    if archive_size is not None and info.header_offset + info.compress_size > archive_size:
        # Checked before any read: a zip64 entry may declare 2**40 compressed bytes in a
        # 600-byte file, and reading that much would be attempted (and allocated) up front.
        return (f"declares {info.compress_size} compressed bytes at offset {info.header_offset}, "
                f"past the end of the {archive_size}-byte archive")
    if info.file_size > limits.max_member_bytes:
        return f"declares {info.file_size} bytes uncompressed (limit {limits.max_member_bytes})"
    if info.file_size > limits.ratio_floor:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            return (
                f"compression ratio {ratio:.0f}:1 ({info.compress_size} -> {info.file_size} bytes) "
                f"exceeds {limits.max_ratio}:1 (zip bomb?)"
            )
    if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
        return f"stored member declares {info.file_size} bytes but occupies {info.compress_size}"
    return None


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, spill: Path | None, *, keep: bool):
    """Hash one member as it streams; keep its bytes (in memory, or in `spill`) when asked.

    zipfile stops inflating at the declared size and checks the CRC at the end, so a member
    that lies about its size ends in an error here, never in unbounded output.
    """
    sha = hashlib.sha256()
    size = 0
    out = None
    if keep:
        out = open(spill, "wb") if spill is not None else io.BytesIO()  # noqa: SIM115 - closed in the finally below
    try:
        with archive.open(info) as member:
            while True:
                chunk = member.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > info.file_size:  # defensive: never more than declared
                    raise ValueError(f"member yields more than its declared {info.file_size} bytes")
                sha.update(chunk)
                if out is not None:
                    out.write(chunk)
        if size != info.file_size:
            raise ValueError(f"member yields {size} bytes, declared {info.file_size}")
        data = out.getvalue() if isinstance(out, io.BytesIO) else None
    finally:
        if out is not None:
            out.close()
    digest = base64.urlsafe_b64encode(sha.digest()).rstrip(b"=").decode()
    return data, MemberDigest(size=size, sha256=digest)


_LOCAL_HEADER = struct.Struct("<4s22xHH")   # signature, then file-name and extra-field lengths at 26


def _fast_path_applies(info: zipfile.ZipInfo) -> bool:
    return (info.compress_type == zipfile.ZIP_DEFLATED and not info.flag_bits & 0x1  # not encrypted
            and info.file_size > 0)


def _read_deflated_member(raw, info: zipfile.ZipInfo) -> tuple[bytes | bytearray, MemberDigest]:
    """Inflate one deflated member with libdeflate, with zipfile's own checks: local header
    signature and name, compressed bytes present, output exactly the declared size (libdeflate
    never writes past it), CRC-32."""
    raw.seek(info.header_offset)
    header = raw.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        raise zipfile.BadZipFile("truncated local file header")
    signature, name_length, extra_length = _LOCAL_HEADER.unpack(header)
    if signature != b"PK\x03\x04":
        raise zipfile.BadZipFile("bad magic number for file header")
    stored_name = raw.read(name_length)
    encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
    if stored_name.decode(encoding, "replace") != info.orig_filename:
        raise zipfile.BadZipFile("file name in directory and header differ")
    raw.seek(extra_length, 1)
    compressed = raw.read(info.compress_size)
    if len(compressed) != info.compress_size:
        raise zipfile.BadZipFile("truncated member data")
    try:
        data = _libdeflate.deflate_decompress(compressed, info.file_size)
    except _libdeflate.DeflateError as exc:
        raise zipfile.BadZipFile(f"bad deflate data ({exc})") from None
    if len(data) != info.file_size:
        raise ValueError(f"member yields {len(data)} bytes, declared {info.file_size}")
    if _libdeflate.crc32(data) != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.orig_filename!r}")
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return data, MemberDigest(size=len(data), sha256=digest)


def _find_dist_info(infos: list[zipfile.ZipInfo], project, version) -> str | None:
    """The top-level `*.dist-info` folder holding WHEEL (name matched leniently, as pip does)."""
    candidates = sorted(
        {i.orig_filename.split("/", 1)[0] for i in infos if i.orig_filename.count("/") == 1
         and i.orig_filename.split("/", 1)[0].endswith(".dist-info")
         and i.orig_filename.endswith("/WHEEL")}
    )
    if not candidates:
        return None
    from packaging.utils import canonicalize_name

    for candidate in candidates:
        name = candidate[: -len(".dist-info")].rsplit("-", 1)[0]
        if canonicalize_name(name) == project:
            return candidate
    return candidates[0]


def _parse_wheel_file(raw: bytes | None, dist_info: str) -> tuple[dict[str, list[str]] | None, str | None]:
    if raw is None:
        return None, f"{dist_info}/WHEEL is missing"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, f"{dist_info}/WHEEL is not UTF-8"
    message = email.parser.Parser().parsestr(text, headersonly=True)
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key, []).append(str(value).strip())
    if "Wheel-Version" not in fields:
        return fields, f"{dist_info}/WHEEL has no Wheel-Version"
    return fields, None


def parse_record(member: str, raw: bytes) -> Record:
    entries: list[RecordEntry] = []
    malformed: list[tuple[int, str]] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Record(member, (), ((0, "RECORD is not UTF-8"),))
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        return Record(member, (), ((0, f"RECORD is not valid CSV ({exc})"),))
    for number, row in enumerate(rows, 1):
        if not row or row == [""]:
            continue
        if len(row) != 3:
            malformed.append((number, f"expected 3 fields, found {len(row)}"))
            continue
        path, hash_field, size_field = row
        algorithm = digest = None
        if hash_field:
            algorithm, sep, digest = hash_field.partition("=")
            if not sep or not digest:
                malformed.append((number, f"hash field {hash_field[:40]!r} is not ALGORITHM=DIGEST"))
                continue
        size = None
        if size_field:
            try:
                size = int(size_field)
            except ValueError:
                malformed.append((number, f"size {size_field[:20]!r} is not a number"))
                continue
        entries.append(RecordEntry(path, algorithm, digest, size, number))
    return Record(member, tuple(entries), tuple(malformed))


def _short(exc: BaseException) -> str:
    text = str(exc).replace("\n", " ")
    return f"{exc.__class__.__name__}: {text[:160]}" if text else exc.__class__.__name__
