"""`ft-audit bench` right after the README's `pip install .` (numpy is the `bench` extra): one
error line naming the extra, exit 2; `--help` says what each workload times."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from auditor.bench.runner import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent


def _cli(*argv: str, block_numpy: bool = False) -> subprocess.CompletedProcess:
    code = ("import sys\n" + ("sys.modules['numpy'] = None\n" if block_numpy else "")
            + "from auditor.cli import main\nsys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_without_numpy_one_line_names_the_extra():
    run = _cli("--no-config", "bench", "--quick", "--no-progress", block_numpy=True)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1
    assert run.stderr.startswith("ft-audit: error: ") and run.stderr.rstrip().endswith(
        "every bench workload runs on numpy arrays and numpy is not installed (import of numpy halted; None in "
        "sys.modules): pip install 'ft-audit[bench]'")


def test_help_explains_every_workload():
    run = _cli("bench", "--help")
    assert run.returncode == 0 and "quiz" not in run.stdout
    for name, (description, _) in WORKLOADS.items():
        assert f"  {name:10} {description}" in run.stdout
    assert "pip install 'ft-audit[bench]'" in run.stdout
