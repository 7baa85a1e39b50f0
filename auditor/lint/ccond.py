"""Evaluate `#if` conditions that are decided for every free-threaded build.

Free-threaded CPython exists from 3.13 on, so for the linter `PY_VERSION_HEX >= 0x030D0000`
is always true, `PY_VERSION_HEX < 0x030D0000` always false, and `Py_GIL_DISABLED` is defined.
A branch that is false for every free-threaded build (a pre-3.13 fallback using
`PyDict_GetItem`, code under `#ifndef Py_GIL_DISABLED`) is legacy code the free-threaded build
never compiles. Everything else is unknown (None) and both branches stay.
"""

from __future__ import annotations

import re

FT_MIN = 0x030D00F0      # 3.13.0 final
FT_MAX = 0x03FFFFFF      # any later 3.x
_VERSION_MACROS = frozenset({"PY_VERSION_HEX", "Py_VERSION_HEX"})
_TOKEN = re.compile(r"\s*(defined|\|\||&&|[!()]|[<>]=?|==|!=|0[xX][0-9A-Fa-f]+[uUlL]*|\d+[uUlL]*|[A-Za-z_]\w*|\S)")
_COMMENT = re.compile(r"/\*.*?\*/|//.*", re.S)


def _num(text: str) -> int | None:
    t = text.rstrip("uUlL")
    try:
        return int(t, 16) if t.lower().startswith("0x") else int(t)
    except ValueError:
        return None


def _compare(op: str, a: int, b: int) -> bool:
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]


_LIMITED_MIN = 0x030F0000   # a free-threaded build can only define Py_LIMITED_API for abi3t (3.15+)
_PACK = frozenset({"_Py_PACK_VERSION", "Py_PACK_VERSION", "_Py_PACK_FULL_VERSION", "Py_PACK_FULL_VERSION"})
_COMPARE = ("<", "<=", ">", ">=", "==", "!=")


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = [m.group(1) for m in _TOKEN.finditer(_COMMENT.sub(" ", text).replace("\\\n", " "))]
        self.i = 0
        self.limited_defined = False   # inside `defined(Py_LIMITED_API) && ...`

    def peek(self) -> str:
        return self.toks[self.i] if self.i < len(self.toks) else ""

    def take(self) -> str:
        tok = self.peek()
        self.i += 1
        return tok

    def expr(self):
        left = self.conj()
        while self.peek() == "||":
            self.take()
            right = self.conj()
            left = True if (left is True or right is True) else (
                False if (left is False and right is False) else None)
        return left

    def conj(self):
        outer = self.limited_defined
        left = self.unary()
        while self.peek() == "&&":
            self.take()
            right = self.unary()
            left = False if (left is False or right is False) else (
                True if (left is True and right is True) else None)
        self.limited_defined = outer
        return left

    def value(self) -> int | None:
        """A number, or `_Py_PACK_VERSION(3, 13)` and friends."""
        tok = self.take()
        if tok in _PACK and self.peek() == "(":
            self.take()
            parts: list[int] = []
            while self.peek() not in (")", ""):
                t = self.take()
                if t != ",":
                    v = _num(t)
                    if v is None:
                        return None
                    parts.append(v)
            self.take()
            if len(parts) < 2:
                return None
            major, minor, micro, level, serial = (parts + [0, 0, 0])[:5]
            return (major << 24) | (minor << 16) | (micro << 8) | (level << 4) | serial
        return _num(tok)

    def unary(self):
        if self.peek() == "!":
            self.take()
            v = self.unary()
            return None if v is None else not v
        return self.atom()

    def atom(self):
        tok = self.take()
        if tok == "(":
            v = self.expr()
            if self.peek() == ")":
                self.take()
            return v
        if tok == "defined":
            paren = self.peek() == "("
            if paren:
                self.take()
            name = self.take()
            if paren and self.peek() == ")":
                self.take()
            if name == "Py_LIMITED_API":
                self.limited_defined = True
            return True if name == "Py_GIL_DISABLED" else None
        if tok in _VERSION_MACROS or (tok == "Py_LIMITED_API" and self.limited_defined):
            if self.peek() == "+" and self.i + 1 < len(self.toks) and self.toks[self.i + 1] == "0":
                self.i += 2                      # `Py_LIMITED_API+0`
            if self.peek() in _COMPARE:
                op = self.take()
                value = self.value()
                if value is None:
                    return None
                low = FT_MIN if tok in _VERSION_MACROS else _LIMITED_MIN
                lo, hi = _compare(op, low, value), _compare(op, FT_MAX, value)
                return lo if lo == hi and op not in ("==", "!=") else None
        num = _num(tok)
        if num is not None and self.peek() not in _COMPARE:
            return num != 0
        # anything else (other macros, arithmetic): skip to the end of this operand, unknown
        depth = 0
        while self.peek() and (depth or self.peek() not in ("&&", "||", ")")):
            t = self.take()
            depth += t == "("
            depth -= t == ")"
        return None


def evaluate(directive: str, condition: str) -> bool | None:
    """True/False when decided for every free-threaded build, else None."""
    if directive in ("ifdef", "ifndef", "elifdef", "elifndef"):
        name = condition.strip().split()[0] if condition.strip() else ""
        if name != "Py_GIL_DISABLED":
            return None
        return directive in ("ifdef", "elifdef")
    try:
        p = _Parser(condition)
        value = p.expr()
        return value if p.i >= len(p.toks) else None
    except (IndexError, KeyError):
        return None
