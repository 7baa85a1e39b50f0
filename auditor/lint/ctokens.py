"""A C/C++ tokenizer that keeps macros visible.

The linter reasons about macro *uses* (`Py_BEGIN_ALLOW_THREADS`, `Py_mod_gil`, a project's own
`MY_ALLOW_THREADS`), so it must not run a preprocessor: it works on the source as written.
One compiled regular expression drives a standard maximal-munch lexer; each token is a
`(kind, text, offset)` triple. Comments are kept apart (suppression comments live there) and
preprocessor directives are single tokens that later passes interpret (`#define`, `#if` ...).

Line and column numbers are computed on demand from offsets (`LineIndex`), because only the
few tokens that become findings ever need them.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

# Token kinds
IDENT = "id"
NUMBER = "num"
STRING = "str"
CHAR = "chr"
PUNCT = "op"
DIRECTIVE = "pp"
COMMENT = "com"
BAD = "bad"          # an unterminated string/char literal or comment: kept so parsing can go on

_TOKEN_RE = re.compile(
    r"""
    [ \t\r\n\f\v]*                                   # whitespace between tokens
    (?:
      (?P<id>(?!(?:u8|[uUL])?R?"|[uUL]')[A-Za-z_$][\w$]*)
    | (?P<op>[(){};,]|->|\+\+|--|<<=|>>=|<<|>>|::|\.\.\.|&&|\|\||[-+*%&|^!=<>]=|[\[\].=<>*&+\-%!~^|?:]|/(?![*/=]))
    | (?P<com>/\*(?s:.*?)\*/|//[^\n]*(?:\\\n[^\n]*)*)
    | (?P<num>\.?\d(?:[\w.]|[eEpP][+-]|')*)
    | (?P<str>(?:u8|[uUL])?R"(?P<rdelim>[^()\\\s]{0,16})\((?s:.*?)\)(?P=rdelim)"
             |(?:u8|[uUL])?"(?:[^"\\\n]|\\(?s:.))*")
    | (?P<chr>(?:u8|[uUL])?'(?:[^'\\\n]|\\(?s:.))*')
    | (?P<pp>\#(?:[^\n\\/]|\\(?s:.)|/\*(?s:.*?)\*/|/(?!\*))*)
    | (?P<op2>/=)
    | (?P<bad>/\*(?s:.*)|"[^\n]*|'[^\n]*|\S)
    )
    """,
    re.VERBOSE,
)

Token = tuple  # (kind, text, offset)


def tokenize(text: str) -> tuple[list[Token], list[Token]]:
    """Split C/C++ source into code tokens (incl. directives) and comment tokens."""
    code: list[Token] = []
    comments: list[Token] = []
    append = code.append
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup
        if kind is None:          # trailing whitespace only
            continue
        if kind == "rdelim":      # raw-string delimiter group: the token is the whole string
            kind = STRING
        start = m.start(kind)
        tok = (kind, m.group(kind), start)
        if kind == "op2":         # `/=`, tried after comments so `//` and `/*` win
            tok = (PUNCT, tok[1], start)
        if kind == COMMENT:
            comments.append(tok)
        else:
            append(tok)
    return code, comments


@dataclass(frozen=True)
class LineIndex:
    """Offset -> (line, column), both 1-based; columns count characters."""

    starts: tuple[int, ...]

    @classmethod
    def of(cls, text: str) -> LineIndex:
        starts = [0]
        starts.extend(m.end() for m in re.finditer("\n", text))
        return cls(tuple(starts))

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1] + 1

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)
