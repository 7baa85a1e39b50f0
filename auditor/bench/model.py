"""What a bench run produces: plain dataclasses that turn into JSON and back.

Standalone on purpose (stdlib only): `--python PATH` runs the bench in another interpreter,
which sends this report back as JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Bump when a field changes meaning; the reader refuses other versions.
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class WorkloadInfo:
    name: str
    description: str
    elements: int                  # input size for this workload
    unavailable: str | None = None


@dataclass(frozen=True)
class ModeInfo:
    name: str
    description: str
    unavailable: str | None = None


@dataclass(frozen=True)
class Cell:
    """One workload run by one mode with one worker count, timed `len(times)` times."""

    workload: str
    mode: str
    workers: int
    times: tuple[float, ...] = ()          # seconds, one per repeat (warm-up excluded)
    median: float | None = None
    baseline_times: tuple[float, ...] = ()  # the sequential run paired with each repeat
    speedup: float | None = None           # median over repeats of baseline time / time
    speedup_low: float | None = None       # lowest pair ratio
    speedup_high: float | None = None      # highest pair ratio
    agrees: bool | None = None             # same result as sequential (None: not run)
    difference: float | None = None        # max abs (element-wise) or relative (reduction) difference
    unavailable: str | None = None


@dataclass(frozen=True)
class Startup:
    """Cost of starting one worker of a kind and running an empty task in it."""

    kind: str                              # "thread", "fork", "spawn", "subinterpreter"
    times: tuple[float, ...] = ()
    median: float | None = None
    unavailable: str | None = None


@dataclass(frozen=True)
class BenchReport:
    python: dict[str, Any]                 # version, implementation, executable, gil_disabled
    cores: int
    size: int
    quick: bool
    repeats: int
    workers: tuple[int, ...]
    workloads: tuple[WorkloadInfo, ...]
    modes: tuple[ModeInfo, ...]
    cells: tuple[Cell, ...]
    startup: tuple[Startup, ...]
    conclusion: str = ""
    schema_version: int = SCHEMA_VERSION
    notes: tuple[str, ...] = field(default=())

    @property
    def all_agree(self) -> bool:
        return all(c.agrees is not False for c in self.cells)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchReport:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"bench report schema {data.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        return cls(
            python=dict(data["python"]),
            cores=int(data["cores"]),
            size=int(data["size"]),
            quick=bool(data["quick"]),
            repeats=int(data["repeats"]),
            workers=tuple(data["workers"]),
            workloads=tuple(WorkloadInfo(**w) for w in data["workloads"]),
            modes=tuple(ModeInfo(**m) for m in data["modes"]),
            cells=tuple(Cell(**{**c, "times": tuple(c["times"]), "baseline_times": tuple(c["baseline_times"])})
                        for c in data["cells"]),
            startup=tuple(Startup(**{**s, "times": tuple(s["times"])}) for s in data["startup"]),
            conclusion=data.get("conclusion", ""),
            notes=tuple(data.get("notes", ())),
        )
