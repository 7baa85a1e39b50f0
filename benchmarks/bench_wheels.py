"""Time `ft-audit wheel` on the pinned real wheels against abi3t-doctor (and abi3audit).

    python benchmarks/bench_wheels.py [--repeat 5] [--abi3audit] [--sets ft-manylinux all]
                                      [--variants]

The command timed is the one a user types, with its defaults (`ft-audit wheel FILES`, text
report), against `abi3t-doctor wheel FILES`, each a fresh process (start-up included, as a CI
job sees it), alternating round by round so machine load hits them alike; medians of --repeat
rounds, peak RSS of each process, and the ratio ft-audit / peer from the same run. Sets:
* ft-manylinux: every pinned wheel with a free-threaded ABI for manylinux;
* all: every pinned wheel (manylinux, macOS, Windows; GIL, free-threaded, abi3).
Peers are pip-installed into scratch venvs under the benchmark cache (never into the project's
environment); a peer that cannot be installed is reported, not faked. --variants adds, labelled,
the executor choices (FT_AUDIT_WHEEL_EXECUTOR=serial|thread|process) and --record-hashes all.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.measure import Command, alternate, byte_compile, ft_audit_argv, report  # noqa: E402
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


SETS = {
    "ft-manylinux": lambda key: "manylinux" in key and any(f"{t}t-" in key for t in ("cp313", "cp314", "cp315")),
    "all": lambda key: True,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--abi3audit", action="store_true", help="also time abi3audit (slow: minutes a round)")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--variants", action="store_true", help="also time the executor choices, labelled")
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    args = parser.parse_args()

    byte_compile()
    env = dict(os.environ, PYTHONPATH=str(ROOT), FT_AUDIT_PROGRESS="0")
    peers = {} if args.no_peers else {name: ensure_peer(name) for name in PEERS
                                      if name == "abi3t-doctor" or args.abi3audit}
    for name in args.sets:
        keys = sorted(k for k in PINNED if SETS[name](k))
        files = [str(fetch_wheel(k)) for k in keys]
        total_mb = sum(os.path.getsize(f) for f in files) / 1e6
        print(f"\nset {name}: {len(files)} pinned wheels, {total_mb:.1f} MB; {os.cpu_count()} CPUs; "
              f"load average {os.getloadavg()[0]:.2f} at start")
        ours = Command("ft-audit wheel FILES", [*ft_audit_argv(), "wheel", *files], env)
        commands = [ours]
        if args.variants:
            for kind in ("serial", "thread", "process"):
                commands.append(Command(f"variant: FT_AUDIT_WHEEL_EXECUTOR={kind}", ours.argv,
                                        dict(env, FT_AUDIT_WHEEL_EXECUTOR=kind)))
            commands.append(Command("variant: --record-hashes all", [*ours.argv, "--record-hashes", "all"], env))
        for peer, exe in peers.items():
            if exe is not None:
                commands.append(Command(f"{peer} {' '.join(PEERS[peer][2] or [''])} FILES".replace("  ", " "),
                                        [str(exe), *PEERS[peer][2], *files], dict(os.environ)))
        alternate(commands, args.repeat)
        report(commands, args.repeat, [(c.label, p.label) for c in commands if c.label.startswith(("ft-audit", "variant"))
                                       for p in commands if not p.label.startswith(("ft-audit", "variant"))])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
