"""Shared pytest configuration.

Network tests (`@pytest.mark.network`) need PyPI. Offline they skip cleanly, except in CI
(CI=true), where an unreachable PyPI is a failure: CI must run them.
"""

from __future__ import annotations

import functools
import os
import socket

import pytest


@functools.lru_cache(maxsize=1)
def pypi_reachable() -> bool:
    try:
        with socket.create_connection(("pypi.org", 443), timeout=5):
            return True
    except OSError:
        return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("network") and not pypi_reachable():
        if os.environ.get("CI"):
            pytest.fail("PyPI is unreachable, and CI must run network tests")
        pytest.skip("PyPI is unreachable (offline)")
