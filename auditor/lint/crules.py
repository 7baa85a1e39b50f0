"""C/C++ rules: from one preprocessed file (plus the project's macros) to findings.

Pure functions over tokens: nothing here reads files. `CFile` is what the engine hands in;
`check_c_file` returns findings (unsuppressed, unfiltered) and notes about partial results.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from auditor.lint.capi import is_capi
from auditor.lint.cflow import ACQUIRED, GUARD_NAMES, MAYBE, RELEASED, Call, is_call, summarize, walk
from auditor.lint.cmacros import STATE_NAMES, MacroTable
from auditor.lint.cpreproc import Preprocessed
from auditor.lint.cstructure import Declaration, Function, Structure, scan
from auditor.lint.ctokens import IDENT, PUNCT, LineIndex, Token
from auditor.lint.findings import SourceFinding
from auditor.lint.rules import BORROWED_APIS, BY_ID, PRIVATE_DICT_NAMES

_MODULE_CREATE = frozenset({"PyModule_Create", "PyModule_Create2", "PyModule_Create2TraceRefs"})
_GILSTATE = frozenset({"PyGILState_Ensure", "PyGILState_Release", "PyGILState_GetThisThreadState",
                       "PyGILState_Check"})
_OBJECT_TYPES = frozenset({"PyObject", "PyTypeObject"})
_STORAGE = frozenset({"static", "const", "volatile", "register", "thread_local", "_Thread_local",
                      "__thread", "inline"})
_SETTERS = frozenset({"Py_SETREF", "Py_XSETREF", "Py_CLEAR"})


@dataclass
class CFile:
    path: str
    text: str
    pre: Preprocessed
    lines: LineIndex
    structure: Structure | None = None
    flat_calls: dict[int, list[Call]] = field(default_factory=dict)   # by body start: computed once
    body_names: dict[int, frozenset[str]] = field(default_factory=dict)


@dataclass
class CResult:
    findings: list[SourceFinding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GlobalObject:
    """A `PyObject *` (or `PyTypeObject *`) with static storage: one per process."""

    name: str
    token: Token
    type_name: str
    function: str = ""      # the function a function-`static` belongs to; "" at file scope

    @property
    def described(self) -> str:
        where = "function-static" if self.function else "process-global"
        return f"{where} {self.type_name} *{self.name}"


@dataclass(frozen=True)
class ModuleTables:
    """The module-definition tables of one file."""

    slot_arrays: tuple[tuple[Declaration, Token], ...]            # PyModuleDef_Slot x[] = {...}
    module_defs: tuple[tuple[Declaration, Token, tuple[list[Token], ...]], ...]   # PyModuleDef x = {...}
    lifecycle: frozenset[str]   # PyInit_* and every name in those tables (exec, create, m_free...)


def module_tables(code: list[Token], structure: Structure) -> ModuleTables:
    """Slot arrays and PyModuleDef definitions, and the functions they (and PyInit_*) name."""
    lifecycle = {fn.name for fn in structure.functions if fn.name.startswith("PyInit_")}
    slot_arrays: list[tuple[Declaration, Token]] = []
    module_defs: list[tuple[Declaration, Token, tuple[list[Token], ...]]] = []
    for d in structure.declarations:
        if d.init_start < 0:
            continue
        head = [t for t in code[d.start:d.init_start] if t[0] == IDENT]
        head_names = [t[1] for t in head]
        init = code[d.init_start + 1:d.init_end]
        if "PyModuleDef_Slot" in head_names or "PySlot" in head_names:
            if "PySlot" in head_names and not any(t[1].startswith("Py_mod_") for t in init):
                continue
            slot_arrays.append((d, head[-1]))
            lifecycle.update(t[1] for t in init if t[0] == IDENT)
        elif "PyModuleDef" in head_names:
            module_defs.append((d, head[-1], tuple(_split_top(init))))
            lifecycle.update(t[1] for t in init if t[0] == IDENT)
    return ModuleTables(tuple(slot_arrays), tuple(module_defs), frozenset(lifecycle))


def _file_calls(cfile: CFile, structure: Structure) -> dict[str, list[Call]]:
    """Each function's calls, unordered and without GIL state: enough for reachability."""
    out: dict[str, list[Call]] = {}
    for fn in structure.functions:
        calls = cfile.flat_calls.get(fn.start)
        if calls is None:
            calls = cfile.flat_calls[fn.start] = _flat_calls(cfile.pre.code[fn.start + 1:fn.end])
        out.setdefault(fn.name, []).extend(calls)
    return out


