"""auditor.wheel_verdicts: binary verdicts of published wheels (census, cache, range reads).

Real inputs: pinned PyPI wheels (tests/support/wheels.py) read through a range-answering
reader, the bundled census's own record of lxml 6.1.3, a local index serving the pinned
wheels, and (network) a real CPython 3.13 venv with lxml 6.1.3 against live PyPI.
"""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from auditor.envaudit import FtOffer
from auditor.errors import ServiceError
from auditor.sources.remote_file import RangeFile
from auditor.sources.wheel import read_wheel
from auditor.wheel_verdicts import (
    FROM_CENSUS,
    WheelFile,
    census_entries,
    census_verdict,
    is_read_as_module,
    wheel_verdicts,
)
from tests.support.wheels import fetch_wheel

LXML_T = "lxml-6.1.3-cp314t-manylinux-x86_64"
MARKUPSAFE_T = "markupsafe-3.0.4-cp314t-manylinux-x86_64"
# The bundled census inspected this exact file on 2026-11-25 (data/census.json, packages.lxml.deep).
LXML_CENSUS_FILE = "lxml-6.1.3-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
LXML_CENSUS_URL = ("https://files.pythonhosted.org/packages/29/e3/e7763d1661b283ddd4fa36f91b9a497db6b8d2aff55028b"
                   "16c7f642e0755/" + LXML_CENSUS_FILE)


