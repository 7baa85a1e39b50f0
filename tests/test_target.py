"""auditor.target: the one parser for interpreter versions, platform tags checked against what
packaging computes, and "is this ABI free-threaded?" on real wheel file names."""

from __future__ import annotations

import subprocess
import sys

import pytest
from packaging import tags as ptags
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from auditor.errors import InputError
from auditor.target import (
    FREE_THREADED,
    NEWEST_FREE_THREADED,
    SUPPORTED,
    PythonTarget,
    WheelName,
    host_platform_name,
    is_free_threaded_abi,
    make_target,
    platform_tags,
)
from tests.support.wheels import PINNED


# ------------------------------------------------------------------ the parser
@pytest.mark.parametrize("text, expected", [
    ("3.14t", (3, 14, True)),
    ("3.14", (3, 14, False)),
    ("cp314t", (3, 14, True)),
    ("cp313", (3, 13, False)),
    ("314t", (3, 14, True)),
    (" 3.15T ", (3, 15, True)),
    ("3.9", (3, 9, False)),
    ("3.10", (3, 10, False)),
])
def test_parse_accepts_every_spelling(text, expected):
    assert PythonTarget.parse(text) == PythonTarget(*expected)


@pytest.mark.parametrize("text, reason", [
    ("fourteen", "expected a CPython version like 3.14t, 3.13 or cp314t, got 'fourteen'"),
    ("2.7", "expected a CPython version like 3.14t, 3.13 or cp314t, got '2.7'"),
    ("pypy3.10", "expected a CPython version like 3.14t, 3.13 or cp314t, got 'pypy3.10'"),
    ("3.14tt", "expected a CPython version like 3.14t, 3.13 or cp314t, got '3.14tt'"),
    ("3.8", "3.8 is not supported (3.9 to 3.15)"),
    ("3.16t", "3.16 is not supported (3.9 to 3.15)"),
    ("3.12t", "3.12 has no free-threaded build (3.13t to 3.15t)"),
])
def test_parse_rejects_with_one_error_naming_the_option(text, reason):
    with pytest.raises(InputError) as caught:
        PythonTarget.parse(text, "--ft-target")
    assert (caught.value.where, caught.value.reason) == ("--ft-target", reason)


def test_a_free_threaded_option_reads_the_version_as_free_threaded():
    assert PythonTarget.parse("3.14", free_threaded=True) == PythonTarget(3, 14, True)
    assert PythonTarget.parse("cp315t", free_threaded=True) == PythonTarget(3, 15, True)
    with pytest.raises(InputError) as caught:
        PythonTarget.parse("3.12", "--require-ft", free_threaded=True)
    assert caught.value.one_line() == "--require-ft: 3.12 has no free-threaded build (3.13t to 3.15t)"


def test_the_supported_range_is_data():
    assert SUPPORTED.label() == "3.9 to 3.15" and FREE_THREADED.label("t") == "3.13t to 3.15t"
    assert (3, 9) in SUPPORTED and (3, 15) in SUPPORTED and (3, 8) not in SUPPORTED and (3, 16) not in SUPPORTED
    assert (3, 14, 2) in SUPPORTED               # a full version_info prefix counts by major.minor
    for minor in range(9, 16):
        assert PythonTarget.parse(f"3.{minor}") == PythonTarget(3, minor, False)
    for minor in range(13, 16):
        assert PythonTarget.parse(f"3.{minor}t") == PythonTarget(3, minor, True)
    for minor in range(9, 13):
        with pytest.raises(InputError):
            PythonTarget.parse(f"3.{minor}t")
    assert NEWEST_FREE_THREADED == PythonTarget(3, 15, True)


def test_names_of_a_target():
    t = PythonTarget(3, 14, True)
    assert (str(t), t.abi, t.interpreter, t.full_version, t.version) == ("3.14t", "cp314t", "cp314", "3.14.0", (3, 14))
    assert (str(PythonTarget(3, 13, False)), PythonTarget(3, 13, False).abi) == ("3.13", "cp313")
    assert PythonTarget(3, 13, False).as_free_threaded() == PythonTarget(3, 13, True)
    assert PythonTarget.from_tag("cp314t") == t and PythonTarget.from_tag("cp39") == PythonTarget(3, 9, False)
    for other in ("abi3", "abi3t", "none", "py3", "pp310", "cp314d", "cp314td"):
        assert PythonTarget.from_tag(other) is None


# ------------------------------------------------------------------ tags
def test_wheel_tags_are_packagings_without_the_reserved_abi3t_tags():
    platforms = platform_tags("manylinux_2_28_x86_64")
    for target in (PythonTarget(3, 14, True), PythonTarget(3, 15, True), PythonTarget(3, 13, False)):
        ours = target.wheel_tags(platforms)
        packaging_tags = [str(t) for t in ptags.cpython_tags(target.version, abis=[target.abi], platforms=platforms)]
        packaging_tags += [str(t) for t in ptags.compatible_tags(target.version, target.interpreter, platforms)]
        dropped = [t for t in packaging_tags if t not in ours]
        assert [t for t in packaging_tags if t in ours] == list(ours)       # same order
        # only abi3t tags a target cannot load: anything on 3.13t/3.14t, cp32..cp314-abi3t on 3.15t
        assert all(t.split("-")[1] == "abi3t" for t in dropped)
    t315 = PythonTarget(3, 15, True).wheel_tags(platforms)
    assert t315[:2] == ("cp315-cp315t-manylinux_2_28_x86_64", "cp315-cp315t-manylinux_2_27_x86_64")
    assert "cp315-abi3t-manylinux2014_x86_64" in t315 and not any(t.startswith("cp314-abi3t") for t in t315)
    assert not any("abi3" in t for t in PythonTarget(3, 14, True).wheel_tags(platforms))


