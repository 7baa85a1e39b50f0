"""Runtime proof (`ft-audit env --verify`): import each module in a fresh subprocess of the
target interpreter and compare what the interpreter does with what the static audit said.

Never run by default. One module per process, with a timeout; a crash (signal) or a hang
(timeout) is a recorded result, not a failure of the audit.

In the child (RUNTIME_SCRIPT, stdlib only, 3.9-3.15), in this order:
1. `load`: create the module straight from its file (importlib.util.module_from_spec; the
   parent package is not imported, so a problem elsewhere is not blamed on this module) and
   record `sys._is_gil_enabled()` before and after plus every RuntimeWarning (free-threaded
   builds: the GIL decision is taken at create time, capi-reference §1.5); then execute it and
   walk `PyModule_GetDef(mod)->m_slots` with ctypes (slot ids 1-4 and 3.15's 84-87, nested
   3.15 `Py_slot_subslots`). Falls back to a normal import if the direct create fails.
2. `own_gil` (3.12+): create the module again inside an own-GIL sub-interpreter
   (3.12 `_xxsubinterpreters.create(isolated=True)` + `run_string`, 3.13 `_interpreters.create()`
   + `exec`, 3.14+ `concurrent.interpreters.create().exec`), capi-reference §1.6.
3. `shared_gil` (3.13+): the same in a shared-GIL sub-interpreter that checks extensions
   (`new_config('legacy', check_multi_interp_extensions=True)`), to tell shared-GIL-only from
   not-supported. The main interpreter loaded the module first, as a real program would, so
   framework "one interpreter per process" guards (Cython) fire here.
Each step prints one `FTAUDIT {json}` line as soon as it finishes, so a later crash keeps the
earlier answers.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from auditor.model import FreeThreading, GilDeclaration, InitStyle, ModuleReport, MultipleInterpreters, Subinterpreters

DEFAULT_TIMEOUT = 30.0
MARK = "FTAUDIT "

# Messages with which an interpreter or a framework refuses a sub-interpreter import.
REFUSAL_TEXTS = (
    "does not support loading in subinterpreters",                  # CPython loader
    "Interpreter change detected",                                    # Cython guard
    "do not yet support subinterpreters",                             # PyO3 <= 0.27
    "cannot load module more than once per process",                  # isolating-extensions howto opt-out
)
GIL_WARNING = "The global interpreter lock (GIL) has been enabled to load module"

RUNTIME_SCRIPT = r'''
import sys, json, os, warnings, importlib, importlib.util
NAME, PATH, RESULT = sys.argv[1], sys.argv[2], sys.argv[3]

def emit(step, **data):
    data["step"] = step
    sys.stdout.write("FTAUDIT " + json.dumps(data) + "\n")
    sys.stdout.flush()

def err(e):
    return "%s: %s" % (type(e).__name__, str(e).replace("\n", " ")[:400])

def gil_state():
    f = getattr(sys, "_is_gil_enabled", None)
    return f() if f else None

def walk_slots(mod):
    import ctypes
    get_def = ctypes.pythonapi.PyModule_GetDef
    get_def.argtypes = [ctypes.py_object]
    get_def.restype = ctypes.c_void_p
    try:
        d = get_def(mod)
    except Exception as e:
        return {"def": False, "error": err(e)}
    if not d:
        return {"def": False}
    ptr = ctypes.sizeof(ctypes.c_void_p)
    base = object.__basicsize__          # sizeof(PyObject): 16 GIL-64, 32 FT-64
    m_size = ctypes.c_ssize_t.from_address(d + base + 5 * ptr).value
    m_slots = ctypes.c_void_p.from_address(d + base + 7 * ptr).value
    class Slot(ctypes.Structure):
        _fields_ = [("slot", ctypes.c_int), ("value", ctypes.c_void_p)]
    class PySlot(ctypes.Structure):
        _fields_ = [("id", ctypes.c_uint16), ("flags", ctypes.c_uint16), ("reserved", ctypes.c_uint32), ("value", ctypes.c_void_p)]
    slots = []
    def walk(addr, kind, depth):
        for i in range(128):
            if kind == "def":
                s = Slot.from_address(addr + i * ctypes.sizeof(Slot))
                sid, value = s.slot & 0xFFFF, s.value or 0
                if s.slot == 0:
                    return
            else:
                s = PySlot.from_address(addr + i * ctypes.sizeof(PySlot))
                sid, value = s.id, s.value or 0
                if sid == 0:
                    return
            if sid == 92 and depth < 3 and value:
                walk(value, "pyslot", depth + 1)
                continue
            slots.append([sid, value if sid in (3, 4, 86, 87, 109) else None])
    if m_slots:
        walk(m_slots, "def", 0)
    return {"def": True, "m_size": m_size, "has_slots": bool(m_slots), "slots": slots}

def direct_create():
    spec = importlib.util.spec_from_file_location(NAME, PATH)
    if spec is None:
        raise ImportError("no loader for " + PATH)
    return spec, importlib.util.module_from_spec(spec)

# 1. load in the main interpreter
emit("begin", stage="load")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    gil_start = gil_state()
    how, mod, create_error, exec_error = "direct", None, None, None
    try:
        spec, mod = direct_create()
    except BaseException as e:
        create_error = err(e)
    gil_after_create = gil_state()
    create_warnings = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    if mod is not None:
        sys.modules[NAME] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException as e:
            exec_error = err(e)
    else:
        try:
            mod = importlib.import_module(NAME)
            how = "import"
        except BaseException as e:
            exec_error = err(e)
    gil_end = gil_state()
    all_warnings = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
slots = walk_slots(mod) if mod is not None else None
emit("load", how=how, create_error=create_error, exec_error=exec_error, gil_start=gil_start,
     gil_after_create=gil_after_create, gil_end=gil_end, create_warnings=create_warnings,
     warnings=all_warnings, slots=slots)

SUB_CODE = """
import json, importlib.util, sys
out = {"create_error": None, "exec_error": None}
try:
    spec = importlib.util.spec_from_file_location(%(name)r, %(path)r)
    mod = importlib.util.module_from_spec(spec)
