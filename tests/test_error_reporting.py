"""One error report per problem: what could not be checked is one line each on stderr, the
report on stdout only counts it; identical index failures are one line with a count; a
requests / urllib3 message is reduced to its reason, never cut mid-word."""

from __future__ import annotations

import socket

import pytest
import requests

from auditor.cli import main
from auditor.http import describe
from auditor.report import problems
from tests.faulty_index import Answer, FaultyIndex

TARGET = ["--target", "3.14t", "--platform", "manylinux_2_28_x86_64", "--no-compat"]


@pytest.mark.slow     # the CLI's client retries each 500 with backoff (~5 s)
def test_a_failing_index_is_one_stderr_line_with_a_count_and_stdout_counts_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("alpha\nbeta\ngamma\ndelta\nepsilon\nzeta\nfine\n")
    with FaultyIndex() as index:
        for name in ("alpha", "beta", "gamma", "delta", "epsilon", "zeta"):
            index.script(f"/simple/{name}/", Answer(500, b"oops"))
        index.add_project("fine", "1.0")
        assert main(["requirements", str(reqs), *TARGET, "--index-url", index.url]) == 2
        out, err = capsys.readouterr()
    assert err == (f"ft-audit: error: {index.url}/: unreachable after 4 attempt(s) (HTTP 500), for 6 packages "
                   "(alpha, beta, delta, epsilon, gamma and 1 more)\n")
    assert out.endswith("\n6 could not be checked (errors on stderr)\n")
    assert "HTTP 500" not in out and "fine" in out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == len(set(lines))


def test_identical_index_failures_collapse_and_the_rest_stays_as_it_is():
    refused = "ConnectionError: Failed to establish a new connection: [Errno 111] Connection refused"
    got = problems.lines([
        ("req.txt:1", f"https://pypi.org/simple/numpy/: unreachable after 4 attempt(s) ({refused})"),
        ("req.txt:2", "lxml: no release matches lxml<0"),
        ("req.txt:3", f"https://pypi.org/simple/scipy/: unreachable after 4 attempt(s) ({refused})"),
        ("req.txt:4", "https://pypi.org/simple/pandas/: unreachable after 4 attempt(s) (HTTP 503)"),
        ("req.txt:5", f"https://mirror.example/simple/attrs/: unreachable after 4 attempt(s) ({refused})"),
    ])
    assert got == [
        f"https://pypi.org/simple/: unreachable after 4 attempt(s) ({refused}), for 2 packages (numpy, scipy)",
        "req.txt:2: lxml: no release matches lxml<0",
        "req.txt:4: https://pypi.org/simple/pandas/: unreachable after 4 attempt(s) (HTTP 503)",
        f"req.txt:5: https://mirror.example/simple/attrs/: unreachable after 4 attempt(s) ({refused})",
    ]
    assert problems.summary(5) == "5 could not be checked (errors on stderr)"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_requests_error_is_its_reason_without_pool_url_or_address():
    port = _closed_port()
    with pytest.raises(requests.ConnectionError) as caught:
        requests.get(f"http://127.0.0.1:{port}/simple/numpy/", timeout=5)
    raw = str(caught.value)
    assert "Max retries exceeded with url: /simple/numpy/" in raw     # what requests says
    assert describe(caught.value) == ("ConnectionError: Failed to establish a new connection: "
                                      "[Errno 111] Connection refused")


def test_a_long_reason_is_shortened_at_a_word_boundary():
    text = describe(ValueError("word " * 60), 60)
    assert text.startswith("ValueError: word word") and text.endswith(" …") and len(text) <= 60
    assert all(w == "word" for w in text.removeprefix("ValueError: ").removesuffix(" …").split())
