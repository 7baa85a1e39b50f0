"""`data refresh --deep`: the inspector's verdicts for a package's latest free-threaded wheels.

One wheel per FT target of the latest release (the Linux x86-64 one when there is one, as it
is the most used; else the smallest), downloaded through the shared HTTP client (sha256
checked, cached) and read with auditor.sources.wheel; each extension module goes through
auditor.inspect. The summary keeps the worst verdict over the wheel's modules (auditor.rollup,
the same rule as `env` and `requirements`) and names the modules that would re-enable the GIL.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from packaging.version import Version

from auditor import rollup
from auditor.cache import cache_dir
from auditor.compat.census import ft_target, latest_version, platform_family
from auditor.compat.dataset import now_iso
from auditor.errors import AuditError
from auditor.model import FreeThreading
from auditor.pypi import DistFile, ProjectFiles, ProjectInfo, PyPIClient

PLATFORM_PREFERENCE = ("manylinux-x86_64", "linux-x86_64", "musllinux-x86_64", "manylinux-aarch64",
                       "macos-arm64", "win-amd64")
DEFAULT_MAX_WHEEL_BYTES = 150 << 20


def choose_wheels(files: ProjectFiles, version: Version) -> dict[str, DistFile]:
    """target -> the one wheel of `version` to inspect for it."""
    candidates: dict[str, list[DistFile]] = {}
    for dist in files.files_for(version):
        if dist.kind != "wheel" or dist.yanked:
            continue
        for target in {ft_target(t) for t in dist.tags} - {None}:
            candidates.setdefault(target, []).append(dist)

    def rank(dist: DistFile) -> tuple[int, int]:
        families = {platform_family(t.platform) for t in dist.tags}
        best = min((PLATFORM_PREFERENCE.index(f) for f in families if f in PLATFORM_PREFERENCE),
                   default=len(PLATFORM_PREFERENCE))
        return best, dist.size or 0

    return {target: min(dists, key=rank) for target, dists in sorted(candidates.items())}


def summarize_modules(target: str, wheel: str, reports: list) -> dict[str, Any]:
    """Pure: a deep-verdict entry from ModuleReports. Helper libraries (no PyInit_) are not
    modules: they are neither counted nor judged."""
    modules = [r for r in reports if rollup.takes_part(r)]
    counts = rollup.count_verdicts((r.free_threading.value for r in modules), rollup.FREE_THREADING)
    return {
        "target": target,
        "wheel": wheel,
        "free_threading": rollup.package_verdict(modules, rollup.FREE_THREADING).value,
        "subinterpreters": rollup.package_verdict(modules, rollup.SUBINTERPRETERS).value,
        "modules": len(modules),
        "verdicts": {value: n for value, n in sorted(counts.items()) if n},
        "reenables_gil": sorted(r.name for r in modules if r.free_threading.value == FreeThreading.REENABLES_GIL),
    }


def inspect_wheel_path(path: Path, target: str) -> dict[str, Any]:
    from auditor.inspect import inspect_module
    from auditor.sources.wheel import read_wheel

    with read_wheel(path) as contents:
        reports = []
        for member in contents.extensions:
            report = inspect_module(member.source, display=f"{contents.filename}!{member.name}")
            package = member.install_path.rsplit("/", 1)[0].replace("/", ".") if "/" in member.install_path else ""
            # the dotted import name, so "lxml.etree" rather than "etree"
            reports.append(replace(report, name=f"{package}.{report.name}" if package else report.name))
        return summarize_modules(target, contents.filename, reports)


def deep_entry(client: PyPIClient, files: ProjectFiles, info: ProjectInfo | None, *,
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
