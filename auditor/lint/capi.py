"""Which identifiers are CPython C-API entry points that need an attached thread state.

Anything spelled `Py[A-Z_]...` or `_Py[A-Z_]...` is treated as C API, except:
* the documented exceptions that are safe without a thread state (raw memory, PyThread locks,
  PyMutex, the *Raw clocks, re-acquiring calls, pure compile-time helper macros);
* field accessors of immutable objects the caller holds a reference to (`PyBytes_AS_STRING`,
  `PyUnicode_DATA` ...), the long-standing idiom for handing a buffer to blocking C code;
* third-party APIs that share the prefix (NumPy's `PyArray_*`, `PyUFunc_*`, `PyDataType_*`).
"""

from __future__ import annotations

GIL_FREE = frozenset({
    # raw allocator (documented as callable without a thread state), tracemalloc hooks
    "PyMem_RawMalloc", "PyMem_RawCalloc", "PyMem_RawRealloc", "PyMem_RawFree",
    "PyTraceMalloc_Track", "PyTraceMalloc_Untrack",
    # locks
    "PyMutex_Lock", "PyMutex_Unlock", "PyMutex_IsLocked",
    # thread-state transitions themselves
    "PyEval_RestoreThread", "PyEval_AcquireThread", "PyEval_SaveThread",
    "PyGILState_Ensure", "PyGILState_Check", "PyGILState_GetThisThreadState",
    "PyThreadState_Ensure", "PyThreadState_EnsureFromView",
    # clocks documented as GIL-free (3.13)
    "PyTime_MonotonicRaw", "PyTime_PerfCounterRaw", "PyTime_TimeRaw", "PyTime_AsSecondsDouble",
    # pure C helpers
    "PyOS_snprintf", "PyOS_vsnprintf", "PyOS_mystrnicmp", "PyOS_mystrcmp", "PyOS_strtoul",
    "PyOS_strtol", "Py_FatalError",
    # compile-time macros
    "Py_ARRAY_LENGTH", "Py_MIN", "Py_MAX", "Py_ABS", "Py_UNUSED", "Py_SAFE_DOWNCAST",
    "Py_CHARMASK", "Py_IS_NAN", "Py_IS_INFINITY", "Py_IS_FINITE", "Py_BUILD_ASSERT",
    "Py_BUILD_ASSERT_EXPR", "Py_STRINGIFY", "Py_MEMBER_SIZE", "Py_UNREACHABLE", "Py_LL",
    "Py_ULL", "Py_ALIGNED", "Py_DEPRECATED", "Py_GCC_ATTRIBUTE", "Py_LOCAL", "Py_LOCAL_INLINE",
    "Py_EXPORTED_SYMBOL", "Py_RVALUE", "Py_CAST", "Py_STATIC_CAST", "Py_CLAMP", "Py_SIZE_ROUND_UP",
    "Py_SIZE_ROUND_DOWN", "Py_ALIGN_UP", "Py_ALIGN_DOWN", "Py_IS_ALIGNED", "Py_NO_INLINE",
    "Py_ALWAYS_INLINE", "Py_MEMCPY", "Py_Is", "Py_IsNone", "Py_IsTrue", "Py_IsFalse",
    # buffer/field accessors of immutable objects held by the caller
    "PyBytes_AS_STRING", "PyBytes_GET_SIZE", "PyUnicode_DATA", "PyUnicode_KIND",
    "PyUnicode_GET_LENGTH", "PyUnicode_READ", "PyUnicode_1BYTE_DATA", "PyUnicode_2BYTE_DATA",
    "PyUnicode_4BYTE_DATA", "PyUnicode_IS_ASCII", "PyUnicode_IS_COMPACT_ASCII",
    "PyTuple_GET_SIZE",
})
GIL_FREE_PREFIXES = ("PyThread_", "_Py_atomic_", "_Py_ANNOTATE", "Py_BUILD_", "_Py_STRINGIFY",
                     # character-class tables (pyctype.h, unicodeobject.h): pure lookups
                     "Py_UNICODE_IS", "Py_UNICODE_TO", "_PyUnicode_Is", "_PyUnicode_To",
                     "Py_ISALNUM", "Py_ISALPHA", "Py_ISDIGIT", "Py_ISLOWER", "Py_ISSPACE",
                     "Py_ISUPPER", "Py_ISXDIGIT", "Py_TOLOWER", "Py_TOUPPER")
THIRD_PARTY_PREFIXES = ("PyArray", "PyUFunc", "PyDataType", "PyDataMem", "PyDimMem", "_PyArray",
                        "_PyUFunc", "_PyDataType", "_PyDataMem", "_PyDimMem",
                        "PyArrayDescr", "PyArrayScalar", "Pyx", "PyGSL", "PyGObject", "PyGtk")


def is_capi(name: str) -> bool:
    if name.startswith("Py"):
        third = name[2:3]
    elif name.startswith("_Py"):
        third = name[3:4]
    else:
        return False
    if not third or not (third.isupper() or third == "_"):
        return False
    if name in GIL_FREE or name.startswith(GIL_FREE_PREFIXES) or name.startswith(THIRD_PARTY_PREFIXES):
        return False
    return True
