"""Time auditor.inspect.inspect_module over many extension modules.

    python benchmarks/bench_inspect.py                       # pinned wheels + /work/venv
    python benchmarks/bench_inspect.py DIR [DIR ...]         # every .so/.pyd under DIR
    python benchmarks/bench_inspect.py --workers 2 --pool process
    python benchmarks/bench_inspect.py --compare-pyelftools  # the reader-choice measurement

Reports modules/s, MB/s (file bytes inspected) and peak RSS (resource.getrusage). With no
directory it extracts the .so members of the pinned manylinux wheels (tests/support/wheels.py,
cached under ~/.cache/ft-audit-tests) to a temp dir, plus the site-packages of /work/venv.
Importable: `collect(paths)`, `run(files, workers, pool)` and `compare_pyelftools(files)`
return plain dicts, so a peer comparison (abi3audit, abi3t-doctor) can reuse them.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from auditor.inspect import inspect_module  # noqa: E402

SUFFIXES = (".so", ".pyd", ".dylib")


def collect(paths: list[Path]) -> list[Path]:
    """Every extension-looking file under the given files/directories (symlinks resolved once)."""
    seen: dict[str, Path] = {}
    for base in paths:
        candidates = [base] if base.is_file() else base.rglob("*")
        for p in candidates:
            if p.is_file() and (p.name.endswith(SUFFIXES) or ".so." in p.name):
                seen.setdefault(os.path.realpath(p), p)
    return sorted(seen.values())


def extract_pinned_wheels(into: Path) -> list[Path]:
    """Extract the .so members of every pinned manylinux wheel (downloads if needed)."""
    from tests.support.wheels import _PINS, fetch_wheel  # test support: pinned + sha256-checked

    out: list[Path] = []
    for pin in _PINS:
        if "manylinux" not in pin.key:
            continue
        wheel = fetch_wheel(pin.key)
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if info.filename.endswith(SUFFIXES) or ".so." in info.filename:
                    target = into / pin.key / info.filename
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zf.read(info))
                    out.append(target)
    return out


def _inspect(path: str) -> tuple[str, str, int]:
    report = inspect_module(path)
    return report.free_threading.value, report.subinterpreters.value, len(report.errors)


def run(files: list[Path], workers: int = 1, pool: str = "thread") -> dict:
    """Inspect every file once; returns counts, seconds, modules/s, MB/s, peak RSS (MB)."""
    names = [str(f) for f in files]
    size = sum(f.stat().st_size for f in files)
    start, cpu_start = time.perf_counter(), time.process_time()
    if workers <= 1:
        results = [_inspect(n) for n in names]
    else:
        executor = ProcessPoolExecutor if pool == "process" else ThreadPoolExecutor
        with executor(max_workers=workers) as ex:
            results = list(ex.map(_inspect, names, chunksize=max(1, len(names) // (workers * 8))))
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start    # this process only: meaningful for workers=1
    rss_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                 resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {
        "modules": len(files), "megabytes": size / 1e6, "seconds": seconds,
        "cpu_seconds": cpu if workers <= 1 else None,
        "modules_per_s": len(files) / seconds if seconds else float("inf"),
        "mb_per_s": size / 1e6 / seconds if seconds else float("inf"),
        "peak_rss_mb": rss_kb / 1024, "workers": workers, "pool": pool if workers > 1 else "none",
        "unreadable": sum(1 for r in results if r[2]),
    }


def compare_pyelftools(files: list[Path]) -> dict:
    """Read the same tables (dynsym, DT_NEEDED, dynamic relocations) with pyelftools and with
    auditor.binary.elf; the measurement behind choosing a hand-written reader."""
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile
    from elftools.elf.relocation import RelocationSection

    from auditor.binary.loader import open_images

    elf_files = [f for f in files if f.read_bytes()[:4] == b"\x7fELF"] if len(files) < 5000 else files

    start = time.perf_counter()
    for f in elf_files:
        with open(f, "rb") as fh:
            elf = ELFFile(fh)
            for sec in elf.iter_sections():
                if sec.name == ".dynsym":
                    {s.name: s["st_value"] for s in sec.iter_symbols()}
                elif isinstance(sec, RelocationSection) and sec.is_RELA():
                    {r["r_offset"]: r["r_addend"] for r in sec.iter_relocations()}
                elif isinstance(sec, DynamicSection):
                    [t.needed for t in sec.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
    pyelftools_s = time.perf_counter() - start

    start = time.perf_counter()
    for f in elf_files:
        for image in open_images(f):
            image.exports(), image.imports(), image.needed_libraries(), image.read_pointer(0)
            image.close()
    ours_s = time.perf_counter() - start
    return {"files": len(elf_files), "pyelftools_s": pyelftools_s, "auditor_elf_s": ours_s,
            "ratio": pyelftools_s / ours_s if ours_s else float("inf")}


def _print(label: str, r: dict) -> None:
    print(f"{label:28} {r['modules']:5d} modules {r['megabytes']:8.1f} MB  {r['seconds']:7.3f} s  "
          f"{r['modules_per_s']:8.0f} modules/s  {r['mb_per_s']:8.0f} MB/s  "
          f"peak RSS {r['peak_rss_mb']:.0f} MB  unreadable {r['unreadable']}"
          + (f"  (CPU {r['cpu_seconds']:.3f} s)" if r["cpu_seconds"] is not None else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="files or directories (default: pinned wheels + /work/venv)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--pool", choices=("thread", "process"), default="process")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument("--compare-pyelftools", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="ft-audit-bench-") as tmp:
        sets: list[tuple[str, list[Path]]] = []
        if args.paths:
            sets.append((" ".join(map(str, args.paths))[:28], collect(args.paths)))
        else:
            sets.append(("pinned wheels (extracted)", extract_pinned_wheels(Path(tmp))))
            venv = Path(sys.prefix if sys.prefix != sys.base_prefix else "/work/venv")
            sets.append((f"{venv} site-packages", collect([venv / "lib"])))
        for label, files in sets:
            best = min((run(files, args.workers, args.pool) for _ in range(args.repeat)),
                       key=lambda r: r["seconds"])
            _print(label, best)
            if args.compare_pyelftools:
                c = compare_pyelftools(files)
                print(f"{'':28} pyelftools {c['pyelftools_s']:.3f} s vs auditor.binary.elf "
                      f"{c['auditor_elf_s']:.3f} s on {c['files']} ELF files: x{c['ratio']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
