"""`ft-audit env` on small real environments, static answers against runtime truth.

A CPython 3.12 and a 3.13 venv (pyenv) with pinned wheels from PyPI (version + sha256,
installed with --require-hashes, cached under ~/.cache/ft-audit-tests/env-venvs): markupsafe
(hand-written C, own-GIL), msgpack (Cython), psutil (single-phase, abi3), numpy (refuses
sub-interpreters) and contourpy (pybind11 3, slots built at run time; depends on numpy).
Every module's static answer is compared with what the interpreter does (`--verify`: the
PyModule_GetDef(mod)->m_slots walk with ctypes and the own-GIL / shared-GIL sub-interpreter
imports); every module must agree. 3.14 runs through Debian sid's interpreter with the cp314
wheels unpacked on PYTHONPATH (tests/support/sid.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from auditor.audit.env import audit_snapshot
from auditor.model import Subinterpreters as SI
from auditor.report.env import render_json
from auditor.sources.env import probe_interpreter
from tests.support.json_schema import assert_valid
from tests.support.pyenv import pyenv_python
from tests.support.unavailable import skip_or_fail

pytestmark = pytest.mark.slow   # builds real venvs and imports every module in subprocesses: over a few seconds

PINS = {
    12: {
        "contourpy==1.4.0": "875f42444c9cf48d56f724f2637e60d0f73b3b12c9041e1484580a233edf9591",
        "markupsafe==3.0.4": "8e124f974786f831d6043728e38296969d3579db8896fe004682f5758e613581",
        "msgpack==1.2.4": "c4d5bbdbea8f5669b3a734d6c226772804fb120848f99cbe63a0ddee63b049c9",
        "numpy==2.5.5": "704d819265e5d1064d932968e9ee85fff2103ccc78c05b878c06943ba27b8507",
        "psutil==7.2.2": "076a2d2f923fd4821644f5ba89f059523da90dc9014e85f8e45a5774ca5bc6f9",
    },
    13: {
        "contourpy==1.4.0": "f1219a8898523cba821085f2da8a1b962cc696325763f09d7f93538ba43b2d70",
        "markupsafe==3.0.4": "434139499bb20b502ed3baa1f169e618f924a97e7a777fea1a49446d80106cf6",
        "msgpack==1.2.4": "7fabd415c41e62006c6641fcdf5b3e866f581c4e11c58328c0d0f69584b9577d",
        "numpy==2.5.5": "824025655df929268bfe6b47ed91a00d14209a6f760847cf150be446829e1ce4",
        "psutil==7.2.2": "076a2d2f923fd4821644f5ba89f059523da90dc9014e85f8e45a5774ca5bc6f9",
    },
}

# What the interpreter itself says about these modules (measured with --verify on 3.13.0).
EXPECTED_SUBINTERPRETERS = {
    "markupsafe._speedups": SI.OWN_GIL,
    "msgpack._cmsgpack": SI.NOT_SUPPORTED,          # Cython guard: one interpreter per process
    "psutil._psutil_linux": SI.NOT_SUPPORTED,       # single-phase init
    "numpy._core._multiarray_umath": SI.NOT_SUPPORTED,
}


def cache_root() -> Path:
    base = os.environ.get("FT_AUDIT_TEST_CACHE")
    return (Path(base).expanduser() if base else Path("~/.cache/ft-audit-tests").expanduser()) / "env-venvs"


def pinned_venv(minor: int) -> Path:
    """A venv with the pinned wheels, built once (and again if the pins change)."""
    python = pyenv_python(minor)
    if python is None:
        skip_or_fail(f"no pyenv CPython 3.{minor}")
    pins = PINS[minor]
    stamp_text = json.dumps(pins, sort_keys=True)
    key = hashlib.sha256(stamp_text.encode()).hexdigest()[:12]
    venv = cache_root() / f"cp3{minor}-{key}"
    stamp = venv / ".ft-audit-pins"
    if stamp.exists() and stamp.read_text() == stamp_text:
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(python), "-m", "venv", "--clear", str(venv)], check=True, capture_output=True)
    requirements = venv / "requirements.txt"
    requirements.write_text("".join(f"{req} --hash=sha256:{sha}\n" for req, sha in pins.items()))
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                             "--only-binary=:all:", "--no-deps", "--require-hashes", "-r", str(requirements)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        skip_or_fail(f"pip could not install the pinned wheels: {result.stderr.strip().splitlines()[-1:]}")
    stamp.write_text(stamp_text)
    return venv


def check_agreement(audit) -> dict[str, object]:
    modules = {m.file.module: m for m in audit.all_modules()}
    problems = []
    for name, m in sorted(modules.items()):
        assert m.runtime is not None and m.comparison is not None, name
        if m.runtime.status != "ok" or m.comparison.agrees is not True or m.comparison.gaps:
            problems.append((name, m.runtime.status, m.runtime.detail, m.comparison.to_json()))
        else:
            assert "subinterpreters" in m.comparison.checked, name
    assert problems == [], problems
    return modules


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Module-report and probe caches go to a per-test folder, not the user's cache."""
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "ft-audit-cache"))


