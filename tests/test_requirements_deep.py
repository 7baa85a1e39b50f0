"""`ft-audit requirements --deep`: the chosen wheels are downloaded (hash-checked) and inspected.

The index is local (tests/requirements_server.py) and serves pinned real wheels from PyPI
(tests/support/wheels.py), so the verdicts come from the real binaries.
"""

from __future__ import annotations

import json

import pytest

from auditor.cli import main
from tests.requirements_server import RecordedIndex
from tests.support.wheels import fetch_wheel


@pytest.fixture()
def deep_index(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    wheels = {
        "lxml": [fetch_wheel("lxml-6.1.3-cp314t-manylinux-x86_64")],
        "markupsafe": [fetch_wheel("markupsafe-3.0.4-cp314t-manylinux-x86_64")],
    }
    with RecordedIndex(wheels) as served:
        yield served


def test_deep_reports_a_t_wheel_that_reenables_the_gil(deep_index, tmp_path, capsys):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("lxml==6.1.3\nmarkupsafe>=3\n")
    code = main(["requirements", str(reqs), "--target", "3.14t", "--platform", "manylinux_2_17_x86_64",
                 "--index-url", deep_index.url, "--deep", "--format", "json", "--no-compat"])
    doc = json.loads(capsys.readouterr().out)
    by_name = {p["name"]: p for p in doc["packages"]}
    lxml = by_name["lxml"]
    assert lxml["status"] == "ft-wheel"                 # a cp314t wheel exists ...
    assert lxml["free_threading"] == "reenables-gil"    # ... but its modules declare Py_mod_gil = USED
    assert lxml["deep_reason"].startswith("wheel exists, re-enables the GIL")
    assert any(m["gil"] == "used" for m in lxml["modules"])
    assert {m["free_threading"] for m in lxml["modules"]} >= {"reenables-gil"}
    markupsafe = by_name["markupsafe"]
    assert markupsafe["status"] == "ft-wheel" and markupsafe["free_threading"] == "ready"
    assert markupsafe["subinterpreters"] in ("own-gil", "shared-gil-only", "not-supported", "unknown")
    assert [m["name"] for m in markupsafe["modules"]] == ["markupsafe._speedups"]
    # Dependencies were read from the downloaded wheel (no range requests, no PEP 658 here).
    assert not doc["incomplete"]
    assert code == 1                                    # reenables-gil is in the default --fail-on
    code = main(["requirements", str(reqs), "--target", "3.14t", "--platform", "manylinux_2_17_x86_64",
                 "--index-url", deep_index.url, "--deep", "--format", "json", "--no-compat",
                 "--fail-on", "sdist-only"])
    capsys.readouterr()
    assert code == 0


def test_without_deep_the_verdicts_are_null(deep_index, tmp_path, capsys):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("lxml==6.1.3\n")
    code = main(["requirements", str(reqs), "--target", "3.14t", "--platform", "manylinux_2_17_x86_64",
                 "--index-url", deep_index.url, "--format", "json", "--no-compat"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["packages"][0]["free_threading"] is None and doc["packages"][0]["modules"] == []
    assert code == 0


def test_compat_data_is_cross_referenced(deep_index, tmp_path, capsys):
    pytest.importorskip("auditor.compat.lookup")
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("lxml==6.1.3\n")
    main(["requirements", str(reqs), "--target", "3.14t", "--platform", "manylinux_2_17_x86_64",
          "--index-url", deep_index.url, "--deep", "--format", "json"])
    lxml = json.loads(capsys.readouterr().out)["packages"][0]
    compat = lxml["compat"]
    assert set(compat) == {"tracker_status", "tracker_first_version", "wheels_list_free_threaded_wheel",
                           "in_census", "census_first_ft_version", "disagreements"}
    assert isinstance(compat["disagreements"], list)
    assert compat["census_first_ft_version"] is None or isinstance(compat["census_first_ft_version"], dict)
