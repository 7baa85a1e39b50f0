"""`ft-audit source`: C, C++ and Cython rules for free-threading and sub-interpreter hazards.

Pipeline (one module per job; data flows one way):

    engine      find files, read/decode, config + suppressions, run the checkers   (I/O)
    ctokens     maximal-munch C/C++ lexer; macros stay visible as identifiers
    cpreproc    #define table; #if groups flattened to one brace-balanced stream
    ccond       #if conditions decided for every free-threaded build (3.13+, Py_GIL_DISABLED)
    cstructure  function definitions and top-level declarations/initializers
    cmacros     the project's own macros, expanded where they touch the GIL state
    cflow       statement-level walk of a function: released / acquired / maybe, jumps
    crules      the C rules (FTS1xx-FTS4xx) over the above
    cython_rules  the Cython rules (FTS5xx) over Cython's own parse tree
    rules       the rule table (IDs, why, fix, since-version, docs anchor) as data

Parser decision (measured on the numpy 2.5.5 sdist, 702 C/C++ files, 538,905 lines, on the
2-core project machine under load; benchmarks/bench_source.py):

* tree-sitter-c: parse alone 74k lines/s (CPU) -- slower than this whole linter (78-80k
  lines/s) -- and not installable on free-threaded CPython: tree-sitter 0.26.1 has no cp314t
  wheel and tree-sitter-c 0.24.2 ships abi3 wheels only, which a 3.13t/3.14t interpreter
  cannot load. Macro uses are visible, but a free-threaded user would get nothing.
* pycparser: pure Python, but needs preprocessed input: Py_BEGIN_ALLOW_THREADS and every
  project macro are gone before it sees the code, which is exactly what the rules look at.
* libclang (PyPI wheels are ctypes-based, so they would load on 3.14t): needs each file's real
  build configuration (include paths for Python.h, numpy, the platform) to preprocess, ships a
  ~30 MB native library, and macro uses are only visible through the preprocessing record.
* chosen: a purpose-built tokenizer (one compiled regular expression, 210k lines/s) plus a
  brace/statement structure parser in pure Python. It runs identically on every interpreter
  including 3.13t/3.14t, keeps macros as tokens, and clears the 50k lines/s target with margin.

Cython: Cython's own parser (`Cython.Compiler.TreeFragment.parse_from_strings`), in-process,
parse only (no analysis, no code generation). Cython 3.3.1 ships a pure-Python wheel, so it
installs on free-threaded interpreters; when it is missing each Cython file gets a
"not checked" diagnostic and the C checks still run.

Known limits (path-insensitive analysis): states that are released on some paths only
("maybe", e.g. `if (n > 500) Py_UNBLOCK_THREADS`) are tracked but not reported; calls through
function pointers are not followed; rules that depend on a module's declarations
(FTS303, FTS4xx) look at one file at a time.
"""
