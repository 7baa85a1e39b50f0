"""tests/support/wheels.py: pinned registry is consistent; fetching verifies sha256."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import struct
import zipfile
from pathlib import Path

import pytest

from tests.support import wheels
from tests.support.unavailable import SupportUnavailable
from tests.support.wheels import PINNED, PINNED_KEYS_BY_PROJECT, fetch_wheel, pinned, require_wheel

SMALL_KEYS = ("markupsafe-3.0.4-cp314t-manylinux-x86_64", "psutil-7.2.2-cp314t-manylinux-x86_64")


def _expected_key(pin: wheels.PinnedWheel) -> str:
    """Rebuild the documented key from the filename alone."""
    python_tag, abi_tag, platform_tag = pin.filename[:-4].split("-")[-3:]
    abi = abi_tag if abi_tag.startswith("cp") else f"{python_tag}-{abi_tag}"
    first_platform = platform_tag.split(".")[0]
    linux = re.fullmatch(r"(many|musl)linux(?:1|2010|2014|_\d+_\d+)_(\w+)", first_platform)
    mac = re.fullmatch(r"macosx_(\d+)_\d+_(\w+)", first_platform)
    if linux:
        short = f"{linux.group(1)}linux-{linux.group(2)}"
    elif mac:
        short = f"macosx{mac.group(1)}-{mac.group(2)}"
    elif first_platform == "win32":
        short = "win32"
    else:
        short = first_platform.replace("_", "-", 1)
    return f"{pin.project}-{pin.version}-{abi}-{short}"


def test_registry_is_consistent() -> None:
    assert len(PINNED) >= 39
    filenames = [pin.filename for pin in PINNED.values()]
    assert len(set(filenames)) == len(filenames)
    for key, pin in PINNED.items():
        assert key == pin.key == _expected_key(pin)
        assert re.fullmatch(r"[0-9a-f]{64}", pin.sha256)
        normalized = pin.filename.split("-")[0].lower().replace("_", "-")
        assert normalized == pin.project and f"-{pin.version}-" in pin.filename
        assert pin.url.endswith("/" + pin.filename) and pin.url.startswith("https://files.pythonhosted.org/")
    assert sorted(k for keys in PINNED_KEYS_BY_PROJECT.values() for k in keys) == sorted(PINNED)
    for role_key in (wheels.UNIVERSAL2_KEY, wheels.WIN32_KEY, wheels.WIN_ARM64_KEY,
                     wheels.CHAINED_FIXUPS_KEY, wheels.DYLD_INFO_KEY):
        assert role_key in PINNED


def test_unknown_key_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no pinned wheel"):
        pinned("lxml-0.0-cp314t-manylinux-x86_64")


@pytest.fixture()
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FT_AUDIT_TEST_CACHE", str(tmp_path))
    monkeypatch.setattr(wheels, "_verified", set())
    return tmp_path / "wheels"


@pytest.mark.network
def test_fetch_verifies_and_reuses_cache(private_cache: Path) -> None:
    for key in SMALL_KEYS:
        path = require_wheel(key)
        assert path.parent == private_cache and path.name == PINNED[key].filename
        assert hashlib.sha256(path.read_bytes()).hexdigest() == PINNED[key].sha256
        with zipfile.ZipFile(path) as archive:
            assert any(name.endswith(".cpython-314t-x86_64-linux-gnu.so") for name in archive.namelist())
        mtime = path.stat().st_mtime_ns
        assert fetch_wheel(key) == path and path.stat().st_mtime_ns == mtime  # no second download
    assert not [p for p in private_cache.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]


@pytest.mark.network
def test_corrupted_cache_file_is_detected_and_refetched(private_cache: Path) -> None:
    key = SMALL_KEYS[0]
    path = fetch_wheel(key)
    good = path.read_bytes()
    # Same size, one byte flipped: only the hash can tell.
    path.write_bytes(good[:100] + bytes([good[100] ^ 0xFF]) + good[101:])
    assert fetch_wheel(key) == path
    assert path.read_bytes() == good
    path.write_bytes(good[:1000])  # truncated
    assert fetch_wheel(key).read_bytes() == good


@pytest.mark.network
def test_wrong_pinned_hash_is_support_unavailable(private_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = SMALL_KEYS[0]
    bad = dataclasses.replace(PINNED[key], sha256="0" * 64)
    monkeypatch.setitem(PINNED, key, bad)
    with pytest.raises(SupportUnavailable, match="sha256"):
        fetch_wheel(key)
    assert not (private_cache / bad.filename).exists()
    assert not [p for p in private_cache.iterdir() if not p.name.endswith(".lock")]


@pytest.mark.network
def test_stale_blob_path_falls_back_to_project_json(private_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = SMALL_KEYS[0]
    moved = dataclasses.replace(PINNED[key], blob="00/00/" + "0" * 60)
    monkeypatch.setitem(PINNED, key, moved)
    path = fetch_wheel(key)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == moved.sha256


def _first_extension(path: Path, suffixes: tuple[str, ...]) -> bytes:
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith(suffixes))
        return archive.read(name)


def _macho_load_commands(data: bytes) -> list[int]:
    if struct.unpack_from(">I", data)[0] == 0xCAFEBABE:  # fat: walk each slice
        count = struct.unpack_from(">I", data, 4)[0]
        commands: list[int] = []
        for index in range(count):
            _, _, offset, size, _ = struct.unpack_from(">5I", data, 8 + 20 * index)
            commands += _macho_load_commands(data[offset:offset + size])
        return commands
    assert struct.unpack_from("<I", data)[0] == 0xFEEDFACF  # MH_MAGIC_64
    ncmds = struct.unpack_from("<I", data, 16)[0]
    offset, commands = 32, []
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", data, offset)
        commands.append(cmd)
        offset += size
    return commands


LC_DYLD_INFO_ONLY = 0x80000022
LC_DYLD_CHAINED_FIXUPS = 0x80000034


@pytest.mark.network
def test_role_exemplars_are_what_they_claim() -> None:
    chained = _macho_load_commands(_first_extension(require_wheel(wheels.CHAINED_FIXUPS_KEY), (".so",)))
    assert LC_DYLD_CHAINED_FIXUPS in chained and LC_DYLD_INFO_ONLY not in chained
    dyld_info = _macho_load_commands(_first_extension(require_wheel(wheels.DYLD_INFO_KEY), (".so",)))
    assert LC_DYLD_INFO_ONLY in dyld_info and LC_DYLD_CHAINED_FIXUPS not in dyld_info
    fat = _first_extension(require_wheel(wheels.UNIVERSAL2_KEY), (".so",))
    assert struct.unpack_from(">II", fat) == (0xCAFEBABE, 2)
    for key, machine in ((wheels.WIN32_KEY, 0x014C), (wheels.WIN_ARM64_KEY, 0xAA64)):
        pe = _first_extension(require_wheel(key), (".pyd",))
        pe_offset = struct.unpack_from("<I", pe, 0x3C)[0]
        assert pe[pe_offset:pe_offset + 4] == b"PE\0\0"
        assert struct.unpack_from("<H", pe, pe_offset + 4)[0] == machine
