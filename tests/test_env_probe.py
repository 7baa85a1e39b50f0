"""The environment source: the stdlib probe on real interpreters (3.9 - 3.13 from pyenv, and
the one running the tests), extension-file ownership, and every kind of bad input (not a
Python, a probe that hangs or prints garbage, broken dist-info, unreadable modules)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.audit.env import audit_snapshot
from auditor.cli import main as cli_main
from auditor.errors import InputError
from auditor.sources import env as envsource
from tests.support.pyenv import pyenv_python


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Module-report and probe caches go to a per-test folder, not the user's cache."""
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "ft-audit-cache"))


@pytest.mark.parametrize("minor", [9, 10, 11, 12, 13])
def test_probe_reports_the_real_interpreter(minor):
    python = pyenv_python(minor)
    if python is None:
        pytest.skip(f"no pyenv 3.{minor}")
    snap = envsource.probe_interpreter([str(python)])
    interp = snap.interpreter
    truth = json.loads(subprocess.run(
        [str(python), "-c", "import sys, sysconfig, importlib.machinery as m, json;"
         "print(json.dumps([sys.version_info[:3], sysconfig.get_config_var('EXT_SUFFIX'), m.EXTENSION_SUFFIXES,"
         " sys.prefix]))"], capture_output=True, check=True, text=True).stdout)
    assert list(interp.version) == truth[0] and interp.version[:2] == (3, minor)
    assert interp.ext_suffix == truth[1] == f".cpython-3{minor}-x86_64-linux-gnu.so"
    assert list(interp.extension_suffixes) == truth[2]
    assert interp.prefix == truth[3]
    assert interp.free_threaded is False
    assert interp.label == f"3.{minor}"
    assert any(d.endswith(f"python3.{minor}/site-packages") for d in interp.environment_dirs)
    assert interp.markers["python_version"] == f"3.{minor}"
    assert interp.subinterpreter_module == {12: "_xxsubinterpreters", 13: "_interpreters"}.get(minor, interp.subinterpreter_module)
    # pip is installed in every pyenv interpreter; its RECORD lists no shared object
    pip = [d for d in snap.distributions if d.key == "pip"]
    assert pip and pip[0].record == () and "pip" in pip[0].record_top_level