def test_platform_tags_of_this_machine_are_what_packaging_computes():
    host = list(ptags.platform_tags())
    name = host_platform_name()
    if not name.startswith(("manylinux", "musllinux")):
        pytest.skip(f"not a Linux host with manylinux/musllinux tags ({name})")
    assert set(platform_tags(name)) == set(host)
    assert [t for t in platform_tags(name) if not t.startswith("linux_")] == [t for t in host if not t.startswith("linux_")]


@pytest.mark.parametrize("version, arch", [((14, 0), "arm64"), ((11, 0), "arm64"), ((10, 15), "universal2"),
                                           ((10, 9), "x86_64")])
def test_macos_platform_tags_are_packagings(version, arch):
    name = f"macosx_{version[0]}_{version[1]}_{arch}"
    assert platform_tags(name) == tuple(ptags.mac_platforms(version, arch))
    assert platform_tags(name)[0] == name


def test_manylinux_expansion_and_legacy_aliases():
    x86 = platform_tags("manylinux_2_28_x86_64")
    assert x86[:2] == ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64")
    assert x86[x86.index("manylinux_2_17_x86_64") + 1] == "manylinux2014_x86_64"
    assert x86[-3:] == ("manylinux_2_5_x86_64", "manylinux1_x86_64", "linux_x86_64")
    assert platform_tags("manylinux2014_x86_64") == x86[x86.index("manylinux_2_17_x86_64"):]
    aarch64 = platform_tags("manylinux_2_28_aarch64")                       # no glibc below 2.17 on aarch64
    assert aarch64[-3:] == ("manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64")
    with pytest.raises(InputError) as caught:
        platform_tags("linux_x86_64")
    assert caught.value.where == "--platform linux_x86_64"


def test_make_target_joins_interpreter_platform_and_markers():
    target = make_target("3.13t", "win_amd64")
    assert (target.python, target.label, target.platforms, target.tags[0]) == ("3.13t", "cp313t", ("win_amd64",),
                                                                               "cp313-cp313t-win_amd64")
    assert target.marker_env["python_full_version"] == "3.13.0" and target.marker_env["platform_machine"] == "AMD64"
    assert target.rank()["cp313-cp313t-win_amd64"] == 0
    assert make_target(None, "win_amd64").python == "3.15t"                  # the newest free-threaded build
    with pytest.raises(InputError) as caught:
        make_target("3.12t", "win_amd64")
    assert caught.value.where == "--target"


# ------------------------------------------------------------------ free-threaded ABIs, wheel names
def test_is_free_threaded_abi():
    assert all(is_free_threaded_abi(a) for a in ("cp313t", "cp314t", "cp315t", "abi3t", "cp314td"))
    assert not any(is_free_threaded_abi(a) for a in ("cp314", "cp39", "abi3", "none", "cp314d", "pypy310_pp73"))


@pytest.mark.parametrize("key", sorted(PINNED))
def test_free_threaded_wheels_among_the_pinned_real_ones(key):
    """The pins' keys name their ABI by hand ("...-cp314t-...", "...-cp36-abi3-...")."""
    pin = PINNED[key]
    name = WheelName.parse(pin.filename)
    by_hand = key.split("-")
    expected = any((part.startswith("cp3") and part.endswith("t")) or part.endswith("abi3t") for part in by_hand)
    assert name.free_threaded is expected
    assert any(is_free_threaded_abi(a) for a in name.abis) is expected
    # the expansion holds exactly packaging's tags, in the order written
    assert {str(t) for t in parse_wheel_filename(pin.filename)[3]} == set(name.tags)
    assert name.tags[0].split("-")[2] == pin.filename[:-4].split("-")[-1].split(".")[0]


def test_wheel_name_keeps_the_written_order():
    name = WheelName.parse("psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.manylinux_2_12_x86_64.manylinux_2_28_x86_64.whl")
    assert (name.project, str(name.version), name.pythons, name.abis) == ("psutil", "7.2.2", ("cp36",), ("abi3",))
    assert name.platforms == ("manylinux2010_x86_64", "manylinux_2_12_x86_64", "manylinux_2_28_x86_64")
    assert name.tags[0] == "cp36-abi3-manylinux2010_x86_64" and not name.free_threaded
    built = WheelName.parse("demo-1.0-7build-cp314-cp314t-win_amd64.whl")
    assert built.build == (7, "build") and built.tags == ("cp314-cp314t-win_amd64",) and built.free_threaded
    for bad in ("demo-1.0.tar.gz", "demo-cp314-cp314t-win_amd64.whl", "demo-1.0-cp314-win_amd64.whl"):
        with pytest.raises(InvalidWheelFilename):
            WheelName.parse(bad)


def test_import_is_cheap():
    """`ft-audit env` imports the target model at start-up: packaging only, no resolver or HTTP."""
    code = ("import sys, auditor.target; print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('auditor', 'requests', 'urllib3', 'resolvelib', 'http'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == ["auditor", "auditor.errors", "auditor.target"]