def find_init_phase(files: list[CFile]) -> frozenset[str]:
    """Functions that run only while a module is created or torn down: PyInit_*, the functions
    a PyModuleDef or slot array names (Py_mod_exec, m_free...), and project functions whose
    every caller is one of these, across every file (psutil's PyInit_* calls helpers in other
    files that create its exception objects). They run once per module object, before other
    threads can reach it, so their writes to static objects are not races. A helper that is
    also called from elsewhere (regex's re_alloc, whose error path fills a lazy cache), or
    that a method or type table names, runs later too: it is not init."""
    roots: set[str] = set()
    tabled: set[str] = set()     # named by a PyMethodDef/PyType_Slot/... table: called later
    callers: dict[str, set[str]] = {}
    callees: dict[str, set[str]] = {}
    for cfile in files:
        code = cfile.pre.code
        structure = cfile.structure if cfile.structure is not None else scan(code)
        tables = module_tables(code, structure)
        roots |= tables.lifecycle
        module_decls = {d.start for d, _ in tables.slot_arrays} | {
            d.start for d, _, _ in tables.module_defs}
        for d in structure.declarations:
            if d.init_start >= 0 and d.start not in module_decls:
                tabled.update(t[1] for t in code[d.init_start + 1:d.init_end] if t[0] == IDENT)
        for name, calls in _file_calls(cfile, structure).items():
            callees.setdefault(name, set()).update(c.name for c in calls)
            for c in calls:
                callers.setdefault(c.name, set()).add(name)
    init = {name for name in roots if name in callees}
    todo = deque(init)
    while todo:
        for g in callees.get(todo.popleft(), ()):
            if g not in init and g in callees and g not in tabled and callers[g] <= init:
                init.add(g)
                todo.append(g)
    return frozenset(init)


@dataclass(frozen=True)
class GilWrappers:
    """Project functions that change the GIL state for their caller (see cflow.summarize)."""

    releasers: frozenset[str] = frozenset()
    acquirers: frozenset[str] = frozenset()
    entered_released: frozenset[str] = frozenset()
    mixed: frozenset[str] = frozenset()

    @property
    def names(self) -> frozenset[str]:
        return self.releasers | self.acquirers | self.mixed


def _touches_state(names: frozenset[str], macros: MacroTable, extra: frozenset[str]) -> bool:
    return not (names.isdisjoint(STATE_NAMES) and names.isdisjoint(macros.stateful)
                and names.isdisjoint(extra))


def _names(cfile: CFile, fn: Function) -> frozenset[str]:
    """The identifiers of a function body, computed once per function."""
    names = cfile.body_names.get(fn.start)
    if names is None:
        names = cfile.body_names[fn.start] = frozenset(
            t[1] for t in cfile.pre.code[fn.start + 1:fn.end] if t[0] == IDENT)
    return names


def find_gil_wrappers(files: list[CFile], macros: MacroTable) -> GilWrappers:
    """A few rounds, so that wrappers of wrappers are found too."""
    wrappers = GilWrappers()
    for _ in range(4):
        rel, acq, entered, mixed = set(), set(), set(), set()
        for cfile in files:
            structure = cfile.structure if cfile.structure is not None else scan(cfile.pre.code)
            for fn in structure.functions:
                if not _touches_state(_names(cfile, fn), macros, wrappers.names):
                    continue
                body = cfile.pre.code[fn.start + 1:fn.end]
                try:
                    kind = summarize(macros.expand(body), wrappers.releasers, wrappers.acquirers,
                                     wrappers.mixed)
                except RecursionError:
                    continue
                if kind == "releases":
                    rel.add(fn.name)
                elif kind == "acquires":
                    acq.add(fn.name)
                    entered.add(fn.name)
                elif kind == "self-acquiring":
                    entered.add(fn.name)
                elif kind == "mixed":
                    entered.add(fn.name)
                    mixed.add(fn.name)
        found = GilWrappers(frozenset(rel), frozenset(acq), frozenset(entered), frozenset(mixed))
        if found == wrappers:
            break
        wrappers = found
    return wrappers


@dataclass(frozen=True)
class GilUse:
    """Why a project function needs the GIL: the C-API call it (or a callee) makes."""

    api: str
    path: str
    line: int
    via: str | None = None      # the project function through which the call happens