except BaseException as e:
    out["create_error"] = "%%s: %%s" %% (type(e).__name__, str(e).replace(chr(10), " ")[:400])
else:
    sys.modules[%(name)r] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException as e:
        out["exec_error"] = "%%s: %%s" %% (type(e).__name__, str(e).replace(chr(10), " ")[:400])
with open(%(result)r, "w") as f:
    json.dump(out, f)
"""

def run_sub(mode):
    result = RESULT + "." + mode
    code = SUB_CODE % {"name": NAME, "path": PATH, "result": result}
    v = sys.version_info[:2]
    failure = None
    if mode == "own_gil":
        if v >= (3, 14):
            from concurrent import interpreters
            interp = interpreters.create()
            try:
                interp.exec(code)
            except BaseException as e:
                failure = err(e)
            finally:
                try:
                    interp.close()
                except BaseException:
                    pass
        elif v == (3, 13):
            import _interpreters
            iid = _interpreters.create()
            try:
                exc = _interpreters.exec(iid, code)
                if exc is not None:
                    failure = "%s: %s" % (getattr(exc, "type", None) and exc.type.__name__, getattr(exc, "msg", exc))
            finally:
                _interpreters.destroy(iid)
        else:
            import _xxsubinterpreters as X
            iid = X.create(isolated=True)
            try:
                X.run_string(iid, code)
            except BaseException as e:
                failure = err(e)
            finally:
                X.destroy(iid)
    else:
        import _interpreters
        config = _interpreters.new_config("legacy", check_multi_interp_extensions=True)
        iid = _interpreters.create(config)
        try:
            exc = _interpreters.exec(iid, code)
            if exc is not None:
                failure = "%s: %s" % (getattr(exc, "type", None) and exc.type.__name__, getattr(exc, "msg", exc))
        finally:
            _interpreters.destroy(iid)
    try:
        with open(result) as f:
            data = json.load(f)
    except (OSError, ValueError):
        data = {"create_error": None, "exec_error": None, "no_result": True}
    data["failure"] = failure
    return data

if sys.version_info[:2] >= (3, 12):
    emit("begin", stage="own_gil")
    try:
        emit("own_gil", **run_sub("own_gil"))
    except BaseException as e:
        emit("own_gil", setup_error=err(e))
if sys.version_info[:2] >= (3, 13):
    emit("begin", stage="shared_gil")
    try:
        emit("shared_gil", **run_sub("shared_gil"))
    except BaseException as e:
        emit("shared_gil", setup_error=err(e))
emit("end")
'''


@dataclass(frozen=True)
class SubinterpResult:
    outcome: str                  # "ok" | "refused" | "create-error" | "exec-error" | "crash" | "timeout" | "not-run"
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "detail": self.detail}


@dataclass(frozen=True)
class RuntimeResult:
    """What one module did at run time. Fields are None when the step did not run."""

    module: str
    status: str                          # "ok" | "crash" | "timeout" | "error"
    detail: str = ""
    loaded: bool | None = None
    load_error: str | None = None
    gil: str | None = None               # GilDeclaration.* read from the slots at run time
    multiple_interpreters: str | None = None
    has_slots: bool | None = None
    m_size: int | None = None
    gil_enabled_after_create: bool | None = None
    gil_warning_module: str | None = None   # the module the GIL warning names, if any
    own_gil: SubinterpResult | None = None
    shared_gil: SubinterpResult | None = None
    returncode: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status, "detail": self.detail, "loaded": self.loaded, "load_error": self.load_error,
            "gil": self.gil, "multiple_interpreters": self.multiple_interpreters, "has_slots": self.has_slots,
            "m_size": self.m_size, "gil_enabled_after_create": self.gil_enabled_after_create,
            "gil_warning_module": self.gil_warning_module,
            "own_gil": self.own_gil.to_json() if self.own_gil else None,
            "shared_gil": self.shared_gil.to_json() if self.shared_gil else None,
            "returncode": self.returncode,
        }


@dataclass(frozen=True)
class Comparison:
    """Field-by-field static vs runtime. `agrees` is None when nothing could be compared."""

    checked: tuple[str, ...]
    disagreements: tuple[str, ...]
    gaps: tuple[str, ...] = ()            # static said "unknown" where the runtime knows

    @property
    def agrees(self) -> bool | None:
        if self.disagreements:
            return False
        return True if self.checked else None

    def to_json(self) -> dict[str, Any]:
        return {"agrees": self.agrees, "checked": list(self.checked),
                "disagreements": list(self.disagreements), "gaps": list(self.gaps)}


# -- parsing the child's output -------------------------------------------------------------

def _slot_facts(slots: Mapping[str, Any] | None) -> tuple[str | None, str | None, bool | None, int | None]:
    if not slots or not slots.get("def"):
        return None, None, None, None
    gil: str = GilDeclaration.UNDECLARED          # or "invalid(N)": a slot value CPython does not define
    mi: str = MultipleInterpreters.UNDECLARED
    for sid, value in slots.get("slots") or ():
        if sid in (4, 87):
            gil = {0: GilDeclaration.USED, 1: GilDeclaration.NOT_USED}.get(value) or f"invalid({value})"
        elif sid in (3, 86):
            mi = {0: MultipleInterpreters.NOT_SUPPORTED, 1: MultipleInterpreters.SUPPORTED,
                  2: MultipleInterpreters.PER_INTERPRETER_GIL}.get(value) or f"invalid({value})"
    return gil, mi, bool(slots.get("has_slots")), slots.get("m_size")


def _gil_warning_module(warnings: Sequence[str]) -> str | None:
    for text in warnings:
        if GIL_WARNING in text:
            start = text.find("module '") + len("module '")
            end = text.find("'", start)
            if start > len("module '") - 1 and end > start:
                return text[start:end]
    return None


def _subinterp(module: str, data: Mapping[str, Any]) -> SubinterpResult:
    if data.get("setup_error"):
        return SubinterpResult("not-run", str(data["setup_error"]))
    create_error = data.get("create_error")
    exec_error = data.get("exec_error")
    failure = data.get("failure")
    if create_error:
        if any(t in create_error for t in REFUSAL_TEXTS):
            if "does not support loading in subinterpreters" in create_error and f"module {module} " not in create_error:
                return SubinterpResult("create-error", create_error)
            return SubinterpResult("refused", create_error)
        return SubinterpResult("create-error", create_error)
    if data.get("no_result"):
        return SubinterpResult("create-error", failure or "the sub-interpreter produced no result")
    if exec_error:
        return SubinterpResult("exec-error", exec_error)
    return SubinterpResult("ok")


def parse_runtime_output(module: str, stdout: str, *, returncode: int | None, timed_out: bool,
                         stderr: str = "") -> RuntimeResult:
    steps: dict[str, Mapping[str, Any]] = {}
    stage = None
    for line in stdout.splitlines():
        if not line.startswith(MARK):
            continue
        try:
            data = json.loads(line[len(MARK):])
        except ValueError:
            continue
        if data.get("step") == "begin":
            stage = data.get("stage")
        else:
            steps[str(data.get("step"))] = data
            stage = None
    load = steps.get("load")
    gil = mi = None
    has_slots = m_size = None
    gil_after = None
    warn_mod = None
    loaded = None
    load_error = None
    if load is not None:
        gil, mi, has_slots, m_size = _slot_facts(load.get("slots"))
        gil_after = load.get("gil_after_create")
        warn_mod = _gil_warning_module(load.get("create_warnings") or load.get("warnings") or ())
        loaded = load.get("create_error") is None or (load.get("how") == "import" and not load.get("exec_error"))
        load_error = load.get("create_error") if load.get("how") == "direct" and load.get("create_error") else load.get("exec_error")
    own = _subinterp(module, steps["own_gil"]) if "own_gil" in steps else None
    shared = _subinterp(module, steps["shared_gil"]) if "shared_gil" in steps else None
    status, detail = "ok", ""
    if timed_out:
        status, detail = "timeout", f"hung during {stage or 'start-up'}"
    elif returncode is not None and returncode < 0:
        status, detail = "crash", f"signal {-returncode} during {stage or 'start-up'}"
    elif "end" not in steps:
        tail = [line for line in stderr.splitlines() if line.strip()]
        status, detail = "error", f"exit {returncode} during {stage or 'start-up'}: {tail[-1][:200] if tail else 'no output'}"
    if status != "ok" and stage in ("own_gil", "shared_gil"):
        result = SubinterpResult("crash" if status == "crash" else "timeout" if status == "timeout" else "create-error", detail)
        if stage == "own_gil":
            own = result
        else:
            shared = result
    return RuntimeResult(module=module, status=status, detail=detail, loaded=loaded, load_error=load_error,
                         gil=gil, multiple_interpreters=mi, has_slots=has_slots, m_size=m_size,
                         gil_enabled_after_create=gil_after, gil_warning_module=warn_mod,
                         own_gil=own, shared_gil=shared, returncode=returncode)


# -- running -------------------------------------------------------------------------------

def run_module(cmd: Sequence[str], module: str, path: str, *, env: Mapping[str, str] | None = None,
               timeout: float = DEFAULT_TIMEOUT) -> RuntimeResult:
    run_env = dict(os.environ if env is None else env)
    run_env.pop("PYTHON_GIL", None)       # the interpreter's own default decides (§1.5)
    run_env.pop("PYTHONSTARTUP", None)
    run_env["PYTHONIOENCODING"] = "utf-8"
    run_env.setdefault("MPLBACKEND", "Agg")
    with tempfile.TemporaryDirectory(prefix="ft-audit-verify-") as tmp:
        result_file = os.path.join(tmp, "sub")
        try:
            proc = subprocess.run([*cmd, "-c", RUNTIME_SCRIPT, module, path, result_file],
                                  capture_output=True, timeout=timeout, cwd=tmp, env=run_env,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode("utf-8", "replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            return parse_runtime_output(module, out, returncode=None, timed_out=True)
        except OSError as exc:
            return RuntimeResult(module=module, status="error", detail=f"cannot start: {exc.strerror or exc}")
    return parse_runtime_output(module, proc.stdout.decode("utf-8", "replace"), returncode=proc.returncode,
                                timed_out=False, stderr=proc.stderr.decode("utf-8", "replace"))


def run_many(cmd: Sequence[str], modules: Sequence[tuple[str, str]], *, env: Mapping[str, str] | None = None,
             timeout: float = DEFAULT_TIMEOUT, jobs: int | None = None,
             on_done: Callable[[str], None] | None = None) -> dict[str, RuntimeResult]:
    """(module, path) pairs -> path -> RuntimeResult, `jobs` processes at a time."""
    jobs = jobs or max(1, os.cpu_count() or 1)
    out: dict[str, RuntimeResult] = {}

    def one(item: tuple[str, str]) -> tuple[str, RuntimeResult]:
        result = run_module(cmd, item[0], item[1], env=env, timeout=timeout)
        if on_done:
            on_done(item[0])
        return item[1], result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for path, result in pool.map(one, modules):
            out[path] = result
    return out


# -- static vs runtime ---------------------------------------------------------------------

def compare(report: ModuleReport, runtime: RuntimeResult, *, free_threaded: bool) -> Comparison:
    checked: list[str] = []
    diffs: list[str] = []
    gaps: list[str] = []

    def check(field_name: str, static: str, observed: str | None, equal: bool | None = None) -> None:
        if observed is None:
            return
        if static == "unknown":
            gaps.append(f"{field_name}: static unknown, runtime {observed}")
            return
        checked.append(field_name)
        if not (equal if equal is not None else static == observed):
            diffs.append(f"{field_name}: static {static}, runtime {observed}")

    if (runtime.gil is not None and not free_threaded) or (runtime.gil is not None and report.init != InitStyle.SINGLE_PHASE):
        check("gil", report.gil, runtime.gil)
    # Both sides are the declaration: the static slot value (or undeclared) against the slot
    # walked in the loaded def (a single-phase def has none: undeclared on both sides). What
    # CPython or a framework then does is the sub-interpreter check below.
    if runtime.multiple_interpreters is not None:
        check("multiple_interpreters", report.multiple_interpreters, runtime.multiple_interpreters)
    observed_init = runtime_init(runtime)
    if observed_init is not None and report.init != InitStyle.EXPORT_HOOK:
        static = InitStyle.MULTI_PHASE if report.init == InitStyle.RUNTIME_DEF else report.init
        check("init", static, observed_init)

    if free_threaded and report.free_threading.value == FreeThreading.NOT_BUILT_FOR_FT and runtime.loaded is not None:
        # A GIL-ABI (abi3) module may still load on 3.13t/3.14t: there is no loader check
        # before 3.15 (capi-reference 5.4). Loading proves nothing about the ABI; failing does.
        if runtime.loaded:
            gaps.append("free_threading: static not-built-for-ft, yet it loaded (no loader ABI check)")
        else:
            checked.append("free_threading")
    elif free_threaded and runtime.gil_enabled_after_create is not None:
        if runtime.gil_enabled_after_create and runtime.gil_warning_module not in (None, runtime.module):
            pass  # another module enabled it: not this module's answer
        else:
            observed = FreeThreading.REENABLES_GIL if runtime.gil_enabled_after_create else FreeThreading.READY
            check("free_threading", report.free_threading.value, observed)

    observed_si = runtime_subinterpreters(runtime)
    if observed_si is not None:
        static = report.subinterpreters.value
        if observed_si == "not-own-gil":   # 3.12: own-GIL refused, shared-GIL not tried
            check("subinterpreters", static, observed_si,
                  equal=static in (Subinterpreters.SHARED_GIL_ONLY, Subinterpreters.NOT_SUPPORTED))
        else:
            check("subinterpreters", static, observed_si)
    return Comparison(tuple(checked), tuple(diffs), tuple(gaps))


def runtime_init(runtime: RuntimeResult) -> str | None:
    """What the loaded def proves about the init style. CPython refuses slots in a
    PyModule_Create def ("PyModule_Create is incompatible with m_slots") and a negative m_size
    for multi-phase init, so slots prove multi-phase and m_size < 0 proves single-phase;
    a def with neither proves nothing."""
    if runtime.has_slots:
        return InitStyle.MULTI_PHASE
    if runtime.m_size is not None and runtime.m_size < 0:
        return InitStyle.SINGLE_PHASE
    return None


def runtime_subinterpreters(runtime: RuntimeResult) -> str | None:
    """The sub-interpreter verdict the runtime proves, or None when it proves nothing."""
    own = runtime.own_gil
    if own is None:
        return None
    if own.outcome in ("ok", "exec-error"):   # created: the module's declaration was accepted
        return Subinterpreters.OWN_GIL
    if own.outcome != "refused":
        return None
    shared = runtime.shared_gil
    if shared is None:
        return "not-own-gil"
    if shared.outcome in ("ok", "exec-error"):
        return Subinterpreters.SHARED_GIL_ONLY
    if shared.outcome == "refused":
        return Subinterpreters.NOT_SUPPORTED
    return "not-own-gil"
