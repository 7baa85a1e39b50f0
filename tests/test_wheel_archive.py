"""The safe wheel reader and the archive-level gate checks, on wheels built in the test.

Everything here is offline: hostile archives (zip bombs, `../` names, truncated and non-zip
files), RECORD tampering, tag mismatches and the --require-ft sibling rule.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zipfile
from pathlib import Path

import pytest

from auditor.errors import ArchiveError
from auditor.sources.wheel import (
    WheelLimits,
    expand_filename_tags,
    install_path,
    is_extension_member,
    parse_record,
    read_wheel,
    unsafe_member_reason,
)
from auditor.target import PythonTarget
from auditor.wheel_gate import (
    WheelTags,
    archive_findings,
    assess_wheel,
    exit_code,
    platform_expectation,
    record_findings,
    sibling_findings,
    unreadable_wheel,
    wheel_file_findings,
)


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(folder: Path, filename: str, files: dict[str, bytes], *, wheel_tags: list[str] | None = None,
                classifiers: tuple[str, ...] = (), record: bool = True,
                record_override: dict[str, str] | None = None) -> Path:
    """A well-formed wheel (WHEEL, METADATA, RECORD with real hashes) unless told otherwise."""
    name, version = filename.split("-")[:2]
    dist_info = f"{name}-{version}.dist-info"
    tags = wheel_tags if wheel_tags is not None else list(expand_filename_tags(filename))
    members = dict(files)
    members[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n" + "".join(f"Tag: {t}\n" for t in tags)
    ).encode()
    members[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n"
        + "".join(f"Classifier: {c}\n" for c in classifiers)
    ).encode()
    if record:
        lines = [f"{m},{_digest(d)},{len(d)}" for m, d in members.items()]
        lines.append(f"{dist_info}/RECORD,,")
        text = "\n".join(lines) + "\n"
        for member, replacement in (record_override or {}).items():
            text = text.replace(f"{member},{_digest(members[member])}", f"{member},{replacement}")
        members[f"{dist_info}/RECORD"] = text.encode()
    path = folder / filename
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


PURE = "demo-1.0-py3-none-any.whl"


def test_filename_tags_expand_in_written_order():
    tags = expand_filename_tags("markupsafe-3.0.4-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl")
    assert tags == ("cp314-cp314t-manylinux2014_x86_64", "cp314-cp314t-manylinux_2_17_x86_64")
    with pytest.raises(ArchiveError, match="not a valid wheel file name"):
        expand_filename_tags("not-a-wheel.whl")


@pytest.mark.parametrize("name, reason", [
    ("../evil.so", "'..' in member path"),
    ("pkg/../../evil.so", "'..' in member path"),
    ("/etc/passwd", "absolute member path"),
    ("C:/Windows/evil.pyd", "drive letter in member path"),
    ("pkg\\evil.so", "backslash in member name"),
    ("pkg/evil\x00.so", "NUL byte in member name"),
    ("pkg/fine..name.so", None),
    ("pkg/mod.cpython-314t-x86_64-linux-gnu.so", None),
])
def test_unsafe_member_names(name, reason):
    assert unsafe_member_reason(name) == reason


def test_extension_members_skip_vendored_libraries():
    assert is_extension_member("lxml/etree.cpython-314t-x86_64-linux-gnu.so")
    assert is_extension_member("pkg/_x.cp314t-win_amd64.pyd")
    assert not is_extension_member("numpy.libs/libscipy_openblas64_-ff651d7f.so")
    assert not is_extension_member("pkg/.dylibs/libfoo.so")
    assert not is_extension_member("pkg/libfoo.so.1")
    assert install_path("demo-1.0.data/platlib/demo/_x.so", "demo-1.0.data") == "demo/_x.so"
    assert install_path("demo/_x.so", "demo-1.0.data") == "demo/_x.so"


def test_clean_pure_wheel_passes_with_info(tmp_path):
    path = build_wheel(tmp_path, PURE, {"demo/__init__.py": b"x = 1\n"})
    with read_wheel(path) as contents:
        assert contents.project == "demo" and contents.version == "1.0"
        assert contents.wheel_tags == ("py3-none-any",)
        assert contents.root_is_purelib is False
        assert len(contents.record.entries) == 4
        report = assess_wheel(contents, [])
    assert report.verdict == "pass"
    assert [f.code for f in report.findings] == ["FTW901"]
    assert exit_code([report]) == 0


def test_record_tampering_is_reported_per_member(tmp_path):
    files = {"demo/__init__.py": b"x = 1\n", "demo/util.py": b"y = 2\n"}
    path = build_wheel(tmp_path, PURE, files,
                       record_override={"demo/util.py": _digest(b"something else")})
    # and one member that RECORD does not list, added after RECORD was written
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("demo/sneaky.py", b"import os\n")
    with read_wheel(path) as contents:
        findings = record_findings(contents)
    by_code = {f.code: f for f in findings}
    assert set(by_code) == {"FTW102", "FTW103"}
    assert by_code["FTW102"].path == "demo/util.py"
    assert "does not match RECORD" in by_code["FTW102"].message
    assert by_code["FTW103"].path == "demo/sneaky.py"


def test_record_missing_and_listed_but_absent(tmp_path):
    path = build_wheel(tmp_path, PURE, {"demo/__init__.py": b""}, record=False)
    with read_wheel(path) as contents:
        assert [f.code for f in record_findings(contents)] == ["FTW101"]
    record = parse_record("d/RECORD", b"demo/gone.py,sha256=abc,3\nbad line\ndemo/x.py,md5=abc,3\n")
    assert [e.path for e in record.entries] == ["demo/gone.py", "demo/x.py"]
    assert record.malformed_lines == ((2, "expected 3 fields, found 1"),)


def test_weak_record_hash_is_an_error(tmp_path):
    files = {"demo/__init__.py": b"x = 1\n"}
    path = build_wheel(tmp_path, PURE, files, record_override={"demo/__init__.py": "md5=AAAA"})
    with read_wheel(path) as contents:
        findings = record_findings(contents)
    assert [(f.code, f.severity) for f in findings] == [("FTW105", "error")]
    assert "md5, weaker than sha256" in findings[0].message


def test_filename_tags_against_wheel_file(tmp_path):
    path = build_wheel(tmp_path, "demo-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl", {},
                       wheel_tags=["cp314-cp314-manylinux_2_28_x86_64"])
    with read_wheel(path) as contents:
        findings = wheel_file_findings(contents)
    assert [f.code for f in findings] == ["FTW111"]
    assert "only in the file name: cp314-cp314t-manylinux_2_28_x86_64" in findings[0].message
    assert "only in WHEEL: cp314-cp314-manylinux_2_28_x86_64" in findings[0].message


def test_parent_directory_member_is_not_read_but_the_rest_is(tmp_path):
    path = build_wheel(tmp_path, PURE, {"demo/__init__.py": b"x = 1\n"})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("../evil.so", b"\x7fELF not really")
    with read_wheel(path) as contents:
        assert "../evil.so" not in contents.digests
        assert [e.name for e in contents.extensions] == []
        assert "demo/__init__.py" in contents.digests
        report = assess_wheel(contents, [])
    codes = [f.code for f in report.findings]
    assert codes[0] == "FTW002"
    assert report.findings[0].message == "'../evil.so': '..' in member path"
    assert report.verdict == "error"
    assert exit_code([report]) == 2


def test_compression_ratio_bomb_is_refused_unread(tmp_path):
    path = build_wheel(tmp_path, PURE, {"demo/__init__.py": b""})
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("demo/bomb.bin", bytes(32 << 20))  # 32 MiB of zeros, ~32 KiB compressed
    with read_wheel(path) as contents:
        problems = [(p.kind, p.member) for p in contents.problems]
        assert problems == [("oversized-member", "demo/bomb.bin")]
        assert "zip bomb?" in contents.problems[0].reason
        assert "demo/bomb.bin" not in contents.digests
        assert [f.code for f in archive_findings(contents)] == ["FTW003"]


def _patch_central_sizes(path: Path, member: str, uncompressed: int) -> None:
    """Rewrite one member's uncompressed size in the central directory (a lying header)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46: pos + 46 + name_len] == name:
            struct.pack_into("<I", data, pos + 24, uncompressed)
            break
        pos = data.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(data))


