"""tests/support/sid.py gives working sid interpreters and headers (downloads once, cached)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import sid
from tests.support.sid import require_sid, run_sid, sid_include_dirs, sid_python_cmd
from tests.support.unavailable import SupportUnavailable, skip_or_fail

pytestmark = [pytest.mark.network, pytest.mark.slow]   # live downloads: seconds each


@pytest.mark.parametrize("minor,patch_prefix", [(13, "3.13."), (14, "3.14."), (15, "3.15.")])
def test_sid_interpreter_starts_as_gil_build(minor: int, patch_prefix: str) -> None:
    require_sid(minor)
    code = "import sys, sysconfig; print(sys.version.split()[0], sysconfig.get_config_var('Py_GIL_DISABLED'))"
    result = run_sid(minor, code)
    assert result.returncode == 0, result.stderr
    version, gil_disabled = result.stdout.split()
    assert version.startswith(patch_prefix)
    assert gil_disabled == "0"


def test_sid_314_runs_own_gil_subinterpreter() -> None:
    require_sid(14)
    code = textwrap.dedent("""
        from concurrent import interpreters
        interp = interpreters.create()
        interp.exec('x = 1')
        interp.close()
        print('subinterpreter ok')
    """)
    result = run_sid(14, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "subinterpreter ok"


def test_sid_python_path_does_not_leak_host_packages(tmp_path: Path) -> None:
    require_sid(14)
    (tmp_path / "marker_mod.py").write_text("VALUE = 7\n")
    result = run_sid(14, "import sys, marker_mod; print(marker_mod.VALUE); print('\\n'.join(sys.path))",
                     pythonpath=[tmp_path])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "7"
    assert str(tmp_path) in lines
    # Nothing from the host's Python 3.11 or the test venv may appear on the sid path.
    assert not [p for p in lines[1:] if "python3.11" in p or "/work/venv" in p or "dist-packages" in p]


def test_sid_include_dirs_hold_both_pyconfigs() -> None:
    require_sid(14)
    include, python_include = sid_include_dirs(14)
    assert (python_include / "Python.h").is_file()
    assert (include / "x86_64-linux-gnu" / "python3.14" / "pyconfig.h").is_file()


def test_sid_python_cmd_runs_through_sid_loader() -> None:
    require_sid(15)
    cmd = sid_python_cmd(15)
    assert cmd[0].endswith("ld-linux-x86-64.so.2") and cmd[1] == "--library-path"
    assert cmd[-1].endswith("/usr/bin/python3.15")


def test_concurrent_first_use_builds_one_root(tmp_path: Path) -> None:
    """Two processes racing on an empty cache both succeed and see the same root.

    Uses the smallest root (i386 headers: one .deb) to keep the download small."""
    script = ("import os, sys; sys.path.insert(0, os.getcwd()); from tests.support.sid import sid_headers_root; "
              "print(sid_headers_root(13, 'i686'))")
    env = {"FT_AUDIT_TEST_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    # Reuse the real cache's apt lists (saves ~10 MB of index download); the .deb is fetched.
    real_lists = sid.cache_dir() / "apt-i386"
    if real_lists.is_dir():
        shutil.copytree(real_lists, tmp_path / "sid" / "apt-i386", ignore=shutil.ignore_patterns("lock"))
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, cwd=Path(__file__).parents[1],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    if any(proc.returncode for proc in procs):
        errors = " / ".join(err.strip().splitlines()[-1] for _, err in outputs if err.strip())
        if "SupportUnavailable" in errors:
            skip_or_fail(errors)
        pytest.fail(errors)
    roots = {out.strip() for out, _ in outputs}
    assert roots == {str(tmp_path / "sid" / "headers-3.13-i386")}
    assert (tmp_path / "sid" / "headers-3.13-i386" / "usr" / "include" / "i386-linux-gnu" / "python3.13"
            / "pyconfig.h").is_file()
    # No staging directories left behind.
    assert sorted(p.name for p in (tmp_path / "sid").iterdir() if p.name.startswith(".")) == []


def test_unknown_minor_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        sid.sid_root(12)


def test_apt_failure_is_support_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FT_AUDIT_TEST_CACHE", str(tmp_path))
    monkeypatch.setattr(sid, "APT_RETRIES", 0)
    monkeypatch.setattr(sid, "SID_SOURCES", sid.SID_SOURCES.replace("deb.debian.org", "127.0.0.1:9"))
    with pytest.raises(SupportUnavailable) as info:
        sid.sid_root(14)
    assert "apt-get update" in info.value.reason
    assert not (tmp_path / "sid" / "root-3.14").exists()
