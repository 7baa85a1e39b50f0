"""env reads project pages ahead, on threads, while the modules are inspected in worker processes.

The seams: inspect_files says when it no longer forks (once, on every path), and PagePrefetch
fetches only the pages that are not fresh, hands over what it read, and re-raises what the
index said (an unknown project stays ProjectNotFound).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from auditor.audit import env as env_audit
from auditor.cache import cache_root
from auditor.http import HttpClient
from auditor.pypi import SIMPLE_JSON, ProjectNotFound, PyPIClient
from auditor.sources.env import ExtensionFile

FIXTURES = Path(__file__).parent / "fixtures" / "pypi"


def _files(folder: Path, count: int) -> list[ExtensionFile]:
    out = []
    for i in range(count):
        path = folder / f"m{i}.cpython-313-x86_64-linux-gnu.so"
        path.write_bytes(b"\x7fELF" + bytes(60))          # truncated: a report with an error, quickly
        out.append(ExtensionFile(str(path), path.name, f"m{i}", ".cpython-313-x86_64-linux-gnu.so", True, None, "orphan"))
    return out


@pytest.mark.parametrize("count", [3, env_audit.PARALLEL_THRESHOLD + 2], ids=["serial", "worker-processes"])
def test_inspect_files_says_once_when_it_no_longer_forks(tmp_path, count):
    files = _files(tmp_path, count)
    calls: list[int] = []

    def started() -> None:
        # Called in this process, before the last report arrives: threads may start from here on.
        calls.append(threading.active_count())

    reports = env_audit.inspect_files(files, jobs=2, on_workers_started=started)
    assert len(reports) == count and all(r.errors for r in reports.values())
    assert len(calls) == 1


def test_inspect_files_with_every_report_cached_says_so_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    files = _files(tmp_path, 2)
    cache = env_audit.ReportCache([str(tmp_path)])
    first = env_audit.inspect_files(files, cache=cache)
    monkeypatch.setattr(env_audit, "_inspect_uncached", lambda *a, **k: pytest.fail("inspected again"))
    calls = []
    # An error report is not cached, so give the cache good ones to hold.
    for path, report in first.items():
        cache.entries[path] = (env_audit._file_key(path), report)
    assert env_audit.inspect_files(files, cache=cache, on_workers_started=lambda: calls.append(1)) == first
    assert calls == [1]


def test_page_prefetch_reads_only_stale_pages_and_hands_them_over(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path))
    http = HttpClient(cache_root=cache_root() / "http", retries=0)
    client = PyPIClient("http://127.0.0.1:9/simple/", None, http=http)   # nothing listens on port 9
    http._store(client.page_url("lxml"), SIMPLE_JSON, (FIXTURES / "lxml.simple.json").read_bytes(), {})
    asked: list[str] = []
    real = PyPIClient.project_index

    def project_index(self, name, **kwargs):
        asked.append(name)
        if name == "not-there":
            raise ProjectNotFound(self.page_url(name), "no project named 'not-there' on the index")
        return real(self, name, **kwargs)

    monkeypatch.setattr(PyPIClient, "project_index", project_index)
    pages = env_audit.PagePrefetch(client, ["lxml", "not-there"])
    pages.start()
    try:
        assert not pages.has("lxml") and pages.index("lxml") is None   # fresh in the cache: not read ahead
        assert pages.has("not-there")
        with pytest.raises(ProjectNotFound):
            pages.index("not-there")
    finally:
        pages.close()
    assert asked == ["not-there"]