class BytesRanges:
    """A range reader over local bytes that records every request (what an index would serve)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.asked: list[tuple[int, int]] = []

    def get_range(self, url: str, first: int, last: int) -> bytes:
        self.asked.append((first, last))
        return self.body[first:last + 1]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))


def test_range_file_reads_only_the_directory_and_the_extension_members():
    path = fetch_wheel(LXML_T)
    body = path.read_bytes()
    ranges = BytesRanges(body)
    remote = RangeFile(ranges, "https://example.invalid/x.whl", len(body))
    with read_wheel(path, hashes="modules-only", stream=remote) as remote_contents, \
            read_wheel(path, hashes="audited") as local_contents:
        assert [(m.name, m.data) for m in remote_contents.extensions] == \
            [(m.name, m.data) for m in local_contents.extensions]
        modules = sum(m.size for m in remote_contents.extensions)
    # The seven modules are most of lxml's wheel; everything else (the .py files, the headers,
    # RECORD) was not fetched, and one request per member, plus the tail, was enough.
    assert remote.bytes_fetched < len(body)
    assert remote.requests <= 1 + 7 + 2
    assert modules > 0


def test_range_file_stops_at_its_byte_budget():
    body = fetch_wheel(MARKUPSAFE_T).read_bytes()
    remote = RangeFile(BytesRanges(body), "https://example.invalid/m.whl", len(body), max_bytes=1024)
    with pytest.raises(ServiceError, match="range reads would exceed"):
        remote.seek(-22, 2)
        remote.read(22)


def test_range_file_refuses_a_short_answer():
    class Short(BytesRanges):
        def get_range(self, url, first, last):
            return super().get_range(url, first, last)[:-1]

    body = fetch_wheel(MARKUPSAFE_T).read_bytes()
    remote = RangeFile(Short(body), "https://example.invalid/m.whl", len(body))
    with pytest.raises(ServiceError, match="bytes, expected"):
        remote.read(10)


def test_shared_libraries_named_lib_are_not_read_as_modules():
    assert is_read_as_module("torch/_C.cpython-314t-x86_64-linux-gnu.so")
    assert is_read_as_module("greenlet/_greenlet.cp314t-win_amd64.pyd")
    assert is_read_as_module("pkg/_speedups.so")                     # untagged, but named like a module
    assert not is_read_as_module("torch/lib/libtorch_cpu.so")        # hundreds of MB, never imported


def test_census_verdict_needs_the_same_file():
    census = census_entries(["lxml"])["lxml"]
    same = census_verdict(census, WheelFile("lxml", LXML_CENSUS_FILE, LXML_CENSUS_URL, None, None))
    assert same is not None and same.source == FROM_CENSUS
    assert (same.free_threading, same.subinterpreters) == ("reenables-gil", "not-supported")
    assert same.evidence == "lxml._elementpath and 6 more module(s); ft-audit census of this file, 2026-11-25"
    # Same name, another URL (a re-upload or another index): not the inspected file.
    other = WheelFile("lxml", LXML_CENSUS_FILE, "https://mirror.invalid/" + LXML_CENSUS_FILE, None, None)
    assert census_verdict(census, other) is None


def test_verdicts_from_range_reads_then_from_the_cache(tmp_path):
    from auditor.http import HttpClient
    from tests.requirements_server import RecordedIndex

    path = fetch_wheel(MARKUPSAFE_T)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with RecordedIndex({"markupsafe": [path]}, ranges=True) as index:
        url = index.url.replace("/simple", "/files/") + path.name
        wheel = WheelFile("markupsafe", path.name, url, sha, path.stat().st_size)
        http = HttpClient(retries=0, cache_root=tmp_path / "http")
        first = wheel_verdicts([wheel], http=http)[path.name]
        again = wheel_verdicts([wheel], http=http)[path.name]
        assert index.range_bytes == first.bytes_read
    assert (first.free_threading, first.subinterpreters, first.source) == ("ready", "own-gil", "range-read")
    assert first.evidence == "all 1 extension module(s) keep the GIL off"
    assert first.bytes_read == path.stat().st_size      # a 23 kB wheel: the first tail read is all of it
    assert (again.free_threading, again.source, again.bytes_read) == ("ready", "cache", 0)
    assert [m["name"] for m in again.modules] == ["markupsafe._speedups"]


def test_the_env_offer_text_carries_the_verdict():
    offer = FtOffer("cp314t", "6.1.3", True, LXML_CENSUS_FILE, "6.0.2", "6.1.3", "6.1.3",
                    free_threading="reenables-gil", subinterpreters="not-supported",
                    evidence="lxml.etree: declares the GIL used (Py_mod_gil(4) = 0 Py_MOD_GIL_USED)",
                    verdict_source="range-read")
    assert offer.text == ("cp314t: 6.1.3 has a wheel, but it re-enables the GIL "
                          "(lxml.etree: declares the GIL used (Py_mod_gil(4) = 0 Py_MOD_GIL_USED))")
    assert offer.to_json()["free_threading"] == "reenables-gil"
    assert offer.to_json()["subinterpreters"] == "not-supported"
    ready = FtOffer("cp314t", "3.0.4", True, "m.whl", free_threading="ready", evidence="all 1 ...")
    assert ready.text == "cp314t: 3.0.4 has a wheel that keeps the GIL off"


LXML_CP313_HASHES = (  # lxml 6.1.3 cp313 manylinux x86_64 wheels, from https://pypi.org/pypi/lxml/json
    "d85dfab42dd672f87a7f76e9de7172962aee69fa12044f0d6e1a23cbd53fb80e",
    "b477912f42c5c33405a10c759d22f80cf5af043ae02d95b9d8e5e5bc555739ed",
)


@pytest.mark.network
@pytest.mark.slow
def test_env_on_a_gil_venv_judges_the_offered_cp314t_wheel(tmp_path, capsys, monkeypatch):
    """The first-run reproducer: a GIL 3.13 venv with lxml 6.1.3 said "cp314t: 6.1.3 has a wheel"
    and nothing more; the offered wheel's modules re-enable the GIL."""
    from auditor.cli import main
    from tests.support.pyenv import pyenv_python
    from tests.support.unavailable import skip_or_fail

    python = pyenv_python(13)
    if python is None:
        skip_or_fail("no pyenv CPython 3.13")
    venv = tmp_path / "venv"
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True, capture_output=True)
    reqs = tmp_path / "r.txt"
    reqs.write_text("lxml==6.1.3 " + " ".join(f"--hash=sha256:{h}" for h in LXML_CP313_HASHES) + "\n")
    installed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                                "--only-binary=:all:", "--require-hashes", "-r", str(reqs)],
                               capture_output=True, text=True)
    if installed.returncode != 0:
        skip_or_fail(f"pip could not install lxml 6.1.3: {installed.stderr.strip()[-200:]}")
    # A relative --python, as in the README's example.
    monkeypatch.chdir(tmp_path)
    main(["env", "--python", "venv/bin/python", "--target", "3.14t", "--format", "json", "--no-compat"])
    doc = json.loads(capsys.readouterr().out)
    lxml = next(d for d in doc["distributions"] if d["name"] == "lxml")
    offer = next(o for o in lxml["ft_offers"] if o["target"] == "cp314t")
    assert offer["pinned_has_wheel"] is True
    assert (offer["free_threading"], offer["subinterpreters"]) == ("reenables-gil", "not-supported")
    assert offer["verdict_source"] in ("census", "range-read")
    main(["env", "--python", "venv/bin/python", "--target", "3.14t", "--no-compat"])
    assert "cp314t: 6.1.3 has a wheel, but it re-enables the GIL (lxml." in capsys.readouterr().out