def find_gil_users(files: list[CFile], macros: MacroTable, wrappers: GilWrappers) -> dict[str, GilUse]:
    """Project functions that call the C API (directly or through other project functions)
    while the GIL is held as they were entered. Self-acquiring functions are excluded: they
    take the GIL themselves, so calling them without it is their purpose."""
    direct: dict[str, GilUse] = {}
    callees: dict[str, set[str]] = {}
    skip = wrappers.entered_released | wrappers.releasers
    for cfile in files:
        structure = cfile.structure if cfile.structure is not None else scan(cfile.pre.code)
        for fn in structure.functions:
            if fn.name in skip:
                continue
            body = cfile.pre.code[fn.start + 1:fn.end]
            calls = cfile.flat_calls.get(fn.start)
            if calls is None:
                calls = cfile.flat_calls[fn.start] = _flat_calls(body)
            if _touches_state(_names(cfile, fn), macros, wrappers.names):
                try:
                    calls = walk(macros.expand(body), wrappers.releasers, wrappers.acquirers,
                                 unsettling=wrappers.mixed).calls
                except RecursionError:
                    pass
            held = [c for c in calls if c.rel == ACQUIRED]
            first = next((c for c in held if is_capi(c.name)), None)
            if first is not None and fn.name not in direct:
                direct[fn.name] = GilUse(first.name, cfile.path, cfile.lines.line_of(first.token[2]))
            callees.setdefault(fn.name, set()).update(c.name for c in held)
    users = dict(direct)
    changed = True
    while changed:
        changed = False
        for name, called in callees.items():
            if name in users:
                continue
            hit = next((c for c in sorted(called) if c in users and c != name), None)
            if hit is not None:
                use = users[hit]
                users[name] = GilUse(use.api, use.path, use.line, hit)
                changed = True
    return users


