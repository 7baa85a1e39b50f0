"""Static vs runtime agreement on a large real environment (the issue's ~320-module venv).

Builds (or reuses) a CPython 3.13 venv with ~45 packages that ship extension modules, cached in
~/.cache/ft-audit-bench/venv313, audits it statically, then runs the runtime proof (one fresh
subprocess per module: load + PyModule_GetDef(mod)->m_slots walk with ctypes, own-GIL and
shared-GIL sub-interpreter imports) and prints the agreement counts and every disagreement.

    python benchmarks/compare_env_runtime.py [--python /path/to/python3.13] [--jobs 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PACKAGES = (
    "numpy pandas scipy scikit-learn pillow lxml grpcio cryptography pydantic orjson msgpack pyyaml "
    "aiohttp zstandard psutil matplotlib greenlet sqlalchemy markupsafe ujson regex cffi "
    "charset-normalizer frozenlist multidict yarl propcache kiwisolver contourpy fonttools pyzmq "
    "rpds-py shapely simplejson bcrypt websockets tornado lz4 brotli xxhash wrapt coverage httptools "
    "uvloop pycryptodome"
).split()
BENCH_DIR = Path(os.environ.get("FT_AUDIT_BENCH_DIR", "~/.cache/ft-audit-bench")).expanduser()


def find_python313() -> str:
    from tests.support.pyenv import pyenv_python

    found = pyenv_python(13)
    if found is None:
        sys.exit("no CPython 3.13 found (pass --python)")
    return str(found)


def ensure_venv(python: str, packages=PACKAGES) -> Path:
    """The cached venv, (re)built when the package list changes."""
    venv = BENCH_DIR / "venv313"
    stamp = venv / ".ft-audit-packages"
    want = hashlib.sha256(" ".join(packages).encode()).hexdigest()
    if stamp.exists() and stamp.read_text() == want and (venv / "bin" / "python").exists():
        return venv
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--only-binary=:all:", *packages],
                   check=True)
    stamp.write_text(want)
    return venv


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", help="a CPython 3.13 to build the venv with (default: pyenv 3.13)")
    parser.add_argument("--venv-python", help="audit this interpreter instead of building the venv")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--json", help="write the full audit JSON here")
    args = parser.parse_args()

    from auditor.audit.env import audit_snapshot
    from auditor.sources.env import probe_interpreter

    target = args.venv_python or str(ensure_venv(args.python or find_python313()) / "bin" / "python")
    snapshot = probe_interpreter([target])
    t0 = time.perf_counter()
    audit = audit_snapshot(snapshot, cmd=[target], verify=True, verify_timeout=args.timeout, jobs=args.jobs,
                           ask_pypi=False, use_compat=False)
    elapsed = time.perf_counter() - t0
    modules = audit.all_modules()
    helpers = [m for m in modules if m.file.loadable and m.helper_library]
    loadable = [m for m in modules if m.counts]
    agree = [m for m in loadable if m.comparison is not None and m.comparison.agrees is True]
    full = [m for m in agree if not m.comparison.gaps]
    disagree = [m for m in loadable if m.comparison is not None and m.comparison.agrees is False]
    unverified = [m for m in loadable if m.comparison is None or m.comparison.agrees is None]
    fields = Counter(f for m in loadable if m.comparison is not None for f in m.comparison.checked)
    gaps = [m for m in loadable if m.comparison is not None and m.comparison.gaps]
    statuses = Counter(m.runtime.status for m in loadable if m.runtime is not None)
    own = Counter(m.runtime.own_gil.outcome for m in loadable if m.runtime is not None and m.runtime.own_gil)
    print(f"interpreter: {snapshot.interpreter.executable} ({snapshot.interpreter.label})")
    print(f"distributions: {len(audit.distributions)}, extension files: {len(modules)}, of which "
          f"{len(helpers)} are helper libraries without PyInit_ (not run), {len(loadable)} extension modules")
    print(f"runtime proof: {elapsed:.1f} s; process outcomes: {dict(statuses)}; own-GIL create: {dict(own)}")
    print(f"fields compared: {dict(fields)}")
    print(f"AGREE {len(agree)} / DISAGREE {len(disagree)} / UNVERIFIED {len(unverified)} "
          f"(of {len(loadable)} modules); {len(full)} agree on every field with no static-unknown gap; "
          f"static-unknown gaps in {len(gaps)} modules")
    for m in gaps:
        print(f"  gap {m.file.module}: {'; '.join(m.comparison.gaps)}")
    for m in disagree:
        print(f"  DISAGREE {m.file.module}: {'; '.join(m.comparison.disagreements)}")
    for m in unverified:
        why = m.runtime.detail or m.runtime.load_error if m.runtime is not None else "not run"
        print(f"  unverified {m.file.module}: {why}")
    gap_kinds = Counter(g.split(":")[0] for m in gaps for g in m.comparison.gaps)
    print(f"gaps by field: {dict(gap_kinds)}")
    if args.json:
        Path(args.json).write_text(json.dumps(audit.to_json(), indent=1))
    return 0 if not disagree else 1


if __name__ == "__main__":
    sys.exit(main())
