"""Speed of the static `ft-audit env` audit on the large 3.13 venv, against abi3t-doctor's `env`.

Measured in one run, alternating the tools, best and median of --repeat runs each:
* ft-audit, the CLI as a user runs it (`ft-audit env --python VENV/bin/python --no-pypi
  --no-compat --format json`; a fresh process each time: interpreter start-up, probe, walk,
  module reports, roll-up, JSON), warm (module-report cache filled) and cold (--no-cache,
  every module inspected, 2 worker processes on 2 cores);
* abi3t-doctor 0.1.0 `env --path SITE --format json` (installed from PyPI into a scratch venv
  under ~/.cache/ft-audit-bench; it reads dist-info and wheel tags / symbols only);
* scaling: inspector time per module on samples of 50..N modules, and per size quartile, to
  show the cost follows the number of modules rather than their size.

    python benchmarks/bench_env.py [--venv-python PATH] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.compare_env_runtime import BENCH_DIR, ensure_venv, find_python313  # noqa: E402

DOCTOR = ("abi3t-doctor", "0.1.0")


def ensure_doctor() -> Path | None:
    venv = BENCH_DIR / "abi3t-doctor-venv"
    exe = venv / "bin" / "abi3t-doctor"
    if exe.exists():
        return exe
    try:
        subprocess.run([find_python313(), "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"{DOCTOR[0]}=={DOCTOR[1]}"], check=True,
                       capture_output=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"abi3t-doctor could not be installed: {exc}")
        return None
    return exe if exe.exists() else None


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd[:4])}... failed ({proc.returncode}): {proc.stderr.decode()[-300:]}")
    return elapsed


def describe(samples: list[float]) -> str:
    return f"best {min(samples):.3f} s, median {statistics.median(samples):.3f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv-python", help="the environment's interpreter (default: the cached bench venv)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    target = args.venv_python or str(ensure_venv(find_python313()) / "bin" / "python")
    from auditor.sources.env import collect_extension_files, probe_interpreter

    snapshot = probe_interpreter([target])
    site = [d for d in snapshot.interpreter.environment_dirs if d.endswith("site-packages")][0]
    files = collect_extension_files(snapshot)
    print(f"environment: {target} ({snapshot.interpreter.label}), {len(snapshot.distributions)} distributions, "
          f"{len(files)} extension modules, {sum(os.path.getsize(f.path) for f in files) / 1e6:.0f} MB; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    ours = [sys.executable, "-m", "auditor", "env", "--python", target, "--no-pypi", "--no-compat", "--format", "json"]
    doctor = ensure_doctor()
    doctor_cmd = [str(doctor), "env", "--path", site, "--format", "json"] if doctor else None

    # The env command alone, as a CLI that imports only the chosen command would run it
    # (auditor/cli.py builds every command's parser, importing all of them, on each start).
    alone = [sys.executable, "-c", "import argparse, sys; from auditor.commands import env as c; "
             "p = argparse.ArgumentParser(); c.add_arguments(p); sys.exit(c.run(p.parse_args(sys.argv[1:])))",
             *ours[4:]]
    timed(ours, env)                         # fill the module-report cache
    if doctor_cmd:
        timed(doctor_cmd)
    warm, cold, theirs, warm_alone = [], [], [], []
    for _ in range(args.repeat):
        warm.append(timed(ours, env))
        warm_alone.append(timed(alone, env))
        cold.append(timed([*ours, "--no-cache"], env))
        if doctor_cmd:
            theirs.append(timed(doctor_cmd))
    print(f"ft-audit env, warm (cache filled): {describe(warm)}")
    print(f"ft-audit env, cold (--no-cache, every module inspected): {describe(cold)}")
    print(f"env command alone, warm (no other command imported): {describe(warm_alone)}")
    if theirs:
        print(f"abi3t-doctor {DOCTOR[1]} env --path: {describe(theirs)}")
        print(f"ratio abi3t-doctor / ft-audit: warm {statistics.median(theirs) / statistics.median(warm):.2f}x, "
              f"cold {statistics.median(theirs) / statistics.median(cold):.2f}x, env command alone "
              f"{statistics.median(theirs) / statistics.median(warm_alone):.2f}x (median over median)")

    # Scaling: inspector cost per module, by sample size and by file size.
    from auditor.inspect import inspect_module

    def inspect_time(sample) -> float:
        start = time.perf_counter()
        for f in sample:
            inspect_module(f.path, display=f.relpath, module_name=f.module)
        return time.perf_counter() - start

    rng = random.Random(1)
    for n in (50, 100, 200, len(files)):
        sample = rng.sample(files, min(n, len(files)))
        t = min(inspect_time(sample) for _ in range(2))
        print(f"inspect {len(sample):4d} modules (1 process): {t:.3f} s = {1000 * t / len(sample):.2f} ms/module")
    by_size = sorted(files, key=lambda f: os.path.getsize(f.path))
    q = len(by_size) // 4
    for i, label in enumerate(("smallest", "second", "third", "largest")):
        part = by_size[i * q:(i + 1) * q]
        mb = sum(os.path.getsize(f.path) for f in part) / 1e6
        t = min(inspect_time(part) for _ in range(2))
        print(f"  {label:8s} quarter: {len(part)} modules, {mb:7.1f} MB, {1000 * t / len(part):.2f} ms/module, "
              f"{t / mb * 1000 if mb else 0:.1f} ms/MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
