"""How much ft-audit says on the terminal, and whether in colour: the one place that decides.

`--quiet` / `-q`: only errors and the verdict line, nothing at all on success (text format);
notes and progress bars are dropped. `--verbose` / `-v`: more evidence (each module's evidence
lines in `wheel`, the config file read, cache misses, the run's time). Machine formats (JSON,
SARIF, Markdown) are the same at every level: the level only changes what goes to the terminal.

Colour: ft-audit writes none today except the wheel gate's verdict word on a terminal;
`use_color` is the one test: NO_COLOR (any non-empty value, no-color.org) turns it off,
FORCE_COLOR (non-empty) turns it on even when piped, else only on a TTY whose TERM is not dumb.
"""

from __future__ import annotations

import os
import sys
from enum import IntEnum
from typing import TextIO


class Verbosity(IntEnum):
    QUIET = -1
    NORMAL = 0
    VERBOSE = 1


_level = Verbosity.NORMAL


def set_verbosity(level: Verbosity) -> None:
    """Set once by the CLI from --quiet / --verbose (a terminal concern, so process-wide)."""
    global _level
    _level = level


def verbosity() -> Verbosity:
    return _level


def is_quiet() -> bool:
    return _level is Verbosity.QUIET


def is_verbose() -> bool:
    return _level is Verbosity.VERBOSE


def note(text: str, *, stream: TextIO | None = None) -> None:
    """`ft-audit: note: ...` on stderr, unless --quiet."""
    if not is_quiet():
        print(f"ft-audit: note: {text}", file=stream or sys.stderr)


def detail(text: str, *, stream: TextIO | None = None) -> None:
    """`ft-audit: TEXT` on stderr, only with --verbose."""
    if is_verbose():
        print(f"ft-audit: {text}", file=stream or sys.stderr)


def use_color(stream: TextIO | None = None, environ: os._Environ[str] | dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and env.get("TERM") != "dumb"


_SGR = {"red": "31", "green": "32", "yellow": "33", "bold": "1"}


def paint(text: str, colour: str, enabled: bool) -> str:
    return f"\x1b[{_SGR[colour]}m{text}\x1b[0m" if enabled else text
