/*
 * ftaudit_ext._ckernels -- the quiz kernels in hand-written C, written the way an
 * extension should be for free-threaded CPython and own-GIL sub-interpreters:
 *
 *   - multi-phase initialisation (PyModuleDef_Init + Py_mod_exec), no single-phase init;
 *   - per-module state (the module's exception class lives in the state, not in a
 *     static PyObject *), with traverse/clear/free so every interpreter owns its copy;
 *   - the only type it defines (ShapeError) is a heap type made at exec time;
 *   - Py_mod_multiple_interpreters = Py_MOD_PER_INTERPRETER_GIL_SUPPORTED (3.12+) and
 *     Py_mod_gil = Py_MOD_GIL_NOT_USED (3.13+);
 *   - input through the buffer protocol (no numpy at build or run time);
 *   - arguments are checked and errors raised while the thread holds the GIL (attached
 *     thread state); the numeric loops run between Py_BEGIN_ALLOW_THREADS and
 *     Py_END_ALLOW_THREADS and touch only raw doubles, so they cannot fail.
 *
 * Kernels work on a slice [start, stop) so a caller can split one array across workers:
 *   sincos_sq(src, out, start=0, stop=len(src)) -> None   out[i] = sin(src[i])**2 + cos(src[i])**2
 *   sumsq(src, start=0, stop=len(src)) -> float           sum of src[i]**2 (a partial squared norm)
 *   norm(src) -> float                                    sqrt(sumsq(src))
 *
 * Thread safety: the kernels keep no shared mutable state. Concurrent calls writing
 * disjoint slices of one `out` buffer are safe; overlapping writes are the caller's race.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

typedef struct {
    PyObject *shape_error; /* ftaudit_ext._ckernels.ShapeError, a ValueError subclass */
} kernels_state;

static inline kernels_state *
get_state(PyObject *module)
{
    return (kernels_state *)PyModule_GetState(module);
}

/* Accept C-contiguous 1-D buffers of native doubles ("d", "@d", "=d"). */
static int
is_native_double_format(const char *format)
{
    if (format == NULL) {
        return 0; /* the consumer asked for PyBUF_FORMAT, NULL would mean unsigned bytes */
    }
    if (format[0] == '@' || format[0] == '=') {
        format++;
    }
    return strcmp(format, "d") == 0;
}

/* Get a buffer of doubles; on failure raise (GIL held) and return -1 with no buffer held. */
static int
get_double_buffer(PyObject *module, PyObject *obj, Py_buffer *view, int writable, const char *what)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        return -1;
    }
    if (view->itemsize != (Py_ssize_t)sizeof(double) || !is_native_double_format(view->format)) {
        PyErr_Format(PyExc_TypeError,
                     "%s must be a buffer of native float64 ('d'), got format '%s' with itemsize %zd",
                     what, view->format ? view->format : "B", view->itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    if (view->ndim > 1) {
        PyErr_Format(get_state(module)->shape_error, "%s must be one-dimensional, got %d dimensions",
                     what, view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* Resolve the slice bounds (stop < 0 means "to the end"); raise ShapeError if out of range. */
static int
check_slice(PyObject *module, Py_ssize_t length, Py_ssize_t start, Py_ssize_t *stop)
{
    if (*stop < 0) {
        *stop = length;
    }
    if (start < 0 || start > *stop || *stop > length) {
        PyErr_Format(get_state(module)->shape_error,
                     "slice [%zd, %zd) is not within a buffer of %zd doubles", start, *stop, length);
        return -1;
    }
    return 0;
}

static void
sincos_sq_loop(const double *src, double *out, Py_ssize_t start, Py_ssize_t stop)
{
    for (Py_ssize_t i = start; i < stop; i++) {
        double s = sin(src[i]);
        double c = cos(src[i]);
        out[i] = s * s + c * c;
    }
}

static double
sumsq_loop(const double *src, Py_ssize_t start, Py_ssize_t stop)
{
    double total = 0.0;
    for (Py_ssize_t i = start; i < stop; i++) {
        total += src[i] * src[i];
    }
    return total;
}

PyDoc_STRVAR(sincos_sq_doc,
"sincos_sq(src, out, start=0, stop=-1)\n--\n\n"
"out[i] = sin(src[i])**2 + cos(src[i])**2 for i in [start, stop); stop=-1 means len(src).\n"
"src and out are C-contiguous float64 buffers of the same length. The loop releases the GIL.");

static PyObject *
kernels_sincos_sq(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"src", "out", "start", "stop", NULL};
    PyObject *src_obj, *out_obj;
    Py_ssize_t start = 0, stop = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|nn:sincos_sq", kwlist,
                                     &src_obj, &out_obj, &start, &stop)) {
        return NULL;
    }
    Py_buffer src, out;
    if (get_double_buffer(module, src_obj, &src, 0, "src") < 0) {
        return NULL;
    }
    if (get_double_buffer(module, out_obj, &out, 1, "out") < 0) {
        PyBuffer_Release(&src);
        return NULL;
    }
    Py_ssize_t length = src.len / (Py_ssize_t)sizeof(double);
    if (out.len != src.len) {
        PyErr_Format(get_state(module)->shape_error,
                     "out has %zd doubles, src has %zd", out.len / (Py_ssize_t)sizeof(double), length);
        goto fail;
    }
    if (check_slice(module, length, start, &stop) < 0) {
        goto fail;
    }
    const double *src_data = (const double *)src.buf;
    double *out_data = (double *)out.buf;
    Py_BEGIN_ALLOW_THREADS
    sincos_sq_loop(src_data, out_data, start, stop);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&out);
    PyBuffer_Release(&src);
    Py_RETURN_NONE;
fail:
    PyBuffer_Release(&out);
    PyBuffer_Release(&src);
    return NULL;
}