def test_member_declaring_absurd_size_is_refused(tmp_path):
    path = build_wheel(tmp_path, PURE, {"demo/__init__.py": b"x = 1\n", "demo/big.py": b"y = 2\n"})
    _patch_central_sizes(path, "demo/big.py", 0xFFFFFFF0)
    with read_wheel(path) as contents:
        assert [(p.kind, p.member) for p in contents.problems] == [("oversized-member", "demo/big.py")]
        assert "declares 4294967280 bytes uncompressed" in contents.problems[0].reason


def test_member_lying_small_is_corrupt_not_unbounded(tmp_path):
    path = build_wheel(tmp_path, PURE, {"demo/__init__.py": b"x = 1\n", "demo/big.py": b"y = 2\n" * 1000})
    _patch_central_sizes(path, "demo/big.py", 10)
    with read_wheel(path) as contents:
        assert [(p.kind, p.member) for p in contents.problems] == [("corrupt-member", "demo/big.py")]
        assert [f.code for f in archive_findings(contents)] == ["FTW004"]


def test_total_size_and_member_count_limits(tmp_path):
    path = build_wheel(tmp_path, PURE, {f"demo/m{i}.py": b"x" * 100 for i in range(20)})
    with pytest.raises(ArchiveError, match=r"too many members \(23 > 10\)"):
        read_wheel(path, WheelLimits(max_members=10))
    with pytest.raises(ArchiveError, match=r"declared uncompressed size .* exceeds the limit of 1000"):
        read_wheel(path, WheelLimits(max_total_bytes=1000))