class _Checker:
    def __init__(self, cfile: CFile, macros: MacroTable, project_functions: frozenset[str],
                 wrappers: GilWrappers, gil_users: dict[str, GilUse] | None = None,
                 init_phase: frozenset[str] | None = None) -> None:
        self.f = cfile
        self.init_phase = init_phase if init_phase is not None else find_init_phase([cfile])
        self.code = cfile.pre.code
        self.macros = macros
        self.project_functions = project_functions
        self.wrappers = wrappers
        self.gil_users = gil_users or {}
        self.out = CResult()

    # -- helpers ------------------------------------------------------------------------------
    def add(self, rule_id: str, tok: Token, message: str, fix: str | None = None) -> None:
        rule = BY_ID[rule_id]
        line, col = self.f.lines.position(tok[2])
        self.out.findings.append(SourceFinding(rule_id, self.f.path, line, col, message,
                                               fix or rule.fix, rule.severity))

    def line(self, tok: Token | None) -> int:
        return self.f.lines.line_of(tok[2]) if tok is not None else 0

    # -- driver -------------------------------------------------------------------------------
    def run(self) -> CResult:
        structure = self.f.structure if self.f.structure is not None else scan(self.code)
        if structure.unbalanced:
            self.out.notes.append("unbalanced braces: the rest of the file after the last "
                                  "complete item was checked as one block")
        if self.f.pre.unterminated_groups:
            self.out.notes.append(f"{self.f.pre.unterminated_groups} #if group(s) without #endif")
        calls_by_function: dict[str, list[Call]] = {}
        for fn in structure.functions:
            calls = self._function(fn)
            calls_by_function.setdefault(fn.name, []).extend(calls)
        self._macro_bodies()
        self._module_rules(structure, calls_by_function)
        return self.out

    # -- per function -------------------------------------------------------------------------
    def _function(self, fn: Function) -> list[Call]:
        body = self.code[fn.start + 1:fn.end]
        wr = self.wrappers
        if _touches_state(_names(self.f, fn), self.macros, wr.names):
            try:
                w = walk(self.macros.expand(body), wr.releasers - {fn.name},
                         wr.acquirers - {fn.name}, entered_released=fn.name in wr.entered_released,
                         unsettling=wr.mixed - {fn.name})
            except RecursionError:
                self.out.notes.append(f"{fn.name}: nested too deeply to follow; checked without "
                                      "GIL-region tracking")
                calls = _flat_calls(body)
            else:
                calls = w.calls
                for jump in w.jumps:
                    if jump.rel != RELEASED:
                        continue        # released on some paths only: path-insensitive, not reported
                    if jump.kind == "return" and (fn.name in wr.releasers
                                                  or fn.name in wr.entered_released):
                        continue        # returns to a caller that runs without the GIL: its contract
                    where = self._released_at(jump.why, jump.rel)
                    via = f" (via macro {jump.token[3]})" if len(jump.token) > 3 else ""
                    self.add("FTS102", jump.token,
                             f"`{jump.kind}` leaves a GIL-released region{via}{where} without "
                             f"re-acquiring the GIL")
        else:
            cached = self.f.flat_calls.get(fn.start)
            calls = cached if cached is not None else _flat_calls(body)
        for c in calls:
            self._call(c, fn)
        return calls

    def _released_at(self, why: Token | None, rel: int) -> str:
        if why is None:
            return ""
        how = "may have been released" if rel == MAYBE else "released"
        by = f"{why[3]} ({why[1]})" if len(why) > 3 and why[3] != why[1] else why[1]
        return f" ({how} at line {self.line(why)} by {by})"

    def _call(self, c: Call, fn: Function) -> None:
        name = c.name
        via_macro = len(c.token) > 3
        if c.rel == RELEASED and is_capi(name) and name not in self.project_functions:
            via = f" (via macro {c.token[3]})" if via_macro else ""
            state = "may be released" if c.rel == MAYBE else "is released"
            self.add("FTS101", c.token,
                     f"{name}(){via} is called while the GIL {state}"
                     f"{self._released_at(c.why, c.rel)}; every C-API call needs an attached "
                     f"thread state")
        elif c.rel == RELEASED and name in self.gil_users and name not in self.wrappers.names \
                and name != fn.name:
            use = self.gil_users[name]
            chain = f" (through {use.via}())" if use.via else ""
            self.add("FTS101", c.token,
                     f"{name}() is called while the GIL is released{self._released_at(c.why, c.rel)}, "
                     f"and it calls {use.api}(){chain} at {use.path}:{use.line}, which needs an "
                     f"attached thread state")
        api = BORROWED_APIS.get(name)
        if api is not None and not via_macro:
            if api.lockable and c.cs > 0:
                return
            if name == "PyDict_Next" and len(c.args) == 1 and c.args[0][1] in PRIVATE_DICT_NAMES:
                return
            self.add(api.rule, c.token, _borrowed_message(name, api.replacement),
                     f"use {api.replacement}" + (
                         " (added in CPython 3.13; pythoncapi-compat provides it for older versions)"
                         if BY_ID[api.rule].since == "3.13" and "Ref" in api.replacement else ""))

    def _macro_bodies(self) -> None:
        for macro in self.f.pre.macros:
            body = macro.body
            for k in range(len(body) - 1):
                kind, name, _ = body[k]
                if kind == IDENT and name in BORROWED_APIS and body[k + 1][1] == "(":
                    api = BORROWED_APIS[name]
                    self.add(api.rule, body[k], _borrowed_message(name, api.replacement)
                             + f" (in the definition of macro {macro.name})",
                             f"use {api.replacement}")

    # -- module-level rules -------------------------------------------------------------------
    def _module_rules(self, structure: Structure, calls_by_function: dict[str, list[Call]]) -> None:
        code = self.code
        names_in_code = set().union(*(_names(self.f, fn) for fn in structure.functions)) | {
            t[1] for d in structure.declarations for t in code[d.start:d.end] if t[0] == IDENT}
        declares_not_used = "Py_MOD_GIL_NOT_USED" in names_in_code or self._macro_mentions(
            names_in_code, "Py_MOD_GIL_NOT_USED")
        # an explicit Py_MOD_GIL_USED (and no NOT_USED): the module keeps the GIL on purpose
        declares_used = not declares_not_used and (
            "Py_MOD_GIL_USED" in names_in_code or self._macro_mentions(names_in_code, "Py_MOD_GIL_USED"))
        multi_interp = bool({"Py_MOD_PER_INTERPRETER_GIL_SUPPORTED",
                             "Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED"} & names_in_code)
        tables = module_tables(code, structure)
        slot_arrays, module_defs = tables.slot_arrays, tables.module_defs
        if multi_interp:
            for d in structure.declarations:
                if d.init_start < 0:
                    continue
                head = [t for t in code[d.start:d.init_start] if t[0] == IDENT]
                head_names = [t[1] for t in head]
                if "PyTypeObject" in head_names and "*" not in [
                        t[1] for t in code[d.start:d.init_start]] and "extern" not in head_names:
                    self.add("FTS401", head[-1],
                             f"static type {head[-1][1]} in a module that declares "
                             f"multiple-interpreter support; it is shared by every interpreter")

        # FTS301: slot arrays and slot-less multi-phase defs
        for d, name_tok in slot_arrays:
            init = code[d.init_start + 1:d.init_end]
            if not self._mentions(init, "Py_mod_gil"):
                self.add("FTS301", name_tok,
                         f"module slots {name_tok[1]} have no Py_mod_gil entry: a free-threaded "
                         f"interpreter re-enables the GIL when it imports this module")
        slot_names = {tok[1] for _, tok in slot_arrays}
        init_targets = self._module_def_init_targets() if module_defs else set()
        for _decl, name_tok, fields in module_defs:
            if name_tok[1] not in init_targets:
                continue
            slots = _def_field(fields, "m_slots", 5)
            if not slots or all(t[1] in ("NULL", "0", "nullptr") for t in slots):
                self.add("FTS301", name_tok,
                         f"multi-phase module {name_tok[1]} has no m_slots, so no Py_mod_gil: a "
                         f"free-threaded interpreter re-enables the GIL when it imports it")
            else:
                slot_names.update(t[1] for t in slots if t[0] == IDENT)

        # FTS302: single-phase init without PyUnstable_Module_SetGIL
        all_calls = {c.name for calls in calls_by_function.values() for c in calls}
        if _MODULE_CREATE & all_calls and "PyUnstable_Module_SetGIL" not in all_calls \
                and not self._mentions(code, "PyUnstable_Module_SetGIL"):
            inits = [fn for fn in structure.functions if fn.name.startswith("PyInit_")]
            reported = False
            for fn in inits:
                if _MODULE_CREATE & _reachable(fn.name, calls_by_function):
                    tok = ("id", fn.name, fn.name_offset)
                    self.add("FTS302", tok,
                             f"{fn.name} creates a single-phase module (PyModule_Create) and never "
                             f"calls PyUnstable_Module_SetGIL: a free-threaded interpreter "
                             f"re-enables the GIL on import")
                    reported = True
            if not reported:
                first = next(c for calls in calls_by_function.values() for c in calls
                             if c.name in _MODULE_CREATE)
                self.add("FTS302", first.token,
                         f"{first.name} creates a single-phase module and this file never calls "
                         f"PyUnstable_Module_SetGIL: a free-threaded interpreter re-enables the GIL")

        globals_ = self._object_globals(structure)
        # FTS303 / FTS304: a static PyObject * written after init with no lock held. One check,
        # two rules: where this file declares Py_MOD_GIL_NOT_USED the write breaks that promise
        # (FTS303, error); where it declares nothing, the write is what stands between the module
        # and that declaration, and races already under PYTHON_GIL=0 (FTS304, warning). An
        # explicit Py_MOD_GIL_USED keeps the GIL, which serialises the writes: nothing to report.
        if not declares_used:
            for fn, tok, g in self._unguarded_object_writes(structure, globals_):
                if declares_not_used:
                    self.add("FTS303", tok,
                             f"{fn.name}() writes the {g.described} after module init, with no "
                             f"lock or critical section held, while this module declares "
                             f"Py_MOD_GIL_NOT_USED (a data race without the GIL)")
                else:
                    self.add("FTS304", tok,
                             f"{fn.name}() writes the {g.described} after module init with no "
                             f"lock or critical section held: a data race on a free-threaded "
                             f"build once the GIL is off")
        # FTS402 / FTS403: isolation breakers
        if multi_interp:
            for calls in calls_by_function.values():
                for c in calls:
                    if c.name in _GILSTATE and len(c.token) < 4:
                        self.add("FTS402", c.token,
                                 f"{c.name}() in a module that declares multiple-interpreter "
                                 f"support: it always attaches to the main interpreter")
            for g in globals_:
                self.add("FTS403", g.token,
                         f"process-global {g.type_name} *{g.name} in a module that declares "
                         f"multiple-interpreter support: it would be shared across interpreters")

    def _macro_mentions(self, names: set[str], target: str) -> bool:
        return any(n in self.macros.defs and any(t[1] == target for t in self.macros.defs[n].body)
                   for n in names)

    def _mentions(self, tokens: list[Token], target: str, depth: int = 0) -> bool:
        for t in tokens:
            if t[1] == target:
                return True
        if depth >= 4:
            return False
        for t in tokens:
            m = self.macros.defs.get(t[1]) if t[0] == IDENT else None
            if m is not None and self._mentions(list(m.body), target, depth + 1):
                return True
        return False

    def _module_def_init_targets(self) -> set[str]:
        """Names X with `PyModuleDef_Init(&X)` (or PyModule_FromDefAndSpec(&X, ...))."""
        code = self.code
        out = set()
        for k in range(len(code) - 3):
            if code[k][1] in ("PyModuleDef_Init", "PyModule_FromDefAndSpec",
                              "PyModule_FromDefAndSpec2") and code[k + 1][1] == "(":
                j = k + 2
                if code[j][1] == "&":
                    j += 1
                if code[j][0] == IDENT:
                    out.add(code[j][1])
        return out

    def _object_globals(self, structure: Structure) -> list[GlobalObject]:
        code = self.code
        out: list[GlobalObject] = []
        for d in structure.declarations:
            end = d.init_start if d.init_start >= 0 else d.end
            out.extend(_declared_objects(code[d.start:end]))
        return out

    def _unguarded_object_writes(self, structure: Structure, globals_: list[GlobalObject]):
        """(function, token, object) for each write to a static object outside the init phase
        with neither a critical section nor a lock held at it."""
        by_name = {g.name: g for g in globals_}
        for fn in structure.functions:
            if fn.name in self.init_phase:
                continue
            names = _names(self.f, fn)
            if names.isdisjoint(by_name) and "static" not in names:
                continue
            writes = list(self._object_writes(fn, by_name))
            if not writes:
                continue
            guarded = self._guarded_offsets(fn, names, frozenset(g.name for _, g in writes))
            for tok, g in writes:
                if guarded is not None and tok[2] not in guarded:
                    yield fn, tok, g

    def _object_writes(self, fn: Function, globals_by_name: dict[str, GlobalObject]):
        """Assignments, Py_SETREF/Py_XSETREF/Py_CLEAR of the file's static objects and of the
        function's own `static PyObject *` variables (a local of the same name shadows)."""
        body = self.code[fn.start + 1:fn.end]
        local_names, statics = _local_objects(body, fn.name)
        by_name = {n: g for n, g in globals_by_name.items() if n not in local_names}
        by_name.update((g.name, g) for g in statics)
        if not by_name:
            return
        for k, tok in enumerate(body):
            if tok[0] != IDENT:
                continue
            name = tok[1]
            if name in by_name:
                nxt = body[k + 1][1] if k + 1 < len(body) else ""
                prev = body[k - 1][1] if k else ""
                if nxt == "=" and prev not in (".", "->", "*", "&"):
                    yield tok, by_name[name]
            elif name in _SETTERS and k + 2 < len(body) and body[k + 1][1] == "(" \
                    and body[k + 2][1] in by_name:
                yield body[k + 2], by_name[body[k + 2][1]]

    def _guarded_offsets(self, fn: Function, names: frozenset[str],
                         watched: frozenset[str]) -> set[int] | None:
        """Offsets of the uses of `watched` names made while a critical section or a lock is
        held; None when the function is too deeply nested to follow (nothing is reported)."""
        macros = self.macros
        if names.isdisjoint(GUARD_NAMES) and names.isdisjoint(macros.expandable) \
                and not _touches_state(names, macros, frozenset()):
            return set()
        try:
            w = walk(macros.expand(self.code[fn.start + 1:fn.end]), watched=watched)
        except RecursionError:
            return None
        return {a.token[2] for a in w.accesses if a.guarded and len(a.token) == 3}


