"""Cython rules, on the parse tree of Cython's own parser (`Cython.Compiler`), in-process.

Cython is an optional dependency: without it, `.pyx/.pxd/.pxi` files get a per-file
diagnostic instead of findings. Only the parser runs (no type analysis, no code generation),
so checking never imports or executes the audited code.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from auditor.lint.findings import SourceFinding
from auditor.lint.rules import BY_ID


class CythonUnavailable(Exception):
    pass


@dataclass
class CythonResult:
    findings: list[SourceFinding] = field(default_factory=list)
    error: str | None = None            # the file did not parse: message with line:col
    error_line: int | None = None
    includes: list[str] = field(default_factory=list)   # `include "..."` targets, as written


def _parser():
    try:
        from Cython.Compiler import Errors  # noqa: F401
        from Cython.Compiler.TreeFragment import StringParseContext, parse_from_strings
    except Exception as exc:   # ImportError, or a broken install
        raise CythonUnavailable(f"Cython is not importable ({type(exc).__name__}: {exc})") from exc

    class _NoIncludeContext(StringParseContext):
        """`include "x.pxi"` is not followed (each included file is checked on its own), but
        recorded: an included file is part of another module, not a module itself."""

        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.included: list[str] = []

        def find_include_file(self, filename, pos=None, source_file_path=None):
            self.included.append(str(filename))
            return None

    def parse(name: str, code: str, level: str, included: list[str]):
        context = _NoIncludeContext(name)
        try:
            return parse_from_strings(name, code, level=level, context=context)
        finally:
            included.extend(context.included)

    return parse


def cython_version() -> str | None:
    try:
        import Cython
    except Exception:
        return None
    return getattr(Cython, "__version__", None)


def _children(node: Any) -> Iterator[Any]:
    for attr in getattr(node, "child_attrs", ()) or ():
        child = getattr(node, attr, None)
        if child is None:
            continue
        if isinstance(child, list):
            for c in child:
                if hasattr(c, "child_attrs"):
                    yield c
        elif hasattr(child, "child_attrs"):
            yield child


def _pos(node: Any) -> tuple[int, int]:
    pos = getattr(node, "pos", None)
    if not pos:
        return 1, 1
    return int(pos[1]), int(pos[2]) + 1


def _is_prange(node: Any) -> bool:
    """`for i in prange(...)` / `cython.parallel.prange(...)` in the unanalysed tree."""
    it = getattr(node, "iterator", None)
    seq = getattr(it, "sequence", None)
    fn = getattr(seq, "function", None)
    name = getattr(fn, "name", None) or getattr(fn, "attribute", None)
    return type(node).__name__ == "ForInStatNode" and name == "prange"


def _prange_nogil(node: Any) -> bool:
    """`prange(..., nogil=True)`: the loop body runs without the GIL."""
    call = node.iterator.sequence
    kwargs = getattr(call, "keyword_args", None)
    for item in getattr(kwargs, "key_value_pairs", None) or ():
        key = getattr(getattr(item, "key", None), "value", None)
        value = getattr(getattr(item, "value", None), "value", None)
        if key == "nogil" and value:
            return True
    return False


def _declared_names(node: Any) -> list[tuple[str, Any]]:
    out = []
    for d in getattr(node, "declarators", None) or ():
        base = d
        while base is not None and not hasattr(base, "name") and hasattr(base, "base"):
            base = base.base
        while base is not None and type(base).__name__ != "CNameDeclaratorNode" and hasattr(base, "base"):
            base = base.base
        name = getattr(base, "name", None)
        if name:
            out.append((name, d))
    return out


class _CythonChecker:
    def __init__(self, path: str, module: Any, kind: str) -> None:
        self.path = path
        self.module = module
        self.kind = kind
        self.findings: list[SourceFinding] = []

    def add(self, rule_id: str, line: int, col: int, message: str) -> None:
        rule = BY_ID[rule_id]
        self.findings.append(SourceFinding(rule_id, self.path, line, col, message, rule.fix,
                                           rule.severity))

    def run(self) -> list[SourceFinding]:
        directives = dict(getattr(self.module, "directive_comments", None) or {})
        if self.kind == "pyx" and not directives.get("freethreading_compatible"):
            self.add("FTS501", 1, 1, "no `# cython: freethreading_compatible=True` directive in "
                     "this module: the free-threaded build will re-enable the GIL on import")
        globals_ = self._module_cdef_globals()
        memviews: list[Any] = []
        self._walk(self.module, in_prange=False, nogil=False, globals_=globals_,
                   locals_=frozenset(), memviews=memviews)
        sub = directives.get("subinterpreters_compatible")
        if sub in ("shared_gil", "own_gil") and memviews:
            line, col = _pos(memviews[0])
            extra = f" (and {len(memviews) - 1} more)" if len(memviews) > 1 else ""
            self.add("FTS504", line, col,
                     f"typed memoryview in a module declared subinterpreters_compatible={sub}"
                     f"{extra}: Cython 3.3.1 warns this is not supported yet and will likely crash")
        return self.findings

    def _module_cdef_globals(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        body = getattr(self.module, "body", None)
        stats = getattr(body, "stats", None) or ([body] if body is not None else [])
        for stat in stats:
            if type(stat).__name__ != "CVarDefNode":
                continue
            base = getattr(stat, "base_type", None)
            if getattr(base, "is_const", False) or type(base).__name__ == "CConstOrVolatileTypeNode":
                continue
            for name, decl in _declared_names(stat):
                out[name] = decl
        return out

    def _walk(self, node: Any, *, in_prange: bool, nogil: bool, globals_: dict[str, Any],
              locals_: frozenset[str], memviews: list[Any]) -> None:
        kind = type(node).__name__
        if kind == "MemoryViewSliceTypeNode":
            memviews.append(node)
        if kind == "GILStatNode":
            state = getattr(node, "state", None)
            if state == "gil" and in_prange:
                line, col = _pos(node)
                self.add("FTS502", line, col, "`with gil:` inside a prange loop: on a "
                         "free-threaded build the loop's threads run this block at the same time")
            nogil = state == "nogil"
        elif kind == "CFuncDefNode":
            decl = getattr(node, "declarator", None)
            nogil = bool(getattr(decl, "nogil", False))
            locals_ = frozenset(_function_locals(node))
        elif kind == "DefNode" or kind == "LambdaNode":
            nogil = False
            locals_ = frozenset(_function_locals(node))
        elif kind in ("SingleAssignmentNode", "InPlaceAssignmentNode", "CascadedAssignmentNode") and nogil:
            targets = getattr(node, "lhs_list", None) or [getattr(node, "lhs", None)]
            for target in targets:
                name = _written_global(target)
                if name and name in globals_ and name not in locals_:
                    line, col = _pos(target)
                    self.add("FTS503", line, col,
                             f"module-level cdef global `{name}` is written from nogil code: "
                             f"threads race on it (no lock, and no GIL on free-threaded builds)")
        if _is_prange(node):
            in_prange = True
            nogil = nogil or _prange_nogil(node)
        for child in _children(node):
            self._walk(child, in_prange=in_prange, nogil=nogil, globals_=globals_,
                       locals_=locals_, memviews=memviews)


def _written_global(target: Any) -> str | None:
    kind = type(target).__name__
    if kind == "NameNode":
        return target.name
    if kind in ("IndexNode", "AttributeNode"):
        base = getattr(target, "base", None) or getattr(target, "obj", None)
        return _written_global(base) if base is not None else None
    return None


def _function_locals(fn: Any) -> set[str]:
    """Names declared local by `cdef` statements or arguments (they shadow globals),
    minus names listed in `global` statements."""
    names: set[str] = set()
    declared_global: set[str] = set()
    stack = [getattr(fn, "body", None)]
    for arg in getattr(fn, "args", None) or ():
        decl = getattr(arg, "declarator", None)
        while decl is not None and type(decl).__name__ != "CNameDeclaratorNode":
            decl = getattr(decl, "base", None)
        if decl is not None and getattr(decl, "name", None):
            names.add(decl.name)
    decl = getattr(fn, "declarator", None)
    for arg in getattr(decl, "args", None) or ():
        d = getattr(arg, "declarator", None)
        while d is not None and type(d).__name__ != "CNameDeclaratorNode":
            d = getattr(d, "base", None)
        if d is not None and getattr(d, "name", None):
            names.add(d.name)
    while stack:
        node = stack.pop()
        if node is None:
            continue
        kind = type(node).__name__
        if kind == "CVarDefNode":
            names.update(n for n, _ in _declared_names(node))
        elif kind == "GlobalNode":
            declared_global.update(getattr(node, "names", ()) or ())
        if kind in ("CFuncDefNode", "DefNode", "LambdaNode") and node is not fn:
            continue
        stack.extend(_children(node))
    return names - declared_global


def check_cython(path: str, text: str, kind: str) -> CythonResult:
    """Parse and check one Cython file. `kind`: "pyx", "pxd" or "pxi"."""
    parse = _parser()
    from Cython.Compiler import Errors

    level = "module_pxd" if kind == "pxd" else "module"
    result = CythonResult()
    sink = io.StringIO()
    try:
        with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
            Errors.init_thread()
            module = parse(path, text, level, result.includes)
    except Errors.CompileError as exc:
        pos = getattr(exc, "position", None)
        line = int(pos[1]) if pos else None
        msg = getattr(exc, "message_only", None) or str(exc).strip().splitlines()[-1]
        where = f"{pos[1]}:{int(pos[2]) + 1}: " if pos else ""
        result.error = f"Cython parser: {where}{msg}"
        result.error_line = line
        return result
    except RecursionError:
        result.error = "Cython parser: nesting too deep"
        return result
    except Exception as exc:  # the parser is not ours: report, never crash
        result.error = f"Cython parser failed: {type(exc).__name__}: {exc}".splitlines()[0]
        return result
    finally:
        try:
            Errors.release_errors(ignore=True)
        except Exception:
            pass
    result.findings = _CythonChecker(path, module, kind).run()
    return result
