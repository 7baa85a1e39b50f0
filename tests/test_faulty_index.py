"""A hostile or broken index (tests/faulty_index.py on 127.0.0.1): 5xx then success, a hang,
a slow drip, a body cut short, wrong content types and encodings, HTML where JSON or core
metadata is expected, malformed fields, a gzip bomb, an index that changes between calls.

Each case ends with one line naming the URL or package and the reason, the rest of the audit
goes on, and missing data is never read as "no dependencies" (so never "ready" and exit 0)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor.audit.requirements import audit_requirements
from auditor.cli import main
from auditor.commands.requirements import exit_code
from auditor.errors import ServiceError
from auditor.http import HttpClient
from auditor.pypi import PyPIClient
from tests.faulty_index import (
    HTML_PAGE,
    SIMPLE_JSON,
    Answer,
    FaultyIndex,
    gzip_bomb,
    wait_for,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def index(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    with FaultyIndex() as served:
        yield served


@pytest.fixture()
def no_backoff_wait(monkeypatch):
    """Every retry is still made, without the back-off's wait (0.5 s, then 1 s): for tests that
    count retries. test_5xx_past_the_retries_names_the_url_and_status keeps the real wait."""
    import auditor.http

    monkeypatch.setattr(auditor.http, "_backoff", lambda seconds, deadline: True)


def client(tmp_path, **kw) -> HttpClient:
    return HttpClient(cache_root=tmp_path / "http", **{"retries": 0, **kw})


def audit(index: FaultyIndex, tmp_path: Path, text: str, **kw) -> dict:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(text)
    pypi = PyPIClient(index.url, None, http=HttpClient(retries=1, timeout=2))
    return audit_requirements([reqs], python="3.14t", platforms=["manylinux_2_28_x86_64"], client=pypi,
                              use_compat=False, download=False, **kw).to_json()


def names(doc: dict) -> list[str]:
    return sorted(p["name"] for p in doc["packages"])


def reasons(doc: dict) -> dict[str, str]:
    return {i["where"]: i["reason"] for i in doc["incomplete"]}


WHEEL = "/files/app-1.0-py3-none-any.whl"


# ---------------------------------------------------------------- the HTTP client's bounds
def test_5xx_then_success_is_retried(index, tmp_path, no_backoff_wait):
    index.script("/simple/x/", Answer(503, b"busy"), Answer(502, b"busy"), Answer(body=b'{"files": []}'))
    response = client(tmp_path, retries=2).get(f"{index.url}/x/")
    assert response.json() == {"files": []}
    assert index.requests == ["/simple/x/"] * 3


def test_5xx_past_the_retries_names_the_url_and_status(index, tmp_path):
    index.script("/simple/x/", Answer(503, b"busy"))
    with pytest.raises(ServiceError) as caught:
        client(tmp_path, retries=1).get(f"{index.url}/x/")
    assert caught.value.one_line() == f"{index.url}/x/: unreachable after 2 attempt(s) (HTTP 503)"


def test_a_hang_ends_at_the_deadline_not_after_the_retries(index, tmp_path):
    index.script("/simple/x/", Answer(hang=True))
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        client(tmp_path, retries=3, timeout=20, deadline=0.5).get(f"{index.url}/x/")
    assert time.monotonic() - started < 1.3
    assert caught.value.where == f"{index.url}/x/" and "no answer within the deadline" in caught.value.reason


def test_a_slow_drip_ends_within_the_deadline(index, tmp_path):
    # One byte every 5 s: each read returns before the per-read timeout (20 s), so only an
    # overall deadline ends it, and it must end at the deadline, not at the next byte.
    index.script("/simple/x/", Answer(body=b'{"files": []}' * 10, drip=5.0))
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        client(tmp_path, timeout=20, deadline=0.5).get(f"{index.url}/x/")
    elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 1.3
    assert caught.value.reason == "no complete answer within 0.5 s"


def test_a_body_shorter_than_its_content_length_is_not_used(index, tmp_path, no_backoff_wait):
    index.script("/simple/x/", Answer(body=b'{"files": []}', declared=5000))
    http = client(tmp_path, retries=1)
    with pytest.raises(ServiceError) as caught:
        http.get(f"{index.url}/x/")
    assert caught.value.reason.startswith("unreachable after 2 attempt(s) (")
    assert "5000" in caught.value.reason or "IncompleteRead" in caught.value.reason
    assert http.fresh_meta(f"{index.url}/x/") is None          # nothing cached from a torn body


def test_a_gzip_body_is_decoded(index, tmp_path):
    import gzip

    index.script("/simple/x/", Answer(body=gzip.compress(b'{"files": []}'), encoding="gzip"))
    assert client(tmp_path).get(f"{index.url}/x/").json() == {"files": []}


def test_an_encoding_it_did_not_ask_for_is_refused(index, tmp_path):
    index.script("/simple/x/", Answer(body=b"\x8b\x02\x80{}\x03", encoding="br"))
    with pytest.raises(ServiceError) as caught:
        client(tmp_path).get(f"{index.url}/x/")
    assert caught.value.reason == "unsupported Content-Encoding 'br'"


def test_a_response_past_the_cap_ends_with_its_size(index, tmp_path):
    index.script("/simple/x/", Answer(body=b" " * 3_000_000))
    with pytest.raises(ServiceError) as caught:
        client(tmp_path, max_response_bytes=1 << 20).get(f"{index.url}/x/")
    assert caught.value.reason == "response larger than 1 MB"


def test_a_range_answer_longer_than_asked_is_refused(index, tmp_path):
    index.script("/files/w.whl", Answer(206, b"x" * 500, headers={"Content-Range": "bytes 0-99/500"}))
    with pytest.raises(ServiceError) as caught:
        client(tmp_path).get_range(f"{index.root}/files/w.whl", 0, 99)
    assert caught.value.reason == "response larger than 100 bytes"


def test_a_dripping_range_ends_within_the_deadline(index, tmp_path):
    index.script("/files/w.whl", Answer(206, b"x" * 100, drip=5.0, headers={"Content-Range": "bytes 0-99/500"}))
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        client(tmp_path, deadline=0.5).get_range(f"{index.root}/files/w.whl", 0, 99)
    assert time.monotonic() - started < 1.3 and caught.value.reason == "no complete answer within 0.5 s"


def test_a_download_whose_bytes_changed_is_refused_and_leaves_no_file(index, tmp_path):
    index.script("/files/w.whl", Answer(body=b"the file as served now"))
    dest = tmp_path / "dl" / "w.whl"
    with pytest.raises(ServiceError) as caught:
        client(tmp_path).download(f"{index.root}/files/w.whl", hashlib.sha256(b"as listed").hexdigest(), dest)
    assert caught.value.reason.startswith("download failed (sha256 mismatch")
    assert list(dest.parent.iterdir()) == []


BOMB_CLIENT = """
import json, resource, sys
from pathlib import Path
from auditor.errors import ServiceError
from auditor.http import HttpClient
url, how, cache = sys.argv[1], sys.argv[2], Path(sys.argv[3])
http = HttpClient(cache_root=cache, retries=0)
try:
    if how == "get":
        http.get(url)
    else:
        http.download(url, None, cache / "dl" / "w.whl", max_bytes=64 << 20)
    outcome = "read"
