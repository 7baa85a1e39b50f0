"""Interpret preprocessor directives without running a preprocessor.

Two jobs:
* collect `#define`s, so a project's own wrappers (`#define MY_ALLOW Py_BEGIN_ALLOW_THREADS`)
  can be expanded where they are used;
* flatten `#if` groups into one code stream that still has balanced braces. Every branch is
  kept when each one is balanced on its own (so code under `#ifdef Py_GIL_DISABLED` and its
  `#else` are both checked); when branches open or close braces differently only the first
  live branch is kept. Branches no free-threaded build compiles are dropped (`#if 0`,
  `#if PY_VERSION_HEX < 0x030D0000`, `#ifndef Py_GIL_DISABLED`; see `ccond`).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from auditor.lint.ccond import evaluate
from auditor.lint.ctokens import BAD, DIRECTIVE, IDENT, PUNCT, Token, tokenize

# Macros that open / close a brace when expanded (CPython headers).
OPENERS = frozenset({
    "Py_BEGIN_ALLOW_THREADS", "Py_BEGIN_CRITICAL_SECTION", "Py_BEGIN_CRITICAL_SECTION2",
    "Py_BEGIN_CRITICAL_SECTION_MUTEX", "Py_BEGIN_CRITICAL_SECTION2_MUTEX",
    "Py_BEGIN_CRITICAL_SECTION_SEQUENCE_FAST",
})
CLOSERS = frozenset({
    "Py_END_ALLOW_THREADS", "Py_END_CRITICAL_SECTION", "Py_END_CRITICAL_SECTION2",
    "Py_END_CRITICAL_SECTION_SEQUENCE_FAST",
})

_DIRECTIVE_RE = re.compile(r"#\s*([A-Za-z_]\w*)?")
_DEFINE_HEAD_RE = re.compile(r"[ \t]*(?:\\\r?\n[ \t]*)*([A-Za-z_]\w*)(\()?")


@dataclass(frozen=True)
class Macro:
    name: str
    params: tuple[str, ...] | None    # None: object-like
    body: tuple[Token, ...]           # tokens with offsets into the defining file
    path: str
    offset: int

    @property
    def variadic(self) -> bool:
        return bool(self.params and self.params[-1] == "...")


@dataclass
class Preprocessed:
    code: list[Token]
    macros: list[Macro]
    unbalanced_groups: int = 0    # #if groups whose branches disagreed (only the first was kept)
    unterminated_groups: int = 0  # #if without #endif


def _parse_define(tok: Token, path: str) -> Macro | None:
    text, offset = tok[1], tok[2]
    m = _DIRECTIVE_RE.match(text)
    assert m is not None
    head = _DEFINE_HEAD_RE.match(text, m.end())
    if not head:
        return None
    name = head.group(1)
    pos = head.end()
    params: tuple[str, ...] | None = None
    if head.group(2):
        close = text.find(")", pos)
        if close < 0:
            return None
        raw = text[pos:close].replace("\\\n", " ")
        params = tuple(p.strip() for p in raw.split(",") if p.strip())
        params = tuple("..." if p.endswith("...") else p for p in params)
        pos = close + 1
    # `#`/`##` (stringize, paste) would read as a directive: blank them, offsets unchanged
    body_code, _ = tokenize(text[pos:].replace("#", " "))
    body = tuple((k, t, offset + pos + o) for (k, t, o) in body_code if not (k == BAD and t == "\\"))
    return Macro(name, params, body, path, offset)


def _delta(tokens: list[Token]) -> tuple[int, int]:
    braces = parens = 0
    for kind, text, _ in tokens:
        if kind == PUNCT:
            if text == "{":
                braces += 1
            elif text == "}":
                braces -= 1
            elif text == "(":
                parens += 1
            elif text == ")":
                parens -= 1
        elif kind == IDENT:
            if text in OPENERS:
                braces += 1
            elif text in CLOSERS:
                braces -= 1
    return braces, parens


class _Flattener:
    def __init__(self, tokens: list[Token], path: str) -> None:
        self.tokens = tokens
        self.path = path
        self.i = 0
        self.macros: list[Macro] = []
        self.unbalanced = 0
        self.unterminated = 0
        self.directive_at = [k for k, t in enumerate(tokens) if t[0] == DIRECTIVE]

    def run(self) -> Preprocessed:
        out: list[Token] = []
        while self.i < len(self.tokens):
            stop = self._section(out)
            if stop is not None:      # a stray #elif/#else/#endif at top level: ignore it
                self.i += 1
        return Preprocessed(out, self.macros, self.unbalanced, self.unterminated)

    def _section(self, out: list[Token]) -> str | None:
        """Copy tokens until #elif/#else/#endif (returned, not consumed) or the end."""
        tokens = self.tokens
        directives = self.directive_at
        while self.i < len(tokens):
            # copy the run of code tokens up to the next directive in one slice
            k = bisect.bisect_left(directives, self.i)
            nxt = directives[k] if k < len(directives) else len(tokens)
            if nxt > self.i:
                out.extend(tokens[self.i:nxt])
                self.i = nxt
                if nxt >= len(tokens):
                    break
            tok = tokens[self.i]
            m = _DIRECTIVE_RE.match(tok[1])
            word = (m.group(1) or "") if m else ""
            if word in ("elif", "else", "endif", "elifdef", "elifndef"):
                return word
            self.i += 1
            if word == "define":
                macro = _parse_define(tok, self.path)
                if macro is not None:
                    self.macros.append(macro)
            elif word in ("if", "ifdef", "ifndef"):
                cond = tok[1][m.end():] if m else ""
                self._group(out, word, cond)
        return None

    def _group(self, out: list[Token], word: str, cond: str) -> None:
        branches: list[list[Token]] = []
        live: list[bool] = []
        settled = False      # an earlier branch was `#if 1`: the rest are dead
        while True:
            value = evaluate(word, cond) if word != "else" else None
            dead = settled or value is False
            if value is True:
                settled = True
            branch: list[Token] = []
            stop = self._section(branch)
            branches.append(branch)
            live.append(not dead)
            if stop is None:
                self.unterminated += 1
                break
            tok = self.tokens[self.i]
            self.i += 1
            if stop == "endif":
                break
            m = _DIRECTIVE_RE.match(tok[1])
            word = stop
            cond = tok[1][m.end():] if (m and stop != "else") else ""
        kept = [b for b, ok in zip(branches, live) if ok]
        if not kept:
            return
        if len(kept) > 1 and any(_delta(b) != (0, 0) for b in kept):
            self.unbalanced += 1
            kept = kept[:1]
        for b in kept:
            out.extend(b)


def preprocess(tokens: list[Token], path: str) -> Preprocessed:
    return _Flattener(tokens, path).run()
