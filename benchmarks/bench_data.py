"""Benchmark: compatibility-data lookups and the PyPI census (ft-audit data).

    python benchmarks/bench_data.py                 # lookups + census (warm HTTP cache)
    python benchmarks/bench_data.py --cold          # census with an empty HTTP cache (network)
    python benchmarks/bench_data.py --packages 100  # census of the first 100 names only

Measured in one run and printed as ratios against the peers that answer the same question:
  * lookup: ft-audit's bundled dataset (load + one lookup) against asking PyPI for the same
    facts (read + parse one project's simple JSON page, from the warm HTTP cache; no network),
    and against re-parsing the community tracking table. Budget: load + lookup < 50 ms.
  * census: the bounded thread pool (12 workers) against one worker, over the same names.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LOOKUP_SNIPPET = """
import time
t0 = time.perf_counter()
from auditor.compat.lookup import load_compat
data = load_compat()
record = data.lookup("numpy")
record.disagreements()
print((time.perf_counter() - t0) * 1000)
"""


FLOOR_SNIPPET = """
import time
t0 = time.perf_counter()
import dataclasses, json, pathlib, platformdirs
print((time.perf_counter() - t0) * 1000)
"""


def subprocess_ms(snippet: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", snippet], cwd=ROOT, capture_output=True, text=True, check=True)
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def median_ms(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def bench_lookup(runs: int) -> None:
    from auditor.compat.lookup import load_compat
    from auditor.pypi import PyPIClient

    process_ms = subprocess_ms(LOOKUP_SNIPPET, max(5, runs // 4))
    floor_ms = subprocess_ms(FLOOR_SNIPPET, max(5, runs // 4))

    def ours() -> None:
        load_compat().lookup("numpy", "2.3.0").disagreements()

    ours_ms = median_ms(ours, runs)
    client = PyPIClient()
    len(client.project_index("numpy").files)  # warm the HTTP cache so the peer costs no network
    pypi_ms = median_ms(lambda: len(client.project_index("numpy").files), runs)
    print(f"lookup  load+lookup (modules imported)  {ours_ms:8.1f} ms   budget 50 ms: "
          f"{'ok' if ours_ms < 50 else 'OVER'}")
    print(f"lookup  import+load+lookup (new process) {process_ms:7.1f} ms   budget 50 ms: "
          f"{'ok' if process_ms < 50 else 'OVER'}")
    print(f"floor   stdlib+platformdirs imports alone {floor_ms:7.1f} ms   (part of the new-process figure)")
    print(f"peer    numpy simple-JSON page (cached)  {pypi_ms:8.1f} ms   ratio peer/ours {pypi_ms / ours_ms:6.1f}x")
    snapshot = ROOT.parent / "shared" / "compat-snapshots" / "tracking.md"
    if snapshot.is_file():
        from auditor.compat.tracking import parse_tracking

        text = snapshot.read_text()
        parse_ms = median_ms(lambda: parse_tracking(text), runs)
        print(f"peer    parse tracking.md                {parse_ms:8.1f} ms   ratio peer/ours {parse_ms / ours_ms:6.1f}x")


def bench_census(count: int | None, cold: bool) -> None:
    from auditor.compat.dataset import PACKAGES_FILE, bundled_path, read_package_list
    from auditor.compat.refresh import run_census
    from auditor.http import HttpClient
    from auditor.pypi import PyPIClient

    names = read_package_list(bundled_path(PACKAGES_FILE))[:count]
    label = "cold cache" if cold else "warm cache"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "http" if cold else None
        client = PyPIClient(http=HttpClient(cache_root=root, max_age=86400))
        t0 = time.perf_counter()
        outcome = run_census(names, client, workers=12)
        pool_s = time.perf_counter() - t0
        print(f"census  {len(names)} packages, 12 workers, {label}: {pool_s:7.1f} s "
              f"({len(outcome.read)} read, {len(outcome.failed)} failed)")
        subset = names[:40]
        t0 = time.perf_counter()
        run_census(subset, client, workers=1)
        one_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        run_census(subset, client, workers=12)
        many_s = time.perf_counter() - t0
        print(f"census  {len(subset)} packages, warm: 1 worker {one_s:.2f} s, 12 workers {many_s:.2f} s, "
              f"ratio {one_s / many_s:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--packages", type=int, default=None, help="census of the first N names only")
    parser.add_argument("--cold", action="store_true", help="census with an empty HTTP cache")
    parser.add_argument("--no-census", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("FT_AUDIT_PROGRESS", "0")
    bench_lookup(args.runs)
    if not args.no_census:
        bench_census(args.packages, args.cold)


if __name__ == "__main__":
    main()