@pytest.mark.network
@pytest.mark.parametrize("minor", [12, 13])
def test_static_matches_runtime_in_a_real_venv(minor):
    venv = pinned_venv(minor)
    python = str(venv / "bin" / "python")
    snapshot = probe_interpreter([python])
    assert snapshot.interpreter.label == f"3.{minor}"
    audit = audit_snapshot(snapshot, cmd=[python], verify=True, verify_timeout=60, ask_pypi=False, use_compat=False)
    modules = check_agreement(audit)
    assert len(modules) >= 20          # numpy alone ships 19 extension modules on 3.13
    for name, expected in EXPECTED_SUBINTERPRETERS.items():
        static = modules[name].report.subinterpreters.value
        assert static == expected, (name, modules[name].report.subinterpreters)
    # the GIL declaration read at run time from the def's slots
    assert modules["markupsafe._speedups"].runtime.gil == ("not-used" if minor >= 13 else "undeclared")
    assert modules["psutil._psutil_linux"].runtime.m_size == -1
    dists = {d.key: d for d in audit.distributions}
    assert [b.text for b in dists["contourpy"].blocked_by_subinterpreters] == [
        "contourpy: blocked by numpy (numpy._core._multiarray_umath: NOT_SUPPORTED)"]
    assert dists["markupsafe"].subinterpreters.value == SI.OWN_GIL
    assert audit.summary["verify"]["disagree"] == 0
    assert audit.orphans == ()
    # the JSON document, with the runtime results and comparisons, against the ft-audit/1 schema
    doc = json.loads(render_json(audit))
    assert any("static_vs_runtime" in m for d in doc["distributions"] for m in d["modules"])
    assert_valid(doc, "env")


@pytest.mark.network
def test_cli_json_on_the_real_venv(capsys):
    from auditor.cli import main

    venv = pinned_venv(13)
    status = main(["env", "--python", str(venv / "bin" / "python"), "--format", "json", "--no-pypi", "--no-compat",
                   "--fail-on", "not-supported"])
    doc = json.loads(capsys.readouterr().out)
    assert status == 1                  # numpy, msgpack, psutil refuse sub-interpreters
    assert doc["interpreter"]["version"] == "3.13.0" and doc["interpreter"]["free_threaded"] is False
    names = {d["name"]: d for d in doc["distributions"]}
    assert names["numpy"]["version"] == "2.5.5" and names["numpy"]["subinterpreters"] == "not-supported"
    umath = next(m for m in names["numpy"]["modules"] if m["name"] == "numpy._core._multiarray_umath")
    assert umath["free_threading"] == "not-built-for-ft" and umath["abi"]["claimed"] == "cp313"
    assert umath["relpath"] == "numpy/_core/_multiarray_umath.cpython-313-x86_64-linux-gnu.so"
    assert main(["env", "--python", str(venv / "bin" / "python"), "--no-pypi", "--no-compat",
                 "--fail-on", "reenables-gil"]) == 0


SID_WHEELS = {
    14: ["markupsafe-3.0.4-cp314-manylinux-x86_64", "msgpack-1.2.4-cp314-manylinux-x86_64",
         "numpy-2.5.5-cp314-manylinux-x86_64", "psutil-7.2.2-cp36-abi3-manylinux-x86_64"],
    # 3.15 non-limited builds store the renumbered slot ids (86, 87): the runtime walk must map them
    15: ["markupsafe-3.0.4-cp315-manylinux-x86_64", "psutil-7.2.2-cp36-abi3-manylinux-x86_64"],
}


def _sid_site(minor: int, target: Path) -> Path:
    """Pinned cp3XY wheels, unpacked as an installer would (RECORD included)."""
    from tests.support.wheels import require_wheel

    target.mkdir(parents=True, exist_ok=True)
    for key in SID_WHEELS[minor]:
        with zipfile.ZipFile(require_wheel(key)) as wheel:
            wheel.extractall(target)
    return target


@pytest.mark.network
@pytest.mark.parametrize("minor", [14, 15])
def test_static_matches_runtime_on_sid(minor, tmp_path):
    from tests.support.sid import SupportUnavailable, sid_python_cmd, sid_python_env

    try:
        cmd = sid_python_cmd(minor)
        env = sid_python_env(minor)
    except SupportUnavailable as exc:
        skip_or_fail(exc.reason)
    site = _sid_site(minor, tmp_path / "site")
    env = dict(env, PYTHONPATH=str(site))
    snapshot = probe_interpreter(cmd, env=env)
    assert snapshot.interpreter.label == f"3.{minor}" and str(site) in snapshot.interpreter.environment_dirs
    assert snapshot.interpreter.subinterpreter_module == "concurrent.interpreters"
    audit = audit_snapshot(snapshot, cmd=cmd, verify=True, verify_env=env, verify_timeout=60,
                           ask_pypi=False, use_compat=False)
    modules = check_agreement(audit)
    for name, expected in EXPECTED_SUBINTERPRETERS.items():
        if name in modules:
            assert modules[name].report.subinterpreters.value == expected, name
    assert modules["markupsafe._speedups"].runtime.gil == "not-used"
    assert modules["markupsafe._speedups"].runtime.multiple_interpreters == "per-interpreter-gil"
    assert modules["psutil._psutil_linux"].runtime.own_gil.outcome == "refused"