def test_truncated_and_non_zip_wheels_are_one_line_errors(tmp_path):
    good = build_wheel(tmp_path, PURE, {"demo/__init__.py": b"x = 1\n" * 200})
    truncated = tmp_path / "demo-2.0-py3-none-any.whl"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = tmp_path / "demo-3.0-py3-none-any.whl"
    text.write_text("this is not a zip file\n")
    for path in (truncated, text):
        with pytest.raises(ArchiveError) as info:
            read_wheel(path)
        assert info.value.where == path.name
        assert info.value.reason.startswith("bad zip: ")
        assert "\n" not in info.value.one_line()
    report = unreadable_wheel(text.name, "bad zip: File is not a zip file", ignore=frozenset({"FTW001"}))
    assert report.verdict == "error" and report.findings == ()   # ignoring cannot turn "nothing checked" into pass


@pytest.mark.parametrize("platform, expected", [
    ("manylinux_2_28_x86_64", ("elf", {"x86_64"})),
    ("musllinux_1_2_aarch64", ("elf", {"aarch64"})),
    ("manylinux_2_31_armv7l", ("elf", {"arm"})),
    ("macosx_10_15_universal2", ("macho", {"x86_64", "aarch64"})),
    ("macosx_11_0_arm64", ("macho", {"aarch64"})),
    ("win_amd64", ("pe", {"x86_64"})),
    ("win32", ("pe", {"i686"})),
    ("any", None),
])
def test_platform_expectations(platform, expected):
    got = platform_expectation(platform)
    assert (got[0], set(got[1])) == expected if expected else got is None


def test_require_ft_sibling_rule():
    names = [
        "markupsafe-3.0.4-cp314-cp314-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "markupsafe-3.0.4-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "markupsafe-3.0.4-cp314-cp314-win_amd64.whl",           # no cp314t win_amd64 given
        "markupsafe-3.0.4-cp313-cp313-win_amd64.whl",           # not a 3.14 wheel
        "psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.whl",      # abi3 serves 3.14 GIL
        "psutil-7.2.2-cp36-abi3-win_amd64.whl",
        "psutil-7.2.2-cp314-cp314t-win_amd64.whl",
    ]
    found = sibling_findings(names, PythonTarget(3, 14, True))
    assert sorted(found) == [
        "markupsafe-3.0.4-cp314-cp314-win_amd64.whl",
        "psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.whl",
    ]
    message = found["markupsafe-3.0.4-cp314-cp314-win_amd64.whl"][0].message
    assert message == "no cp314t wheel of markupsafe 3.0.4 for win_amd64 among the wheels given (--require-ft 3.14)"
    # abi3t serves 3.15t
    assert sibling_findings(["x-1-cp315-cp315-win_amd64.whl", "x-1-cp315-abi3.abi3t-win_amd64.whl"],
                            PythonTarget(3, 15, True)) == {}
    assert WheelTags.from_filename("x-1-cp315-abi3.abi3t-win_amd64.whl").free_threaded


def test_encrypted_member_is_corrupt_not_a_crash(tmp_path):
    path = build_wheel(tmp_path, PURE, {"demo/__init__.py": b"x = 1\n", "demo/secret.py": b"y = 2\n"})
    data = bytearray(path.read_bytes())
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46: pos + 46 + name_len] == b"demo/secret.py":
            data[pos + 8] |= 1  # general-purpose flag bit 0: encrypted
        pos = data.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(data))
    with read_wheel(path) as contents:
        assert [(p.kind, p.member) for p in contents.problems] == [("corrupt-member", "demo/secret.py")]
        assert "encrypted" in contents.problems[0].reason
        assert "demo/__init__.py" in contents.digests


