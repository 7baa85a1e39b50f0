"""Targets (tags + marker environment) and the pure migration rules, on real file names."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from auditor import migration
from auditor.errors import InputError
from auditor.project_index import parse_index
from auditor.resolve import marker_applies
from auditor.target import make_target, platform_tags

RECORDED = Path(__file__).parent / "fixtures" / "pypi_recorded" / "simple"

# Real file names (cryptography 50.0.2 and bcrypt 4.1.2 on PyPI; see capi-reference [WHEELS]).
CRYPTOGRAPHY = [
    "cryptography-50.0.2-cp315-abi3.abi3t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
    "cryptography-50.0.2-cp311-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
    "cryptography-50.0.2.tar.gz",
]


def index_of(name: str, filenames: list[str]):
    doc = {"files": [{"filename": f, "url": f"https://files.example/{f}"} for f in filenames]}
    return parse_index(name, doc, "https://index.example/simple/x/")


def recorded(name: str):
    doc = json.loads(gzip.decompress((RECORDED / f"{name}.json.gz").read_bytes()))
    return parse_index(name, doc, f"https://pypi.org/simple/{name}/")


def test_no_abi3_on_313t_314t_and_abi3t_from_315t():
    t314 = make_target("3.14t", "manylinux_2_28_x86_64")
    assert t314.tags[0] == "cp314-cp314t-manylinux_2_28_x86_64"
    assert not any("-abi3-" in t or "-abi3t-" in t for t in t314.tags)
    t315 = make_target("3.15t", "manylinux_2_28_x86_64")
    assert "cp315-abi3t-manylinux_2_17_x86_64" in t315.tags
    assert not any(t.startswith("cp314-abi3t") for t in t315.tags)      # "reserved, cannot be built"
    gil = make_target("3.14", "manylinux_2_28_x86_64")
    assert "cp39-abi3-manylinux_2_17_x86_64" in gil.tags and not gil.free_threaded


def test_abi3t_wheel_is_ft_on_315t_only():
    index = index_of("cryptography", CRYPTOGRAPHY)
    files = index.releases[Version("50.0.2")]
    on_315t = migration.classify(files, make_target("3.15t", "manylinux_2_28_x86_64"))
    assert on_315t.status == "ft-wheel" and on_315t.wheel == CRYPTOGRAPHY[0]
    on_314t = migration.classify(files, make_target("3.14t", "manylinux_2_28_x86_64"))
    assert on_314t.status == "abi3-only" and "sdist would be built" in on_314t.detail
    on_315 = migration.classify(files, make_target("3.15", "manylinux_2_28_x86_64"))
    assert on_315.status == "gil-wheel"


def test_platform_names():
    assert platform_tags("manylinux2014_aarch64")[:2] == ("manylinux_2_17_aarch64", "manylinux2014_aarch64")
    assert platform_tags("manylinux_2_28_x86_64")[-1] == "linux_x86_64"
    assert "manylinux1_x86_64" in platform_tags("manylinux_2_28_x86_64")
    assert platform_tags("musllinux_1_2_x86_64")[:3] == ("musllinux_1_2_x86_64", "musllinux_1_1_x86_64",
                                                          "musllinux_1_0_x86_64")
    assert "macosx_11_0_universal2" in platform_tags("macosx_14_0_arm64")
    assert platform_tags("win_amd64") == ("win_amd64",)
    with pytest.raises(InputError):
        platform_tags("amiga_68k")


@pytest.mark.parametrize("name, why", [
    ("linux_x86_64", "PyPI accepts no linux_* wheels"),
    ("manylinux_x86_64", "names its glibc version"),
    ("manylinux_2_28_amd64", "no manylinux wheels for architecture 'amd64'"),
    ("manylinux1_aarch64", "manylinux1 has no aarch64 wheels"),
    ("manylinux_3_1_x86_64", "only glibc 2.x"),
    ("musllinux_x86_64", "names its musl version"),
    ("macosx_arm64", "names its version and architecture"),
    ("win64", "Windows wheels are tagged win_amd64, win32, win_arm64"),
])
def test_platforms_pypi_has_no_wheels_for_are_rejected(name, why):
    """Such a tag used to be accepted and turned every compiled package into "sdist-only"."""
    with pytest.raises(InputError) as caught:
        make_target("3.14t", name)
    assert caught.value.where == f"--platform {name}"
    assert why in caught.value.reason
    assert caught.value.reason.endswith("manylinux_2_28_x86_64, manylinux2014_x86_64, musllinux_1_2_x86_64, "
                                        "macosx_14_0_arm64, win_amd64")


def test_the_default_platform_is_one_pypi_has_wheels_for():
    assert not make_target("3.14t").platform.startswith("linux_")


def test_markers_use_the_target_environment():
    win = make_target("3.13t", "win_amd64").marker_env
    mac = make_target("3.14t", "macosx_14_0_arm64").marker_env
    assert marker_applies(Marker('sys_platform == "win32" and python_version >= "3.13"'), win)
    assert not marker_applies(Marker('sys_platform == "win32"'), mac)
    assert marker_applies(Marker('platform_machine == "arm64" and platform_system == "Darwin"'), mac)
    assert marker_applies(Marker('extra == "socks"'), mac, ("socks",))
    assert not marker_applies(Marker('extra == "socks"'), mac)


def test_first_and_newest_ft_versions_on_recorded_pages():
    markupsafe = recorded("markupsafe")
    t314 = make_target("3.14t", "manylinux_2_28_x86_64")
    t313 = make_target("3.13t", "manylinux_2_28_x86_64")
    assert migration.ft_versions(markupsafe.releases, t314).first == Version("3.0.3")
    assert migration.ft_versions(markupsafe.releases, t313).first == Version("3.0.0")
    psycopg = recorded("psycopg2-binary")
    assert migration.ft_versions(psycopg.releases, t314) == migration.FtVersions(None, None)


def test_pure_fallback_versus_pure_python():
    charset = recorded("charset-normalizer")
    files = charset.releases[Version("3.5.3")]
    assert migration.classify(files, make_target("3.13t", "manylinux_2_28_x86_64")).status == "pure-fallback-only"
    assert migration.classify(files, make_target("3.14t", "manylinux_2_28_x86_64")).status == "ft-wheel"
    idna = recorded("idna")
    assert migration.classify(idna.releases[Version("3.20")], make_target("3.14t", "win_amd64")).status == "pure-python"


def test_suggestion_respects_the_specifier():
    target = make_target("3.14t", "manylinux_2_28_x86_64")
    ft = migration.FtVersions(Version("2.3.2"), Version("2.5.5"))
    pinned = migration.suggestion("numpy", Version("1.26.4"), "sdist-only", SpecifierSet("==1.26.4"), ft, target)
    assert pinned == "numpy>=2.3.2 (first cp314t wheel: 2.3.2; your numpy==1.26.4 has none)"
    allowed = migration.suggestion("numpy", Version("1.26.4"), "sdist-only", SpecifierSet(">=1.20"), ft, target)
    assert "allowed by your numpy>=1.20, so another requirement holds 1.26.4 back" in allowed
    assert migration.suggestion("numpy", Version("2.4.0"), "ft-wheel", SpecifierSet(), ft, target) is None
    transitive = migration.suggestion("numpy", Version("1.26.4"), "sdist-only", SpecifierSet("<2"), ft, target,
                                      "pandas 2.2.0")
    assert transitive == "numpy>=2.3.2 (first cp314t wheel: 2.3.2; numpy<2 as required by pandas 2.2.0 has none)"


def test_parse_index_skips_unparsable_names_and_keeps_yanked():
    index = index_of("x", ["x-1.0-py3-none-any.whl", "x-bad-name.whl", "x-2.0.tar.gz", "x.tar.gz"])
    assert sorted(index.releases) == [Version("1.0"), Version("2.0")]