PyDoc_STRVAR(sumsq_doc,
"sumsq(src, start=0, stop=-1)\n--\n\n"
"Sum of src[i]**2 over [start, stop) of a C-contiguous float64 buffer; stop=-1 means len(src).\n"
"Partial results from slices add up to the squared 2-norm. The loop releases the GIL.");

static PyObject *
kernels_sumsq(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"src", "start", "stop", NULL};
    PyObject *src_obj;
    Py_ssize_t start = 0, stop = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|nn:sumsq", kwlist, &src_obj, &start, &stop)) {
        return NULL;
    }
    Py_buffer src;
    if (get_double_buffer(module, src_obj, &src, 0, "src") < 0) {
        return NULL;
    }
    if (check_slice(module, src.len / (Py_ssize_t)sizeof(double), start, &stop) < 0) {
        PyBuffer_Release(&src);
        return NULL;
    }
    const double *src_data = (const double *)src.buf;
    double total;
    Py_BEGIN_ALLOW_THREADS
    total = sumsq_loop(src_data, start, stop);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&src);
    return PyFloat_FromDouble(total);
}

PyDoc_STRVAR(norm_doc,
"norm(src)\n--\n\n"
"The 2-norm of a C-contiguous float64 buffer: sqrt(sumsq(src)). The loop releases the GIL.");

static PyObject *
kernels_norm(PyObject *module, PyObject *src_obj)
{
    Py_buffer src;
    if (get_double_buffer(module, src_obj, &src, 0, "src") < 0) {
        return NULL;
    }
    const double *src_data = (const double *)src.buf;
    Py_ssize_t length = src.len / (Py_ssize_t)sizeof(double);
    double total;
    Py_BEGIN_ALLOW_THREADS
    total = sqrt(sumsq_loop(src_data, 0, length));
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&src);
    return PyFloat_FromDouble(total);
}

static PyMethodDef kernels_methods[] = {
    {"sincos_sq", (PyCFunction)(void (*)(void))kernels_sincos_sq, METH_VARARGS | METH_KEYWORDS, sincos_sq_doc},
    {"sumsq", (PyCFunction)(void (*)(void))kernels_sumsq, METH_VARARGS | METH_KEYWORDS, sumsq_doc},
    {"norm", kernels_norm, METH_O, norm_doc},
    {NULL, NULL, 0, NULL},
};

static int
kernels_exec(PyObject *module)
{
    kernels_state *state = get_state(module);
    state->shape_error = PyErr_NewExceptionWithDoc(
        "ftaudit_ext._ckernels.ShapeError",
        "A buffer has the wrong shape or a slice lies outside it.",
        PyExc_ValueError, NULL);
    if (state->shape_error == NULL) {
        return -1;
    }
    /* PyModule_AddObjectRef (3.10+) does not steal: the state keeps its own reference. */
    if (PyModule_AddObjectRef(module, "ShapeError", state->shape_error) < 0) {
        return -1;
    }
    return 0;
}

static int
kernels_traverse(PyObject *module, visitproc visit, void *arg)
{
    kernels_state *state = get_state(module);
    if (state != NULL) {
        Py_VISIT(state->shape_error);
    }
    return 0;
}

static int
kernels_clear(PyObject *module)
{
    kernels_state *state = get_state(module);
    if (state != NULL) {
        Py_CLEAR(state->shape_error);
    }
    return 0;
}

static void
kernels_free(void *module)
{
    (void)kernels_clear((PyObject *)module);
}

static PyModuleDef_Slot kernels_slots[] = {
    {Py_mod_exec, (void *)kernels_exec},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef kernels_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ftaudit_ext._ckernels",
    .m_doc = "Quiz kernels (sin^2+cos^2, sum of squares) in hand-written C; GIL released in the loops.",
    .m_size = sizeof(kernels_state),
    .m_methods = kernels_methods,
    .m_slots = kernels_slots,
    .m_traverse = kernels_traverse,
    .m_clear = kernels_clear,
    .m_free = kernels_free,
};

PyMODINIT_FUNC
PyInit__ckernels(void)
{
    return PyModuleDef_Init(&kernels_module);
}
