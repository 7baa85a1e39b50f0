"""The one error type test support raises when something cannot be obtained here."""

from __future__ import annotations

import os
from typing import NoReturn


class SupportUnavailable(Exception):
    """A test prerequisite (download, interpreter, toolchain) cannot be had on this machine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the calling test locally, fail it in CI (CI must have every prerequisite)."""
    import pytest

    if in_ci():
        pytest.fail(f"test prerequisite unavailable in CI: {reason}")
    pytest.skip(reason)