except ServiceError as exc:
    outcome = exc.one_line()
print(json.dumps({"outcome": outcome, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "left": sorted(p.name for p in (cache / "dl").glob("*")) if how == "download" else []}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["get", "download"])
def test_a_gzip_bomb_ends_at_the_cap_without_growing_memory(index, tmp_path, how):
    bomb = gzip_bomb()            # 1.5 GiB of zeros in ~1.5 MB
    assert len(bomb) < 2 << 20
    index.script("/simple/bomb/", Answer(body=bomb, encoding="gzip", content_type=SIMPLE_JSON))
    index.script("/simple/small/", Answer(body=b'{"files": []}', content_type=SIMPLE_JSON))

    def run(url: str) -> dict:
        proc = subprocess.run([sys.executable, "-c", BOMB_CLIENT, url, how, str(tmp_path / url.split("/")[-2])],
                              capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    baseline, bombed = run(f"{index.url}/small/"), run(f"{index.url}/bomb/")
    assert baseline["outcome"] == "read"
    assert bombed["outcome"] == f"{index.url}/bomb/: response larger than 64 MB"
    # The cap is 64 MB of decoded body; 1.5 GiB would be 1536 MB. get() holds what it read
    # until the cap, download() writes it out: neither grows past the cap plus one chunk.
    assert bombed["peak_mb"] - baseline["peak_mb"] < 100, (baseline, bombed)
    assert bombed["left"] == []      # no partial download left behind


# ---------------------------------------------------------------- honest metadata in an audit
def test_html_metadata_and_no_wheel_is_dependencies_unknown(index, tmp_path):
    index.add_project("app", "1.0", ["dep>=1"])
    index.add_project("dep", "1.0")
    index.script(WHEEL + ".metadata", Answer(body=HTML_PAGE, content_type="text/html"))
    index.script(WHEEL, Answer(404, b"gone"))
    doc = audit(index, tmp_path, "app\n")
    assert names(doc) == ["app"]
    assert reasons(doc) == {"app 1.0": f"dependencies unknown: {index.root}{WHEEL}: HTTP 404 Not Found"}
    assert exit_code(doc, frozenset()) == 2


# The CLI's client retries the wheel's sha256 mismatch: ~7 s of back-off without no_backoff_wait.
def test_html_metadata_through_the_cli_is_exit_2_and_0_with_no_deps(index, tmp_path, capsys, no_backoff_wait):
    index.add_project("app", "1.0", ["dep>=1"])
    index.script(WHEEL + ".metadata", Answer(body=HTML_PAGE, content_type="text/html"))
    index.script(WHEEL, Answer(body=HTML_PAGE, content_type="text/html"))   # a login page for the wheel too
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("app\n")
    argv = ["requirements", str(reqs), "--target", "3.14t", "--platform", "manylinux_2_28_x86_64",
            "--index-url", index.url, "--no-compat", "--format", "json"]
    assert main(argv) == 2
    doc = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in doc["packages"]] == ["app"]
    assert reasons(doc)["app 1.0"].startswith("dependencies unknown: ")
    assert main([*argv, "--no-deps"]) == 0     # dependencies not asked for: nothing missing
    capsys.readouterr()


def test_html_metadata_falls_back_to_the_wheel(index, tmp_path):
    index.add_project("app", "1.0", ["dep>=1"])
    index.add_project("dep", "1.0")
    index.script(WHEEL + ".metadata", Answer(body=HTML_PAGE, content_type="text/html"))
    doc = audit(index, tmp_path, "app\n")
    assert names(doc) == ["app", "dep"] and doc["incomplete"] == []
    assert WHEEL in index.requests          # the dependencies came from the wheel itself


@pytest.mark.parametrize(("body", "hashed", "reason"), [
    (b"hello\n", False, "not core metadata (no Metadata-Version, Name, Version header)"),
    (b"\n\n<html>", False, "an HTML page where core metadata was expected"),
    (b"Metadata-Version: 2.1\nName: app\nVersion: 1.0\nRequires-Dist: dep>=1\n", True,
     "sha256 mismatch with the page's core-metadata hash"),     # the index changed since the page
])
def test_metadata_that_is_not_the_listed_core_metadata_is_refused(index, tmp_path, body, hashed, reason):
    from auditor.pypi import DistFile, core_metadata

    page = index.add_project("app", "1.0", [])     # listed: no dependencies, with its hash
    index.script(WHEEL + ".metadata", Answer(body=body))
    entry = page["files"][0]
    dist = DistFile(entry["filename"], index.root + WHEEL, None, "wheel", has_metadata=True,
                    metadata_sha256=entry["core-metadata"]["sha256"] if hashed else None)
    with pytest.raises(ServiceError) as caught:
        PyPIClient(index.url, None, http=client(tmp_path)).file_metadata(dist)
    assert caught.value.one_line() == f"{index.root}{WHEEL}.metadata: {reason}"
    with pytest.raises(ServiceError):
        core_metadata(HTML_PAGE, "x")


def test_a_wheel_whose_metadata_is_html_is_dependencies_unknown(index, tmp_path):
    import io
    import zipfile

    page = index.add_project("app", "1.0", ["dep>=1"], metadata=False)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app/__init__.py", "")
        archive.writestr("app-1.0.dist-info/METADATA", HTML_PAGE)
    wheel = buffer.getvalue()
    page["files"][0].update(size=len(wheel), hashes={"sha256": hashlib.sha256(wheel).hexdigest()})
    index.script("/simple/app/", index.page(page))
    index.script(WHEEL, Answer(body=wheel))
    doc = audit(index, tmp_path, "app\n")
    assert names(doc) == ["app"]
    assert reasons(doc) == {"app 1.0": "dependencies unknown: app-1.0-py3-none-any.whl: "
                                       "an HTML page where core metadata was expected"}


def test_a_page_that_lists_a_file_that_then_404s(index, tmp_path):
    index.add_project("app", "1.0", ["dep>=1"])
    index.script(WHEEL + ".metadata", Answer(404, b"gone"))
    index.script(WHEEL, Answer(404, b"gone"))
    doc = audit(index, tmp_path, "app\n")
    assert names(doc) == ["app"]
    assert reasons(doc)["app 1.0"] == f"dependencies unknown: {index.root}{WHEEL}: HTTP 404 Not Found"


def test_a_wheel_whose_sha256_changed_is_dependencies_unknown(index, tmp_path, no_backoff_wait):
    page = index.add_project("app", "1.0", ["dep>=1"], metadata=False)
    page["files"][0]["hashes"]["sha256"] = "0" * 64       # the page and the file disagree
    index.script("/simple/app/", index.page(page))
    doc = audit(index, tmp_path, "app\n")
    assert names(doc) == ["app"]
    assert "sha256 mismatch" in reasons(doc)["app 1.0"] and exit_code(doc, frozenset()) == 2


def test_html_where_a_dependency_page_is_expected(index, tmp_path):
    index.add_project("app", "1.0", ["dep>=1", "other"])
    index.add_project("other", "2.0")
    index.script("/simple/dep/", Answer(body=HTML_PAGE, content_type="text/html"))
    doc = audit(index, tmp_path, "app\n")
    assert names(doc) == ["app", "other"]                    # the rest of the audit goes on
    assert any(f"{index.url}/dep/: invalid JSON" in r for r in reasons(doc).values()), doc["incomplete"]
    assert exit_code(doc, frozenset()) == 2


def test_a_page_with_the_wrong_content_type_is_judged_by_its_body(index, tmp_path):
    page = index.add_project("app", "1.0", [])
    index.script("/simple/app/", Answer(body=json.dumps(page).encode(), content_type="text/plain"))
    doc = audit(index, tmp_path, "app\n")
    assert names(doc) == ["app"] and doc["incomplete"] == []


def test_a_dependency_page_that_answers_500_then_works(index, tmp_path, no_backoff_wait):
    page = index.add_project("app", "1.0", [])
    index.script("/simple/app/", Answer(500, b"oops"), index.page(page))
    doc = audit(index, tmp_path, "app\n")
    assert names(doc) == ["app"] and doc["incomplete"] == []
    assert index.requests.count("/simple/app/") == 2


@pytest.mark.parametrize(("field", "value", "outcome"), [
    ("versions", 5, "resolved"),
    ("files", "not a list", "not a PEP 691 project page (no 'files' list)"),
    ("hashes", "not a dict", "resolved"),
    ("size", "12", "resolved"),
    ("core-metadata", {"sha256": 5}, "resolved"),
])
def test_malformed_fields_on_a_page(index, tmp_path, field, value, outcome):
    page = index.add_project("app", "1.0", ["dep"])
    index.add_project("dep", "1.0")
    if field in ("versions", "files"):
        page[field] = value
    else:
        page["files"][0][field] = value
    index.script("/simple/app/", index.page(page))
    doc = audit(index, tmp_path, "app\n")
    if outcome == "resolved":
        assert names(doc) == ["app", "dep"] and doc["incomplete"] == []
    else:
        assert doc["packages"] == [] and outcome in doc["incomplete"][0]["reason"]
        assert exit_code(doc, frozenset()) == 2


# ---------------------------------------------------------------- Ctrl-C
def ft_audit_command() -> list[str]:
    script = Path(sys.executable).parent / "ft-audit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "auditor"]


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["drip", "hang"])
def test_ctrl_c_on_a_cold_run_is_one_line_exit_130_and_no_temp_files(index, tmp_path, fault):
    """Interrupted while every fetch thread waits on one of 30 pages: bodies dripping (the reads
    are cut) or no answer at all (the waits for a first byte are left behind). Before: ~20
    'cannot schedule new futures after shutdown' tracebacks, and an exit held until the timeouts."""
    from dataclasses import replace

    from auditor.resolve import MAX_WORKERS

    deps = [f"dep{i}" for i in range(30)]
    index.add_project("app", "1.0", deps)
    for dep in deps:
        page = index.add_project(dep, "1.0", [f"sub{dep}"])
        index.add_project(f"sub{dep}", "1.0")
        slow = replace(index.page(page), drip=2.0) if fault == "drip" else Answer(hang=True)
        index.script(f"/simple/{dep}/", slow)
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("app\n")
    cache = tmp_path / "ft-cache"
    proc = subprocess.Popen([*ft_audit_command(), "--cache-dir", str(cache), "requirements", str(reqs),
                             "--target", "3.14t", "--platform", "manylinux_2_28_x86_64", "--index-url", index.url,
                             "--no-compat"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: sum(r.startswith("/simple/dep") for r in index.requests) >= MAX_WORKERS, 30)
        time.sleep(0.3)
        interrupted = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err == "ft-audit: interrupted\n" and out == ""
    assert time.monotonic() - interrupted < 4.0          # not the 20 s read timeout
    assert cache.is_dir()                                 # app's page was cached before the interrupt
    leftovers = [p for p in cache.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]
    assert leftovers == []
