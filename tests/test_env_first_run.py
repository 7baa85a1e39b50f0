"""The README's first set-up command, as a new user runs it: a fresh venv, `pip install .`,
`ft-audit env`. ft-audit's own venv holds three compiled distributions (ft-audit's bundled
ftaudit_ext, deflate, charset-normalizer through requests) and pure-Python ones; the report must
read without confusing lines: ft-audit, which is not on PyPI, is a quiet group (not a failed
lookup), and no distribution whose own modules already refuse own-GIL sub-interpreters is also
listed as "blocked by" a dependency."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.network
def test_first_run_of_env_in_a_fresh_venv(tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    install = subprocess.run([str(bindir / "python"), "-m", "pip", "install", "-q", str(ROOT)],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-2000:]
    run = subprocess.run([str(bindir / "ft-audit"), "env"], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path, env={**os.environ, "FT_AUDIT_PROGRESS": "0"})
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    lines = run.stdout.splitlines()
    minor = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert lines[0].startswith(f"ft-audit env: {bindir / 'python'}") and "GIL build)" in lines[0]
    # a few summary lines, each short
    summary = lines[2:lines.index("", 2)]
    assert 2 <= len(summary) <= 4 and all(len(line) < 160 for line in summary), summary
    assert "3 with extension modules" in summary[0] and "pure Python" in summary[0]
    assert "not on the index (1)" in summary[1]
    text = run.stdout
    assert " not on the index (built here or from another index): nothing published to check (1):" in text
    assert [line.split()[0] for line in _group(lines, " not on the index")] == ["ft-audit"]
    for name in ("charset-normalizer", "deflate"):
        assert any(line.split()[0] == name for group in _groups(lines) for line in group), name
    assert "no project named" not in text and "lookups failed" not in text
    assert "blocked by deflate" not in text and "ft-audit needs" not in text
    assert "requests needs charset-normalizer" in text
    # the free-threaded interpreters asked about: this minor version's (3.13+) and 3.14
    assert "Free-threading on " + ("cp314t" if minor != "3.13" else "cp313t, cp314t") in text


def _groups(lines):
    out, current = [], None
    for line in lines:
        if line.startswith(" ") and not line.startswith("  ") and line.endswith(":"):
            current = []
            out.append(current)
        elif line.startswith("  ") and current is not None:
            current.append(line.strip())
        else:
            current = None
    return out


def _group(lines, title):
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    out = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        out.append(line.strip())
    return out
