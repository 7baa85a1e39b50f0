"""auditor.wheel_modules: one path from a local wheel, a range-read wheel, a PyPI release or a
bare module file to the modules to inspect, each naming its wheel and member; and the census
(`data refresh --deep`) judging a wheel exactly as `requirements` / `env` do.

Real inputs: pinned PyPI wheels (tests/support/wheels.py), read from disk and through a range
reader over their bytes; a wheel written here with an unsafe member name.
"""

from __future__ import annotations

import zipfile

import pytest

from auditor.compat.deep import inspect_wheel_path
from auditor.sources.remote_file import RangeFile
from auditor.wheel_modules import module_file, release_modules, wheel_modules
from auditor.wheel_verdicts import (
    FROM_RANGE_READ,
    WheelFile,
    local_verdict,
    read_verdict,
)
from tests.support.wheels import fetch_wheel

LXML_T = "lxml-6.1.3-cp314t-manylinux-x86_64"
MARKUPSAFE_T = "markupsafe-3.0.4-cp314t-manylinux-x86_64"
# One of each shape: Cython ELF, C ELF, abi3 ELF (not built for FT), Windows .pyd, fat Mach-O.
JUDGED_ALIKE = (LXML_T, MARKUPSAFE_T, "psutil-7.2.2-cp36-abi3-manylinux-x86_64", "greenlet-3.5.6-cp314t-win-amd64",
                "lxml-6.1.3-cp314t-macosx10-universal2")


class BytesRanges:
    """What an index answering range requests serves, from local bytes."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def get_range(self, url: str, first: int, last: int) -> bytes:
        return self.body[first:last + 1]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))


def test_a_local_wheel_yields_modules_named_by_wheel_and_member():
    path = fetch_wheel(LXML_T)
    read = wheel_modules(path)
    assert read.wheel == path.name and read.problems == () and read.not_read == ()
    assert len(read.modules) == 7
    etree = next(m for m in read.modules if m.report.name == "lxml.etree")
    assert etree.wheel == path.name
    assert etree.member == "lxml/etree.cpython-314t-x86_64-linux-gnu.so"
    assert etree.where == f"{path.name}!lxml/etree.cpython-314t-x86_64-linux-gnu.so"
    assert etree.claimed == "cp314t"
    assert etree.report.path == etree.member           # the report keeps the member path (JSON unchanged)


def test_a_range_read_wheel_yields_the_same_modules_as_the_file():
    path = fetch_wheel(LXML_T)
    body = path.read_bytes()
    remote = RangeFile(BytesRanges(body), "https://example.invalid/" + path.name, len(body))
    far, near = wheel_modules(path.name, stream=remote), wheel_modules(path)
    assert [(m.where, m.report.to_json()) for m in far.modules] == [(m.where, m.report.to_json()) for m in near.modules]
    assert 0 < remote.bytes_fetched < len(body)


def test_a_bare_module_file_names_itself(tmp_path):
    with zipfile.ZipFile(fetch_wheel(MARKUPSAFE_T)) as archive:
        so = tmp_path / "_speedups.cpython-314t-x86_64-linux-gnu.so"
        so.write_bytes(archive.read("markupsafe/_speedups.cpython-314t-x86_64-linux-gnu.so"))
    module = module_file(so)
    assert (module.wheel, module.member, module.where, module.claimed) == (None, str(so), str(so), "cp314t")
    assert (module.report.free_threading.value, module.report.subinterpreters.value) == ("ready", "own-gil")


def test_an_inspector_crash_names_the_wheel_and_member(monkeypatch):
    import auditor.inspect

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(auditor.inspect, "inspect_module", crash)
    path = fetch_wheel(MARKUPSAFE_T)
    (module,) = wheel_modules(path).modules
    assert module.report.free_threading.value == "unknown"
    assert module.report.errors == (
        f"{path.name}!markupsafe/_speedups.cpython-314t-x86_64-linux-gnu.so: inspector failed: RuntimeError: boom",)


def test_an_unsafe_member_is_a_problem_naming_wheel_and_member_and_leaves_the_verdict_unknown(tmp_path):
    wheel = tmp_path / "evil-1.0-cp314-cp314t-linux_x86_64.whl"
    with zipfile.ZipFile(fetch_wheel(MARKUPSAFE_T)) as good, zipfile.ZipFile(wheel, "w") as bad:
        for info in good.infolist():
            bad.writestr(info.filename, good.read(info))
        bad.writestr("../escape.cpython-314t-x86_64-linux-gnu.so", b"\x7fELF")
    read = wheel_modules(wheel)
    assert read.problems == (f"{wheel.name}!../escape.cpython-314t-x86_64-linux-gnu.so: '..' in member path",)
    assert [m.report.name for m in read.modules] == ["markupsafe._speedups"]     # the rest is still read
    verdict = local_verdict(wheel)
    assert (verdict.free_threading, verdict.error) == ("unknown", read.problems[0])
    # The census takes the same path, so it says unknown too (it used to say "ready" from the rest).
    assert inspect_wheel_path(wheel, "3.14t")["free_threading"] == "unknown"


@pytest.mark.slow
@pytest.mark.parametrize("key", JUDGED_ALIKE)
def test_the_census_and_requirements_judge_a_wheel_alike(key):
    path = fetch_wheel(key)
    body = path.read_bytes()
    census = inspect_wheel_path(path, "3.14t")
    published = read_verdict(BytesRanges(body), WheelFile("x", path.name, "https://example.invalid/" + path.name,
                                                          None, len(body)))
    assert published.source == FROM_RANGE_READ and published.error is None
    assert (census["free_threading"], census["subinterpreters"]) == (published.free_threading,
                                                                      published.subinterpreters)
    judged = [m for m in published.modules if m["extension_module"]]
    assert census["modules"] == len(judged)
    assert census["reenables_gil"] == sorted(m["name"] for m in judged if m["free_threading"] == "reenables-gil")


def test_the_census_summary_of_real_wheels():
    lxml = inspect_wheel_path(fetch_wheel(LXML_T), "3.14t")
    assert (lxml["free_threading"], lxml["subinterpreters"], lxml["modules"]) == ("reenables-gil", "not-supported", 7)
    assert lxml["verdicts"] == {"reenables-gil": 7}
    abi3 = inspect_wheel_path(fetch_wheel("psutil-7.2.2-cp36-abi3-manylinux-x86_64"), "3.14t")
    assert abi3["free_threading"] == "not-built-for-ft"


@pytest.mark.network
def test_a_pypi_release_yields_its_wheels_modules():
    (read,) = list(release_modules("markupsafe==3.0.4", platforms=["manylinux2014_x86_64"], abis=["cp314t"]))
    assert read.wheel == "markupsafe-3.0.4-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl"
    assert [m.where for m in read.modules] == [f"{read.wheel}!markupsafe/_speedups.cpython-314t-x86_64-linux-gnu.so"]
    assert read.modules[0].report.free_threading.value == "ready"
