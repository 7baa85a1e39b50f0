"""A cold env packs index pages in worker processes (auditor.audit.env.PagePackers).

The seams: pack_page is the in-process packing as a function of bytes; errors cross the process
boundary whole; the workers start only where forking is safe and worth it; and the offers are the
same whichever process packed the pages.
"""

from __future__ import annotations

import json
import pickle
import threading
from pathlib import Path

import pytest

from auditor.audit import env as env_audit
from auditor.errors import AuditError, InputError, ServiceError
from auditor.project_index import compact_index, pack_page

FIXTURES = Path(__file__).parent / "fixtures" / "pypi"
URL = "https://pypi.org/simple/lxml/"


@pytest.mark.parametrize("kind", [AuditError, ServiceError, InputError])
def test_audit_errors_survive_pickling_with_where_and_reason(kind):
    again = pickle.loads(pickle.dumps(kind("https://pypi.org/simple/x/", "invalid JSON (Expecting value)")))
    assert type(again) is kind and again.where == "https://pypi.org/simple/x/"
    assert again.one_line() == "https://pypi.org/simple/x/: invalid JSON (Expecting value)"


def test_pack_page_is_compact_index_of_the_parsed_body():
    body = (FIXTURES / "lxml.simple.json").read_bytes()
    assert pack_page(body, URL) == compact_index(json.loads(body), URL)
    with pytest.raises(ServiceError, match="invalid JSON"):
        pack_page(b"<html>login</html>", URL)


def test_workers_pack_pages_and_hand_back_errors():
    packers = env_audit.PagePackers.start(env_audit.PagePackers.MIN_PAGES)
    if packers is None:
        pytest.skip("no fork here, one CPU, or a free-threaded build: pages are packed in threads")
    try:
        body = (FIXTURES / "lxml.simple.json").read_bytes()
        assert packers.pack(body, URL) == pack_page(body, URL)
        with pytest.raises(ServiceError) as info:
            packers.pack(b'{"files": 5}', URL)
        assert info.value.where == URL and "not a PEP 691 project page" in info.value.reason
    finally:
        packers.close()


def test_no_workers_for_a_few_pages_or_beside_other_threads():
    assert env_audit.PagePackers.start(env_audit.PagePackers.MIN_PAGES - 1) is None
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert env_audit.PagePackers.start(100) is None      # forking now could deadlock a child
    finally:
        release.set()
        other.join()
