"""One small interface over the sub-interpreter APIs of CPython 3.12-3.15.

  3.14+  concurrent.interpreters (PEP 734): create(), Interpreter.exec(code), close()
  3.13   _interpreters: create() (default config "isolated": own GIL), exec(id, code), destroy(id)
  3.12   _xxsubinterpreters: create(isolated=True), run_string(id, code), destroy(id)

All three create isolated interpreters: own GIL, own obmalloc, and the strict extension
check, so a module without Py_MOD_PER_INTERPRETER_GIL_SUPPORTED fails to import there.
concurrent.futures.InterpreterPoolExecutor (3.14+) is not used: it pickles callables by
reference, and we want the same code path on 3.12-3.15.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class SubinterpreterError(Exception):
    """Code run in a sub-interpreter raised; the message is the exception as text."""


@dataclass(frozen=True)
class InterpreterAPI:
    name: str                                  # which module provides it
    create: Callable[[], Any]                  # -> handle
    run: Callable[[Any, str], None]            # raises SubinterpreterError
    destroy: Callable[[Any], None]


def _concurrent_interpreters() -> InterpreterAPI:
    # 3.14+ only (callers check first); mypy checks as 3.10, whose stubs lack the module
    from concurrent import interpreters  # type: ignore[attr-defined]

    def run(interp: Any, code: str) -> None:
        try:
            interp.exec(code)
        except interpreters.ExecutionFailed as exc:
            raise SubinterpreterError(str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)) from None

    return InterpreterAPI("concurrent.interpreters", interpreters.create, run, lambda i: i.close())


def _interpreters_313() -> InterpreterAPI:
    import _interpreters  # type: ignore[import-not-found]

    def run(iid: Any, code: str) -> None:
        failure = _interpreters.exec(iid, code)
        if failure is not None:
            text = getattr(failure, "formatted", None) or getattr(failure, "msg", None) or repr(failure)
            raise SubinterpreterError(str(text).strip().splitlines()[-1])

    return InterpreterAPI("_interpreters", _interpreters.create, run, _interpreters.destroy)


def _xxsubinterpreters_312() -> InterpreterAPI:
    if sys.version_info < (3, 12):
        # 3.11 has _xxsubinterpreters too, but all its interpreters share one GIL.
        raise ImportError("no per-interpreter GIL before 3.12")
    import _xxsubinterpreters  # type: ignore[import-not-found]

    def run(iid: Any, code: str) -> None:
        try:
            _xxsubinterpreters.run_string(iid, code)
        except _xxsubinterpreters.RunFailedError as exc:
            raise SubinterpreterError(str(exc).strip().splitlines()[-1]) from None

    return InterpreterAPI(
        "_xxsubinterpreters",
        lambda: _xxsubinterpreters.create(isolated=True),
        run,
        _xxsubinterpreters.destroy,
    )


def find_api() -> tuple[InterpreterAPI | None, str | None]:
    """(api, None) or (None, why there is none on this interpreter)."""
    for factory in (_concurrent_interpreters, _interpreters_313, _xxsubinterpreters_312):
        try:
            return factory(), None
        except ImportError:
            continue
    version = ".".join(map(str, sys.version_info[:2]))
    return None, (f"{sys.implementation.name} {version} has no sub-interpreter API "
                  "(own-GIL sub-interpreters need CPython 3.12+)")