def _borrowed_message(name: str, replacement: str) -> str:
    if name == "PyDict_Next":
        return "PyDict_Next() iterates the dict without locking it (no critical section held here)"
    if name.startswith("PySequence_Fast"):
        return f"{name}() reads the item array of a possibly shared list without a critical section"
    if name.startswith("PyCell_"):
        return f"{name}() accesses the cell without locking"
    return f"{name}() returns a borrowed reference another thread can invalidate"


def _flat_calls(body: list[Token]) -> list[Call]:
    out = []
    n = len(body)
    for k in range(n - 1):
        tok = body[k]
        if tok[0] == IDENT and body[k + 1][1] == "(" and is_call(body, k):
            j = k + 2
            while j < n and body[j][1] not in (",", ")"):
                j += 1
            out.append(Call(tok[1], tok, ACQUIRED, None, 0, tuple(body[k + 2:j])))
    return out


def _reachable_functions(start: str, calls_by_function: dict[str, list[Call]]) -> set[str]:
    seen = {start}
    todo = deque([start])
    while todo:
        for c in calls_by_function.get(todo.popleft(), ()):
            if c.name in calls_by_function and c.name not in seen:
                seen.add(c.name)
                todo.append(c.name)
    return seen


def _reachable(start: str, calls_by_function: dict[str, list[Call]]) -> set[str]:
    return {c.name for f in _reachable_functions(start, calls_by_function)
            for c in calls_by_function.get(f, ())}


