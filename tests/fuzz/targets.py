"""The fuzz targets: for each, where its seeds come from and a thin adapter that feeds one input
to the project's own public entry point.

An adapter returns normally or raises an AuditError (the project's typed errors: an expected
answer to a hostile input). Anything else escaping it is a crash. Where the project itself
turns unexpected exceptions into an 'internal error' result (inspect_module, the wheel gate),
the adapter either calls the same pieces without that last-resort net (binary targets) or
re-raises such a result, so a swallowed reader bug still counts.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import re
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz.mutate import Structured

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
MAX_SEED = 2 << 20


class SwallowedError(Exception):
    """An unexpected exception the project caught and reported as an internal error."""


@dataclass(frozen=True)
class Target:
    name: str
    seeds: Callable[[], list[bytes]]
    run: Callable[[bytes], None]
    tokens: Sequence[bytes] = ()
    structured: Structured | None = None
    doc: str = ""


# ------------------------------------------------------------------ seeds from pinned wheels
def _wheel_members(key: str, suffixes: tuple[str, ...], limit: int = 3) -> list[bytes]:
    from tests.support.wheels import fetch_wheel

    out = []
    with zipfile.ZipFile(fetch_wheel(key)) as archive:
        infos = sorted((i for i in archive.infolist() if i.filename.endswith(suffixes) and i.file_size <= MAX_SEED),
                       key=lambda i: i.file_size)
        for info in infos[:limit]:
            out.append(archive.read(info))
    return out


def _binary_seeds(members: Sequence[tuple[str, int]], suffix: str, extra: Sequence[Path] = ()) -> Callable[[], list[bytes]]:
    def seeds() -> list[bytes]:
        out = [path.read_bytes() for path in extra if path.exists()]
        for key, limit in members:
            out.extend(_wheel_members(key, (suffix,), limit))
        return out
    return seeds


# ------------------------------------------------------------------ elf, macho, pe
def _inspect_binary(data: bytes) -> None:
    """inspect_module's own steps (open the slices, gather facts per slice) with the same
    accepted failures, but without its last-resort `except Exception` net: what that net
    would turn into 'internal error while inspecting' escapes here."""
    import struct

    from auditor.binary.loader import open_images
    from auditor.errors import BinaryFormatError
    from auditor.inspect import _gather

    display = "fuzz.cpython-314t-x86_64-linux-gnu.so"
    try:
        images = open_images(data, display)
    except BinaryFormatError:
        return
    try:
        for image in images:
            try:
                _gather(image, display, "cp314t", None)
            except (BinaryFormatError, struct.error, ValueError, IndexError, OverflowError):
                pass  # inspect_module reports these as "corrupt binary" for that slice
    finally:
        for image in images:
            image.close()


BINARY_TOKENS = (b"PyInit_", b"PyModuleDef_Init", b"PyUnstable_Module_SetGIL", b"Py_mod_gil",
                 b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7fELF", b"\xca\xfe\xba\xbe",
                 b"\xcf\xfa\xed\xfe", b"MZ", b"PE\x00\x00", b".text", b"__DATA_CONST", b".dynsym")

ELF = Target(
    "elf",
    _binary_seeds((("markupsafe-3.0.4-cp314t-manylinux-x86_64", 1), ("markupsafe-3.0.4-cp314t-manylinux-aarch64", 1),
                   ("psutil-7.2.2-cp36-abi3-manylinux-x86_64", 1), ("greenlet-3.5.6-cp314t-manylinux-x86_64", 2)),
                  ".so", [ROOT / "ext" / "_ckernels.cpython-311-x86_64-linux-gnu.so"]),
    _inspect_binary, BINARY_TOKENS,
    doc="ELF extension modules (x86_64, aarch64; C, C++, Cython) through the inspector")
MACHO = Target(
    "macho",
    _binary_seeds((("markupsafe-3.0.4-cp314t-macosx11-arm64", 1), ("greenlet-3.5.6-cp314t-macosx11-universal2", 1),
                   ("psutil-7.2.2-cp314t-macosx11-arm64", 1), ("mlx-0.32.4-cp314t-macosx14-arm64", 1)), ".so"),
    _inspect_binary, BINARY_TOKENS,
    doc="Mach-O modules (arm64 dyld info, universal2, chained fixups) through the inspector")
PE = Target(
    "pe",
    _binary_seeds((("markupsafe-3.0.4-cp314t-win-amd64", 1), ("markupsafe-3.0.4-cp314t-win32", 1),
                   ("markupsafe-3.0.4-cp314t-win-arm64", 1), ("greenlet-3.5.6-cp314t-win-amd64", 1),
                   ("psutil-7.2.2-cp314t-win-amd64", 1)), ".pyd"),
    _inspect_binary, BINARY_TOKENS,
    doc="PE modules (amd64, x86, arm64) through the inspector")


# ------------------------------------------------------------------ wheel
_WHEEL_KEYS = ("markupsafe-3.0.4-cp314t-manylinux-x86_64", "msgpack-1.2.4-cp314t-manylinux-x86_64")
_DIST_INFO = re.compile(rb"([A-Za-z0-9_.]{1,40})-([0-9][A-Za-z0-9_.+!]{0,20})\.dist-info/")


def _wheel_seeds() -> list[bytes]:
    from tests.support.wheels import fetch_wheel

    return [fetch_wheel(key).read_bytes() for key in _WHEEL_KEYS]


def _wheel_filename(data: bytes) -> str:
    """A wheel file name that matches the archive's own dist-info (so the reader gets past the
    name checks to the members); the input alone decides it, so a replay uses the same name."""
    found = _DIST_INFO.search(data)
    project, version = (found.group(1).decode(), found.group(2).decode()) if found else ("fuzz", "1.0")
    name = f"{project}-{version}-cp314-cp314t-manylinux_2_17_x86_64.whl"
    try:
        from packaging.utils import parse_wheel_filename

        parse_wheel_filename(name)
        return name
    except Exception:  # noqa: BLE001 - packaging's several error types: use a plain valid name
        return "fuzz-1.0-cp314-cp314t-manylinux_2_17_x86_64.whl"


def _audit_wheel(data: bytes) -> None:
    from auditor.audit.wheels import audit_wheel_file
    from auditor.errors import AuditError
    from auditor.sources.wheel import read_wheel

    with tempfile.TemporaryDirectory(prefix="ft-fuzz-wheel-") as tmp:
        path = Path(tmp) / _wheel_filename(data)
        path.write_bytes(data)
        try:
            with read_wheel(path):
                pass
        except AuditError:
            pass
        report = audit_wheel_file(str(path))
        text = repr(report)
        if "internal error" in text:
            found = re.search(r"internal error[^'\"]{0,200}", text)
            raise SwallowedError(found.group(0) if found else "internal error in the wheel report")


_HOSTILE_NAMES = ("../evil.so", "/abs.so", "a/../../b.so", "", "x\\..\\y.pyd", "a\x00b.so", "C:/x.so",
                  "pkg/m.cpython-314t-x86_64-linux-gnu.so", "pkg/m.abi3.so", "pkg/lib.so.1", "ü.so")


def _wheel_structured(rng: random.Random, data: bytes) -> bytes:
    """Re-pack the archive with one member renamed, dropped, duplicated, truncated or
    rewritten, or a text member (WHEEL, METADATA, RECORD) mutated line-wise: reaches the
    checks behind a valid zip that byte flips (which break CRCs) rarely get past."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()[:200]]
    if not members:
        raise ValueError("empty archive")
    index = rng.randrange(len(members))
    info, body = members[index]
    kind = rng.randrange(6)
    if kind == 0:
        members[index] = (zipfile.ZipInfo(rng.choice(_HOSTILE_NAMES)), body)
    elif kind == 1:
        del members[index]
    elif kind == 2:
        members.append((info, body))
    elif kind == 3:
        members[index] = (info, body[:rng.randrange(len(body) + 1)])
    else:
        texts = [i for i, (m, _) in enumerate(members) if m.filename.endswith(("WHEEL", "METADATA", "RECORD"))]
        index = rng.choice(texts) if texts else index
        info, body = members[index]
        lines = body.split(b"\n")
        at = rng.randrange(len(lines))
        choice = rng.randrange(4)
        if choice == 0:
            lines[at] = rng.choice((b"Tag: cp314-cp314t-win_amd64", b"Tag: x", b"Wheel-Version: 9.0", b"Name:",
                                    b"Classifier: Programming Language :: Python :: Free Threading :: 3 - Stable",
                                    b"a,sha256=,", b",,,,,", b"x.so,sha256=AAAA,99999999999999999999",
                                    b"Root-Is-Purelib: maybe", b"\xff\xfe"))
        elif choice == 1:
            del lines[at]
        elif choice == 2:
            lines.insert(at, lines[rng.randrange(len(lines))])
        else:
            lines[at] = lines[at][: rng.randrange(len(lines[at]) + 1)]
        members[index] = (info, b"\n".join(lines))
    out = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as archive:
        warnings.simplefilter("ignore")          # duplicate names are one of the mutations
        for member, body in members:
            compress = rng.choice((zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED))
            archive.writestr(zipfile.ZipInfo(member.filename, member.date_time), body, compress_type=compress)
    return out.getvalue()


