"""File-level structure of C/C++ code: function definitions and top-level declarations.

Works on the flattened token stream of `cpreproc`: a top-level item runs until `;` or a `{`
at parenthesis depth 0. A `{` right after a parameter list (and optional qualifiers) opens a
function body; after `=` it is an initializer; `extern "C" {`, `namespace N {` and C++ class
bodies are containers whose items are scanned the same way. Anything else is skipped with
braces balanced, so one odd construct cannot derail the rest of the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.lint.ctokens import IDENT, PUNCT, STRING, Token

_QUALIFIERS = frozenset({"const", "noexcept", "override", "final", "volatile", "mutable",
                         "throw", "try"})
_ATTRIBUTE_LIKE = frozenset({"__attribute__", "__declspec", "alignas", "_Alignas", "__asm__",
                             "asm", "__asm", "Py_GCC_ATTRIBUTE", "Py_ALIGNED", "Py_DEPRECATED",
                             "if", "while", "for", "switch", "sizeof", "decltype", "return"})
_TYPE_KEYWORDS = frozenset({"struct", "union", "enum", "class"})


@dataclass(frozen=True)
class Function:
    name: str
    name_offset: int
    start: int        # index of the body's `{`
    end: int          # index of the matching `}` (exclusive end of body tokens)
    static: bool


@dataclass(frozen=True)
class Declaration:
    """A top-level declaration ending in `;`, possibly with a braced initializer."""

    start: int        # token index of the first token
    end: int          # token index of the `;` (or end of stream)
    init_start: int   # index of the initializer's `{`, or -1
    init_end: int     # index of its matching `}`, or -1


@dataclass
class Structure:
    functions: list[Function]
    declarations: list[Declaration]
    unbalanced: bool = False


def match_brace(tokens: list[Token], i: int) -> int:
    """Index of the `}` matching the `{` at i (or len(tokens) if unterminated)."""
    depth = 0
    n = len(tokens)
    while i < n:
        kind, text, _ = tokens[i][:3]
        if kind == PUNCT:
            if text == "{":
                depth += 1
            elif text == "}":
                depth -= 1
                if depth == 0:
                    return i
        i += 1
    return n


def _function_name(tokens: list[Token], start: int, brace: int) -> tuple[str, int] | None:
    """If tokens[start:brace] is a function declarator, return (name, offset)."""
    j = brace - 1
    # skip trailing qualifiers / attributes / C++ trailing return types after the parameter list
    while j > start:
        kind, text, _ = tokens[j][:3]
        if kind == PUNCT and text == ")":
            break
        if kind == IDENT and (text in _QUALIFIERS or text.isupper()):
            j -= 1
            continue
        return None
    else:
        return None
    # walk back over parameter lists: the last one whose opener follows a real name wins
    while j > start:
        depth = 0
        k = j
        while k >= start:
            kind, text, _ = tokens[k][:3]
            if kind == PUNCT:
                if text == ")":
                    depth += 1
                elif text == "(":
                    depth -= 1
                    if depth == 0:
                        break
            k -= 1
        if k <= start:
            return None
        prev = tokens[k - 1]
        if prev[0] == IDENT and prev[1] not in _ATTRIBUTE_LIKE:
            return prev[1], prev[2]
        if prev[0] == PUNCT and prev[1] == ")":
            j = k - 1          # e.g. `int (*f(void))(int)`: keep walking back
            continue
        return None
    return None


def brace_pairs(tokens: list[Token]) -> dict[int, int]:
    """Index of every `{` -> index of its matching `}` (len(tokens) when unmatched), in one pass."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for i, tok in enumerate(tokens):
        if tok[0] == PUNCT:
            text = tok[1]
            if text == "{":
                stack.append(i)
            elif text == "}" and stack:
                pairs[stack.pop()] = i
    n = len(tokens)
    for i in stack:
        pairs[i] = n
    return pairs


def scan(tokens: list[Token]) -> Structure:
    pairs = brace_pairs(tokens)
    functions: list[Function] = []
    declarations: list[Declaration] = []
    n = len(tokens)
    i = 0
    item_start = 0
    paren = 0
    has_eq = False
    init = (-1, -1)
    unbalanced = False
    while i < n:
        kind, text, _off = tokens[i][:3]
        if kind != PUNCT:
            i += 1
            continue
        if text == "(":
            paren += 1
        elif text == ")":
            paren = max(0, paren - 1)
        elif paren:
            pass
        elif text == "=":
            has_eq = True
        elif text == ";":
            declarations.append(Declaration(item_start, i, *init))
            item_start, has_eq, init = i + 1, False, (-1, -1)
        elif text == "}":
            # closes a container (extern "C", namespace, class body): its items are done
            item_start, has_eq, init = i + 1, False, (-1, -1)
        elif text == "{":
            close = pairs.get(i, n)
            if close >= n:
                unbalanced = True
            if has_eq:
                init = (i, close)
                i = close + 1
                continue
            head = [t[1] for t in tokens[item_start:i]]
            if (head and head[0] == "extern" and len(head) == 2 and tokens[item_start + 1][0] == STRING) \
                    or (head and head[0] in ("namespace", "inline")):
                item_start = i + 1              # container: scan inside
                i += 1
                continue
            fn = _function_name(tokens, item_start, i)
            if fn is not None and not any(w in _TYPE_KEYWORDS for w in head[:1]):
                static = "static" in head or "inline" in head
                functions.append(Function(fn[0], fn[1], i, close, static))
                i = close + 1
                item_start, has_eq, init = i, False, (-1, -1)
                continue
            if any(w in ("class", "struct") for w in head) and any(
                    t[1] == "class" for t in tokens[item_start:i]):
                item_start = i + 1              # C++ class body: member functions inside
                i += 1
                continue
            # struct/union/enum body or unknown braced item: part of a declaration
            init = (i, close) if init == (-1, -1) else init
            i = close + 1
            continue
        i += 1
    if item_start < n:
        declarations.append(Declaration(item_start, n, *init))
    return Structure(functions, declarations, unbalanced)
