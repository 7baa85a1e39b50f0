"""Resolution for the target (auditor.resolve) on small wheels built here and served by the
local index: backtracking, conflicts, blocked-by chains, sdist-only dependencies."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from auditor.audit.requirements import audit_requirements
from auditor.commands.requirements import exit_code
from auditor.http import HttpClient
from auditor.pypi import PyPIClient
from tests.requirements_server import RecordedIndex


def make_wheel(folder: Path, name: str, version: str, requires: list[str] = (), tag: str = "py3-none-any") -> Path:
    path = folder / f"{name}-{version}-{tag}.whl"
    dist_info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{dist_info}/METADATA", metadata)
        archive.writestr(f"{dist_info}/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: {tag}\n")
        archive.writestr(f"{dist_info}/RECORD", "")
    return path


def make_sdist(folder: Path, name: str, version: str) -> Path:
    path = folder / f"{name}-{version}.tar.gz"
    path.write_bytes(b"\x1f\x8b not really an sdist: never downloaded")
    return path


@pytest.fixture()
def serve(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    servers = []

    def start(wheels: dict[str, list[Path]]) -> RecordedIndex:
        server = RecordedIndex(wheels).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def run(index: RecordedIndex, tmp_path: Path, text: str) -> dict:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(text)
    client = PyPIClient(index.url, None, http=HttpClient(retries=0))
    return audit_requirements([reqs], python="3.14t", platforms=["manylinux_2_28_x86_64"], client=client,
                              use_compat=False).to_json()


def by_name(doc: dict) -> dict:
    return {p["name"]: p for p in doc["packages"]}


def test_backtracks_to_a_release_that_fits(serve, tmp_path):
    d = tmp_path / "dists"
    d.mkdir()
    index = serve({
        "app": [make_wheel(d, "app", "2.0", ["lib==1.0"]), make_wheel(d, "app", "1.0", ["lib>=1"])],
        "lib": [make_wheel(d, "lib", "1.0"), make_wheel(d, "lib", "2.0")],
    })
    doc = run(index, tmp_path, "app\nlib>=2\n")
    packages = by_name(doc)
    assert packages["app"]["version"] == "1.0"       # app 2.0 pins lib 1.0, which lib>=2 excludes
    assert packages["lib"]["version"] == "2.0"
    assert sorted(packages["lib"]["requested_by"]) == sorted([f"{tmp_path / 'requirements.txt'}:2", "app 1.0"])
    assert doc["incomplete"] == []


def test_conflict_is_incomplete_and_still_lists_the_pins(serve, tmp_path):
    d = tmp_path / "dists"
    d.mkdir()
    index = serve({
        "app": [make_wheel(d, "app", "1.0", ["lib==1.0"])],
        "lib": [make_wheel(d, "lib", "1.0"), make_wheel(d, "lib", "2.0")],
    })
    doc = run(index, tmp_path, "app==1.0\nlib==2.0\n")
    assert any("no consistent set of versions" in i["reason"] and "lib==1.0 (from app 1.0)" in i["reason"]
               for i in doc["incomplete"])
    assert {p["name"]: p["version"] for p in doc["packages"]} == {"app": "1.0", "lib": "2.0"}
    assert exit_code(doc, frozenset()) == 2


def test_blocked_by_chains_and_sdist_only_dependencies(serve, tmp_path):
    d = tmp_path / "dists"
    d.mkdir()
    index = serve({
        "app": [make_wheel(d, "app", "1.0", ["middle"])],
        "middle": [make_wheel(d, "middle", "1.0", ["native>=1", "fast"])],
        "native": [make_sdist(d, "native", "1.0")],
        "fast": [make_wheel(d, "fast", "3.0", tag="cp314-cp314t-manylinux_2_17_x86_64"),
                 make_wheel(d, "fast", "3.0", tag="cp314-cp314-manylinux_2_17_x86_64")],
    })
    doc = run(index, tmp_path, "app\n")
    packages = by_name(doc)
    assert packages["native"]["status"] == "sdist-only"
    assert packages["fast"]["status"] == "ft-wheel"
    assert packages["fast"]["min_ft_version"] == "3.0"
    assert packages["app"]["blocked_by"] == ["middle 1.0 -> native 1.0 (sdist-only)"]
    assert packages["middle"]["blocked_by"] == ["native 1.0 (sdist-only)"]
    assert packages["native"]["blocked_by"] == []
    # The sdist's own dependencies cannot be known without a build: said, not hidden.
    assert [i["where"] for i in doc["incomplete"]] == ["native 1.0"]


def test_pure_fallback_only_for_a_compiled_project(serve, tmp_path):
    d = tmp_path / "dists"
    d.mkdir()
    index = serve({"speedy": [make_wheel(d, "speedy", "1.0", tag="cp314-cp314-manylinux_2_17_x86_64"),
                              make_wheel(d, "speedy", "1.0", tag="py3-none-any")]})
    doc = run(index, tmp_path, "speedy\n")
    speedy = by_name(doc)["speedy"]
    assert speedy["status"] == "pure-fallback-only"
    assert speedy["wheel"] == "speedy-1.0-py3-none-any.whl"
    assert exit_code(doc, frozenset({"pure-fallback-only"})) == 1
    assert exit_code(doc, frozenset()) == 0


def test_a_kept_resolution_is_reused_until_a_page_changes(serve, tmp_path):
    import json as _json

    d = tmp_path / "dists"
    d.mkdir()
    lib = [make_wheel(d, "lib", "1.0")]
    index = serve({"app": [make_wheel(d, "app", "1.0", ["lib"])], "lib": lib})
    first = run(index, tmp_path, "app\n")
    assert by_name(first)["lib"]["version"] == "1.0"
    asked = len(index.requests)
    again = run(index, tmp_path, "app\n")
    assert again == first and len(index.requests) == asked       # warm: nothing asked, same answer
    assert len(list((tmp_path / "cache" / "resolutions").glob("*.json"))) == 1
    lib.append(make_wheel(d, "lib", "2.0"))                        # a new release is uploaded ...
    for meta in (tmp_path / "cache" / "http").rglob("*.meta.json"):
        doc = _json.loads(meta.read_text())
        doc["fetched_at"] -= 3600                                  # ... and the cached pages expire
        meta.write_text(_json.dumps(doc))
    after = run(index, tmp_path, "app\n")
    assert by_name(after)["lib"]["version"] == "2.0"
