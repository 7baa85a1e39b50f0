"""Inline suppressions: `/* ft-audit: ignore[FTS201] reason */` (C) or `# ft-audit: ignore[...]`
(Cython).

A suppression comment covers the lines it spans; when it stands alone on its line(s) it also
covers the next line with code. `ignore-file[RULE,...]` anywhere covers the whole file.
Several rule IDs may be listed, comma-separated. The reason is free text and encouraged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from auditor.lint.ctokens import LineIndex

_SUPPRESS_RE = re.compile(r"ft-audit:\s*ignore(-file)?\[([A-Za-z0-9_,\s]+)\]")
_CYTHON_COMMENT_RE = re.compile(r"#[^\n]*ft-audit:[^\n]*")


@dataclass
class Suppressions:
    whole_file: set[str] = field(default_factory=set)
    by_line: dict[int, set[str]] = field(default_factory=dict)

    def covers(self, rule: str, line: int) -> bool:
        return rule in self.whole_file or rule in self.by_line.get(line, ())


def _rules(spec: str) -> set[str]:
    return {r.strip().upper() for r in spec.split(",") if r.strip()}


def _add_comment(sup: Suppressions, text: str, comment: str, start: int, end: int,
                 lines: LineIndex) -> None:
    for m in _SUPPRESS_RE.finditer(comment):
        rules = _rules(m.group(2))
        if m.group(1):
            sup.whole_file |= rules
            continue
        first = lines.line_of(start)
        last = lines.line_of(max(start, end - 1))
        for ln in range(first, last + 1):
            sup.by_line.setdefault(ln, set()).update(rules)
        line_start = lines.starts[first - 1]
        line_end = text.find("\n", end)
        line_end = len(text) if line_end < 0 else line_end
        alone = not text[line_start:start].strip() and not text[end:line_end].strip()
        if alone:
            nxt = last + 1
            while nxt <= len(lines.starts):
                s = lines.starts[nxt - 1]
                e = text.find("\n", s)
                if text[s:(len(text) if e < 0 else e)].strip():
                    break
                nxt += 1
            sup.by_line.setdefault(nxt, set()).update(rules)


def from_c_comments(text: str, comments: list[tuple], lines: LineIndex) -> Suppressions:
    sup = Suppressions()
    for _, comment, start in comments:
        if "ft-audit:" in comment:
            _add_comment(sup, text, comment, start, start + len(comment), lines)
    return sup


def from_cython_source(text: str, lines: LineIndex) -> Suppressions:
    sup = Suppressions()
    if "ft-audit:" not in text:
        return sup
    for m in _CYTHON_COMMENT_RE.finditer(text):
        _add_comment(sup, text, m.group(0), m.start(), m.end(), lines)
    return sup
