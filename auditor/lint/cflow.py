"""Statement-level walk of one function body, tracking "is the GIL released here?".

A small recursive-descent parser over tokens: compound statements, if/else chains, loops,
switch/case, do/while, return/goto/break/continue, labels, and `Py_BEGIN_ALLOW_THREADS` /
`Py_BEGIN_CRITICAL_SECTION` regions (which open and close a brace like the macros do).
Along the way it keeps an abstract state per program point:

  rel   ACQUIRED, RELEASED, or MAYBE (released on some path: after `if (c) Py_UNBLOCK_THREADS`)
  cs    how many critical sections are held
  locks how many mutexes are held (PyMutex_Lock, PyThread_acquire_lock, pthread_mutex_lock,
        C++ lock guards): they serialise writes, but do not lock a container for FTS2xx
  dead  after return/goto/break/continue until the next label

Branches are joined; an `if` that re-acquires while the state is MAYBE is assumed to test the
same condition that released (the `if (release) ... if (release) ...` idiom) and yields
ACQUIRED. Loops join their entry and exit states. The walk reports every call (with the state
at the call), every jump that leaves a released region, and the lock state at each use of a
`watched` name (the process-global objects whose writes FTS303/FTS304 judge).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from auditor.lint.cmacros import ACQUIRE_NAMES
from auditor.lint.cpreproc import CLOSERS, OPENERS
from auditor.lint.ctokens import IDENT, PUNCT, Token

ACQUIRED, RELEASED, MAYBE = 0, 1, 2

GIL_OPEN = "Py_BEGIN_ALLOW_THREADS"
GIL_CLOSE = "Py_END_ALLOW_THREADS"
CS_OPENERS = OPENERS - {GIL_OPEN}
CS_CLOSERS = CLOSERS - {GIL_CLOSE}
_RELEASE_CALLS = frozenset({"PyEval_SaveThread"})
_ACQUIRE_CALLS = frozenset({"PyEval_RestoreThread", "PyEval_AcquireThread"})
_CS_BEGIN_CALLS = frozenset({"PyCriticalSection_Begin", "PyCriticalSection2_Begin",
                             "PyCriticalSection_BeginMutex", "PyCriticalSection2_BeginMutex"})
_CS_END_CALLS = frozenset({"PyCriticalSection_End", "PyCriticalSection2_End"})
LOCK_CALLS = frozenset({"PyMutex_Lock", "PyThread_acquire_lock", "PyThread_acquire_lock_timed",
                        "pthread_mutex_lock", "EnterCriticalSection", "AcquireSRWLockExclusive",
                        "mtx_lock"})
UNLOCK_CALLS = frozenset({"PyMutex_Unlock", "PyThread_release_lock", "pthread_mutex_unlock",
                          "LeaveCriticalSection", "ReleaseSRWLockExclusive", "mtx_unlock"})
LOCK_GUARDS = frozenset({"lock_guard", "unique_lock", "scoped_lock"})   # C++ RAII: held to `}`
# Any of these in a function body means some of its statements may run under a lock.
GUARD_NAMES = CS_OPENERS | _CS_BEGIN_CALLS | LOCK_CALLS | LOCK_GUARDS
RETURN_MACROS = frozenset({"Py_RETURN_NONE", "Py_RETURN_TRUE", "Py_RETURN_FALSE",
                           "Py_RETURN_NOTIMPLEMENTED", "Py_RETURN_RICHCOMPARE"})
_STATEMENT_WORDS = frozenset({"if", "for", "while", "do", "switch", "return", "goto", "break",
                              "continue", "case", "default", "else", "try"})


_DECL_START = frozenset({";", "{", "}", ",", "(", "static", "const", "register", "volatile"})


def is_call(tokens, j: int) -> bool:
    """`name (` is a call, except `Type (*fp)(...)`: a function-pointer declaration."""
    n = len(tokens)
    if j + 1 >= n or tokens[j + 1][1] != "(":
        return False
    if j + 2 < n and tokens[j + 2][1] == "*" and (j == 0 or tokens[j - 1][1] in _DECL_START):
        return False
    return True


class State:
    __slots__ = ("cs", "dead", "gen", "lexical", "locks", "rel", "why")

    def __init__(self) -> None:
        self.rel = ACQUIRED
        self.why: Token | None = None    # the token that released
        self.gen = 0                     # release generation (which region we are in)
        self.lexical = False             # released by Py_BEGIN_ALLOW_THREADS (brace-scoped)
        self.cs = 0
        self.locks = 0
        self.dead = False

    def copy(self) -> State:
        s = State.__new__(State)
        s.rel, s.why, s.gen, s.lexical, s.cs, s.locks, s.dead = (
            self.rel, self.why, self.gen, self.lexical, self.cs, self.locks, self.dead)
        return s


def _join(states: list[State]) -> State:
    live = [s for s in states if not s.dead]
    if not live:
        out = states[0].copy()
        out.dead = True
        return out
    out = live[0].copy()
    for s in live[1:]:
        if s.rel != out.rel:
            if out.rel == ACQUIRED:
                out.rel, out.why, out.gen, out.lexical = MAYBE, s.why, s.gen, s.lexical
            else:
                out.rel = MAYBE
        out.cs = min(out.cs, s.cs)
        out.locks = min(out.locks, s.locks)
    return out


@dataclass(frozen=True)
class Call:
    name: str
    token: Token
    rel: int
    why: Token | None
    cs: int
    args: tuple[Token, ...]        # the first argument's tokens (for PyDict_Next(kwds, ...))


@dataclass(frozen=True)
class Access:
    """A use of a watched name, with what is held there."""

    token: Token
    cs: int
    locks: int

    @property
    def guarded(self) -> bool:
        return self.cs > 0 or self.locks > 0


@dataclass(frozen=True)
class Jump:
    kind: str                      # "return", "goto", "break", "continue", "Py_RETURN_NONE"...
    token: Token
    rel: int
    why: Token | None


class _Breakable:
    __slots__ = ("breaks", "gen", "loop")

    def __init__(self, loop: bool, gen: int | None) -> None:
        self.loop = loop
        self.gen = gen
        self.breaks: list[State] = []


class FlowWalker:
    def __init__(self, tokens: list[Token], releasers: frozenset[str] = frozenset(),
                 acquirers: frozenset[str] = frozenset(), entered_released: bool = False,
                 unsettling: frozenset[str] = frozenset(),
                 watched: frozenset[str] = frozenset()) -> None:
        self.t = tokens
        self.watched = watched
        self.accesses: list[Access] = []
        self.unsettling = unsettling        # project functions after which the state is MAYBE
        self.n = len(tokens)
        self.st = State()
        self.releasers = releasers          # project functions that return with the GIL released
        self.acquirers = acquirers          # project functions that return with it re-acquired
        self.first_event: str | None = None  # "release" / "acquire": the first GIL transition
        self.exit_states: list[State] = []
        if entered_released:
            self.st.rel = RELEASED
        self.calls: list[Call] = []
        self.jumps: list[Jump] = []
        self.breakables: list[_Breakable] = []
        self.scopes: list[list] = []        # [entry_state, raii_released, raii_locked]
        self.switch_entries: list[State] = []
        self.labels: dict[str, int] = {}
        self.acquire_points: list[int] = []
        self._gen = 0
        self._cursor = 0
        self._release_index: dict[int, int] = {}
        for i, tok in enumerate(tokens):
            if tok[0] != IDENT:
                continue
            if tok[1] in ACQUIRE_NAMES:
                self.acquire_points.append(i)
            elif i + 1 < self.n and tokens[i + 1][1] == ":" and tok[1] not in (
                    "default", "public", "private", "protected") and (
                    i == 0 or tokens[i - 1][1] in (";", "{", "}", ":")):
                self.labels.setdefault(tok[1], i)

    # -- driver ---------------------------------------------------------------------------
    def walk(self) -> None:
        self.scopes.append([self.st.copy(), False, False])
        i = 0
        while i < self.n:
            i = self._statements(i, frozenset())
            if i < self.n:
                i += 1              # a stray `}` (unbalanced input): step over it
        if not self.st.dead:
            self.exit_states.append(self.st.copy())

    def _statements(self, i: int, closers: frozenset[str]) -> int:
        t = self.t
        while i < self.n:
            kind, text = t[i][0], t[i][1]
            if kind == PUNCT and text == "}":
                return i
            if kind == IDENT and text in closers:
                return i
            if kind == IDENT and text in CLOSERS:      # closer without opener: apply its effect
                if text == GIL_CLOSE:
                    self._acquire()
                else:
                    self.st.cs = max(0, self.st.cs - 1)
                i = self._skip_parens_semicolon(i + 1)
                continue
            i = self._statement(i)
        return i

    # -- statements -----------------------------------------------------------------------
    def _statement(self, i: int) -> int:
        t = self.t
        kind, text = t[i][0], t[i][1]
        if kind == PUNCT:
            if text == "{":
                return self._compound(i)
            if text == ";":
                return i + 1
        elif kind == IDENT:
            if text == GIL_OPEN:
                return self._gil_region(i)
            if text in CS_OPENERS:
                return self._cs_region(i)
            if text == "if":
                return self._if(i)
            if text in ("while", "for", "switch"):
                return self._loop(i, text)
            if text == "do":
                return self._do(i)
            if text == "return":
                return self._return(i)
            if text == "goto":
                return self._goto(i)
            if text in ("break", "continue"):
                return self._break(i, text)
            if text in ("case", "default") and self.switch_entries:
                j = i + 1
                while j < self.n and t[j][1] != ":":
                    j += 1
                self.st = _join([self.st, self.switch_entries[-1]])
                return j + 1
            if text == "else":
                return i + 1
            if text == "try":
                j = self._statement(i + 1) if i + 1 < self.n else i + 1
                while j < self.n and t[j][1] == "catch":
                    j = self._paren_events(j + 1)
                    if j < self.n:
                        j = self._statement(j)
                return j
            if i + 1 < self.n and t[i + 1][1] == ":" and text in self.labels \
                    and self.labels[text] == i:
                if self.st.dead:                  # reached by goto: assume from acquired code
                    self.st = State()
                    self.st.cs = 0
                return i + 2
        return self._expression(i)

    def _compound(self, i: int) -> int:
        self.scopes.append([self.st.copy(), False, False])
        j = self._statements(i + 1, frozenset())
        entry, raii, raii_locked = self.scopes.pop()
        if raii and not self.st.dead:              # an RAII guard's destructor restores the state
            self.st.rel, self.st.why, self.st.lexical = entry.rel, entry.why, entry.lexical
        if raii_locked and not self.st.dead:       # a lock guard's destructor unlocks
            self.st.locks = entry.locks
        return j + 1

    def _gil_region(self, i: int) -> int:
        self._cursor = i
        entry = self.st.copy()
        self._release(self.t[i], lexical=True)
        j = self._statements(i + 1, frozenset({GIL_CLOSE}))
        if j < self.n and self.t[j][1] == GIL_CLOSE:
            if not self.st.dead:
                self.st.rel, self.st.why, self.st.lexical, self.st.gen = (
                    entry.rel, entry.why, entry.lexical, entry.gen)
            return self._skip_parens_semicolon(j + 1)
        return j                                   # unterminated region: stop at the `}`

    def _cs_region(self, i: int) -> int:
        j = self._paren_events(i + 1)
        self.st.cs += 1
        j = self._statements(j, CS_CLOSERS)
        if not self.st.dead:
            self.st.cs = max(0, self.st.cs - 1)
        if j < self.n and self.t[j][1] in CS_CLOSERS:
            return self._skip_parens_semicolon(j + 1)
        return j

    def _if(self, i: int) -> int:
        t = self.t
        ends: list[State] = []
        pos = i
        while True:
            j = pos + 1
            if j < self.n and t[j][1] == "constexpr":
                j += 1
            if j >= self.n or t[j][1] != "(":
                return self._expression(pos + 1)
            j = self._paren_events(j)
            before = self.st.copy()
            j = self._statement(j) if j < self.n else j
            ends.append(self.st)
            if j < self.n and t[j][1] == "else":
                self.st = before.copy()
                if j + 1 < self.n and t[j + 1][1] == "if":
                    pos = j + 1
                    continue
                j = self._statement(j + 1) if j + 1 < self.n else j + 1
                ends.append(self.st)
                self.st = _join(ends)
                return j
            # no else: the fall-through path keeps the state from before the last test
            live = [s for s in ends if not s.dead]
            if before.rel == MAYBE and live and all(s.rel == ACQUIRED for s in live):
                self.st = live[0].copy()          # correlated `if (release)` re-acquire
            else:
                self.st = _join(ends + [before])
            return j

    def _loop(self, i: int, word: str) -> int:
        t = self.t
        j = i + 1
        if j >= self.n or t[j][1] != "(":
            return self._expression(i + 1)
        j = self._paren_events(j)
        entry = self.st.copy()
        b = _Breakable(word != "switch", self.st.gen if self.st.rel != ACQUIRED else None)
        self.breakables.append(b)
        if word == "switch":
            self.switch_entries.append(entry)
        j = self._statement(j) if j < self.n else j
        if word == "switch":
            self.switch_entries.pop()
        self.breakables.pop()
        self.st = _join([self.st, entry] + b.breaks)
        return j

    def _do(self, i: int) -> int:
        entry = self.st.copy()
        b = _Breakable(True, self.st.gen if self.st.rel != ACQUIRED else None)
        self.breakables.append(b)
        j = self._statement(i + 1) if i + 1 < self.n else i + 1
        self.breakables.pop()
        self.st = _join([self.st] + b.breaks) if not self.st.dead or b.breaks else self.st
        if j < self.n and self.t[j][1] == "while":
            j = self._paren_events(j + 1)
        if j < self.n and self.t[j][1] == ";":
            j += 1
        del entry
        return j

    def _return(self, i: int) -> int:
        gen_before = self.st.gen
        j = self._expression(i + 1, stop_at_statement_words=False)
        released_here = self.st.gen != gen_before
        if self.st.rel != ACQUIRED and not self.st.dead and not released_here:
            self.jumps.append(Jump("return", self.t[i], self.st.rel, self.st.why))
        if not self.st.dead:
            self.exit_states.append(self.st.copy())
        self.st.dead = True
        return j

    def _goto(self, i: int) -> int:
        t = self.t
        label = t[i + 1][1] if i + 1 < self.n else ""
        if self.st.rel != ACQUIRED and not self.st.dead:
            target = self.labels.get(label)
            k = bisect.bisect_right(self.acquire_points, i)
            next_acquire = self.acquire_points[k] if k < len(self.acquire_points) else self.n
            inside = target is not None and (
                (i < target < next_acquire) or (target < i and self._released_since(target)))
            if not inside:
                self.jumps.append(Jump("goto", t[i], self.st.rel, self.st.why))
        self.st.dead = True
        j = i + 1
        while j < self.n and t[j][1] != ";" and t[j][1] != "}":
            j += 1
        return j + 1 if j < self.n and t[j][1] == ";" else j

    def _released_since(self, target: int) -> bool:
        """Is the label at `target` inside the current region (after its release point)?"""
        start = self._release_index.get(self.st.gen)
        return start is not None and target > start

    def _break(self, i: int, word: str) -> int:
        target = None
        for b in reversed(self.breakables):
            if word == "break" or b.loop:
                target = b
                break
        if target is not None and not self.st.dead:
            if self.st.rel != ACQUIRED and self.st.lexical and target.gen != self.st.gen:
                self.jumps.append(Jump(word, self.t[i], self.st.rel, self.st.why))
            if word == "break":
                target.breaks.append(self.st.copy())
        self.st.dead = True
        j = i + 1
        return j + 1 if j < self.n and self.t[j][1] == ";" else j

    # -- expressions ----------------------------------------------------------------------
    def _expression(self, i: int, stop_at_statement_words: bool = True) -> int:
        """An expression or declaration statement: events in order, up to `;` (consumed)."""
        t = self.t
        n = self.n
        depth = 0
        j = i
        while j < n:
            tok = t[j]
            kind, text = tok[0], tok[1]
            if kind == PUNCT:
                if text in "([{":
                    depth += 1
                elif text in ")]}":
                    if depth == 0:
                        if text == "}":
                            return j
                    else:
                        depth -= 1
                elif text == ";" and depth == 0:
                    return j + 1
            elif kind == IDENT:
                if depth == 0 and j != i and (
                        (stop_at_statement_words and text in _STATEMENT_WORDS)
                        or text in OPENERS or text in CLOSERS):
                    return j
                self._event(j)
            j += 1
        return j

    def _paren_events(self, j: int) -> int:
        """Events inside a parenthesised group starting at j; returns the index after `)`."""
        t = self.t
        if j >= self.n or t[j][1] != "(":
            return j
        depth = 0
        while j < self.n:
            kind, text = t[j][0], t[j][1]
            if kind == PUNCT:
                if text in "([{":
                    depth += 1
                elif text in ")]}":
                    depth -= 1
                    if depth == 0:
                        return j + 1
            elif kind == IDENT:
                self._event(j)
            j += 1
        return j

    def _skip_parens_semicolon(self, j: int) -> int:
        if j < self.n and self.t[j][1] == "(":
            depth = 0
            while j < self.n:
                text = self.t[j][1]
                if text == "(":
                    depth += 1
                elif text == ")":
                    depth -= 1
                    if depth == 0:
                        j += 1
                        break
                j += 1
        if j < self.n and self.t[j][1] == ";":
            j += 1
        return j

    def _event(self, j: int) -> None:
        self._cursor = j
        t = self.t
        tok = t[j]
        name = tok[1]
        if name in self.watched:
            self.accesses.append(Access(tok, self.st.cs, self.st.locks))
            return
        call = is_call(t, j)
        if name == "Py_UNBLOCK_THREADS":
            self._release(tok, lexical=False)
            return
        if name == "Py_BLOCK_THREADS":
            self._acquire()
            return
        if name == "gil_scoped_release" and not call:
            self._release(tok, lexical=False)
            if self.scopes:
                self.scopes[-1][1] = True
            return
        if name == "gil_scoped_acquire" and not call:
            self._acquire()
            if self.scopes:
                self.scopes[-1][1] = True       # the guard's destructor releases again
            return
        if name in RETURN_MACROS:            # `return Py_NewRef(Py_None)`: reported as the jump
            if self.st.rel != ACQUIRED and not self.st.dead:
                self.jumps.append(Jump(name, tok, self.st.rel, self.st.why))
            if not self.st.dead:
                self.exit_states.append(self.st.copy())
            self.st.dead = True
            return
        if name in LOCK_GUARDS and not call:
            self.st.locks += 1
            if self.scopes:
                self.scopes[-1][2] = True
            return
        if not call:
            return
        if name in _RELEASE_CALLS or name in self.releasers:
            self._release(tok, lexical=False)
            return
        if name in _ACQUIRE_CALLS or name in self.acquirers:
            self._acquire()
            return
        if name in self.unsettling and self.st.rel == RELEASED:
            self.st.rel = MAYBE
        if name in _CS_BEGIN_CALLS:
            self.st.cs += 1
        elif name in _CS_END_CALLS:
            self.st.cs = max(0, self.st.cs - 1)
        elif name in LOCK_CALLS:
            self.st.locks += 1
        elif name in UNLOCK_CALLS:
            self.st.locks = max(0, self.st.locks - 1)
        self._record_call(j, name)

    def _record_call(self, j: int, name: str) -> None:
        args: tuple[Token, ...] = ()
        if j + 2 < self.n and self.t[j + 1][1] == "(":
            k = j + 2
            while k < self.n and self.t[k][1] not in (",", ")"):
                k += 1
            args = tuple(self.t[j + 2:k])
        self.calls.append(Call(name, self.t[j], self.st.rel, self.st.why, self.st.cs, args))

    def _release(self, tok: Token, lexical: bool) -> None:
        if self.first_event is None:
            self.first_event = "release"
        self._gen += 1
        self._release_index[self._gen] = self._index_of(tok)
        self.st.rel, self.st.why, self.st.gen, self.st.lexical = RELEASED, tok, self._gen, lexical

    def _index_of(self, tok: Token) -> int:
        # release tokens are few; a backwards identity search from the cursor is cheap enough
        for k in range(self._cursor, -1, -1):
            if self.t[k] is tok:
                return k
        return self._cursor

    def _acquire(self) -> None:
        if self.first_event is None:
            self.first_event = "acquire"
        self.st.rel, self.st.why, self.st.lexical = ACQUIRED, None, False


def walk(tokens: list[Token], releasers: frozenset[str] = frozenset(),
         acquirers: frozenset[str] = frozenset(), entered_released: bool = False,
         unsettling: frozenset[str] = frozenset(),
         watched: frozenset[str] = frozenset()) -> FlowWalker:
    w = FlowWalker(tokens, releasers, acquirers, entered_released, unsettling, watched)
    w.walk()
    return w


def summarize(tokens: list[Token], releasers: frozenset[str] = frozenset(),
              acquirers: frozenset[str] = frozenset(),
              unsettling: frozenset[str] = frozenset()) -> str | None:
    """How a function leaves the GIL for its caller: "releases" (wrapper around
    PyEval_SaveThread), "acquires" (wrapper around PyEval_RestoreThread), "self-acquiring"
    (entered without the GIL, takes and drops it itself), "mixed" (entered without the GIL,
    returns with it on some paths only, e.g. to report an error), or None (no net effect)."""
    w = walk(tokens, releasers, acquirers, unsettling=unsettling)
    if w.first_event is None:
        return None
    if w.first_event == "acquire":
        w = walk(tokens, releasers, acquirers, entered_released=True, unsettling=unsettling)
        exits = [s.rel for s in w.exit_states]
        if exits and RELEASED not in exits:      # re-acquired on every path, or maybe
            return "acquires"
        if ACQUIRED in exits or MAYBE in exits:  # re-acquires on some paths only (errors)
            return "mixed"
        return "self-acquiring"
    exits = [s.rel for s in w.exit_states]
    if exits and all(r != ACQUIRED for r in exits):
        return "releases"
    return None
