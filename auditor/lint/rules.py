"""The rule table of `ft-audit source`: the `source` family of the finding-code table.

Each rule's stable ID, title, why it matters, the safe replacement, the CPython version that
introduced it (from shared/reference/capi-reference.md, sections 4.1-4.3 and 6), severity and
README anchor live in `auditor/finding_codes.json` with the wheel and env codes. Code applies
these rules; it never hard-codes their text. Which C-API calls each borrowed-reference rule
covers is this module's own data (BORROWED_APIS).
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.finding_codes import Family, FindingCode, codes_of

Rule = FindingCode

RULES: tuple[Rule, ...] = codes_of(Family.SOURCE)

BY_ID: dict[str, Rule] = {r.id: r for r in RULES}


@dataclass(frozen=True)
class BorrowedApi:
    name: str
    rule: str
    replacement: str
    lockable: bool     # safe while a critical section on the container is held

    def __post_init__(self) -> None:
        if self.rule not in BY_ID:   # a typo fails at import, not when the API is first seen
            raise ValueError(f"{self.name}: {self.rule} is not a rule of ft-audit source")


BORROWED_APIS: dict[str, BorrowedApi] = {
    b.name: b
    for b in (
        BorrowedApi("PyList_GetItem", "FTS201", "PyList_GetItemRef", True),
        BorrowedApi("PyList_GET_ITEM", "FTS201", "PyList_GetItemRef", True),
        BorrowedApi("PyDict_GetItem", "FTS202", "PyDict_GetItemRef", True),
        BorrowedApi("PyDict_GetItemWithError", "FTS202", "PyDict_GetItemRef", True),
        BorrowedApi("PyDict_GetItemString", "FTS202", "PyDict_GetItemStringRef", True),
        BorrowedApi("PyDict_SetDefault", "FTS203", "PyDict_SetDefaultRef", True),
        BorrowedApi("PyWeakref_GetObject", "FTS204", "PyWeakref_GetRef", False),
        BorrowedApi("PyWeakref_GET_OBJECT", "FTS204", "PyWeakref_GetRef", False),
        BorrowedApi("PyImport_AddModule", "FTS205", "PyImport_AddModuleRef", False),
        BorrowedApi("PyImport_AddModuleObject", "FTS205", "PyImport_AddModuleRef", False),
        BorrowedApi("PySequence_Fast_ITEMS", "FTS206", "a critical section or PySequence_Tuple", True),
        BorrowedApi("PySequence_Fast_GET_ITEM", "FTS206", "a critical section or PySequence_Tuple", True),
        BorrowedApi("PyDict_Next", "FTS207", "Py_BEGIN_CRITICAL_SECTION(dict) around the loop", True),
        BorrowedApi("PyEval_GetGlobals", "FTS208", "PyEval_GetFrameGlobals", False),
        BorrowedApi("PyEval_GetLocals", "FTS208", "PyEval_GetFrameLocals", False),
        BorrowedApi("PyEval_GetBuiltins", "FTS208", "PyEval_GetFrameBuiltins", False),
        BorrowedApi("PyCell_GET", "FTS209", "PyCell_Get", False),
        BorrowedApi("PyCell_SET", "FTS209", "PyCell_Set", False),
        BorrowedApi("PySys_GetObject", "FTS210", "PySys_GetAttr", False),
    )
}

# Argument names that, by universal convention, hold the keyword-argument dict of the current
# call: only this thread can see it, so iterating it is safe (porting guide caveat).
PRIVATE_DICT_NAMES = frozenset({"kwds", "kwargs", "kw", "keywds", "kwdict", "kwnames"})
