"""The rule table of `ft-audit source`, kept as data.

Each rule has a stable ID (never renumbered; retired IDs are not reused), a title, why it
matters, the safe replacement, the CPython version that introduced the replacement (from
shared/reference/capi-reference.md, sections 4.1-4.3 and 6), and the README anchor that
documents it. Code applies these rules; it never hard-codes their text.
"""

from __future__ import annotations

from dataclasses import dataclass

DOCS_FILE = "README.md"  # the rule reference lives in the README, one heading per rule ID


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    why: str
    fix: str
    since: str          # CPython (or Cython) version that introduced the fix; "" if it is long-standing
    severity: str       # "error" | "warning"

    @property
    def anchor(self) -> str:
        return self.id.lower()

    @property
    def docs(self) -> str:
        return f"{DOCS_FILE}#{self.anchor}"


RULES: tuple[Rule, ...] = (
    # -- 1xx: GIL-released regions ------------------------------------------------------------
    Rule("FTS101", "C-API call while the GIL is released",
         "Between Py_BEGIN_ALLOW_THREADS/Py_UNBLOCK_THREADS/PyEval_SaveThread and the matching "
         "re-acquire the thread has no attached thread state; calling the C API (or "
         "Py_INCREF/Py_DECREF on an object) there is a crash bug on every build, GIL or free-threaded.",
         "Move the call after Py_END_ALLOW_THREADS, or wrap it in Py_BLOCK_THREADS ... "
         "Py_UNBLOCK_THREADS (PyEval_RestoreThread ... PyEval_SaveThread).", "", "error"),
    Rule("FTS102", "Jump out of a GIL-released region without re-acquiring",
         "A return, goto, break or continue that leaves a released region skips the re-acquire: "
         "the caller continues without a thread state (crash or deadlock later).",
         "Re-acquire before leaving (Py_BLOCK_THREADS / PyEval_RestoreThread), or set a flag and "
         "leave after Py_END_ALLOW_THREADS.", "", "error"),
    # -- 2xx: borrowed references and unlocked container access -------------------------------
    Rule("FTS201", "Borrowed reference from a list",
         "PyList_GetItem/PyList_GET_ITEM return a borrowed reference into a list another thread "
         "can modify; on a free-threaded build the item can be freed while you use it.",
         "PyList_GetItemRef (strong reference), or hold Py_BEGIN_CRITICAL_SECTION(list) while "
         "the borrowed item is used.", "3.13", "warning"),
    Rule("FTS202", "Borrowed reference from a dict lookup",
         "PyDict_GetItem/PyDict_GetItemWithError/PyDict_GetItemString return a borrowed reference "
         "that another thread can invalidate (and PyDict_GetItem swallows errors).",
         "PyDict_GetItemRef / PyDict_GetItemStringRef (strong reference).", "3.13", "warning"),
    Rule("FTS203", "Borrowed reference from PyDict_SetDefault",
         "PyDict_SetDefault returns a borrowed reference to the stored value.",
         "PyDict_SetDefaultRef (strong reference).", "3.13", "warning"),
    Rule("FTS204", "Borrowed reference from a weak reference",
         "PyWeakref_GetObject/PyWeakref_GET_OBJECT return a borrowed reference to an object that "
         "can die at any moment; both were removed from the 3.15 headers.",
         "PyWeakref_GetRef (strong reference).", "3.13", "error"),
    Rule("FTS205", "Borrowed module from PyImport_AddModule",
         "PyImport_AddModule/PyImport_AddModuleObject return a borrowed reference to an entry of "
         "sys.modules that another thread can replace.",
         "PyImport_AddModuleRef (strong reference).", "3.13", "warning"),
    Rule("FTS206", "Unlocked access to a PySequence_Fast result",
         "PySequence_Fast_ITEMS/PySequence_Fast_GET_ITEM read the item array of what may be a "
         "shared list without locking it.",
         "Hold Py_BEGIN_CRITICAL_SECTION(seq) around the access, or use PySequence_Tuple.",
         "3.13", "warning"),
    Rule("FTS207", "PyDict_Next without a critical section",
         "PyDict_Next does not lock the dict; iterating a dict another thread mutates is a data "
         "race on free-threaded builds.",
         "Wrap the loop in Py_BEGIN_CRITICAL_SECTION(dict) ... Py_END_CRITICAL_SECTION().",
         "3.13", "warning"),
    Rule("FTS208", "Borrowed reference from frame reflection",
         "PyEval_GetGlobals/PyEval_GetLocals/PyEval_GetBuiltins return borrowed references "
         "(deprecated since 3.13).",
         "PyEval_GetFrameGlobals / PyEval_GetFrameLocals / PyEval_GetFrameBuiltins (new references).",
         "3.13", "warning"),
    Rule("FTS209", "Unlocked cell access",
         "PyCell_GET/PyCell_SET read and write the cell without locking and PyCell_GET borrows.",
         "PyCell_Get (new reference) / PyCell_Set.", "", "warning"),
    Rule("FTS210", "Borrowed reference from PySys_GetObject",
         "PySys_GetObject returns a borrowed reference to a sys attribute another thread can replace.",
         "PySys_GetAttr / PySys_GetAttrString / PySys_GetOptionalAttr (strong references).",
         "3.15", "warning"),
    # -- 3xx: the GIL declaration -------------------------------------------------------------
    Rule("FTS301", "Multi-phase module without a Py_mod_gil slot",
         "Without {Py_mod_gil, Py_MOD_GIL_NOT_USED} a free-threaded interpreter re-enables the GIL "
         "for the whole process when it imports the module (and warns).",
         "Audit the module for thread safety, then add {Py_mod_gil, Py_MOD_GIL_NOT_USED} to its "
         "PyModuleDef_Slot array (or {Py_mod_gil, Py_MOD_GIL_USED} to say so explicitly).",
         "3.13", "warning"),
    Rule("FTS302", "Single-phase init without PyUnstable_Module_SetGIL",
         "A PyModule_Create module that never calls PyUnstable_Module_SetGIL is assumed to need the "
         "GIL: a free-threaded interpreter re-enables it on import.",
         "Call PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) in PyInit_* under #ifdef "
         "Py_GIL_DISABLED, or port to multi-phase init with a Py_mod_gil slot.", "3.13", "warning"),
    Rule("FTS303", "Py_MOD_GIL_NOT_USED declared, but a static PyObject * global is written after init",
         "The module promises it is safe without the GIL, yet a function outside module "
         "initialisation assigns a process-global PyObject * (lazy caches, Py_SETREF, Py_CLEAR): "
         "two threads can race, leak or free the object twice.",
         "Move the object into module state (PyModule_GetState) set up in Py_mod_exec, or guard the "
         "write with a PyMutex / critical section (PyMutex, 3.13) or a once-flag.", "3.13", "error"),
    Rule("FTS304", "Unlocked write to a static PyObject * after init",
         "A function outside module initialisation assigns a file-scope or function-static "
         "PyObject * (lazy caches, Py_SETREF, Py_CLEAR) with no lock or critical section held. "
         "The module does not declare Py_MOD_GIL_NOT_USED yet (else this is FTS303), so the GIL "
         "still serialises it, but it races as soon as the GIL is off (PYTHON_GIL=0, or once "
         "the module declares it): two threads can leak the object or free it twice.",
         "Move the object into module state (PyModule_GetState) set up in Py_mod_exec, or hold a "
         "PyMutex (3.13) or Py_BEGIN_CRITICAL_SECTION around the check and the write; then "
         "declare Py_MOD_GIL_NOT_USED.", "3.13", "warning"),
    # -- 4xx: sub-interpreter isolation -------------------------------------------------------
    Rule("FTS401", "Static type in a module that declares multiple-interpreter support",
         "A static PyTypeObject is shared by every interpreter in the process and cannot reach "
         "per-interpreter module state.",
         "Create a heap type with PyType_FromModuleAndSpec in Py_mod_exec and keep it in module state.",
         "3.9", "error"),
    Rule("FTS402", "PyGILState_* in a module that declares multiple-interpreter support",
         "The PyGILState API assumes one interpreter per thread; with sub-interpreters it attaches "
         "the thread to the main interpreter.",
         "Pass the interpreter or thread state explicitly (PyThreadState_New/PyEval_RestoreThread; "
         "PyThreadState_Ensure in 3.15).", "3.15", "warning"),
    Rule("FTS403", "Process-global PyObject * in a module that declares multiple-interpreter support",
         "A file-scope PyObject * is shared across interpreters: objects of one interpreter leak "
         "into another.",
         "Keep the object in module state (PyModule_GetState, PyType_GetModuleByDef).", "3.5", "error"),
    # -- 5xx: Cython --------------------------------------------------------------------------
    Rule("FTS501", "Cython module without the freethreading_compatible directive",
         "Cython emits {Py_mod_gil, Py_MOD_GIL_USED} unless told otherwise: the free-threaded "
         "interpreter re-enables the GIL on import.",
         "After auditing, add `# cython: freethreading_compatible=True` to the module header (or set "
         "it in the build's compiler_directives and ignore FTS501 in [tool.ft-audit]).",
         "Cython 3.1", "warning"),
    Rule("FTS502", "`with gil:` inside prange",
         "On a free-threaded build the threads of a prange loop really run at once: a `with gil:` "
         "block no longer serialises them (Cython docs call this extremely unsafe).",
         "Move Python-object work out of the parallel loop, or protect it with cython.pymutex / "
         "cython.critical_section.", "Cython 3.1", "error"),
    Rule("FTS503", "Module-level cdef global written from nogil code",
         "Writes to a module-level C global from nogil code race between threads (and, on a "
         "free-threaded build, between any threads at all).",
         "Keep the value per call or per object, or guard the write with cython.pymutex.",
         "Cython 3.1", "warning"),
    Rule("FTS504", "Typed memoryviews in a module declared subinterpreters_compatible",
         "Cython 3.3.1 warns that memoryviews with subinterpreters are 'not supported yet and will "
         "likely crash'; measured: importing such a module in an own-GIL sub-interpreter crashes "
         "with a double free.",
         "Drop the subinterpreters_compatible directive until Cython supports it, or avoid typed "
         "memoryviews in the module.", "", "error"),
)

BY_ID: dict[str, Rule] = {r.id: r for r in RULES}


@dataclass(frozen=True)
class BorrowedApi:
    name: str
    rule: str
    replacement: str
    lockable: bool     # safe while a critical section on the container is held


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