WHEEL = Target("wheel", _wheel_seeds, _audit_wheel,
               (b"PK\x01\x02", b"PK\x03\x04", b"PK\x05\x06", b"PK\x06\x06", b"\xff\xff\xff\xff", b".dist-info/"),
               _wheel_structured, doc="wheel reader + gate (audit_wheel_file) on a whole archive")


# ------------------------------------------------------------------ requirements, pyproject, pylock, uv.lock
_REQ_KINDS = ("requirements.txt", "pyproject.toml", "pylock.toml", "uv.lock")


def _requirements_seeds() -> list[bytes]:
    out = []
    base = FIXTURES / "requirements"
    for path in sorted(base.rglob("*")) + [FIXTURES / "pypi_recorded" / "requirements.txt"]:
        if path.is_file() and path.stat().st_size <= MAX_SEED:
            name = path.name if path.name in _REQ_KINDS else "requirements.txt"
            out.append(bytes([_REQ_KINDS.index(name)]) + path.read_bytes())
    return out


def _read_requirements(data: bytes) -> None:
    """The first byte picks the file kind (so mutations also cross formats), the rest is the
    file; read_input decides the reader from the file name, as the CLI does."""
    from auditor.errors import AuditError
    from auditor.sources.requirements import read_input

    if not data:
        return
    name = _REQ_KINDS[data[0] % len(_REQ_KINDS)]
    with tempfile.TemporaryDirectory(prefix="ft-fuzz-req-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data[1:])
        try:
            read_input(path)
        except AuditError:
            pass


REQUIREMENTS = Target(
    "requirements", _requirements_seeds, _read_requirements,
    (b"\n", b"-r ", b"-c ", b"-e ", b"--hash=sha256:", b" ; ", b"python_version < '3.12'", b"[extra]", b"@ ",
     b"file://", b"==", b"[[package]]", b"[project]", b"dependencies = [", b"[dependency-groups]",
     b'{include-group = "dev"}', b'"', b"'''", b"[", b"]", b"{", b"}", b"=", b",", b"\\\n", b"# ",
     b"optional-dependencies", b"lock-version = ", b"[[packages]]", b"wheels = [", b"\x00", b"\xff"),
    doc="requirements.txt / pyproject.toml / pylock.toml / uv.lock readers (read_input)")


# ------------------------------------------------------------------ C lint
_LINT_SUFFIXES = (".c", ".cpp", ".pyx")


def _lint_seeds() -> list[bytes]:
    out = []
    sources = sorted((FIXTURES / "source").glob("*.c")) + sorted((ROOT / "ext").glob("*.c"))
    sources += sorted((FIXTURES / "source").glob("*.cpp")) + sorted((FIXTURES / "source").glob("*.pyx"))
    for path in sources:
        if path.stat().st_size <= MAX_SEED:
            out.append(bytes([_LINT_SUFFIXES.index(path.suffix)]) + path.read_bytes())
    return out


def _lint(data: bytes) -> None:
    """First byte: .c / .cpp / .pyx; the rest is one source file, linted by the engine."""
    from auditor.errors import AuditError
    from auditor.lint.engine import lint_paths

    if not data:
        return
    suffix = _LINT_SUFFIXES[data[0] % len(_LINT_SUFFIXES)]
    with tempfile.TemporaryDirectory(prefix="ft-fuzz-lint-") as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(data[1:])
        try:
            lint_paths([path])
        except AuditError:
            pass


LINT = Target(
    "lint", _lint_seeds, _lint,
    (b"#if ", b"#ifdef Py_GIL_DISABLED\n", b"#endif\n", b"#else\n", b"#elif ", b"#define ", b"#include \"",
     b"\\\n", b"/*", b"*/", b"//", b"\"", b"'", b"{", b"}", b"(", b")", b";", b"static PyObject *g;\n",
     b"PyModule_Create(", b"Py_mod_gil", b"Py_MOD_GIL_NOT_USED", b"PyList_GetItem(", b"# ft-audit: ignore",
     b"/* ft-audit: ignore[", b"R\"(", b")\"", b"??/", b"cdef ", b"with nogil:", b"# cython: ", b"\x00"),
    doc="C / C++ / Cython lint pipeline (lint_paths on one file)")


# ------------------------------------------------------------------ PEP 691 index pages
_INDEX_PAGES = ("pysocks", "idna", "certifi", "typing-extensions", "urllib3", "requests")
_PAGE_URL = "https://pypi.org/simple/fuzz/"


def _index_seeds() -> list[bytes]:
    return [gzip.decompress((FIXTURES / "pypi_recorded" / "simple" / f"{name}.json.gz").read_bytes())
            for name in _INDEX_PAGES]


def _parse_index_page(data: bytes) -> None:
    """The page parser as it stands: project_index.parse_index (the one model of a project's
    files), every release, file entry, typed file and free-threaded wheel forced (it is lazy)."""
    from auditor.errors import AuditError
    from auditor.http import CachedResponse
    from auditor.project_index import parse_index

    response = CachedResponse(_PAGE_URL, data, 0.0, True, False)
    try:
        index = parse_index("fuzz", response.json(), _PAGE_URL)
    except AuditError:
        return
    assert all(f.filename in index.entries for f in index.files)
    index.free_threaded_wheels(frozenset({"cp314-cp314t-manylinux_2_28_x86_64"}))
    for version in index.releases:
        index.releases[version]
    for filename in index.entries:
        index.dist_file(filename)


_JSON_VALUES = (None, True, 0, -1, 2 ** 64, 1.5, "", "x" * 300, [], {}, [None], {"": None},
                "a.whl", "a-1.0.whl", "../../x.whl", "a-1-py3-none-any.whl", "https://evil.example/x", "//x/y",
                "1.0", "not a version", ">=3.x", {"sha256": 1}, {"sha256": "zz"})


def _json_structured(rng: random.Random, data: bytes) -> bytes:
    """Parse the page, replace, drop or duplicate one node, serialise again: a mutated page that
    is still JSON reaches the entry parsers instead of the JSON decoder."""
    doc = json.loads(data)
    for _ in range(1 + rng.randrange(3)):
        node, path = doc, []
        while isinstance(node, (dict, list)) and node and rng.random() < 0.8:
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            path.append((node, key))
            node = node[key]
        if not path:
            doc = rng.choice(_JSON_VALUES)
            continue
        parent, key = path[-1]
        action = rng.randrange(3)
        if action == 0:
            parent[key] = rng.choice(_JSON_VALUES)
        elif action == 1:
            del parent[key]
        elif isinstance(parent, list):
            parent.insert(key, parent[key])
        else:
            parent[key + "_"] = parent[key]
    return json.dumps(doc).encode()


INDEX = Target("index", _index_seeds, _parse_index_page,
               (b'"files"', b'"filename"', b'"url"', b'"yanked"', b'"requires-python"', b'"hashes"',
                b'"core-metadata"', b'"versions"', b"null", b"[]", b"{}", b'".whl"', b"-", b"\\u0000"),
               _json_structured, doc="PEP 691 project pages (project_index.parse_index)")


TARGETS: dict[str, Target] = {t.name: t for t in (ELF, MACHO, PE, WHEEL, REQUIREMENTS, LINT, INDEX)}