def test_duplicate_member_names_are_unsafe(tmp_path):
    path = build_wheel(tmp_path, PURE, {"demo/__init__.py": b"x = 1\n"})
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as archive:
        archive.writestr("demo/__init__.py", b"import os; os.system('true')\n")
    with read_wheel(path) as contents:
        assert [(p.kind, p.member) for p in contents.problems] == [("duplicate-member", "demo/__init__.py")]
        report = assess_wheel(contents, [])
    assert report.verdict == "error"
    assert "FTW002" in [f.code for f in report.findings]


@pytest.fixture(params=["libdeflate", "zlib"])
def inflater(request, monkeypatch):
    """Run a test with the libdeflate fast path and with zipfile's own zlib path."""
    import auditor.sources.wheel as source

    if request.param == "zlib":
        monkeypatch.setattr(source, "_libdeflate", None)
    elif source._libdeflate is None:
        pytest.skip("the deflate package (libdeflate) is not installed")
    return request.param


def _member_data_offset(path: Path, member: str) -> tuple[int, int]:
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    data = path.read_bytes()
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    return info.header_offset + 30 + name_len + extra_len, info.compress_size


SO = "demo/_x.cpython-314t-x86_64-linux-gnu.so"
SO_BYTES = bytes(range(256)) * 400 + b"\x7fELF" * 5000


def test_extension_member_bytes_and_digest_match_zipfile(tmp_path, inflater):
    path = build_wheel(tmp_path, "demo-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl", {SO: SO_BYTES})
    with read_wheel(path) as contents:
        (ext,) = contents.extensions
        assert ext.data == SO_BYTES and ext.size == len(SO_BYTES)
        assert contents.digests[SO].sha256 == _digest(SO_BYTES)[len("sha256="):]
        assert record_findings(contents) == []


def test_corrupt_extension_data_is_reported_in_both_inflaters(tmp_path, inflater):
    path = build_wheel(tmp_path, "demo-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl", {SO: SO_BYTES})
    offset, size = _member_data_offset(path, SO)
    data = bytearray(path.read_bytes())
    for i in range(offset + size // 3, offset + size // 3 + 64):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    with read_wheel(path) as contents:
        assert [(p.kind, p.member) for p in contents.problems] == [("corrupt-member", SO)]
        assert contents.extensions == []


def test_extension_member_lying_about_its_size(tmp_path, inflater):
    path = build_wheel(tmp_path, "demo-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl", {SO: SO_BYTES})
    _patch_central_sizes(path, SO, 1000)
    with read_wheel(path) as contents:
        assert [(p.kind, p.member) for p in contents.problems] == [("corrupt-member", SO)]


def test_metadata_name_and_version_against_the_file_name(tmp_path):
    path = build_wheel(tmp_path, PURE, {"demo/__init__.py": b""})
    renamed = tmp_path / "other-2.0-py3-none-any.whl"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(renamed, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename.replace("demo-1.0.dist-info", "other-2.0.dist-info"), src.read(info))
    with read_wheel(renamed) as contents:
        messages = [f.message for f in wheel_file_findings(contents)]
    assert messages == ["METADATA Name 'demo' is not the file name's project 'other'",
                        "METADATA Version '1.0' is not the file name's version '2.0'"]


def test_overlapping_member_data_is_refused(tmp_path):
    path = build_wheel(tmp_path, PURE, {"demo/a.py": b"a = 1\n" * 50, "demo/b.py": b"b = 2\n"})
    with zipfile.ZipFile(path) as archive:
        a_offset = archive.getinfo("demo/a.py").header_offset
    data = bytearray(path.read_bytes())
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:  # point b's central entry 10 bytes into a's data
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46: pos + 46 + name_len] == b"demo/b.py":
            struct.pack_into("<I", data, pos + 42, a_offset + 40)
        pos = data.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(data))
    with read_wheel(path) as contents:
        assert [(p.kind, p.member) for p in contents.problems] == [("oversized-member", "demo/a.py"),
                                                                     ("corrupt-member", "demo/b.py")]
        assert "overlaps another member" in contents.problems[0].reason


def test_real_wheels_have_no_overlaps():
    from tests.support.wheels import require_wheel

    for key in ("numpy-2.5.5-cp314t-manylinux-x86_64", "mypy-2.4.1-cp314t-manylinux-x86_64"):
        with read_wheel(require_wheel(key), hashes="all") as contents:
            assert contents.problems == ()
