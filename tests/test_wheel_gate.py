"""`ft-audit wheel` on real pinned wheels, on wheels doctored from them, and on hostile input.

Doctored wheels are rebuilt here from the pinned PyPI wheels with a consistent RECORD, so
each one fails for exactly the reason it was built for.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zipfile
from pathlib import Path

import pytest

from auditor.audit.wheels import AuditOptions, audit_paths, audit_wheel_file
from auditor.cli import main
from tests.support.wheels import require_wheel
from tests.test_wheel_archive import build_wheel

LXML_T = "lxml-6.1.3-cp314t-manylinux-x86_64"
MARKUPSAFE_T = "markupsafe-3.0.4-cp314t-manylinux-x86_64"
MARKUPSAFE_GIL = "markupsafe-3.0.4-cp314-manylinux-x86_64"
MARKUPSAFE_T_WIN = "markupsafe-3.0.4-cp314t-win-amd64"
PSUTIL_T = "psutil-7.2.2-cp314t-manylinux-x86_64"
PSUTIL_ABI3 = "psutil-7.2.2-cp36-abi3-manylinux-x86_64"

MS_T_SO = "markupsafe/_speedups.cpython-314t-x86_64-linux-gnu.so"
MS_GIL_SO = "markupsafe/_speedups.cpython-314-x86_64-linux-gnu.so"
FT_FEATURE = "Programming Language :: Python :: Free Threading :: 2 - Beta"


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def rewrite_wheel(src: Path, folder: Path, *, filename: str | None = None, rename: dict[str, str] | None = None,
                  patch: dict[str, callable] | None = None, add: dict[str, bytes] | None = None,
                  retag: tuple[str, str] | None = None) -> Path:
    """Copy a wheel with members renamed / patched / added, WHEEL Tag lines rewritten
    (`retag=(old, new)` on Tag lines) and RECORD regenerated, so the result is self-consistent."""
    rename, patch, add = rename or {}, patch or {}, add or {}
    members: dict[str, bytes] = {}
    with zipfile.ZipFile(src) as archive:
        for info in archive.infolist():
            if info.is_dir() or info.filename.endswith(".dist-info/RECORD"):
                continue
            data = archive.read(info)
            name = rename.get(info.filename, info.filename)
            if name in patch:
                data = patch[name](data)
            if retag and name.endswith(".dist-info/WHEEL"):
                data = re.sub(rb"(?m)^Tag: (.*)$", lambda m: b"Tag: " + m.group(1).replace(
                    retag[0].encode(), retag[1].encode()), data)
            members[name] = data
    members.update(add)
    dist_info = next(n.split("/")[0] for n in members if n.endswith(".dist-info/WHEEL"))
    record = "".join(f"{n},{_record_hash(d)},{len(d)}\n" for n, d in members.items()) + f"{dist_info}/RECORD,,\n"
    members[f"{dist_info}/RECORD"] = record.encode()
    out = folder / (filename or src.name)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out


def _member(key: str, name: str) -> bytes:
    with zipfile.ZipFile(require_wheel(key)) as archive:
        return archive.read(name)


def _codes(report, module: str | None = None) -> list[str]:
    return [f.code for f in report.findings if module is None or f.module == module]


# -- real wheels ----------------------------------------------------------------------------

def test_lxml_cp314t_fails_naming_etree():
    report = audit_wheel_file(str(require_wheel(LXML_T)))
    assert report.verdict == "fail"
    etree = [f for f in report.findings if f.module == "lxml.etree"]
    assert [f.code for f in etree] == ["FTW310"]
    assert etree[0].severity == "error"
    assert etree[0].message == ("lxml/etree.cpython-314t-x86_64-linux-gnu.so: module lxml.etree would re-enable "
                                "the GIL: declares the GIL used (Py_mod_gil(4) = 0 Py_MOD_GIL_USED)")
    modules = {m.name: m.free_threading.value for m in report.modules}
    assert modules["lxml.etree"] == "reenables-gil"
    assert len(modules) == 7


@pytest.mark.parametrize("key, module", [(MARKUPSAFE_T, "markupsafe._speedups"), (PSUTIL_T, "psutil._psutil_linux")])
def test_ready_cp314t_wheels_pass(key, module):
    report = audit_wheel_file(str(require_wheel(key)))
    assert report.verdict == "pass"
    assert [m.name for m in report.modules] == [module]
    assert report.modules[0].free_threading.value == "ready"
    assert not [f for f in report.findings if f.severity != "info"]
    # Neither project declares the Free Threading classifier although every module is ready.
    assert _codes(report) == ["FTW402"]


@pytest.mark.parametrize("project, keys", [
    ("markupsafe", ["markupsafe-3.0.4-cp314t-manylinux-x86_64", "markupsafe-3.0.4-cp314t-macosx11-arm64",
                    "markupsafe-3.0.4-cp314t-win-amd64"]),
    ("psutil", ["psutil-7.2.2-cp314t-manylinux-x86_64", "psutil-7.2.2-cp314t-macosx11-arm64",
                "psutil-7.2.2-cp314t-win-amd64"]),
    ("lxml", ["lxml-6.1.3-cp314t-manylinux-x86_64", "lxml-6.1.3-cp314t-macosx10-universal2",
              "lxml-6.1.3-cp314t-win-amd64"]),
])
def test_macos_and_windows_wheels_agree_with_linux(project, keys):
    reports = [audit_wheel_file(str(require_wheel(k))) for k in keys]
    verdicts = [{m.name.rsplit(".", 1)[-1].replace("_psutil_osx", "_psutil_linux")
                 .replace("_psutil_windows", "_psutil_linux"): m.free_threading.value for m in r.modules}
                for r in reports]
    assert verdicts[1] == verdicts[0], reports[1].findings
    assert verdicts[2] == verdicts[0], reports[2].findings
    assert len({r.verdict for r in reports}) == 1


def test_gil_wheel_of_the_same_code_passes_without_ft_checks():
    report = audit_wheel_file(str(require_wheel(MARKUPSAFE_GIL)))
    assert report.verdict == "pass" and report.findings == ()
    assert report.modules[0].abi.free_threaded is False


# -- doctored wheels: each fails with its own code -------------------------------------------

def test_gil_binary_relabelled_cp314t_is_gil_abi_in_t_wheel(tmp_path):
    src = require_wheel(MARKUPSAFE_GIL)
    doctored = rewrite_wheel(src, tmp_path, filename=src.name.replace("-cp314-cp314-", "-cp314-cp314t-"),
                             rename={MS_GIL_SO: MS_T_SO}, retag=("-cp314-", "-cp314t-"))
    report = audit_wheel_file(str(doctored))
    assert report.verdict == "fail"
    assert _codes(report, "markupsafe._speedups") == ["FTW301"]
    message = report.findings[0].message
    assert message.startswith(f"{MS_T_SO}: module markupsafe._speedups is built for the GIL ABI in a wheel tagged cp314t")
    assert "GIL header" in message


def test_abi3_module_in_t_wheel(tmp_path):
    abi3_so = _member(PSUTIL_ABI3, "psutil/_psutil_linux.abi3.so")
    doctored = rewrite_wheel(require_wheel(PSUTIL_T), tmp_path, add={"psutil/_psutil_extra.abi3.so": abi3_so})
    report = audit_wheel_file(str(doctored))
    assert report.verdict == "fail"
    assert _codes(report, "psutil._psutil_extra") == ["FTW302"]
    assert _codes(report, "psutil._psutil_linux") == ["FTW402"][:0]  # the real module is still fine
    assert report.findings[0].message.startswith("psutil/_psutil_extra.abi3.so: module psutil._psutil_extra is a "
                                                  "GIL stable-ABI (.abi3) build")


def _flip_gil_slot(data: bytes) -> bytes:
    # x86-64 PyModuleDef_Slot {int slot = Py_mod_gil (4); <4 pad>; void *value = Py_MOD_GIL_NOT_USED (1)}
    not_used = (4).to_bytes(8, "little") + (1).to_bytes(8, "little")
    used = (4).to_bytes(8, "little") + (0).to_bytes(8, "little")
    assert data.count(not_used) == 1, "expected exactly one {Py_mod_gil, NOT_USED} slot"
    return data.replace(not_used, used)


def test_gil_slot_flipped_to_used_reenables_gil(tmp_path):
    doctored = rewrite_wheel(require_wheel(MARKUPSAFE_T), tmp_path, patch={MS_T_SO: _flip_gil_slot})
    report = audit_wheel_file(str(doctored))
    assert report.verdict == "fail"
    assert _codes(report) == ["FTW310"]
    assert report.findings[0].module == "markupsafe._speedups"
    assert "Py_mod_gil(4) = 0 Py_MOD_GIL_USED" in report.findings[0].message


def test_windows_pyd_in_manylinux_wheel_is_foreign(tmp_path):
    pyd = _member(MARKUPSAFE_T_WIN, "markupsafe/_speedups.cp314t-win_amd64.pyd")
    doctored = rewrite_wheel(require_wheel(MARKUPSAFE_T), tmp_path,
                             add={"markupsafe/_winspeedups.cp314t-win_amd64.pyd": pyd})
    report = audit_wheel_file(str(doctored))
    assert report.verdict == "fail"
    foreign = [f for f in report.findings if f.code == "FTW201"]
    assert [f.module for f in foreign] == ["markupsafe._winspeedups"]
    assert "is a PE (Windows) x86_64 binary, foreign to the platform tag" in foreign[0].message
    assert "FTW201" not in _codes(report, "markupsafe._speedups")


def test_record_tampered_binary(tmp_path):
    doctored = rewrite_wheel(require_wheel(MARKUPSAFE_T), tmp_path)
    # patch the binary after RECORD was written: same size, different bytes
    patched = tmp_path / "patched" / doctored.name
    patched.parent.mkdir()
    with zipfile.ZipFile(doctored) as src, zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == MS_T_SO:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            dst.writestr(info.filename, data)
    report = audit_wheel_file(str(patched))
    assert report.verdict == "fail"
    assert [(f.code, f.path) for f in report.findings if f.severity == "error"] == [("FTW102", MS_T_SO)]


def test_free_threading_classifier_contradicted(tmp_path):
    def add_classifier(data: bytes) -> bytes:
        return data.replace(b"Classifier: ", f"Classifier: {FT_FEATURE}\nClassifier: ".encode(), 1)

    doctored = rewrite_wheel(require_wheel(LXML_T), tmp_path, patch={"lxml-6.1.3.dist-info/METADATA": add_classifier})
    report = audit_wheel_file(str(doctored))
    warning = [f for f in report.findings if f.code == "FTW401"]
    assert len(warning) == 1 and warning[0].severity == "warning"
    assert FT_FEATURE in warning[0].message and "lxml.etree" in warning[0].message


# -- hostile and broken input through the CLI ------------------------------------------------

def _bad_input_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dist"
    folder.mkdir()
    rewrite_wheel(require_wheel(MARKUPSAFE_T), folder)
    rewrite_wheel(require_wheel(LXML_T), folder)
    good = require_wheel(PSUTIL_T).read_bytes()
    (folder / "truncated-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl").write_bytes(good[: len(good) // 2])
    (folder / "notzip-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl").write_text("<html>404</html>\n")
    ms = _member(MARKUPSAFE_T, MS_T_SO)
    build_wheel(folder, "evil-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl", {"evil/ok.cpython-314t-x86_64-linux-gnu.so": ms})
    with zipfile.ZipFile(folder / "evil-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl", "a") as archive:
        archive.writestr("../evil.so", ms)
    build_wheel(folder, "textso-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl",
                {"textso/x.cpython-314t-x86_64-linux-gnu.so": b"just text, not a binary\n"})
    build_wheel(folder, "cut-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl",
                {"cut/x.cpython-314t-x86_64-linux-gnu.so": ms[:4000]})
    build_wheel(folder, "bomb-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl",
                {"bomb/x.cpython-314t-x86_64-linux-gnu.so": ms, "bomb/zeros.bin": bytes(40 << 20)})
    return folder


@pytest.mark.slow
def test_bad_inputs_each_get_one_line_and_the_rest_is_audited(tmp_path, capsys):
    folder = _bad_input_folder(tmp_path)
    status = main(["wheel", str(folder), "--format", "json"])
    captured = capsys.readouterr()
    assert status == 2
    assert "Traceback" not in captured.err
    doc = json.loads(captured.out)
    verdicts = {w["filename"].split("-")[0]: w["verdict"] for w in doc["wheels"]}
    assert verdicts == {"bomb": "error", "cut": "error", "evil": "error", "lxml": "fail", "markupsafe": "pass",
                        "notzip": "error", "textso": "error", "truncated": "error"}
    lines = [line for line in captured.err.splitlines() if line]
    expected = {
        "bomb": "bomb/zeros.bin': compression ratio",
        "cut": "cut/x.cpython-314t-x86_64-linux-gnu.so: cannot inspect module cut.x: truncated",
        "evil": "'../evil.so': '..' in member path",
        "notzip": "bad zip: File is not a zip file",
        "textso": "cannot inspect module textso.x: not an ELF, Mach-O or PE file",
        "truncated": "bad zip: ",
    }
    for prefix, reason in expected.items():
        mine = [line for line in lines if line.startswith(f"ft-audit: error: {prefix}-1.0-")]
        assert len(mine) == 1, (prefix, lines)
        assert reason in mine[0]
    assert len(lines) == len(expected)
    # the unsafe wheel's safe module was still inspected and reported
    evil = next(w for w in doc["wheels"] if w["filename"].startswith("evil-"))
    assert [m["name"] for m in evil["modules"]] == ["evil.ok"]
    assert evil["modules"][0]["free_threading"] == "ready"


def test_json_contract(tmp_path, capsys):
    status = main(["wheel", str(require_wheel(LXML_T)), str(require_wheel(MARKUPSAFE_T)), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert status == 1
    jsonschema = pytest.importorskip("jsonschema")
    finding = {"type": "object", "required": ["code", "severity", "message", "module"],
               "properties": {"code": {"type": "string", "pattern": "^FTW[0-9]{3}$"},
                              "severity": {"enum": ["error", "warning", "info"]},
                              "message": {"type": "string"}, "module": {"type": ["string", "null"]}}}
    module = {"type": "object", "required": ["name", "path", "format", "arch", "abi", "free_threading",
                                             "subinterpreters", "evidence", "errors"]}
    schema = {"type": "object", "required": ["schema", "wheels"],
              "properties": {"schema": {"const": "ft-audit/1"}, "wheels": {"type": "array", "items": {
                  "type": "object", "required": ["filename", "tags", "verdict", "findings", "modules"],
                  "properties": {"filename": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
                                 "verdict": {"enum": ["pass", "fail", "error"]},
                                 "findings": {"type": "array", "items": finding},
                                 "modules": {"type": "array", "items": module}}}}}}
    jsonschema.validate(doc, schema)
    assert [w["verdict"] for w in doc["wheels"]] == ["fail", "pass"]
    assert doc["wheels"][0]["tags"] == ["cp314-cp314t-manylinux2014_x86_64", "cp314-cp314t-manylinux_2_17_x86_64"]


def test_ignore_and_text_and_markdown(capsys):
    lxml = str(require_wheel(LXML_T))
    assert main(["wheel", lxml]) == 1
    text = capsys.readouterr().out
    assert text.startswith("FAIL  lxml-6.1.3-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl\n")
    assert "  error   FTW310  lxml/etree.cpython-314t-x86_64-linux-gnu.so: module lxml.etree would re-enable" in text
    assert text.endswith("1 wheel, 7 extension modules: 0 pass, 1 fail, 0 could not be checked\n")
    assert main(["wheel", lxml, "--ignore", "FTW310", "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "| `lxml-6.1.3-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl` | **pass** |" in markdown
    assert "FTW310" not in markdown


def test_require_ft_sibling(tmp_path, capsys):
    gil, ft = str(require_wheel(MARKUPSAFE_GIL)), str(require_wheel(MARKUPSAFE_T))
    assert main(["wheel", gil, "--require-ft", "3.14", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [f["code"] for f in doc["wheels"][0]["findings"]] == ["FTW501"]
    assert main(["wheel", gil, ft, "--require-ft", "3.14", "--ignore", "FTW402"]) == 0


def test_target_is_require_ft(capsys):
    """`--target` is the interpreter option's one name across commands; for `wheel` it is
    `--require-ft` (which stays), the version read by the one parser (auditor.target)."""
    gil, ft = str(require_wheel(MARKUPSAFE_GIL)), str(require_wheel(MARKUPSAFE_T))
    for spelling in ("3.14", "3.14t", "cp314t"):
        assert main(["wheel", gil, "--target", spelling, "--format", "json"]) == 1
        doc = json.loads(capsys.readouterr().out)
        assert [f["code"] for f in doc["wheels"][0]["findings"]] == ["FTW501"]
    assert main(["wheel", gil, ft, "--target", "3.14t", "--ignore", "FTW402"]) == 0
    assert main(["wheel", gil, "--target", "3.13"]) == 0         # no 3.13 wheel here: no sibling needed
    capsys.readouterr()
    assert main(["wheel", gil, "--target", "3.12"]) == 2
    assert capsys.readouterr().err == "ft-audit: error: --target: 3.12 has no free-threaded build (3.13t to 3.15t)\n"
    assert main(["wheel", gil, "--require-ft", "three"]) == 2
    assert capsys.readouterr().err == ("ft-audit: error: --target: expected a CPython version like 3.14t, 3.13 or cp314t, "
                                       "got 'three'\n")


def test_nothing_to_check_is_exit_2(tmp_path, capsys):
    assert main(["wheel", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"ft-audit: error: {tmp_path}: folder holds no .whl files\n"
    assert main(["wheel"]) == 2
    assert "give wheel files or folders" in capsys.readouterr().err
    assert main(["wheel", str(tmp_path / "missing.whl"), "--format", "json"]) == 2
    assert "missing.whl: no such file or folder" in capsys.readouterr().err


def test_thread_and_process_pools_agree(tmp_path):
    paths = [require_wheel(k) for k in (LXML_T, MARKUPSAFE_T, PSUTIL_T, MARKUPSAFE_GIL)]
    serial = audit_paths(paths, AuditOptions(executor="serial"))
    for kind in ("thread", "process"):
        assert audit_paths(paths, AuditOptions(executor=kind, jobs=2)) == serial


def test_small_set_starts_no_pool():
    """A few small wheels are audited in the process: no pool, not even its imports."""
    import os
    import subprocess
    import sys

    paths = [str(require_wheel(k)) for k in (MARKUPSAFE_T, PSUTIL_T, MARKUPSAFE_GIL)]
    probe = ("import sys; from auditor.cli import main; code = main(['wheel', *sys.argv[1:]]); "
             "print(code, sorted(m for m in sys.modules if m.startswith(('concurrent', 'multiprocessing'))))")
    env = {k: v for k, v in os.environ.items() if k != "FT_AUDIT_WHEEL_EXECUTOR"}
    done = subprocess.run([sys.executable, "-c", probe, *paths], capture_output=True, text=True, timeout=120, env=env)
    assert done.stdout.splitlines()[-1] == "0 []", done.stderr


@pytest.mark.network
def test_pypi_release(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path))
    status = main(["wheel", "--pypi", "markupsafe==3.0.4", "--platform", "manylinux2014_x86_64",
                   "--abi", "cp314*", "--require-ft", "3.14", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert [w["filename"] for w in doc["wheels"]] == [
        "markupsafe-3.0.4-cp314-cp314-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
        "markupsafe-3.0.4-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
    ]
    assert status == 0
    assert (tmp_path / "wheels" / "markupsafe" / doc["wheels"][1]["filename"]).is_file()


def test_helper_shared_library_is_not_judged_as_a_module(tmp_path):
    libz = sorted(Path("/usr/lib/x86_64-linux-gnu").glob("libz.so.1.*")) or sorted(Path("/lib/x86_64-linux-gnu").glob("libz.so.1.*"))
    if not libz:
        pytest.skip("no system libz to stand in for a helper library")
    doctored = rewrite_wheel(require_wheel(MARKUPSAFE_T), tmp_path, add={"markupsafe/lib/libhelper.so": libz[0].read_bytes()})
    report = audit_wheel_file(str(doctored))
    assert report.verdict == "pass"
    helper = [f for f in report.findings if f.module == "markupsafe.lib.libhelper"]
    assert [(f.code, f.severity) for f in helper] == [("FTW903", "info")]
    assert "FTW402" in _codes(report)  # the classifier rule looks at real modules only


def test_large_members_spill_to_a_private_temp_dir_that_is_removed():
    from auditor.sources.wheel import WheelLimits, read_wheel
    from auditor.wheel_modules import inspect_member

    contents = read_wheel(require_wheel(MARKUPSAFE_T), WheelLimits(spill_bytes=1000))
    (member,) = contents.extensions
    assert member.data is None and member.file is not None
    folder = member.file.parent
    assert folder.stat().st_mode & 0o777 == 0o700
    assert member.file.name == "member-0.so"          # never the archive's own name
    _, report, claimed = inspect_member(member)
    assert claimed == "cp314t" and report.free_threading.value == "ready"
    contents.close()
    assert not folder.exists()


def test_record_hashes_all_also_checks_python_files(tmp_path, capsys):
    src = require_wheel(MARKUPSAFE_T)
    tampered = tmp_path / src.name
    with zipfile.ZipFile(src) as archive, zipfile.ZipFile(tampered, "w", zipfile.ZIP_DEFLATED) as out:
        for info in archive.infolist():
            data = archive.read(info)
            if info.filename == "markupsafe/_native.py":
                data = data.replace(b"def ", b"def_", 1)      # same size, other bytes
            out.writestr(info, data)
    # default: binaries and metadata are hashed, other members checked by name and size only
    assert main(["wheel", str(tampered), "--ignore", "FTW402"]) == 0
    capsys.readouterr()
    assert main(["wheel", str(tampered), "--record-hashes", "all", "--format", "json"]) == 1
    findings = json.loads(capsys.readouterr().out)["wheels"][0]["findings"]
    assert [(f["code"], f["path"]) for f in findings if f["severity"] == "error"] == [("FTW102", "markupsafe/_native.py")]


def test_thin_arm64_module_in_universal2_wheel_lacks_a_slice(tmp_path):
    src = require_wheel("markupsafe-3.0.4-cp314t-macosx11-arm64")
    doctored = rewrite_wheel(src, tmp_path, filename=src.name.replace("macosx_11_0_arm64", "macosx_10_15_universal2"),
                             retag=("macosx_11_0_arm64", "macosx_10_15_universal2"))
    report = audit_wheel_file(str(doctored))
    assert report.verdict == "fail"
    (slice_finding,) = [f for f in report.findings if f.code == "FTW202"]
    assert "lacks the x86_64 slice required by macosx_10_15_universal2 (has aarch64)" in slice_finding.message


@pytest.mark.parametrize("donor, member, added, code, text", [
    ("markupsafe-3.0.4-cp314t-manylinux-aarch64", "markupsafe/_speedups.cpython-314t-aarch64-linux-gnu.so",
     "markupsafe/_arm.cpython-314t-x86_64-linux-gnu.so",
     "FTW201", "is an ELF aarch64 binary, foreign to the platform tag"),
    ("markupsafe-3.0.3-cp313t-manylinux-x86_64", "markupsafe/_speedups.cpython-313t-x86_64-linux-gnu.so",
     "markupsafe/_old.cpython-313t-x86_64-linux-gnu.so", "FTW303", "is named for cp313t but the wheel is tagged cp314t"),
])
def test_foreign_arch_and_other_version_modules(tmp_path, donor, member, added, code, text):
    doctored = rewrite_wheel(require_wheel(MARKUPSAFE_T), tmp_path, add={added: _member(donor, member)})
    report = audit_wheel_file(str(doctored))
    assert report.verdict == "fail"
    name = added.rsplit("/", 1)[1].split(".")[0]
    mine = [f for f in report.findings if f.module == f"markupsafe.{name}" and f.code == code]
    assert len(mine) == 1 and text in mine[0].message, report.findings


def test_free_threaded_binary_in_gil_wheel(tmp_path):
    src = require_wheel(MARKUPSAFE_GIL)
    doctored = rewrite_wheel(src, tmp_path, add={MS_GIL_SO: _member(MARKUPSAFE_T, MS_T_SO)})
    report = audit_wheel_file(str(doctored))
    assert report.verdict == "fail"
    assert _codes(report, "markupsafe._speedups") == ["FTW304"]
    assert "built for the free-threaded ABI in a wheel tagged cp314" in report.findings[0].message


def test_absurd_elf_header_counts_are_one_line_module_errors(tmp_path):
    def absurd(data: bytes) -> bytes:
        patched = bytearray(data)
        patched[0x3C:0x3E] = (0xFFFF).to_bytes(2, "little")       # e_shnum
        patched[0x28:0x30] = (2 ** 62).to_bytes(8, "little")      # e_shoff far past the end
        return bytes(patched)

    doctored = rewrite_wheel(require_wheel(MARKUPSAFE_T), tmp_path, patch={MS_T_SO: absurd})
    report = audit_wheel_file(str(doctored))
    assert report.verdict == "error"
    (finding,) = [f for f in report.findings if f.code == "FTW005"]
    assert finding.module == "markupsafe._speedups" and "\n" not in finding.message
    assert finding.message.startswith(f"{MS_T_SO}: cannot inspect module markupsafe._speedups: ")


def test_unknown_pypi_project_is_one_line_and_local_wheels_still_run(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path))
    status = main(["wheel", str(require_wheel(MARKUPSAFE_T)), "--pypi", "ft-audit-no-such-project-xyzzy",
                   "--offline", "--format", "json"])
    captured = capsys.readouterr()
    assert status == 2
    doc = json.loads(captured.out)
    assert [w["verdict"] for w in doc["wheels"]] == ["error", "pass"]
    (line,) = captured.err.splitlines()
    assert line.startswith("ft-audit: error: --pypi ft-audit-no-such-project-xyzzy: ")
    assert "--offline" in line


def test_ignoring_the_reason_still_says_could_not_check(tmp_path, capsys):
    bad = tmp_path / "bad-1.0-py3-none-any.whl"
    bad.write_text("not a zip")
    assert main(["wheel", str(bad), "--ignore", "FTW001"]) == 2
    assert capsys.readouterr().err == (f"ft-audit: error: {bad.name}: could not be checked "
                                       "(the reason was dropped by --ignore)\n")


def test_memory_budget_spills_the_rest_and_verdicts_do_not_change():
    from auditor.sources.wheel import WheelLimits, read_wheel
    from auditor.wheel_modules import inspect_member

    path = require_wheel(LXML_T)
    with read_wheel(path, WheelLimits(memory_bytes=1 << 20)) as contents:
        in_memory = [e for e in contents.extensions if e.data is not None]
        spilled = [e for e in contents.extensions if e.file is not None]
        assert sum(e.size for e in in_memory) <= 1 << 20
        assert len(in_memory) + len(spilled) == 7
        assert "lxml/etree.cpython-314t-x86_64-linux-gnu.so" in [e.name for e in spilled]
        verdicts = {inspect_member(e)[1].name: inspect_member(e)[1].free_threading.value for e in contents.extensions}
    assert verdicts == {m.name: m.free_threading.value for m in audit_wheel_file(str(path)).modules}


def test_wheel_read_in_shares_merges_to_the_whole(tmp_path):
    from auditor.sources.wheel import merge_parts, read_wheel

    src = rewrite_wheel(require_wheel(LXML_T), tmp_path)
    # corrupt one extension member's compressed bytes so a share reports a read failure
    member = "lxml/objectify.cpython-314t-x86_64-linux-gnu.so"
    with zipfile.ZipFile(src) as archive:
        info = archive.getinfo(member)
    raw = bytearray(src.read_bytes())
    name_len, extra_len = int.from_bytes(raw[info.header_offset + 26: info.header_offset + 28], "little"), \
        int.from_bytes(raw[info.header_offset + 28: info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
    raw[start: start + 32] = bytes(b ^ 0xA5 for b in raw[start: start + 32])
    src.write_bytes(bytes(raw))

    whole = read_wheel(src, hashes="all")
    shares = [read_wheel(src, hashes="all", part=(k, 3)) for k in range(3)]
    # balanced by size: etree (5.1 MB) alone, objectify (2.9 MB, the unreadable one) alone, the
    # five others (0.1-0.5 MB) together
    assert [sorted(e.name.rsplit("/", 1)[-1].split(".")[0] for e in s.extensions) for s in shares] == \
        [["etree"], [], ["_difflib", "_elementpath", "builder", "diff", "sax"]]
    merged = merge_parts(shares)
    assert merged.digests == whole.digests
    assert [e.name for e in merged.extensions] == [e.name for e in whole.extensions]
    assert merged.problems == whole.problems
    assert [p.member for p in merged.problems] == [member]
    for contents in (whole, *shares):
        contents.close()
    reports = audit_paths([src], AuditOptions(executor="process", jobs=3))
    assert reports == [audit_wheel_file(str(src))]
    assert reports[0].verdict == "error"
