"""A minimal progress bar on stderr for long work.

Shown only when stderr is a terminal (or FT_AUDIT_PROGRESS=1), so JSON on stdout and CI
logs stay clean; never with --quiet (auditor.output). Thread-safe enough for `advance()` from worker callbacks.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol


class Progress:
    def __init__(self, total: int, label: str, *, enabled: bool | None = None, stream=None) -> None:
        self.total = max(total, 0)
        self.label = label
        self.done = 0
        self.stream = stream or sys.stderr
        if enabled is None:
            forced = os.environ.get("FT_AUDIT_PROGRESS")
            enabled = forced == "1" if forced is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        from auditor.output import is_quiet

        self.enabled = enabled and self.total > 0 and not is_quiet()
        self._lock = threading.Lock()
        self._last_draw = 0.0

    def advance(self, n: int = 1, note: str = "") -> None:
        with self._lock:
            self.done += n
            if not self.enabled:
                return
            now = time.monotonic()
            if self.done < self.total and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            width = 30
            filled = int(width * self.done / self.total) if self.total else width
            bar = "#" * filled + "-" * (width - filled)
            text = f"\r{self.label} [{bar}] {self.done}/{self.total} {note[:40]:<40}"
            self.stream.write(text)
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * (len(self.label) + 80) + "\r")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Bar(Protocol):
    """What a service needs of a progress bar: count a step (with a note) and close at the end."""

    def __enter__(self) -> Bar: ...
    def __exit__(self, *exc: object) -> None: ...
    def advance(self, n: int = 1, note: str = "") -> None: ...


# How a service asks its caller for a bar: (total, label) -> Bar. A command passes Progress; a
# library caller gets no_progress, so a service never writes to the terminal on its own.
BarFactory = Callable[[int, str], Bar]


def no_progress(total: int, label: str) -> Progress:
    return Progress(total, label, enabled=False)