def _declared_objects(toks: list[Token], function: str = "") -> list[GlobalObject]:
    """The `PyObject *` / `PyTypeObject *` variables one declaration declares (its tokens up to
    `;`); none for extern or typedef declarations, prototypes and function pointers."""
    k = 0
    while k < len(toks) and toks[k][0] == IDENT and toks[k][1] in _STORAGE:
        k += 1
    if k >= len(toks) or toks[k][1] not in _OBJECT_TYPES:
        return []
    if any(t[1] in ("extern", "typedef") for t in toks[:k + 1]):
        return []
    type_name = toks[k][1]
    out = []
    for decl in _split_commas(toks[k + 1:]):
        names = [t for t in decl if t[0] == IDENT and t[1] not in _STORAGE]
        stars = [t for t in decl if t[1] == "*"]
        if "(" in [t[1] for t in decl] or not stars or not names:
            continue
        eq = next((n for n, t in enumerate(decl) if t[1] == "="), len(decl))
        before = [t for t in decl[:eq] if t[0] == IDENT and t[1] not in _STORAGE]
        if before:
            out.append(GlobalObject(before[-1][1], before[-1], type_name, function))
    return out


def _local_objects(body: list[Token], function: str) -> tuple[set[str], list[GlobalObject]]:
    """Names of `PyObject *` variables a function body declares (they shadow file-scope ones),
    and which of its declarations are `static` (one per process, like a global)."""
    names: set[str] = set()
    statics: list[GlobalObject] = []
    n = len(body)
    for k in range(n - 2):
        text = body[k][1]
        if text in _OBJECT_TYPES and body[k + 1][1] == "*" and body[k + 2][0] == IDENT \
                and (k == 0 or body[k - 1][1] in (";", "{", "}", "(", ",", "const", "static")):
            names.add(body[k + 2][1])
        elif text == "static" and (k == 0 or body[k - 1][1] in (";", "{", "}")):
            j = k
            while j < n and body[j][1] not in (";", "{", "}"):
                j += 1
            statics.extend(_declared_objects(body[k:j], function))
    return names, statics


