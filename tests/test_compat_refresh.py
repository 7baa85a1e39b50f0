"""`ft-audit data refresh` against a local HTTP server: recorded PyPI responses and the community excerpts.

The server on 127.0.0.1 serves the PyPI simple JSON / project JSON recorded in
tests/fixtures/pypi (see RECORDED for the date) and the two community excerpts in
tests/fixtures/compat (see SOURCE.md there), with ETags,
and can be told to fail or truncate a path, so the live path, the cache and the failure
handling are tested deterministically.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.compat.community import load_community
from auditor.compat.dataset import read_census
from auditor.compat.lookup import decode_census_entry
from tests.support.compat_sources import EXCERPT_TRACKING_ROWS, EXCERPT_WHEELS_ROWS, EXCERPTS

FIXTURES = Path(__file__).parent / "fixtures" / "pypi"
PACKAGES = ("markupsafe", "zstandard", "lxml", "tokenizers", "cryptography")


class Server:
    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.fail: dict[str, int] = {}          # path -> HTTP status to answer instead
        self.truncate: set[str] = set()         # paths answered with half their body
        self.requests: list[tuple[str, str | None]] = []  # (path, If-None-Match)
        for name in PACKAGES:
            self.routes[f"/simple/{name}/"] = ((FIXTURES / f"{name}.simple.json").read_bytes(),
                                               "application/vnd.pypi.simple.v1+json")
            self.routes[f"/pypi/{name}/json"] = ((FIXTURES / f"{name}.json").read_bytes(), "application/json")
        self.routes["/community/tracking.md"] = ((EXCERPTS / "tracking.md").read_bytes(), "text/markdown")
        self.routes["/community/results.json"] = ((EXCERPTS / "results.json").read_bytes(), "application/json")
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.requests.append((self.path, self.headers.get("If-None-Match")))
                if self.path in server.fail:
                    self.send_response(server.fail[self.path])
                    self.end_headers()
                    return
                if self.path not in server.routes:
                    self.send_response(404)
                    self.end_headers()
                    return
                body, ctype = server.routes[self.path]
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                if self.path in server.truncate:
                    body = body[: len(body) // 2]
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # shutdown() waits for the serve loop's next poll: 0.5 s per test at the default interval.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = Server()
    yield srv
    srv.close()


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FT_AUDIT_PROGRESS", raising=False)
    return tmp_path


def refresh(server: Server, tmp: Path, *extra: str, names=PACKAGES) -> int:
    packages = tmp / "packages.txt"
    packages.write_text("# test list\n" + "\n".join(names) + "\n")
    return main(["data", "refresh", "--packages", str(packages), "--output", str(tmp / "census.json"),
                 "--index-url", f"{server.url}/simple", "--json-url", f"{server.url}/pypi",
                 "--source-url", f"tracking={server.url}/community/tracking.md",
                 "--source-url", f"wheels={server.url}/community/results.json", "--workers", "4", *extra])


def test_refresh_builds_the_census_and_imports_both_sources(server, env, capsys):
    assert refresh(server, env) == 0
    doc = read_census(env / "census.json")
    assert list(doc["packages"]) == list(PACKAGES)
    assert doc["failures"] == {}
    entry = lambda n: decode_census_entry(doc["packages"][n], doc["platform_sets"])  # noqa: E731
    markupsafe = entry("markupsafe")
    assert markupsafe.latest_version == "3.0.4"
    assert markupsafe.first_ft_version == {"3.13t": "3.0.0", "3.14t": "3.0.3", "3.15t": "3.0.4"}
    assert markupsafe.first_ft_date["3.13t"] == "2024-10-07"
    assert "manylinux-x86_64" in markupsafe.ft_platforms["3.14t"]
    assert markupsafe.source.url == f"{server.url}/simple/markupsafe/"
    zstandard = entry("zstandard")
    assert zstandard.compiled and not zstandard.ever_ft
    assert zstandard.classifier == "1 - Unstable"
    lxml = entry("lxml")
    assert lxml.latest_version == "6.1.3" and lxml.first_ft_version["3.14t"] == "6.0.2"
    assert set(lxml.ft_wheels("6.1.3")) == {"3.14t", "3.15t"}
    assert entry("tokenizers").first_ft_version == {"3.14t": "0.23.3"}
    crypto = entry("cryptography")
    assert crypto.first_ft_version["abi3t"] == "50.0.2" and crypto.classifier == "3 - Stable"

    community, problems = load_community()
    assert problems == []
    assert len(community.imports["tracking"].rows) == EXCERPT_TRACKING_ROWS
    assert len(community.imports["wheels"].rows) == EXCERPT_WHEELS_ROWS
    assert community.imports["wheels"].content_date == "2026-06-14T11:03:57+00:00"
    assert community.imports["tracking"].origin == f"{server.url}/community/tracking.md"
    out = capsys.readouterr().out
    assert "census: 5 packages read from PyPI" in out and "tracking table: imported" in out


def test_second_refresh_uses_the_cache(server, env):
    assert refresh(server, env) == 0
    assert refresh(server, env) == 0
    # community sources are cached for a day: no second request
    assert server.hits("/community/tracking.md") == 1
    assert server.hits("/community/results.json") == 1


@pytest.mark.slow
def test_unreachable_source_is_said_once_and_the_rest_goes_on(server, env, capsys):
    server.fail["/community/tracking.md"] = 503
    assert refresh(server, env) == 0
    err = capsys.readouterr().err
    assert err.count("tracking table unreachable") == 1
    assert "no previous import to fall back on" in err
    community, _ = load_community()
    assert "tracking" not in community.imports and len(community.imports["wheels"].rows) == EXCERPT_WHEELS_ROWS
    assert read_census(env / "census.json")["packages"]["markupsafe"]["latest"] == "3.0.4"


def test_no_community_source_readable_is_exit_2(env, capsys, monkeypatch):
    """Both live sources on a closed port of 127.0.0.1: the refresh read nothing, so it could
    not check (exit 2) and says so once per source; the census alone is not asked for."""
    import socket

    import auditor.http

    # The retries' back-off (3.5 s per source): every attempt is still made, without the waits.
    monkeypatch.setattr(auditor.http, "_backoff", lambda seconds, deadline: True)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"   # bound, never listening: refused
        assert main(["data", "refresh", "--no-census", "--source-url", f"tracking={closed}/tracking.md",
                     "--source-url", f"wheels={closed}/results.json"]) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("ft-audit: error: ")]
    assert len(errors) == 2
    assert errors[0].startswith(f"ft-audit: error: py-free-threading tracking table unreachable ({closed}/tracking.md")
    assert errors[1].startswith(f"ft-audit: error: free-threaded-wheels list unreachable ({closed}/results.json")
    assert all(line.endswith("; no previous import to fall back on") for line in errors)
    assert "ft-audit: note:" not in captured.err
    assert "tracking table: not updated" in captured.out and "wheels list: not updated" in captured.out
    assert load_community()[0].imports == {}


def test_truncated_download_keeps_the_previous_import(server, env, capsys):
    assert main(["data", "refresh", "--no-census",
                 "--from-file", f"wheels={EXCERPTS / 'results.json'}",
                 "--from-file", f"tracking={EXCERPTS / 'tracking.md'}"]) == 0
    before = load_community()[0].imports["wheels"]
    capsys.readouterr()
    server.truncate.add("/community/results.json")
    assert refresh(server, env) == 2
    err = capsys.readouterr().err
    assert "free-threaded-wheels list:" in err and "invalid JSON" in err and "truncated" in err
    assert f"keeping the previous import from {before.fetched_at[:10]}" in err
    after = load_community()[0].imports["wheels"]
    assert after.sha256 == before.sha256 and after.origin == before.origin and len(after.rows) == EXCERPT_WHEELS_ROWS


def test_changed_format_from_file_is_an_error_and_keeps_previous(env, tmp_path, capsys):
    assert main(["data", "refresh", "--no-census", "--from-file", f"tracking={EXCERPTS / 'tracking.md'}",
                 "--from-file", f"wheels={EXCERPTS / 'results.json'}"]) == 0
    broken = tmp_path / "tracking.md"
    broken.write_text((EXCERPTS / "tracking.md").read_text().replace(":simple-linux:", ":simple-freebsd:"))
    capsys.readouterr()
    assert main(["data", "refresh", "--no-census", "--from-file", f"tracking={broken}",
                 "--from-file", f"wheels={EXCERPTS / 'results.json'}"]) == 2
    err = capsys.readouterr().err
    assert "unknown icon(s) :simple-freebsd: in 'nightly wheels'" in err
    assert str(broken) in err
    assert load_community()[0].imports["tracking"].origin == str((EXCERPTS / "tracking.md").resolve())


@pytest.mark.slow
def test_pypi_errors_keep_previous_entries_and_list_new_failures(server, env, capsys, monkeypatch):
    assert refresh(server, env) == 0
    first = (env / "census.json").read_bytes()
    server.fail["/simple/lxml/"] = 500
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(env / "cache2"))  # so no cached page stands in for PyPI
    assert refresh(server, env, "--no-community", names=PACKAGES + ("no-such-project",)) == 2
    err = capsys.readouterr().err
    assert "no-such-project: " in err and "no project named 'no-such-project' on the index" in err
    assert "lxml: " in err and "(previous data kept)" in err
    doc = read_census(env / "census.json")
    assert "HTTP 500" in doc["packages"]["lxml"]["stale_reason"]
    old = json.loads(first)
    carried = decode_census_entry(doc["packages"]["lxml"], doc["platform_sets"])
    original = decode_census_entry(old["packages"]["lxml"], old["platform_sets"])
    assert carried.ft_releases == original.ft_releases and carried.latest_version == "6.1.3"
    assert "no-such-project" in doc["failures"] and "no-such-project" not in doc["packages"]


def test_nothing_readable_writes_nothing(server, env, capsys, monkeypatch):
    assert refresh(server, env, "--no-community") == 0
    before = (env / "census.json").read_bytes()
    for name in PACKAGES:
        server.fail[f"/simple/{name}/"] = 404
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(env / "cache2"))  # so no cached page stands in for PyPI
    assert refresh(server, env, "--no-community") == 2
    assert "no package could be read" in capsys.readouterr().err
    assert (env / "census.json").read_bytes() == before
    assert not list(env.glob(".census.json.*"))  # no temporary left behind


def test_bad_option_values(env, capsys):
    assert main(["data", "refresh", "--from-file", "pypi=/x"]) == 2
    assert "expected SRC=VALUE with SRC one of tracking, wheels" in capsys.readouterr().err
    missing = env / "missing.txt"
    assert main(["data", "refresh", "--no-community", "--packages", str(missing)]) == 2
    assert f"{missing}: cannot read package list" in capsys.readouterr().err


def test_lookups_do_not_retry_an_unreachable_source_for_an_hour(server, env):
    from auditor.compat.community import refresh_community
    from auditor.http import HttpClient

    server.fail["/community/tracking.md"] = 404
    urls = {"tracking": f"{server.url}/community/tracking.md", "wheels": f"{server.url}/community/results.json"}
    http = HttpClient(retries=0)
    _, first = refresh_community(urls=urls, http=http, quiet_after_failure=3600)
    assert len(first.unreachable) == 1 and "tracking table unreachable" in first.unreachable[0]
    assert first.notes == [] and not first.nothing_read()
    assert first.updated == ["wheels"]
    _, second = refresh_community(urls=urls, http=http, quiet_after_failure=3600)
    assert server.hits("/community/tracking.md") == 1
    assert len(second.unreachable) == 1 and "not retried" in second.unreachable[0]
    # an explicit refresh always tries again, and a success clears the mark
    del server.fail["/community/tracking.md"]
    data, third = refresh_community(urls=urls, http=http)
    assert third.updated == ["tracking"] and data.unreachable == {}
    assert load_community()[0].unreachable == {}


def test_add_community_names_censuses_what_the_sources_name(server, env, tmp_path):
    lines = (EXCERPTS / "tracking.md").read_text().splitlines()
    table_rows = [line for line in lines if line.startswith("| lxml ") or line.startswith("| tokenizers ")]
    head = lines[:27]  # prose, header and alignment row
    tracking = tmp_path / "tracking-two-rows.md"
    tracking.write_text("\n".join(head + table_rows) + "\n")
    results = json.loads((EXCERPTS / "results.json").read_text())
    results["data"] = [d for d in results["data"] if d["name"] in ("lxml", "cryptography")]
    wheels = tmp_path / "results-two-rows.json"
    wheels.write_text(json.dumps(results))
    assert refresh(server, env, "--from-file", f"tracking={tracking}", "--from-file", f"wheels={wheels}",
                   "--add-community-names", names=("markupsafe",)) == 0
    doc = read_census(env / "census.json")
    assert list(doc["packages"]) == ["markupsafe", "cryptography", "lxml", "tokenizers"]


def test_expired_cache_is_revalidated_with_the_etag(server, env):
    from auditor.compat.community import refresh_community

    urls = {"tracking": f"{server.url}/community/tracking.md", "wheels": f"{server.url}/community/results.json"}
    _, first = refresh_community(urls=urls)
    assert sorted(first.updated) == ["tracking", "wheels"]
    _, second = refresh_community(urls=urls, max_age=0)
    assert sorted(second.unchanged) == ["tracking", "wheels"] and second.updated == []
    etags = [etag for path, etag in server.requests if path == "/community/results.json"]
    assert etags[0] is None and etags[1] and etags[1].startswith('"')  # If-None-Match sent; 304 answered
    assert len(load_community()[0].imports["wheels"].rows) == EXCERPT_WHEELS_ROWS
