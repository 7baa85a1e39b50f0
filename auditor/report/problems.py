"""What could not be checked, as the lines a command prints on stderr: once each, and one line
for many packages that failed at the index the same way.

A report on stdout only counts these (`summary`); the lines themselves go to stderr, so a
terminal shows each problem once and a CI log shows it even when stdout goes to a file.

`lines` collapses the problems whose reason is `URL: why` with the same `why` and URLs under
the same first path segment (`https://pypi.org/simple/numpy/`, `.../simple/scipy/` ->
`https://pypi.org/simple/`) into one line naming that prefix, the reason and how many packages
it hit, with their names (the URL's last segment) up to a handful.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

_URL_REASON = re.compile(r"^(?P<url>https?://\S+?): (?P<why>.+)$", re.S)
NAMED = 5        # package names listed in a collapsed line before "and N more"


def lines(problems: Sequence[tuple[str, str]]) -> list[str]:
    """`WHERE: reason` per problem, in order; identical index failures collapsed (see above)."""
    groups: dict[tuple[str, str], list[str]] = {}
    keyed: list[tuple[tuple[str, str] | None, str]] = []
    for where, reason in problems:
        key, name = _index_failure(reason)
        if key is not None:
            groups.setdefault(key, []).append(name)
        keyed.append((key, f"{where}: {reason}"))
    out: list[str] = []
    done: set[tuple[str, str]] = set()
    for key, line in keyed:
        if key is None or len(groups[key]) == 1:
            out.append(line)
        elif key not in done:
            done.add(key)
            out.append(_collapsed(key, groups[key]))
    return out


def summary(count: int) -> str:
    """The report's one line about them."""
    return f"{count} could not be checked (errors on stderr)"


def _index_failure(reason: str) -> tuple[tuple[str, str] | None, str]:
    m = _URL_REASON.match(reason)
    if not m:
        return None, ""
    parts = urlsplit(m["url"])
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2:
        return None, ""
    prefix = f"{parts.scheme}://{parts.netloc}/{segments[0]}/"
    return (prefix, m["why"]), segments[-1]


def _collapsed(key: tuple[str, str], names: list[str]) -> str:
    prefix, why = key
    unique = sorted(set(names))
    shown = ", ".join(unique[:NAMED]) + (f" and {len(unique) - NAMED} more" if len(unique) > NAMED else "")
    return f"{prefix}: {why}, for {len(names)} packages ({shown})"
