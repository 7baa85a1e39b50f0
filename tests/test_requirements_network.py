"""`ft-audit requirements` on a real requirements file against real PyPI (network; HTTP answers
cached under ~/.cache/ft-audit-tests/requirements-http, revalidated with ETags).

Only facts that cannot change are asserted: what pinned releases ship, and the first release
of a project with a wheel for a given ABI (history), not what the newest release is.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditor.audit.requirements import audit_requirements

pytestmark = [pytest.mark.network, pytest.mark.slow]   # live downloads: seconds each
REAL = Path(__file__).parent / "fixtures" / "requirements" / "real-world.txt"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    base = Path(os.environ.get("FT_AUDIT_TEST_CACHE", Path.home() / ".cache" / "ft-audit-tests"))
    path = base / "requirements-http"
    path.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("FT_AUDIT_CACHE_DIR")
    os.environ["FT_AUDIT_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("FT_AUDIT_CACHE_DIR", None)
    else:
        os.environ["FT_AUDIT_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def audit_314t(cache):
    return audit_requirements([REAL], python="3.14t", platforms=["manylinux_2_28_x86_64"], use_compat=False).to_json()


def by_name(doc):
    return {p["name"]: p for p in doc["packages"]}


def test_pins_without_a_t_wheel(audit_314t):
    packages = by_name(audit_314t)
    numpy = packages["numpy"]
    assert numpy["version"] == "1.26.4" and numpy["status"] == "sdist-only"
    assert numpy["min_ft_version"] == "2.3.2"            # numpy's first cp314t wheels
    assert numpy["suggestion"].startswith("numpy>=2.3.2 (first cp314t wheel: 2.3.2;")
    assert packages["markupsafe"]["status"] == "sdist-only"
    assert packages["markupsafe"]["min_ft_version"] == "3.0.3"


def test_hyphenated_dotted_and_underscored_names(audit_314t):
    packages = by_name(audit_314t)
    assert packages["psycopg2-binary"]["status"] == "sdist-only"    # never shipped cp314t wheels
    assert packages["psycopg2-binary"]["requested_by"] == [f"{REAL}:4"]
    assert packages["zope-interface"]["status"] == "ft-wheel"
    assert packages["ruamel-yaml"]["requested_by"] == [f"{REAL}:6"]
    assert packages["typing-extensions"]["status"] == "pure-python"


def test_abi3_only_pin(audit_314t):
    bcrypt = by_name(audit_314t)["bcrypt"]
    assert bcrypt["status"] == "abi3-only"
    assert bcrypt["min_ft_version"] == "5.0.0"


def test_extras_markers_and_transitive(audit_314t):
    packages = by_name(audit_314t)
    assert "pysocks" in packages and packages["pysocks"]["requested_by"][0].startswith("requests ")
    assert "pywin32" not in packages                       # win32 only
    assert "exceptiongroup" not in packages                # host 3.11 needs it; target 3.14 does not
    skipped = " ".join(s["reason"] for s in audit_314t["skipped"])
    assert "exceptiongroup" in skipped and "pywin32" in skipped
    # pandas needs numpy; numpy 1.26.4 has no cp314t wheel, so pandas is blocked by it.
    assert any(chain.startswith("numpy 1.26.4") for chain in packages["pandas"]["blocked_by"])
    assert packages["lxml"]["status"] == "ft-wheel"
    assert audit_314t["incomplete"] == []


def test_latest_release_dropped_cp313t(cache):
    doc = audit_requirements([REAL], python="3.13t", platforms=["manylinux_2_28_x86_64"], use_compat=False,
                             transitive=False).to_json()
    rpds = by_name(doc)["rpds-py"]
    # rpds-py 2026.9.1 (PyO3 0.29) ships cp314t/cp315t but no cp313t wheels any more; the
    # newest release that still has them is suggested.
    assert rpds["min_ft_version"] == "0.22.3"
    if rpds["version"] != rpds["newest_ft_version"]:
        assert rpds["status"] == "sdist-only"
        assert rpds["suggestion"].startswith(f"rpds-py=={rpds['newest_ft_version']} (newest release with a cp313t wheel")


def test_platforms_differ(cache, tmp_path):
    reqs = tmp_path / "r.txt"
    reqs.write_text("pywin32==311; sys_platform == 'win32'\nmarkupsafe==3.0.3\n")
    doc = audit_requirements([reqs], python="3.14t", platforms=["manylinux_2_28_x86_64", "win_amd64"],
                             use_compat=False).to_json()
    packages = by_name(doc)
    assert doc["target"]["platforms"] == ["manylinux_2_28_x86_64", "win_amd64"]
    assert set(packages["pywin32"]["platforms"]) == {"win_amd64"}
    assert set(packages["markupsafe"]["platforms"]) == {"manylinux_2_28_x86_64", "win_amd64"}
    assert packages["markupsafe"]["status"] == "ft-wheel"



def test_first_ft_versions_agree_with_the_bundled_census(cache):
    """Two independent readings of PyPI history: this audit's and the compat census's."""
    pytest.importorskip("auditor.compat.lookup")
    doc = audit_requirements([REAL], python="3.14t", platforms=["manylinux_2_28_x86_64"]).to_json()
    compared = 0
    for package in doc["packages"]:
        census = (package.get("compat") or {}).get("census_first_ft_version") or {}
        if census.get("3.14t") and package["min_ft_version"]:
            assert census["3.14t"] == package["min_ft_version"], package["name"]
            compared += 1
    assert compared >= 3


def test_abi3t_wheel_on_315t(cache, tmp_path):
    reqs = tmp_path / "r.txt"
    reqs.write_text("cryptography==50.0.2\n")
    doc = audit_requirements([reqs], python="3.15t", platforms=["manylinux_2_28_x86_64"], use_compat=False,
                             transitive=False).to_json()
    crypto = by_name(doc)["cryptography"]
    # PEP 803: one cp315-abi3.abi3t wheel serves GIL and free-threaded 3.15+.
    assert crypto["status"] == "ft-wheel"
    assert crypto["wheel"] == "cryptography-50.0.2-cp315-abi3.abi3t-manylinux_2_28_x86_64.whl"
    on_314t = audit_requirements([reqs], python="3.14t", platforms=["manylinux_2_28_x86_64"], use_compat=False,
                                 transitive=False).to_json()
    assert "cp314t" in by_name(on_314t)["cryptography"]["wheel"]   # 3.14t cannot use abi3t: its own wheel


def test_a_version_pypi_does_not_have_leaves_the_rest_resolved(cache, tmp_path):
    """The first-run reproducer: pandas==2.2.2 with lxml==99.0.0 (no such release)."""
    import re

    reqs = tmp_path / "r.txt"
    reqs.write_text("pandas==2.2.2\nlxml==99.0.0\n")
    doc = audit_requirements([reqs], python="3.14t", platforms=["manylinux_2_28_x86_64"],
                             use_compat=False).to_json()
    packages = by_name(doc)
    assert [i["where"] for i in doc["incomplete"]] == [f"{reqs}:2"]
    assert re.fullmatch(r"lxml has no release 99\.0\.0; newest \d+\.\d+\.\d+", doc["incomplete"][0]["reason"])
    assert packages["pandas"]["version"] == "2.2.2"
    assert "numpy" in packages and packages["numpy"]["requested_by"] == ["pandas 2.2.2"]   # resolved, not just listed
    assert "lxml" not in packages
