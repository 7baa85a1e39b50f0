"""`data refresh --deep`: which wheels are chosen, and the inspector's summary of real wheels."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from packaging.version import Version

from auditor.compat.deep import choose_wheels, inspect_wheel_path
from auditor.http import CachedResponse
from auditor.project_index import parse_index
from tests.support.wheels import require_wheel

FIXTURES = Path(__file__).parent / "fixtures" / "pypi"


def _files(name: str):
    body = (FIXTURES / f"{name}.simple.json").read_bytes()
    url = f"https://pypi.org/simple/{name}/"
    return parse_index(name, CachedResponse(url, body, time.time(), True, False).json(), url)


def test_one_linux_x86_64_wheel_per_target():
    chosen = choose_wheels(_files("lxml"), Version("6.1.3"))
    assert sorted(chosen) == ["3.14t", "3.15t"]
    assert chosen["3.14t"].filename == "lxml-6.1.3-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    assert "x86_64" in chosen["3.15t"].filename and "manylinux" in chosen["3.15t"].filename
    crypto = choose_wheels(_files("cryptography"), Version("50.0.2"))
    assert "abi3t" in crypto and "abi3t" in crypto["abi3t"].filename
    assert choose_wheels(_files("zstandard"), Version("0.25.0")) == {}


@pytest.mark.network
def test_lxml_cp314t_modules_reenable_the_gil():
    path = require_wheel("lxml-6.1.3-cp314t-manylinux-x86_64")
    summary = inspect_wheel_path(path, "3.14t")
    assert summary["wheel"] == path.name
    assert summary["free_threading"] == "reenables-gil"
    assert "lxml.etree" in summary["reenables_gil"]
    assert summary["verdicts"].get("reenables-gil") == len(summary["reenables_gil"])
    assert summary["modules"] >= 6


@pytest.mark.network
def test_markupsafe_cp314t_keeps_the_gil_off():
    summary = inspect_wheel_path(require_wheel("markupsafe-3.0.4-cp314t-manylinux-x86_64"), "3.14t")
    assert (summary["free_threading"], summary["modules"], summary["reenables_gil"]) == ("ready", 1, [])
    assert summary["subinterpreters"] == "own-gil"
