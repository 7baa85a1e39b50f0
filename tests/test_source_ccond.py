"""#if conditions decided for every free-threaded build (auditor.lint.ccond)."""

from __future__ import annotations

import pytest

from auditor.lint.ccond import evaluate


@pytest.mark.parametrize("directive, condition, expected", [
    ("if", "PY_VERSION_HEX >= 0x030D0000", True),           # every FT build is 3.13+
    ("if", "PY_VERSION_HEX < 0x030d0000 /* pre-3.13 */", False),
    ("if", "PY_VERSION_HEX >= 0x030E0000", None),           # 3.13t vs 3.14t: both live
    ("if", "PY_VERSION_HEX >= 0x030D00A4", True),           # 3.13.0a4 <= 3.13.0 final
    ("ifdef", "Py_GIL_DISABLED", True),
    ("ifndef", "Py_GIL_DISABLED", False),
    ("if", "!defined(Py_GIL_DISABLED) && FOO", False),
    ("if", "0", False),
    ("if", "1", True),
    ("ifdef", "WITH_THREAD", None),
    # pythoncapi_compat.h style
    ("if", "(PY_VERSION_HEX < _Py_PACK_VERSION(3, 13) \\\n"
           "  || (defined(Py_LIMITED_API) && Py_LIMITED_API+0 < _Py_PACK_VERSION(3, 13)))", False),
    ("if", "PY_VERSION_HEX < _Py_PACK_VERSION(3, 15)", None),
    ("if", "Py_LIMITED_API+0 < 0x030D0000", None),          # unguarded: undefined means 0
    ("if", "defined(X) && (Y(1,2) > 3)", None),
    ("if", "PY_VERSION_HEX >= 0x030D0000 && !defined(PYPY_VERSION)", None),
    ("if", "FOO(1) || PY_VERSION_HEX >= 0x030D0000", True),
    ("if", "garbage ((( <", None),
])
def test_evaluate(directive, condition, expected):
    assert evaluate(directive, condition) is expected