def test_probe_honours_pythonpath(tmp_path):
    extra = tmp_path / "extra"
    (extra / "demo-1.0.dist-info").mkdir(parents=True)
    (extra / "demo-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    env = dict(os.environ, PYTHONPATH=str(extra))
    snap = envsource.probe_interpreter([sys.executable], env=env)
    assert str(extra) in snap.interpreter.environment_dirs
    demo = [d for d in snap.distributions if d.key == "demo"]
    assert demo and demo[0].version == "1.0" and demo[0].errors == (f"{extra}/demo-1.0.dist-info: no RECORD file",)


def test_probe_parsers_metadata_and_record():
    from auditor.sources import probe

    meta = probe._parse_metadata("Metadata-Version: 2.4\nName: demo-pkg\nVersion: 2.0\n"
                                 "Requires-Dist: numpy>=2;\n  python_version >= '3.10'\n"
                                 "Requires-Dist: attrs\nClassifier: Programming Language :: Python :: Free Threading :: 2 - Beta\n"
                                 "Classifier: License :: OSI Approved\n")
    assert meta == {"name": "demo-pkg", "version": "2.0",
                    "requires_dist": ["numpy>=2;\npython_version >= '3.10'", "attrs"], "requires_python": None,
                    "classifiers": ["Programming Language :: Python :: Free Threading :: 2 - Beta"]}
    with pytest.raises(ValueError):
        probe._parse_metadata("\x00\x01 garbage without colon")
    files, tops, rows = probe._parse_record(
        'demo/__init__.py,sha256=x,10\n"demo/odd, name.cpython-313-x86_64-linux-gnu.so",sha256=y,20\n'
        'demo.libs/libz-1.so.1.2,,\n../../bin/demo,,\ndemo-2.0.dist-info/RECORD,,\n')
    assert files == ["demo/odd, name.cpython-313-x86_64-linux-gnu.so", "demo.libs/libz-1.so.1.2"]
    assert tops == ["demo", "demo.libs", "..", "demo-2.0.dist-info"] and rows == 5


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_not_a_python(tmp_path):
    with pytest.raises(InputError) as err:
        envsource.probe_interpreter(["/bin/ls"])
    assert "/bin/ls: not a working Python 3.9+ interpreter (exit 2" in err.value.one_line()
    with pytest.raises(InputError, match="no such interpreter"):
        envsource.probe_interpreter([str(tmp_path / "nope")])
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with pytest.raises(InputError, match="not executable"):
        envsource.probe_interpreter([str(plain)])


def test_probe_garbage_hang_and_crash(tmp_path):
    garbage = _script(tmp_path, "garbage", "echo 'Python 3.13.0 says hello'")
    with pytest.raises(InputError, match=r"not JSON \('Python 3.13.0 says hello'\)"):
        envsource.probe_interpreter([garbage])
    wrong_json = _script(tmp_path, "wrongjson", "echo '{\"interpreter\": 1}'")
    with pytest.raises(InputError, match="not a probe document"):
        envsource.probe_interpreter([wrong_json])
    hang = _script(tmp_path, "hang", "exec sleep 30")
    with pytest.raises(InputError, match=r"did not finish within 0\.3 s"):
        envsource.probe_interpreter([hang], timeout=0.3)
    crash = _script(tmp_path, "crash", "kill -SEGV $$")
    with pytest.raises(InputError, match="killed by signal 11"):
        envsource.probe_interpreter([crash])


def test_cli_bad_interpreter_is_one_line_exit_2(capsys):
    assert cli_main(["env", "--python", "/bin/ls", "--no-pypi"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ft-audit: error: /bin/ls: not a working Python")
    assert cli_main(["env", "--path", "/tmp"]) == 2
    assert "needs --target" in capsys.readouterr().err


# -- a broken site-packages folder, audited with --path --------------------------------

def _elf_bytes() -> bytes:
    """A real extension module: the one the test interpreter ships for _json."""
    import _json

    return Path(_json.__file__).read_bytes() if getattr(_json, "__file__", None) else b""


def make_site(tmp_path: Path) -> Path:
    site = tmp_path / "site-packages"
    site.mkdir()
    real = _elf_bytes() or Path(sys.executable).read_bytes()[:4096]
    # good: RECORD lists the module
    (site / "good").mkdir()
    (site / "good" / "_fast.cpython-314t-x86_64-linux-gnu.so").write_bytes(real)
    info = site / "good-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: good\nVersion: 1.0\nRequires-Dist: broken\n")
    (info / "RECORD").write_text("good/_fast.cpython-314t-x86_64-linux-gnu.so,,\ngood-1.0.dist-info/RECORD,,\n")
    # broken: METADATA missing, RECORD garbage bytes, module found by top-level ownership
    (site / "broken").mkdir()
    (site / "broken" / "core.cpython-314t-x86_64-linux-gnu.so").write_bytes(b"\x7fELF garbage, truncated")
    bad = site / "broken-2.0.dist-info"
    bad.mkdir()
    (bad / "RECORD").write_bytes(b"\x00\xff\xfe not,a\n\"record")
    (bad / "top_level.txt").write_text("broken\n")
    # no RECORD at all; its module is an orphan unless top_level says otherwise
    norec = site / "norecord-0.1.dist-info"
    norec.mkdir()
    (norec / "METADATA").write_text("Metadata-Version: 2.1\nName: norecord\nVersion: 0.1\n")
    # orphan module, a dangling symlink (unreadable), a file for another interpreter, a vendored lib
    (site / "stray.cpython-314t-x86_64-linux-gnu.so").write_bytes(real)
    (site / "good" / "gone.cpython-314t-x86_64-linux-gnu.so").symlink_to(site / "does-not-exist.so")
    (site / "good" / "_old.cpython-312-x86_64-linux-gnu.so").write_bytes(real)
    (site / "good.libs").mkdir()
    (site / "good.libs" / "libgfortran-1234.so.5").write_bytes(b"\x7fELF")
    (site / "good.libs" / "libvendored.so").write_bytes(b"\x7fELF")
    return site


def test_broken_site_packages_goes_on(tmp_path):
    site = make_site(tmp_path)
    snap = envsource.snapshot_from_path(str(site), "3.14t")
    files = {f.relpath: f for f in envsource.collect_extension_files(snap)}
    assert sorted(files) == ["broken/core.cpython-314t-x86_64-linux-gnu.so",
                             "good/_fast.cpython-314t-x86_64-linux-gnu.so",
                             "good/_old.cpython-312-x86_64-linux-gnu.so",
                             "good/gone.cpython-314t-x86_64-linux-gnu.so",
                             "stray.cpython-314t-x86_64-linux-gnu.so"]
    assert (files["good/_fast.cpython-314t-x86_64-linux-gnu.so"].owner,
            files["good/_fast.cpython-314t-x86_64-linux-gnu.so"].ownership) == ("good", "record")
    assert (files["broken/core.cpython-314t-x86_64-linux-gnu.so"].owner,
            files["broken/core.cpython-314t-x86_64-linux-gnu.so"].ownership) == ("broken", "top-level")
    assert files["stray.cpython-314t-x86_64-linux-gnu.so"].ownership == "orphan"
    old = files["good/_old.cpython-312-x86_64-linux-gnu.so"]
    assert (old.module, old.loadable) == ("good._old", False)

    audit = audit_snapshot(snap, ask_pypi=False, use_compat=False)
    dists = {d.key: d for d in audit.distributions}
    assert set(dists) == {"good", "broken", "norecord"}
    assert any("cannot read METADATA" in e for e in dists["broken"].errors)
    assert dists["norecord"].errors == (f"{site}/norecord-0.1.dist-info: no RECORD file",)
    assert dists["good"].requires == ("broken",)
    by_module = {m.file.module: m for m in audit.all_modules()}
    assert by_module["broken.core"].report.errors and by_module["broken.core"].report.free_threading.value == "unknown"
    assert by_module["good.gone"].report.errors
    assert [m.file.module for m in audit.orphans] == ["stray"]
    # the real ELF module still got a real verdict: a GIL-ABI _json is not built for free threading
    if _elf_bytes():
        assert by_module["good._fast"].report.format == "elf"
    codes = {f.code for f in audit.findings}
    assert {"FTE401", "FTE402"} <= codes


def test_cli_path_audit_json(tmp_path, capsys):
    site = make_site(tmp_path)
    status = cli_main(["env", "--path", str(site), "--target", "3.14t", "--format", "json", "--no-pypi",
                       "--no-compat", "--fail-on", "orphan"])
    out = capsys.readouterr()
    assert status == 1
    doc = json.loads(out.out)
    assert doc["interpreter"]["label"] == "3.14t" and doc["interpreter"]["probed"] is False
    assert doc["summary"]["orphans"] == 1
    assert cli_main(["env", "--path", str(site), "--target", "3.14t", "--no-pypi", "--no-compat"]) == 0
    out = capsys.readouterr()
    # Each unreadable file once, on stderr; the report on stdout only counts them.
    unreadable = [line for line in out.err.splitlines() if line.startswith("ft-audit: error: ")]
    assert unreadable and "could not be checked (errors on stderr)" in out.out
    assert f"{len(unreadable)} could not be checked" in out.out
    assert not any(line.removeprefix("ft-audit: error: ") in out.out for line in unreadable)
    assert cli_main(["env", "--path", str(site), "--target", "3.12t"]) == 2
    assert capsys.readouterr().err == "ft-audit: error: --target: 3.12 has no free-threaded build (3.13t to 3.15t)\n"


def test_active_venv_warning(monkeypatch, tmp_path):
    interp = envsource.target_interpreter("3.13", directory=str(tmp_path))
    interp = envsource.Interpreter(**{**interp.__dict__, "prefix": "/opt/audited", "base_prefix": "/usr"})
    monkeypatch.setenv("VIRTUAL_ENV", str(tmp_path))
    assert envsource.active_environment_warning(interp) == (
        f"the active virtual environment ({tmp_path}) is not the one audited (/opt/audited); "
        f"pass --python {tmp_path}/bin/python to audit it")
    monkeypatch.setenv("VIRTUAL_ENV", "/opt/audited")
    assert envsource.active_environment_warning(interp) is None
    monkeypatch.delenv("VIRTUAL_ENV")
    assert envsource.active_environment_warning(interp) is None


def test_module_report_cache_reuses_unchanged_files_only(tmp_path, monkeypatch):
    from auditor.audit import env as envcmd

    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    site = make_site(tmp_path)
    snap = envsource.snapshot_from_path(str(site), "3.14t")
    files = envsource.collect_extension_files(snap)
    first = envcmd.inspect_files(files, cache=envcmd.ReportCache(snap.interpreter.environment_dirs))
    cache = envcmd.ReportCache(snap.interpreter.environment_dirs)
    readable = {p for p, r in first.items() if not r.errors}
    assert set(cache.entries) == readable and readable      # unreadable files are never cached
    calls = []
    import auditor.inspect

    monkeypatch.setattr(auditor.inspect, "inspect_module", lambda path, **kw: calls.append(path) or first[path])
    again = envcmd.inspect_files(files, cache=cache)
    assert again == first
    assert sorted(calls) == sorted(set(first) - readable)    # only the unreadable ones again
    fast = str(site / "good" / "_fast.cpython-314t-x86_64-linux-gnu.so")
    os.utime(fast, ns=(1, 1))                                 # a changed file is inspected again
    calls.clear()
    envcmd.inspect_files(files, cache=envcmd.ReportCache(snap.interpreter.environment_dirs))
    assert fast in calls


def test_probe_cache_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    extra = tmp_path / "extra"
    extra.mkdir()
    env = dict(os.environ, PYTHONPATH=str(extra))
    first = envsource.probe_interpreter([sys.executable], env=env, cache=True)
    assert not any(d.key == "demo" for d in first.distributions)
    calls = []
    real_run = subprocess.run
    monkeypatch.setattr(envsource.subprocess, "run", lambda *a, **k: calls.append(a) or real_run(*a, **k))
    again = envsource.probe_interpreter([sys.executable], env=env, cache=True)
    assert calls == [] and again == first                      # unchanged: no interpreter started
    info = extra / "demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    os.utime(extra, ns=(1, 10**18))                            # installing changes the folder's mtime
    third = envsource.probe_interpreter([sys.executable], env=env, cache=True)
    assert len(calls) == 1 and any(d.key == "demo" for d in third.distributions)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 2.0\n")
    os.utime(info, ns=(1, 2 * 10**18))                         # an in-place reinstall touches the dist-info
    fourth = envsource.probe_interpreter([sys.executable], env=env, cache=True)
    assert len(calls) == 2 and [d.version for d in fourth.distributions if d.key == "demo"] == ["2.0"]
    envsource.probe_interpreter([sys.executable], env=dict(env, PYTHONPATH=""), cache=True)
    assert len(calls) == 3                                     # other environment variables: other answer


# -- first-run paths: a relative --python, an interpreter ft-audit does not audit ------------

def test_relative_python_path_is_the_users_not_the_probes(tmp_path, monkeypatch, capsys):
    """`ft-audit env --python .venv/bin/python` (the README's example) from the project folder:
    the probe runs in a temporary folder, so the path is resolved against the user's, keeping
    the venv's symlink (a resolved path would be the base interpreter, not the venv)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "proj" / ".venv")], check=True)
    site = next((tmp_path / "proj" / ".venv" / "lib").glob("python3.*/site-packages"))
    info = site / "demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    (info / "RECORD").write_text("demo-1.0.dist-info/METADATA,,\n")
    monkeypatch.chdir(tmp_path / "proj")
    assert cli_main(["env", "--python", ".venv/bin/python", "--no-pypi", "--no-compat", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    venv = str(tmp_path / "proj" / ".venv")
    assert doc["interpreter"]["executable"] == f"{venv}/bin/python"
    assert doc["interpreter"]["prefix"] == venv and doc["interpreter"]["environment_dirs"] == [str(site)]
    assert [d["name"] for d in doc["distributions"]] == ["demo"]
    assert envsource.interpreter_command(".venv/bin/python") == [f"{venv}/bin/python"]
    assert envsource.interpreter_command("python3") == ["python3"]     # a bare name: the PATH lookup


def _old_python(version: str) -> Path | None:
    from tests.support.pyenv import pyenv_root

    found = sorted((pyenv_root() / "versions").glob(f"{version}.*/bin/python{version}"))
    return found[-1] if found else None


@pytest.mark.parametrize("version", ["2.7", "3.6", "3.8"])
def test_too_old_real_interpreter_is_named_not_a_syntax_error(version, capsys):
    python = _old_python(version)
    if python is None:
        pytest.skip(f"no pyenv {version}")
    full = subprocess.run([str(python), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert cli_main(["env", "--python", str(python), "--no-pypi", "--no-compat"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ft-audit: error: {python}: ft-audit audits CPython 3.9-3.15; {python} is Python {full}"]


def test_old_and_foreign_interpreters_without_pyenv(tmp_path):
    """Stand-ins answering the version query as python2.7 and PyPy do, and failing on anything
    else as they would on the probe's syntax."""
    python2 = _script(tmp_path, "python2", "cat >/dev/null; echo 'ft-audit-interpreter 2.7.18 CPython'")
    with pytest.raises(InputError) as err:
        envsource.probe_interpreter([python2])
    assert err.value.one_line() == f"{python2}: ft-audit audits CPython 3.9-3.15; {python2} is Python 2.7.18"
    pypy = _script(tmp_path, "pypy3", "echo 'ft-audit-interpreter 3.10.14 PyPy'; echo SyntaxError >&2; exit 1")
    with pytest.raises(InputError, match=r"audits CPython 3.9-3.15; \S+pypy3 is PyPy 3.10.14$"):
        envsource.probe_interpreter([pypy])
    assert envsource.unsupported_reason("py", "CPython", (3, 16, 0)) == "ft-audit audits CPython 3.9-3.15; py is Python 3.16.0"
    assert envsource.unsupported_reason("py", "CPython", (3, 9, 0)) is None
    assert envsource.unsupported_reason("py", "cpython", (3, 15, 0)) is None


# -- --target: the interpreter option's one name ---------------------------------------------

@pytest.fixture
def venv_with_module(tmp_path):
    """A real venv whose one distribution owns a real extension module (a copy of the stdlib's
    _csv, built for this interpreter's GIL ABI): it needs a free-threaded wheel from PyPI."""
    import _csv
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3.*/site-packages"))
    name = f"_fast{sysconfig.get_config_var('EXT_SUFFIX')}"
    (site / "demo").mkdir()
    (site / "demo" / name).write_bytes(Path(_csv.__file__).read_bytes())
    info = site / "demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    (info / "RECORD").write_text(f"demo/{name},,\ndemo-1.0.dist-info/METADATA,,\n")
    return venv / "bin" / "python"


def _offer_targets(argv, capsys) -> list[str]:
    # --offline with an empty cache: every PyPI lookup fails, and is shown per asked target
    assert cli_main([*argv, "--offline", "--no-compat", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (demo,) = [d for d in doc["distributions"] if d["name"] == "demo"]
    return [offer["target"] for offer in demo["ft_offers"]]


def test_target_names_the_free_threaded_interpreters_to_ask_pypi_about(venv_with_module, capsys):
    python = str(venv_with_module)
    # The default: the venv's own minor when it has a free-threaded build (3.13+), and 3.14 below it.
    minor = sys.version_info.minor
    default = ([f"cp3{minor}t"] if minor >= 13 else []) + (["cp314t"] if minor < 14 else [])
    assert _offer_targets(["env", "--python", python], capsys) == default
    assert _offer_targets(["env", "--python", python, "--target", "3.15t,3.13"], capsys) == ["cp315t", "cp313t"]
    assert _offer_targets(["env", "--python", python, "--target", "cp315t", "--target", "3.13t"],
                          capsys) == ["cp315t", "cp313t"]
    # the old spelling stays, alone or with the new one
    assert _offer_targets(["env", "--python", python, "--ft-target", "3.14"], capsys) == ["cp314t"]
    assert _offer_targets(["env", "--python", python, "--target", "3.15", "--ft-target", "3.14"],
                          capsys) == ["cp315t", "cp314t"]
    for bad, reason in [("3.12", "3.12 has no free-threaded build (3.13t to 3.15t)"),
                        ("3.12t", "3.12 has no free-threaded build (3.13t to 3.15t)"),
                        ("3.16t", "3.16 is not supported (3.9 to 3.15)"),
                        ("fourteen", "expected a CPython version like 3.14t, 3.13 or cp314t, got 'fourteen'")]:
        assert cli_main(["env", "--python", python, "--target", f"3.14,{bad}", "--no-compat"]) == 2
        assert capsys.readouterr().err == f"ft-audit: error: --target: {reason}\n"


def test_target_with_path_is_the_folders_interpreter(tmp_path, capsys):
    site = make_site(tmp_path)
    assert cli_main(["env", "--path", str(site), "--target", "3.13", "--target", "3.14t", "--no-pypi"]) == 2
    assert capsys.readouterr().err.startswith("ft-audit: error: --target: with --path, one: the interpreter the folder")
    assert cli_main(["env", "--path", str(site), "--target", "3.13,3.14t", "--no-pypi"]) == 2
    assert "with --path, one" in capsys.readouterr().err
    argv = ["env", "--path", str(site), "--target", "3.14t", "--offline", "--no-compat", "--format", "json"]
    for extra, targets in [([], ["cp314t"]), (["--ft-target", "3.15t"], ["cp315t"])]:
        assert cli_main([*argv, *extra]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["interpreter"]["label"] == "3.14t"
        (good,) = [d for d in doc["distributions"] if d["name"] == "good"]
        assert [offer["target"] for offer in good["ft_offers"]] == targets
