"""Roll-up rules, one definition each: module verdicts -> a package's verdict, and which
dependencies block a package.

Used by `env` (auditor.envaudit), the binary verdict of a published wheel
(auditor.wheel_verdicts, for `requirements` and env's free-threaded offers), the census summary
(auditor.compat.deep, `data refresh --deep`, and auditor.compat.lookup) and the requirements
audit's blocked-by chains (auditor.audit.requirements). Pure: no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass

from auditor.model import FreeThreading, ModuleReport, Subinterpreters

__all__ = [
    "FREE_THREADING",
    "FT_WORST_FIRST",
    "SUBINTERPRETERS",
    "SUBINTERP_BLOCKING",
    "SUBINTERP_WORST_FIRST",
    "WORST_FIRST",
    "PackageVerdict",
    "blocked_by_chains",
    "count_verdicts",
    "deciding_module",
    "ft_blocking",
    "is_test_module",
    "package_verdict",
    "rank",
    "takes_part",
    "worst",
]

FREE_THREADING = "free_threading"       # the aspects a package verdict is about:
SUBINTERPRETERS = "subinterpreters"     # ModuleReport attribute names

# Worst first: the first value present among a package's modules is the package's verdict.
# - not-built-for-ft before reenables-gil: on a free-threaded build a module not built for the
#   free-threaded ABI cannot be imported at all (the package does not work), while one that
#   re-enables the GIL imports and runs, only serialised. Not working is worse than slower.
# - A definite "no" before unknown, for both aspects: one module that re-enables the GIL (or
#   is shared-GIL-only) already answers the user's question ("does the GIL stay off?", "can
#   it go in an own-GIL sub-interpreter?") with no, whatever the unknown modules turn out to
#   be; "unknown" would hide an answer the evidence gives. The unknown modules stay visible
#   in the module list and their own findings.
FT_WORST_FIRST = (FreeThreading.NOT_BUILT_FOR_FT, FreeThreading.REENABLES_GIL, FreeThreading.UNKNOWN,
                  FreeThreading.READY)
SUBINTERP_WORST_FIRST = (Subinterpreters.NOT_SUPPORTED, Subinterpreters.SHARED_GIL_ONLY, Subinterpreters.UNKNOWN,
                         Subinterpreters.OWN_GIL)
WORST_FIRST = {FREE_THREADING: FT_WORST_FIRST, SUBINTERPRETERS: SUBINTERP_WORST_FIRST}

# A dependency's own verdict that blocks its dependents. Sub-interpreters: anything short of
# own-GIL (the point of PEP 684). Free-threading: re-enabling the GIL always; on a
# free-threaded interpreter also not-built-for-ft (cannot be imported there). On a GIL
# interpreter every GIL build is not-built-for-ft: that is the migration's work list, not a block.
SUBINTERP_BLOCKING = (Subinterpreters.NOT_SUPPORTED, Subinterpreters.SHARED_GIL_ONLY)


def ft_blocking(free_threaded: bool) -> tuple[str, ...]:
    """The free-threading verdicts that block dependents, worst first."""
    if free_threaded:
        return (FreeThreading.NOT_BUILT_FOR_FT, FreeThreading.REENABLES_GIL)
    return (FreeThreading.REENABLES_GIL,)


def rank(value: str, aspect: str) -> int:
    """Position in the worst-first order; a value the order does not know ranks as unknown."""
    order = WORST_FIRST[aspect]
    return order.index(value) if value in order else order.index("unknown")


def worst(values: Iterable[str], aspect: str) -> str | None:
    """The worst of `values` (an unrecognised value counts as unknown); None when empty."""
    order = WORST_FIRST[aspect]
    ranks = [rank(v, aspect) for v in values]
    return order[min(ranks)] if ranks else None


def count_verdicts(values: Iterable[str], aspect: str) -> dict[str, int]:
    """value -> how many, every value of the order present (zeros included), worst first."""
    out: dict[str, int] = {v: 0 for v in WORST_FIRST[aspect]}
    for value in values:
        out[value] = out.get(value, 0) + 1
    return out


def is_test_module(name: str) -> bool:
    return any("test" in part for part in name.split("."))


def deciding_module(reports: Sequence[ModuleReport], aspect: str,
                    among: Container[str] | None = None) -> ModuleReport | None:
    """The module to name for the package's verdict: the worst verdict (within `among` when
    given), then modules a normal import reaches before test helpers
    (`numpy._core._multiarray_umath` over `_multiarray_tests`), then by name."""
    candidates = [r for r in reports if among is None or getattr(r, aspect).value in among]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (rank(getattr(r, aspect).value, aspect), is_test_module(r.name), r.name))


@dataclass(frozen=True)
class PackageVerdict:
    """A package's verdict on one aspect, from the modules that take part in it."""

    value: str
    module: ModuleReport | None       # the module that decides (None: no extension module)
    same: tuple[str, ...]             # every module with that verdict, sorted by name
    modules: int                      # how many modules take part

    @property
    def all_same(self) -> bool:
        return len(self.same) == self.modules


def takes_part(report: ModuleReport) -> bool:
    """Only extension modules are imported: a helper library (no PyInit_/PyModExport_ export,
    a ctypes/cffi library like pycryptodome's `_raw_aes.abi3.so` or `torch/lib/libtorch.so`)
    takes no part in a package's verdicts."""
    return report.extension_module


def package_verdict(reports: Sequence[ModuleReport], aspect: str) -> PackageVerdict:
    """The worst verdict among the extension modules of `reports`, and the module that decides.

    No extension module (pure Python, only helper libraries): nothing can hold the GIL or
    refuse an interpreter, so the best value of the order."""
    modules = [r for r in reports if takes_part(r)]
    decider = deciding_module(modules, aspect)
    if decider is None:
        return PackageVerdict(WORST_FIRST[aspect][-1], None, (), 0)
    value = WORST_FIRST[aspect][rank(getattr(decider, aspect).value, aspect)]
    same = sorted(r.name for r in modules if rank(getattr(r, aspect).value, aspect) == rank(value, aspect))
    return PackageVerdict(value, decider, tuple(same), len(modules))


def blocked_by_chains(start: str, children: Mapping[str, Sequence[str]],
                      blocking: Container[str] | Callable[[str], bool]) -> tuple[tuple[str, ...], ...]:
    """The shortest chain from `start` to every dependency, at any depth, that blocks it.

    `children`: name -> its direct dependencies (a name missing from it has none). Each chain
    starts with `start` and ends with the blocker. Breadth-first, children in the order given,
    so among chains of the same length the first found names the path; cycles are visited
    once. `start` itself never counts: its own modules are its own verdict, not a block. Result
    sorted shortest first, then by names."""
    is_blocking = blocking if callable(blocking) else blocking.__contains__
    parent: dict[str, str | None] = {start: None}
    queue = deque([start])
    found: list[tuple[str, ...]] = []
    while queue:
        node = queue.popleft()
        for dep in children.get(node, ()):
            if dep in parent:
                continue
            parent[dep] = node
            queue.append(dep)
            if is_blocking(dep):
                chain = [dep]
                cursor = parent[dep]
                while cursor is not None:
                    chain.append(cursor)
                    cursor = parent[cursor]
                found.append(tuple(reversed(chain)))
    found.sort(key=lambda chain: (len(chain), chain))
    return tuple(found)
