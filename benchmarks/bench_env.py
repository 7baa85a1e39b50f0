"""Speed of `ft-audit env` on the large 3.13 venv (~320 extension modules), against abi3t-doctor's `env`.

The command timed is the one a user types, with its defaults (`ft-audit env --python
VENV/bin/python --format json`: probe, walk, module reports, PyPI offers with binary verdicts of
the offered wheels, compatibility data, roll-up, JSON), a fresh process each time:
* warm: the cache of an earlier run (module reports, compact PyPI answers, wheel verdicts);
* --offline: the same, without asking the network;
* cold: an empty cache (every module inspected, every index page fetched, offered wheels read);
* abi3t-doctor 0.1.0 `env --path SITE --format json` (pip-installed into a scratch venv by
  benchmarks/bench_wheels.ensure_peer; it reads dist-info and wheel tags / symbols only).
A reduced command (`--no-pypi --no-compat`, which no user types) is shown labelled as such.
Median of --repeat alternating runs, peak RSS of each process, ratios from the same run.
--scaling adds the inspector's time per module on samples and per size quartile.

    python benchmarks/bench_env.py [--venv-python PATH] [--repeat 5] [--scaling]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_wheels import ensure_peer  # noqa: E402 - after the checkout's sys.path entry
from benchmarks.compare_env_runtime import ensure_venv, find_python313  # noqa: E402
from benchmarks.measure import (  # noqa: E402
    Command,
    alternate,
    byte_compile,
    ft_audit_argv,
    report,
    run,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv-python", help="the environment's interpreter (default: the cached bench venv)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scaling", action="store_true", help="also time the inspector per module")
    parser.add_argument("--checkout", type=Path, help="time the ft-audit of another checkout (python -m auditor "
                        "with PYTHONPATH=CHECKOUT), e.g. a git worktree of the commit before a change")
    args = parser.parse_args()

    target = args.venv_python or str(ensure_venv(find_python313()) / "bin" / "python")
    from auditor.sources.env import collect_extension_files, probe_interpreter

    snapshot = probe_interpreter([target])
    site = next(d for d in snapshot.interpreter.environment_dirs if d.endswith("site-packages"))
    files = collect_extension_files(snapshot)
    print(f"environment: {target} ({snapshot.interpreter.label}), {len(snapshot.distributions)} distributions, "
          f"{len(files)} extension modules, {sum(os.path.getsize(f.path) for f in files) / 1e6:.0f} MB; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

    checkout = args.checkout.resolve() if args.checkout else ROOT
    byte_compile(checkout)
    work = Path(tempfile.mkdtemp(prefix="ft-audit-bench-env-"))
    warm_env = dict(os.environ, PYTHONPATH=str(checkout), FT_AUDIT_CACHE_DIR=str(work / "warm"), FT_AUDIT_PROGRESS="0")
    cold_env = dict(warm_env, FT_AUDIT_CACHE_DIR=str(work / "cold"))
    ours = [*(ft_audit_argv() if checkout == ROOT else [sys.executable, "-m", "auditor"]),
            "env", "--python", target, "--format", "json"]

    def empty_cold_cache() -> None:
        shutil.rmtree(work / "cold", ignore_errors=True)

    commands = [
        Command("ft-audit env (warm)", ours, warm_env, cwd=checkout),
        Command("ft-audit env --offline (warm)", [*ours, "--offline"], warm_env, cwd=checkout),
        Command("ft-audit env (cold: empty cache)", ours, cold_env, before=empty_cold_cache, cwd=checkout),
        Command("reduced, not a user's command: --no-pypi --no-compat (warm)", [*ours, "--no-pypi", "--no-compat"],
                warm_env, cwd=checkout),
    ]
    doctor = ensure_peer("abi3t-doctor")
    if doctor:
        commands.append(Command("abi3t-doctor env --path SITE", [str(doctor), "env", "--path", site, "--format", "json"],
                                dict(os.environ)))
    run(ours, warm_env, checkout)            # fill the warm cache
    alternate(commands, args.repeat)
    peer = "abi3t-doctor env --path SITE"
    report(commands, args.repeat, [(c.label, peer) for c in commands[:3]])
    shutil.rmtree(work, ignore_errors=True)
    if not args.scaling:
        return 0

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
