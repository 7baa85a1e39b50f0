"""`data refresh --deep`: the inspector's verdicts for a package's latest free-threaded wheels.

One wheel per FT target of the latest release (the Linux x86-64 one when there is one, as it
is the most used; else the smallest), downloaded through the shared HTTP client (sha256
checked, cached); its modules are read and inspected by auditor.wheel_modules and the wheel is
judged by auditor.wheel_verdicts, the same path and roll-up as `requirements` and `env` (a wheel
with an unreadable member is unknown there, so here too). The summary keeps that verdict, counts
the modules' verdicts and names the modules that would re-enable the GIL.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import Version

from auditor import rollup
from auditor.cache import cache_dir
from auditor.compat.census import ft_target, latest_version, platform_family
from auditor.compat.dataset import now_iso
from auditor.errors import AuditError
from auditor.model import FreeThreading, ModuleReport
from auditor.pypi import DistFile, ProjectInfo, PyPIClient
from auditor.wheel_verdicts import FROM_LOCAL, WheelVerdict, verdict_of, wheel_rollup

if TYPE_CHECKING:
    from auditor.project_index import ProjectIndex

PLATFORM_PREFERENCE = ("manylinux-x86_64", "linux-x86_64", "musllinux-x86_64", "manylinux-aarch64",
                       "macos-arm64", "win-amd64")
DEFAULT_MAX_WHEEL_BYTES = 150 << 20


def choose_wheels(files: ProjectIndex, version: Version) -> dict[str, DistFile]:
    """target -> the one wheel of `version` to inspect for it."""
    candidates: dict[str, list[DistFile]] = {}
    for dist in files.files_for(version):
        if dist.kind != "wheel" or dist.yanked:
            continue
        for target in {target for t in dist.tags if (target := ft_target(t)) is not None}:
            candidates.setdefault(target, []).append(dist)

    def rank(dist: DistFile) -> tuple[int, int]:
        families = {platform_family(t.platform) for t in dist.tags}
        best = min((PLATFORM_PREFERENCE.index(f) for f in families if f in PLATFORM_PREFERENCE),
                   default=len(PLATFORM_PREFERENCE))
        return best, dist.size or 0

    return {target: min(dists, key=rank) for target, dists in sorted(candidates.items())}


def summarize_modules(target: str, wheel: str, reports: Sequence[ModuleReport],
                      verdict: WheelVerdict | None = None) -> dict[str, Any]:
    """Pure: a deep-verdict entry from ModuleReports. Helper libraries (no PyInit_) are not
    modules: they are neither counted nor judged. The verdicts are the wheel's roll-up
    (auditor.wheel_verdicts.wheel_rollup), or `verdict` when the wheel was judged already."""
    modules = [r for r in reports if rollup.takes_part(r)]
    counts = rollup.count_verdicts((r.free_threading.value for r in modules), rollup.FREE_THREADING)
    free_threading, subinterpreters, _ = wheel_rollup(modules) if verdict is None else \
        (verdict.free_threading, verdict.subinterpreters, verdict.evidence)
    return {
        "target": target,
        "wheel": wheel,
        "free_threading": str(free_threading),
        "subinterpreters": str(subinterpreters),
        "modules": len(modules),
        "verdicts": {value: n for value, n in sorted(counts.items()) if n},
        "reenables_gil": sorted(r.name for r in modules if r.free_threading.value == FreeThreading.REENABLES_GIL),
    }


def inspect_wheel_path(path: Path, target: str) -> dict[str, Any]:
    """The census entry of one downloaded wheel: its modules read by auditor.wheel_modules and
    judged by auditor.wheel_verdicts, the one path `requirements` and `env` take for the same
    file. Raises AuditError when the wheel cannot be opened."""
    from auditor.wheel_modules import wheel_modules

    read = wheel_modules(path)
    return summarize_modules(target, read.wheel, read.reports, verdict_of(read, FROM_LOCAL))


def deep_entry(client: PyPIClient, files: ProjectIndex, info: ProjectInfo | None, *,
               max_bytes: int = DEFAULT_MAX_WHEEL_BYTES) -> dict[str, Any] | None:
    """Inspect the latest release's FT wheels; None when it has none."""
    latest = latest_version(files, info)
    if latest is None:
        return None
    chosen = choose_wheels(files, latest)
    if not chosen:
        return None
    wheels: list[dict[str, Any]] = []
    skipped: list[str] = []
    folder = cache_dir("wheels")
    for target, dist in chosen.items():
        if dist.size and dist.size > max_bytes:
            skipped.append(f"{dist.filename}: {dist.size >> 20} MiB, over the --deep size limit")
            continue
        try:
            path = client.http.download(dist.url, dist.sha256, folder / dist.filename)
            wheels.append(dict(inspect_wheel_path(path, target), url=dist.url, sha256=dist.sha256))  # provenance
        except AuditError as exc:
            skipped.append(exc.one_line())
    return {"version": str(latest), "inspected_at": now_iso(), "wheels": wheels, "skipped": skipped}
