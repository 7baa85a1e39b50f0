"""The project's own macros, expanded where they matter.

A macro defined in the checked file set is expanded inside function bodies when its body
(transitively) changes the GIL or critical-section state (`#define MY_ALLOW
Py_BEGIN_ALLOW_THREADS`), or is a balanced piece of code that calls the C API or jumps
(`#define FAIL(msg) { PyErr_SetString(PyExc_ValueError, msg); return NULL; }`). Expanded
tokens keep the offset of the macro *use* and carry the macro name, so a finding points at
the line the author wrote and says which macro it came through.
"""

from __future__ import annotations

from auditor.lint.cpreproc import CLOSERS, OPENERS, Macro
from auditor.lint.ctokens import IDENT, PUNCT, Token

RELEASE_NAMES = frozenset({"Py_UNBLOCK_THREADS", "PyEval_SaveThread", "Py_BEGIN_ALLOW_THREADS",
                           "gil_scoped_release"})
ACQUIRE_NAMES = frozenset({"Py_BLOCK_THREADS", "PyEval_RestoreThread", "PyEval_AcquireThread",
                           "Py_END_ALLOW_THREADS", "gil_scoped_acquire"})
CS_NAMES = frozenset({"PyCriticalSection_Begin", "PyCriticalSection2_Begin",
                      "PyCriticalSection_BeginMutex", "PyCriticalSection2_BeginMutex",
                      "PyCriticalSection_End", "PyCriticalSection2_End"})
STATE_NAMES = RELEASE_NAMES | ACQUIRE_NAMES | OPENERS | CLOSERS | CS_NAMES
JUMP_WORDS = frozenset({"return", "goto"})

_MAX_DEPTH = 8


def _balanced(body: tuple[Token, ...]) -> bool:
    depth = 0
    for kind, text, _ in body:
        if kind == PUNCT:
            if text in "({[":
                depth += 1
            elif text in ")}]":
                depth -= 1
                if depth < 0:
                    return False
    return depth == 0


def _calls_c_api(body: tuple[Token, ...]) -> bool:
    for k in range(len(body) - 1):
        kind, text, _ = body[k]
        if kind == IDENT and (text in JUMP_WORDS or (
                text.startswith(("Py", "_Py")) and body[k + 1][1] == "(")):
            return True
    return False


class MacroTable:
    def __init__(self, macros: list[Macro]) -> None:
        self.defs: dict[str, Macro] = {}
        by_name: dict[str, list[Macro]] = {}
        for m in macros:
            if m.name in STATE_NAMES or m.name.startswith(("Py_BEGIN_", "Py_END_", "Py_RETURN_")):
                continue    # a vendored copy of CPython's own headers: keep the macros opaque
            by_name.setdefault(m.name, []).append(m)
        # Of several definitions (#ifdef branches) prefer the one that touches the GIL state.
        for name, group in by_name.items():
            best = next((m for m in group if any(t[1] in STATE_NAMES for t in m.body)), group[0])
            self.defs[name] = best
        self.stateful: frozenset[str] = self._closure(
            lambda m: any(t[0] == IDENT and t[1] in STATE_NAMES for t in m.body))
        self.expandable: frozenset[str] = self.stateful | self._closure(
            lambda m: _balanced(m.body) and _calls_c_api(m.body))

    def _closure(self, seed) -> frozenset[str]:
        marked = {name for name, m in self.defs.items() if seed(m)}
        changed = True
        while changed:
            changed = False
            for name, m in self.defs.items():
                if name not in marked and any(t[0] == IDENT and t[1] in marked for t in m.body):
                    marked.add(name)
                    changed = True
        return frozenset(marked)

    def expand(self, tokens: list[Token]) -> list[Token]:
        """Expand the expandable project macros in `tokens` (a function body)."""
        if not self.expandable or not any(t[0] == IDENT and t[1] in self.expandable for t in tokens):
            return tokens
        return self._expand(tokens, frozenset(), 0)

    def _expand(self, tokens, active: frozenset[str], depth: int) -> list[Token]:
        out: list[Token] = []
        i, n = 0, len(tokens)
        while i < n:
            tok = tokens[i]
            name = tok[1]
            if tok[0] != IDENT or name not in self.expandable or name in active or depth >= _MAX_DEPTH:
                out.append(tok)
                i += 1
                continue
            macro = self.defs[name]
            args: list[list[Token]] = []
            end = i + 1
            if macro.params is not None:
                if end >= n or tokens[end][1] != "(":
                    out.append(tok)        # a function-like macro named without a call
                    i += 1
                    continue
                args, end = _split_args(tokens, end)
            via = tok[3] if len(tok) > 3 else name
            placed = _substitute(macro, args, tok[2], via)
            out.extend(self._expand(placed, active | {name}, depth + 1))
            i = end
        return out


def _split_args(tokens: list[Token], open_idx: int) -> tuple[list[list[Token]], int]:
    args: list[list[Token]] = [[]]
    depth = 0
    i = open_idx
    n = len(tokens)
    while i < n:
        text = tokens[i][1]
        kind = tokens[i][0]
        if kind == PUNCT and text in "([{":
            depth += 1
            if depth > 1:
                args[-1].append(tokens[i])
        elif kind == PUNCT and text in ")]}":
            depth -= 1
            if depth == 0:
                return ([] if args == [[]] else args), i + 1
            args[-1].append(tokens[i])
        elif kind == PUNCT and text == "," and depth == 1:
            args.append([])
        else:
            args[-1].append(tokens[i])
        i += 1
    return args, n


def _substitute(macro: Macro, args: list[list[Token]], use_offset: int, via: str) -> list[Token]:
    """The macro body placed at the use site: body tokens take the use offset and the macro
    name; argument tokens are the caller's own code and keep their positions."""
    params = {p: k for k, p in enumerate(macro.params or ()) if p != "..."}
    variadic_from = len(macro.params) - 1 if macro.params and macro.variadic else None
    out: list[Token] = []
    for tok in macro.body:
        if tok[0] == IDENT and tok[1] in params:
            k = params[tok[1]]
            if k < len(args):
                out.extend(args[k])
        elif tok[0] == IDENT and tok[1] == "__VA_ARGS__" and variadic_from is not None:
            for k, arg in enumerate(args[variadic_from:]):
                if k:
                    out.append(("op", ",", tok[2]))
                out.extend(arg)
        else:
            out.append((tok[0], tok[1], use_offset, via))
    return out
