"""Time `ft-audit requirements` (with transitive resolution) against abi3t-doctor `tree` (without).

    python benchmarks/bench_requirements.py [--repeat 3] [--no-peer]

Input: 25 popular requirements (numpy, pandas, scipy, scikit-learn, pillow, lxml, grpcio,
psycopg2-binary, cryptography, pydantic-core, orjson, ujson, msgpack, pyyaml, markupsafe, regex,
aiohttp, frozenlist, multidict, yarl, zstandard, cffi, psutil, matplotlib, torch), target
3.14t on manylinux_2_28_x86_64 (x86_64). Every tool runs as a fresh process (start-up included,
as a CI job sees it), in the same run, interleaved round by round; the best round counts.

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


def run(argv: list[str], env: dict[str, str]) -> tuple[float, str, int]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    return time.perf_counter() - start, done.stdout, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ft-audit-bench-req-"))
    reqs = work / "requirements.txt"
    reqs.write_text("\n".join(POPULAR) + "\n")
    doctor = None if args.no_peer else ensure_peer("abi3t-doctor")
    results: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for round_ in range(args.repeat):
        env = dict(os.environ, FT_AUDIT_CACHE_DIR=str(work / f"ft-cache-{round_}"), FT_AUDIT_PROGRESS="0")
        ours = [sys.executable, "-m", "auditor", "requirements", str(reqs), "--target", TARGET,
                "--platform", PLATFORM, "--format", "json", "--no-compat"]
        for phase in ("cold", "warm"):
            wall, out, code = run(ours, env)
            results.setdefault(f"ft-audit {phase}", []).append(wall)
            try:
                counts["ft-audit"] = len(json.loads(out)["packages"])
            except ValueError:
                print(f"ft-audit {phase}: exit {code}, no JSON", file=sys.stderr)
        if doctor:
            cache = work / f"doctor-cache-{round_}"
            theirs = [str(doctor), "tree", str(reqs), "--target", TARGET, "--platform", PLATFORM,
                      "--format", "json", "--cache-dir", str(cache)]
            for phase in ("cold", "warm"):
                wall, out, code = run(theirs, dict(os.environ))
                results.setdefault(f"abi3t-doctor tree {phase}", []).append(wall)
                try:
                    doc = json.loads(out)
                    items = doc.get("packages") or doc.get("distributions") or doc.get("results") or []
                    counts["abi3t-doctor"] = len(items)
                except ValueError:
                    pass
    # The audit alone, in this process, on the warm cache: what the resolver + classifier cost.
    os.environ["FT_AUDIT_CACHE_DIR"] = str(work / f"ft-cache-{args.repeat - 1}")
    from auditor.commands.requirements import audit_requirements

    in_process = float("inf")
    for _ in range(max(3, args.repeat)):
        start = time.perf_counter()
        audit_requirements([reqs], python=TARGET, platforms=[PLATFORM], use_compat=False, progress=False)
        in_process = min(in_process, time.perf_counter() - start)

    best = {name: min(times) for name, times in results.items()}
    print(f"{len(POPULAR)} requirements, target {TARGET} {PLATFORM}, best of {args.repeat} (wall seconds)")
    for name, value in best.items():
        print(f"  {name:<26} {value:6.2f} s")
    print(f"  {'ft-audit warm, in-process':<26} {in_process:6.2f} s  (no interpreter start-up, no imports)")
    print(f"  packages reported: {counts}")
    if "abi3t-doctor tree cold" in best:
        print(f"  ratio cold  ft-audit / abi3t-doctor: {best['ft-audit cold'] / best['abi3t-doctor tree cold']:.2f}")
        print(f"  ratio warm  ft-audit / abi3t-doctor: {best['ft-audit warm'] / best['abi3t-doctor tree warm']:.2f}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
