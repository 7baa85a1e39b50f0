"""Time `ft-audit requirements` (with transitive resolution) against abi3t-doctor `tree` (without).

    python benchmarks/bench_requirements.py [--repeat 5] [--no-peer]

The command timed is the one a user types, with its defaults: binary verdicts for every package
with a target wheel (census of the same file, else range reads of its extension members) and the
compatibility cross-reference. The bytes fetched for those verdicts and each process's peak RSS
are reported.

Input: 25 popular requirements (numpy, pandas, scipy, scikit-learn, pillow, lxml, grpcio,
psycopg2-binary, cryptography, pydantic-core, orjson, ujson, msgpack, pyyaml, markupsafe, regex,
aiohttp, frozenlist, multidict, yarl, zstandard, cffi, psutil, matplotlib, torch), target
3.14t on manylinux_2_28_x86_64 (x86_64). Every tool runs as a fresh process (start-up included,
as a CI job sees it), in the same run, interleaved round by round; the median round counts
(best in brackets).

* cold: empty cache (ft-audit: a fresh FT_AUDIT_CACHE_DIR; abi3t-doctor: a fresh --cache-dir),
  so every index page and every release's metadata comes over the network;
* warm: the same command again with the cache of the cold round.

abi3t-doctor is pip-installed into a scratch venv under ~/.cache/ft-audit-bench (never into the
project). Prints times, ratios ft-audit / abi3t-doctor, the package counts each reported and,
for ft-audit, the in-process time of the warm audit (without interpreter start-up and imports).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_wheels import ensure_peer  # noqa: E402

POPULAR = ["numpy", "pandas", "scipy", "scikit-learn", "pillow", "lxml", "grpcio", "psycopg2-binary",
           "cryptography", "pydantic-core", "orjson", "ujson", "msgpack", "pyyaml", "markupsafe", "regex",
           "aiohttp", "frozenlist", "multidict", "yarl", "zstandard", "cffi", "psutil", "matplotlib", "torch"]
TARGET, PLATFORM = "3.14t", "manylinux_2_28_x86_64"


PEAK_RSS: dict[str, list[float]] = {}


def run(argv: list[str], env: dict[str, str], name: str = "") -> tuple[float, str, int]:
    """Wall time, stdout and exit code of one fresh process; its peak RSS goes to PEAK_RSS."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    PEAK_RSS.setdefault(name, []).append(usage.ru_maxrss / 1024)   # kB -> MB on Linux
    return wall, text, process.returncode


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ft-audit-bench-req-"))
    reqs = work / "requirements.txt"
    reqs.write_text("\n".join(POPULAR) + "\n")
    doctor = None if args.no_peer else ensure_peer("abi3t-doctor")
    results: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    fetched: dict[str, list[int]] = {}
    for round_ in range(args.repeat):
        env = dict(os.environ, FT_AUDIT_CACHE_DIR=str(work / f"ft-cache-{round_}"), FT_AUDIT_PROGRESS="0")
        ours = [sys.executable, "-m", "auditor", "requirements", str(reqs), "--target", TARGET,
                "--platform", PLATFORM, "--format", "json"]
        for phase in ("cold", "warm"):
            wall, out, code = run(ours, env, f"ft-audit {phase}")
            results.setdefault(f"ft-audit {phase}", []).append(wall)
            try:
                packages = json.loads(out)["packages"]
            except ValueError:
                print(f"ft-audit {phase}: exit {code}, no JSON", file=sys.stderr)
                continue
            counts["ft-audit"] = len(packages)
            fetched.setdefault(phase, []).append(sum(p.get("bytes_read") or 0 for p in packages))
            sources: dict[str, int] = {}
            for p in packages:
                sources[str(p.get("verdict_source"))] = sources.get(str(p.get("verdict_source")), 0) + 1
            counts[f"verdict sources ({phase})"] = sources  # type: ignore[assignment]
        if doctor:
            cache = work / f"doctor-cache-{round_}"
            theirs = [str(doctor), "tree", str(reqs), "--target", TARGET, "--platform", PLATFORM,
                      "--format", "json", "--cache-dir", str(cache)]
            for phase in ("cold", "warm"):
                wall, out, code = run(theirs, dict(os.environ), f"abi3t-doctor tree {phase}")
                results.setdefault(f"abi3t-doctor tree {phase}", []).append(wall)
                try:
                    doc = json.loads(out)
                    items = doc.get("packages") or doc.get("distributions") or doc.get("results") or []
                    counts["abi3t-doctor"] = len(items)
                except ValueError:
                    pass
    # The audit alone, in this process, on the warm cache: what the resolver + classifier cost.
    os.environ["FT_AUDIT_CACHE_DIR"] = str(work / f"ft-cache-{args.repeat - 1}")
    from auditor.audit.requirements import audit_requirements

    in_process = float("inf")
    for _ in range(max(3, args.repeat)):
        start = time.perf_counter()
        audit_requirements([reqs], python=TARGET, platforms=[PLATFORM], progress=False)
        in_process = min(in_process, time.perf_counter() - start)

    from statistics import median

    mid = {name: median(times) for name, times in results.items()}
    print(f"{len(POPULAR)} requirements, target {TARGET} {PLATFORM}, median of {args.repeat} "
          f"(best in brackets; wall seconds; peak RSS of the process)")
    for name, times in results.items():
        print(f"  {name:<26} {mid[name]:6.2f} s  [{min(times):.2f}]  {median(PEAK_RSS[name]):6.0f} MB")
    print(f"  {'ft-audit warm, in-process':<26} {in_process:6.2f} s  (no interpreter start-up, no imports)")
    for phase, values in fetched.items():
        print(f"  wheel bytes fetched for binary verdicts, {phase}: {median(values) / (1 << 20):.1f} MB")
    print(f"  packages reported: {counts}")
    if "abi3t-doctor tree cold" in mid:
        print(f"  ratio cold  ft-audit / abi3t-doctor: {mid['ft-audit cold'] / mid['abi3t-doctor tree cold']:.2f}")
        print(f"  ratio warm  ft-audit / abi3t-doctor: {mid['ft-audit warm'] / mid['abi3t-doctor tree warm']:.2f}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
