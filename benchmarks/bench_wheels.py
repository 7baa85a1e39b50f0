"""Time `ft-audit wheel` on the pinned real wheels against abi3t-doctor and abi3audit.

    python benchmarks/bench_wheels.py [--repeat 3] [--peer-repeat 1] [--no-peers] [--keys K ...]

Every tool runs as a fresh process on the same files in the same run (start-up included, as
a CI job sees it), interleaved round by round so machine load hits them alike; the best of the
rounds counts. Peers are pip-installed into scratch venvs under the benchmark cache (never
into the project's environment); a peer that cannot be installed is reported, not faked.
Prints times and the ratio peer / ft-audit for each ft-audit variant (thread vs process pool,
RECORD hashes of every member vs of the audited members only).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.wheels import PINNED, fetch_wheel  # noqa: E402

PEERS = {
    # name: (pip requirement, argv after the venv's bin dir, extra args before the files)
    "abi3t-doctor": ("abi3t-doctor==0.1.0", "abi3t-doctor", ["wheel"]),
    "abi3audit": ("abi3audit==0.0.26", "abi3audit", []),
}


def peer_venv_root() -> Path:
    base = os.environ.get("FT_AUDIT_BENCH_CACHE") or os.path.expanduser("~/.cache/ft-audit-bench")
    return Path(base) / "peer-venvs"


def ensure_peer(name: str) -> Path | None:
    requirement, script, _ = PEERS[name]
    venv = peer_venv_root() / name
    exe = venv / "bin" / script
    if exe.exists():
        return exe
    venv.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", requirement], check=True,
                       capture_output=True, timeout=600)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"  {name}: cannot install into {venv} ({exc.__class__.__name__}); skipped", file=sys.stderr)
        return None
    return exe if exe.exists() else None


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system of the process and its children), exit code.
    CPU time is the fairer number on a loaded machine; wall time is what a CI job waits."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="rounds for ft-audit and abi3t-doctor")
    parser.add_argument("--peer-repeat", type=int, default=1, help="rounds for abi3audit (slow)")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--keys", nargs="*", help="pinned wheel keys (default: all pinned wheels)")
    args = parser.parse_args()

    keys = args.keys or sorted(PINNED)
    files = [str(fetch_wheel(k)) for k in keys]
    total_mb = sum(os.path.getsize(f) for f in files) / 1e6
    print(f"{len(files)} pinned wheels, {total_mb:.1f} MB; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f} at start")

    # Byte-compile ft-audit once, as `pip install` does for it and for the peers: otherwise,
    # where PYTHONDONTWRITEBYTECODE is set, every timed run would re-compile the sources.
    import compileall
    compileall.compile_dir(str(ROOT / "auditor"), quiet=1)
    base_env = dict(os.environ, PYTHONPATH=str(ROOT))
    ours = {
        "ft-audit (default: process pool)": ([], {"FT_AUDIT_WHEEL_EXECUTOR": "process"}),
        "ft-audit (thread pool)": ([], {"FT_AUDIT_WHEEL_EXECUTOR": "thread"}),
        "ft-audit (--record-hashes all)": (["--record-hashes", "all"], {"FT_AUDIT_WHEEL_EXECUTOR": "process"}),
    }
    commands: dict[str, tuple[list[str], dict[str, str], int]] = {}
    for label, (extra, env) in ours.items():
        argv = [sys.executable, "-m", "auditor", "wheel", *files, "--format", "json", *extra]
        commands[label] = (argv, dict(base_env, **env), args.repeat)
    if not args.no_peers:
        for name in PEERS:
            exe = ensure_peer(name)
            if exe is not None:
                rounds = args.repeat if name == "abi3t-doctor" else args.peer_repeat
                commands[name] = ([str(exe), *PEERS[name][2], *files], dict(os.environ), rounds)

    times: dict[str, list[float]] = {label: [] for label in commands}
    cpus: dict[str, list[float]] = {label: [] for label in commands}
    codes: dict[str, int] = {}
    for round_ in range(max(c[2] for c in commands.values())):
        for label, (argv, env, rounds) in commands.items():
            if round_ < rounds:
                wall, cpu, code = timed(argv, env)
                times[label].append(wall)
                cpus[label].append(cpu)
                codes[label] = code

    print(f"\n{'tool':40} {'best wall s':>11} {'median wall s':>13} {'best cpu s':>10} {'exit':>5}")
    for label, values in times.items():
        print(f"{label:40} {min(values):11.2f} {statistics.median(values):13.2f} {min(cpus[label]):10.2f} "
              f"{codes[label]:5}")
    print("\nratios peer / ft-audit (wall, best of rounds; > 1 means ft-audit is faster):")
    for label in ours:
        best = min(times[label])
        for peer in PEERS:
            if peer in times:
                print(f"  {peer} / {label}: {min(times[peer]) / best:.2f}x wall, "
                      f"{min(cpus[peer]) / min(cpus[label]):.2f}x cpu")
    print(f"load average {os.getloadavg()[0]:.2f} at end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
