"""ftaudit_ext: ft-audit's bundled reference extension modules.

Two modules compute the same quiz kernels over a slice [start, stop) of a float64 buffer,
so the work can be split across threads, processes or sub-interpreters:

  _ckernels   hand-written C (multi-phase init, module state, Py_mod_gil, own-GIL slot)
  _cykernels  Cython (freethreading_compatible, subinterpreters_compatible=own_gil)

Both release the GIL in their loops, declare free-threading support and own-GIL
sub-interpreter support, and import without numpy (buffer protocol only).
`ft-audit bench` uses them as the "compiled kernel that releases the GIL" workloads.
"""

__all__ = ["KERNEL_MODULES"]

#: The compiled modules of this package, by the language they are written in.
KERNEL_MODULES = {"c": "ftaudit_ext._ckernels", "cython": "ftaudit_ext._cykernels"}