def _split_commas(toks: list[Token]) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    depth = 0
    for t in toks:
        if t[0] == PUNCT and t[1] in "([{":
            depth += 1
        elif t[0] == PUNCT and t[1] in ")]}":
            depth -= 1
        if t[1] == "," and depth == 0:
            parts.append([])
        else:
            parts[-1].append(t)
    return parts


def _split_top(init: list[Token]) -> list[list[Token]]:
    return _split_commas(init)


def _def_field(fields: Sequence[list[Token]], name: str, position: int) -> list[Token] | None:
    """A PyModuleDef initializer field, designated (`.m_slots = x`) or positional."""
    for f in fields:
        if len(f) >= 3 and f[0][1] == "." and f[1][1] == name and f[2][1] == "=":
            return f[3:]
    if any(f and f[0][1] == "." for f in fields):
        return None
    return fields[position] if len(fields) > position else None


def check_c_file(cfile: CFile, macros: MacroTable, project_functions: frozenset[str],
                 wrappers: GilWrappers | None = None,
                 gil_users: dict[str, GilUse] | None = None,
                 init_phase: frozenset[str] | None = None) -> CResult:
    """`init_phase`: see find_init_phase (over every file of the run); this file's own when None."""
    return _Checker(cfile, macros, project_functions, wrappers or GilWrappers(), gil_users,
                    init_phase).run()
