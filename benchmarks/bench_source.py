"""Benchmark: `ft-audit source` throughput on a large real C code base (target: >= 50,000
lines of C per second on the project machine).

    python benchmarks/bench_source.py                  # numpy 2.5.5 sdist (pinned, ~21 MB, cached)
    python benchmarks/bench_source.py --path DIR       # any source tree

Corpus: every .c/.h/.cpp/.hpp/.cc file of the numpy sdist's `numpy/` package (about 540k
lines, including the 40k-line f2c LAPACK files and the C++ highway headers). Cython files are
excluded so the number is about the C checker.

Measured in one run, CPU time of this process (the machine is shared; wall time is printed
too) and reported as ratios against the peers that read the same bytes:
  * tokenizer only (ft-audit's own lexer: the floor for any pure-Python approach);
  * tree-sitter-c parse only (if `tree_sitter` and `tree_sitter_c` import: they have no
    cp314t wheels, which is why ft-audit does not depend on them);
  * ft-audit source, full (tokenize, #if flattening, structure, flow walk, all rules).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import sys
import tarfile
import time
from pathlib import Path
from urllib.parse import urljoin

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NUMPY = ("numpy", "2.5.5", "numpy-2.5.5.tar.gz",
         "5cddc243c75114ba845f01b1f87aca1572dbf7b6c2d88636ed3e1d2bccd7f1bf")
CACHE = Path(os.environ.get("FT_AUDIT_TEST_CACHE", Path.home() / ".cache" / "ft-audit-tests"))
C_SUFFIXES = {".c", ".h", ".cpp", ".hpp", ".cc", ".cxx", ".hh"}
TARGET = 50_000


def numpy_tree() -> Path:
    name, version, filename, sha256 = NUMPY
    archive = CACHE / "sdists" / filename
    if not (archive.is_file() and hashlib.sha256(archive.read_bytes()).hexdigest() == sha256):
        import requests

        api = f"https://pypi.org/pypi/{name}/json"
        meta = requests.get(api, timeout=60)
        meta.raise_for_status()
        url = next(urljoin(api, f["url"]) for f in meta.json()["releases"][version]
                   if f["filename"] == filename)
        data = requests.get(url, timeout=600)
        data.raise_for_status()
        if hashlib.sha256(data.content).hexdigest() != sha256:
            raise SystemExit(f"{filename}: sha256 mismatch")
        archive.parent.mkdir(parents=True, exist_ok=True)
        archive.write_bytes(data.content)
    dest = CACHE / "bench" / "numpy-2.5.5"
    if not dest.exists():
        with tarfile.open(archive) as tf:
            members = [m for m in tf.getmembers()
                       if m.name.startswith("numpy-2.5.5/numpy/") and Path(m.name).suffix in C_SUFFIXES]
            tf.extractall(dest.parent, members=members)
    return dest / "numpy"


def c_files(tree: Path) -> list[Path]:
    return sorted(p for p in tree.rglob("*") if p.is_file() and p.suffix in C_SUFFIXES)


def timed(fn):
    gc.collect()
    c0, w0 = time.process_time(), time.perf_counter()
    result = fn()
    return time.process_time() - c0, time.perf_counter() - w0, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", type=Path, help="source tree to measure (default: numpy 2.5.5)")
    args = ap.parse_args()
    tree = args.path or numpy_tree()
    files = c_files(tree)
    texts = [p.read_bytes() for p in files]
    lines = sum(t.count(b"\n") for t in texts)
    print(f"corpus: {tree} -- {len(files)} C/C++ files, {lines:,} lines, {sum(map(len, texts)) / 1e6:.1f} MB")

    from auditor.lint.ctokens import tokenize
    from auditor.lint.engine import LintOptions, lint_paths

    decoded = [t.decode("utf-8", "replace") for t in texts]
    tok_cpu, tok_wall, _ = timed(lambda: [tokenize(t) for t in decoded])

    # full run: ft-audit reads the files itself (as the CLI does); Cython sources excluded
    full_cpu, full_wall, report = timed(lambda: lint_paths(files, LintOptions(use_config=False)))
    rows = [("ft-audit tokenizer only", tok_cpu, tok_wall),
            ("ft-audit source (full)", full_cpu, full_wall)]

    try:
        import tree_sitter
        import tree_sitter_c

        parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_c.language()))
        ts_cpu, ts_wall, _ = timed(lambda: [parser.parse(t) for t in texts])
        rows.insert(1, ("tree-sitter-c parse only", ts_cpu, ts_wall))
    except Exception as exc:  # not installed / no wheel for this interpreter
        print(f"tree-sitter-c: not measured ({type(exc).__name__}: {exc})")

    print(f"{'':28} {'cpu s':>7} {'wall s':>7} {'lines/s (cpu)':>14} {'vs full':>8}")
    for name, cpu, wall in rows:
        print(f"{name:28} {cpu:7.2f} {wall:7.2f} {lines / cpu:14,.0f} {full_cpu / cpu:7.2f}x")
    rate = lines / full_cpu
    print(f"findings: {len(report.findings)}, files not fully checked: {report.unchecked_files}")
    print(f"target {TARGET:,} lines/s: {'met' if rate >= TARGET else 'NOT met'} ({rate / TARGET:.2f}x)")


if __name__ == "__main__":
    main()
