# cython: language_level=3
# cython: freethreading_compatible=True
# cython: subinterpreters_compatible=own_gil
# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""ftaudit_ext._cykernels -- the quiz kernels in Cython, for free-threaded CPython and
own-GIL sub-interpreters.

Declarations that make this module safe to load in those runtimes:
  freethreading_compatible=True     -> Py_mod_gil = Py_MOD_GIL_NOT_USED on free-threaded builds
  subinterpreters_compatible=own_gil -> Py_mod_multiple_interpreters = PER_INTERPRETER_GIL_SUPPORTED;
                                       Cython emits it only with CYTHON_USE_MODULE_STATE=1 (set by
                                       setup.py), which keeps Cython's module globals per module.

Why the buffer protocol and not typed memoryviews (`double[::1]`): with Cython 3.3.1 a module
declared subinterpreters_compatible=own_gil that uses typed memoryviews gets the compile warning
"not supported yet and will likely crash", and it does crash: reproduced on CPython 3.13.0 with a
one-function `double[::1]` module, which works in the main interpreter and aborts the process
("double free or corruption") on its first use in an own-GIL sub-interpreter. Taking the
buffer with cpython.buffer.PyObject_GetBuffer and reading raw `double *` keeps the module
import-safe in own-GIL sub-interpreters (tested on 3.12-3.15), and needs no numpy.

The module defines no cdef globals holding Python objects and no cdef classes. The loops run
in `with nogil:` blocks over raw doubles and cannot raise; every check happens before them.
"""

from cpython.buffer cimport (
    PyBUF_C_CONTIGUOUS,
    PyBUF_FORMAT,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from libc.math cimport cos, sin, sqrt
from libc.string cimport strcmp

from cython.parallel cimport prange

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FTAUDIT_HAVE_OPENMP 1
    static int ftaudit_omp_max_threads(void) { return omp_get_max_threads(); }
    #else
    #define FTAUDIT_HAVE_OPENMP 0
    static int ftaudit_omp_max_threads(void) { return 1; }
    #endif
    """
    const int FTAUDIT_HAVE_OPENMP
    int ftaudit_omp_max_threads() nogil

#: True when this build was compiled with OpenMP, so sumsq_parallel really runs in parallel.
HAVE_OPENMP = bool(FTAUDIT_HAVE_OPENMP)


class ShapeError(ValueError):
    """A buffer has the wrong shape or a slice lies outside it."""


cdef int _get_doubles(object obj, Py_buffer *view, bint writable, str what) except -1:
    """Get a C-contiguous buffer of native doubles from `obj`, or raise with no buffer held."""
    cdef int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT
    if writable:
        flags |= PyBUF_WRITABLE
    PyObject_GetBuffer(obj, view, flags)
    cdef const char *fmt = view.format
    if fmt != NULL and (fmt[0] == b'@' or fmt[0] == b'='):
        fmt += 1
    if view.itemsize != sizeof(double) or fmt == NULL or strcmp(fmt, b"d") != 0:
        got = (<bytes>view.format).decode("ascii", "replace") if view.format != NULL else "B"
        itemsize = view.itemsize
        PyBuffer_Release(view)
        raise TypeError(f"{what} must be a buffer of native float64 ('d'), got format '{got}' "
                        f"with itemsize {itemsize}")
    if view.ndim > 1:
        ndim = view.ndim
        PyBuffer_Release(view)
        raise ShapeError(f"{what} must be one-dimensional, got {ndim} dimensions")
    return 0


cdef Py_ssize_t _resolve_stop(Py_ssize_t length, Py_ssize_t start, Py_ssize_t stop) except -2:
    if stop < 0:
        stop = length
    if start < 0 or start > stop or stop > length:
        raise ShapeError(f"slice [{start}, {stop}) is not within a buffer of {length} doubles")
    return stop


cdef double _sumsq(const double *src, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    cdef double total = 0.0
    cdef Py_ssize_t i
    for i in range(start, stop):
        total += src[i] * src[i]
    return total


def sincos_sq(src, out, Py_ssize_t start=0, Py_ssize_t stop=-1):
    """out[i] = sin(src[i])**2 + cos(src[i])**2 for i in [start, stop); stop=-1 means len(src).

    src and out are C-contiguous float64 buffers of the same length. The loop releases the GIL.
    """
    cdef Py_buffer src_view, out_view
    cdef Py_ssize_t i, length
    cdef double s, c
    cdef const double *src_data
    cdef double *out_data
    _get_doubles(src, &src_view, False, "src")
    try:
        _get_doubles(out, &out_view, True, "out")
    except BaseException:
        PyBuffer_Release(&src_view)
        raise
    try:
        length = src_view.len // sizeof(double)
        if out_view.len != src_view.len:
            raise ShapeError(f"out has {out_view.len // sizeof(double)} doubles, src has {length}")
        stop = _resolve_stop(length, start, stop)
        src_data = <const double *>src_view.buf
        out_data = <double *>out_view.buf
        with nogil:
            for i in range(start, stop):
                s = sin(src_data[i])
                c = cos(src_data[i])
                out_data[i] = s * s + c * c
    finally:
        PyBuffer_Release(&out_view)
        PyBuffer_Release(&src_view)


def sumsq(src, Py_ssize_t start=0, Py_ssize_t stop=-1):
    """Sum of src[i]**2 over [start, stop) of a C-contiguous float64 buffer; stop=-1 means len(src).

    Partial results from slices add up to the squared 2-norm. The loop releases the GIL.
    """
    cdef Py_buffer view
    cdef double total
    cdef const double *data
    _get_doubles(src, &view, False, "src")
    try:
        stop = _resolve_stop(view.len // sizeof(double), start, stop)
        data = <const double *>view.buf
        with nogil:
            total = _sumsq(data, start, stop)
    finally:
        PyBuffer_Release(&view)
    return total


def sumsq_parallel(src, Py_ssize_t start=0, Py_ssize_t stop=-1, int num_threads=0):
    """Like sumsq, but the loop is an OpenMP `prange` over `num_threads` threads (0: OpenMP's default).

    Without OpenMP (HAVE_OPENMP is False) Cython compiles prange as a plain serial loop, so the
    result is the same and only the speed differs. The sum order differs from sumsq, so results
    agree to rounding, not bit for bit.
    """
    cdef Py_buffer view
    cdef double total = 0.0
    cdef const double *data
    cdef Py_ssize_t i
    if num_threads < 0:
        raise ValueError(f"num_threads must be >= 0, got {num_threads}")
    if num_threads == 0:
        num_threads = ftaudit_omp_max_threads()
    _get_doubles(src, &view, False, "src")
    try:
        stop = _resolve_stop(view.len // sizeof(double), start, stop)
        data = <const double *>view.buf
        with nogil:
            for i in prange(start, stop, num_threads=num_threads, schedule="static"):
                total += data[i] * data[i]
    finally:
        PyBuffer_Release(&view)
    return total


def norm(src):
    """The 2-norm of a C-contiguous float64 buffer: sqrt(sumsq(src)). The loop releases the GIL."""
    cdef Py_buffer view
    cdef double total
    cdef const double *data
    _get_doubles(src, &view, False, "src")
    try:
        data = <const double *>view.buf
        with nogil:
            total = sqrt(_sumsq(data, 0, view.len // sizeof(double)))
    finally:
        PyBuffer_Release(&view)
    return total
