"""`ft-audit source` on an sdist: the real MarkupSafe 2.1.5 sdist (pinned in test_source_real)
read as .tar.gz, and repacked as .zip and .tar.bz2, gives the findings of its extracted tree;
hostile archives built here (a `..` member, a symbolic link, a tar bomb by declared size) are
one error line naming the archive and the member, exit 2, and nothing is written outside the
private temporary folder, which is gone afterwards."""

from __future__ import annotations

import bz2
import io
import json
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

from auditor.cli import main as cli_main
from auditor.lint.engine import LintOptions, lint_paths
from auditor.sources.sdist import SdistLimits, extract_members

SPEEDUPS = "src/markupsafe/_speedups.c"
FIX_304 = ("Move the object into module state (PyModule_GetState) set up in Py_mod_exec, or hold a PyMutex "
           "(3.13) or Py_BEGIN_CRITICAL_SECTION around the check and the write; then declare "
           "Py_MOD_GIL_NOT_USED.")


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """The temporary folder the extraction uses, so the test can see it left nothing behind."""
    folder = tmp_path / "private-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture(scope="module")
def markupsafe_sdist():
    from tests.test_source_real import _download

    return _download("markupsafe-old")


def _findings(report, strip: str) -> list[tuple[str, int, int, str, str]]:
    return [(f.path.removeprefix(strip), f.line, f.column, f.rule, f.message) for f in report.findings]


@pytest.mark.network
@pytest.mark.parametrize("fmt", ["tar.gz", "zip", "tar.bz2"])
def test_an_sdist_gives_the_findings_of_its_extracted_tree(markupsafe_sdist, tmp_path, private_tmp, fmt):
    tree = tmp_path / "tree"
    with tarfile.open(markupsafe_sdist) as tf:
        tf.extractall(tree, filter="data") if hasattr(tarfile, "data_filter") else tf.extractall(tree)
    top = tree / "MarkupSafe-2.1.5"
    archive = tmp_path / f"MarkupSafe-2.1.5.{fmt}"
    if fmt == "tar.gz":
        archive.write_bytes(markupsafe_sdist.read_bytes())
    elif fmt == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(tree.rglob("*")):
                zf.write(p, p.relative_to(tree).as_posix())
    else:
        with bz2.open(archive, "wb") as out, tarfile.open(fileobj=out, mode="w|") as tf:
            tf.add(top, arcname="MarkupSafe-2.1.5")

    extracted = lint_paths([top], LintOptions())
    read = lint_paths([archive], LintOptions())
    expected = _findings(extracted, f"{top}/")
    assert [(p, line, rule) for p, line, _, rule, _ in expected] == [
        (SPEEDUPS, 193, "FTS304"), (SPEEDUPS, 314, "FTS302")]
    assert _findings(read, f"{archive}!") == expected
    assert [f.path for f in read.findings] == [f"{archive}!{SPEEDUPS}"] * 2
    assert read.checked_files == extracted.checked_files == 1 and read.unchecked_files == 0
    assert list(private_tmp.iterdir()) == []          # the extracted tree is gone


@pytest.mark.network
def test_golden_text_json_and_sarif_on_an_sdist(markupsafe_sdist, tmp_path, monkeypatch, capsys, private_tmp):
    (tmp_path / markupsafe_sdist.name).write_bytes(markupsafe_sdist.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert cli_main(["--no-config", "source", "MarkupSafe-2.1.5.tar.gz"]) == 1
    out, err = capsys.readouterr()
    assert err == ""
    assert out == (
        "MarkupSafe-2.1.5.tar.gz!src/markupsafe/_speedups.c:193:3: FTS304 escape() writes the function-static "
        "PyObject *id_html after module init with no lock or critical section held: a data race on a "
        "free-threaded build once the GIL is off\n"
        f"    fix: {FIX_304}\n"
        "    see https://pypi.org/project/ft-audit/#fts304\n"
        "MarkupSafe-2.1.5.tar.gz!src/markupsafe/_speedups.c:314:1: FTS302 PyInit__speedups creates a "
        "single-phase module (PyModule_Create) and never calls PyUnstable_Module_SetGIL: a free-threaded "
        "interpreter re-enables the GIL on import\n"
        "    fix: Call PyUnstable_Module_SetGIL(m, Py_MOD_GIL_NOT_USED) in PyInit_* under #ifdef "
        "Py_GIL_DISABLED, or port to multi-phase init with a Py_mod_gil slot. (since 3.13)\n"
        "    see https://pypi.org/project/ft-audit/#fts302\n"
        "2 findings in 1 checked file\n")

    assert cli_main(["--no-config", "source", "--format", "json", "MarkupSafe-2.1.5.tar.gz"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [(f["path"], f["line"], f["rule"]) for f in doc["findings"]] == [
        (f"MarkupSafe-2.1.5.tar.gz!{SPEEDUPS}", 193, "FTS304"), (f"MarkupSafe-2.1.5.tar.gz!{SPEEDUPS}", 314, "FTS302")]

    assert cli_main(["--no-config", "source", "--format", "sarif", "MarkupSafe-2.1.5.tar.gz"]) == 1
    result = json.loads(capsys.readouterr().out)["runs"][0]["results"][1]
    assert result["ruleId"] == "FTS302"
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "MarkupSafe-2.1.5.tar.gz", "properties": {"member": SPEEDUPS}},
        "region": {"startLine": 314, "startColumn": 1}}


# -- hostile archives ---------------------------------------------------------------------------

CLEAN_C = b"int answer(void) { return 42; }\n"


def _tar_gz(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = CLEAN_C) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _run(capsys, archive: Path) -> tuple[int, str, list[str]]:
    code = cli_main(["--no-config", "source", str(archive)])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def test_a_member_outside_the_tree_is_refused_by_name(tmp_path, capsys, private_tmp):
    archive = _tar_gz(tmp_path / "evil-1.0.tar.gz", [_file("evil-1.0/ok.c"), _file("../x.c")])
    code, out, err = _run(capsys, archive)
    assert code == 2
    assert err == [f"ft-audit: error: {archive}!../x.c: unsafe member name ('..' in member path); not read"]
    assert out == "0 findings in 1 checked file; 1 could not be checked (errors on stderr)\n"
    assert not (tmp_path / "x.c").exists() and list(private_tmp.iterdir()) == []


def test_a_symbolic_link_member_is_not_followed(tmp_path, capsys, private_tmp):
    (tmp_path / "secret.c").write_text("PyObject *leak;\n")
    link = tarfile.TarInfo("evil-1.0/src/leak.c")
    link.type, link.linkname = tarfile.SYMTYPE, str(tmp_path / "secret.c")
    archive = _tar_gz(tmp_path / "evil-1.0.tar.gz", [_file("evil-1.0/ok.c"), (link, None)])
    code, out, err = _run(capsys, archive)
    assert code == 2
    assert err == [f"ft-audit: error: {archive}!src/leak.c: symbolic link to '{tmp_path / 'secret.c'}'; not followed"]
    assert "1 checked file" in out and list(private_tmp.iterdir()) == []


def test_a_tar_bomb_by_declared_size_is_refused_before_it_is_read(tmp_path, capsys, private_tmp):
    bomb = tarfile.TarInfo("evil-1.0/huge.c")
    bomb.size = 10 << 30                   # declared; the archive holds one block of it
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        tf.addfile(tarfile.TarInfo("evil-1.0/ok.c"), io.BytesIO(b""))
        raw.write(bomb.tobuf(tarfile.GNU_FORMAT) + b"\0" * 512)
    archive = tmp_path / "evil-1.0.tar.gz"
    import gzip

    archive.write_bytes(gzip.compress(raw.getvalue()))
    code, out, err = _run(capsys, archive)
    assert code == 2
    assert err == [f"ft-audit: error: {archive}: member 'evil-1.0/huge.c' declares 10737418240 bytes: the archive "
                   f"would decompress past {64 << 20} bytes (200 times its {archive.stat().st_size} bytes, at most "
                   f"{2 << 30}): tar bomb?"]
    assert out == "0 findings in 0 checked files; 1 could not be checked (errors on stderr)\n"
    assert list(private_tmp.iterdir()) == []


def test_the_decompressed_stream_is_bounded_whatever_the_headers_say(tmp_path):
    # a GNU long name of 2 MiB: tarfile reads it in one go, before any member is seen
    info = tarfile.TarInfo("evil-1.0/" + "n" * (2 << 20) + ".c")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tf:
        tf.addfile(info, io.BytesIO(b""))
    archive = tmp_path / "evil.tar.gz"
    import gzip

    archive.write_bytes(gzip.compress(raw.getvalue()))
    dest = tmp_path / "dest"
    dest.mkdir()
    from auditor.errors import ArchiveError

    with pytest.raises(ArchiveError, match="decompresses past"):
        extract_members(archive, dest, lambda n: True, limits=SdistLimits(max_read_bytes=1 << 20))
    assert list(dest.iterdir()) == []


def test_zip_members_named_outside_or_oversized_are_reported_one_by_one(tmp_path, capsys, private_tmp):
    archive = tmp_path / "evil-1.0.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("evil-1.0/ok.c", CLEAN_C)
        zf.writestr("/abs.c", CLEAN_C)
        zf.writestr("evil-1.0/big.c", b"\0" * (65 << 20))
    code, _, err = _run(capsys, archive)
    assert code == 2
    assert err == [f"ft-audit: error: {archive}!/abs.c: unsafe member name (absolute member path); not read",
                   f"ft-audit: error: {archive}!big.c: declares {65 << 20} bytes (limit {64 << 20} for a source "
                   "file); not read"]


def test_not_an_archive_is_one_line(tmp_path, capsys):
    archive = tmp_path / "broken-1.0.tar.gz"
    archive.write_bytes(b"not gzip at all")
    code, _, err = _run(capsys, archive)
    assert code == 2
    assert err == [f"ft-audit: error: {archive}: not a readable tar.gz / tar.bz2 (BadGzipFile: Not a gzipped "
                   "file (b'no'))"]


# -- --pypi -------------------------------------------------------------------------------------

@pytest.mark.network
def test_pypi_downloads_the_release_sdist_and_checks_it(tmp_path, monkeypatch, capsys, private_tmp):
    from tests.test_source_real import SDISTS

    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    code = cli_main(["--no-config", "source", "--pypi", "markupsafe==2.1.5"])
    out, err = capsys.readouterr()
    if code == 2 and "ft-audit: error: --pypi" in err:
        from tests.support.unavailable import skip_or_fail

        skip_or_fail(f"PyPI unreachable: {err.strip()}")
    assert code == 1 and err == ""
    assert [line.split(": ", 1)[0] for line in out.splitlines() if "FTS" in line] == [
        f"MarkupSafe-2.1.5.tar.gz!{SPEEDUPS}:193:3", f"MarkupSafe-2.1.5.tar.gz!{SPEEDUPS}:314:1"]
    cached = tmp_path / "cache" / "sdists" / "markupsafe" / "MarkupSafe-2.1.5.tar.gz"
    import hashlib

    assert hashlib.sha256(cached.read_bytes()).hexdigest() == SDISTS["markupsafe-old"][2]
    # the cached copy is used as is (its hash matches): --offline still works
    assert cli_main(["--no-config", "source", "--offline", "--pypi", "markupsafe==2.1.5"]) == 1
    assert capsys.readouterr().out == out


def _files(*names):
    from auditor.project_index import parse_index

    doc = {"files": [{"filename": name, "url": f"https://files.example/{name}", "hashes": {"sha256": "0" * 64}}
                     for name in names]}
    return parse_index("wheelonly", doc, "https://index.example/")


def test_a_release_without_an_sdist_is_one_error_line(monkeypatch, capsys):
    from auditor.pypi import PyPIClient

    monkeypatch.setattr(PyPIClient, "project_index", lambda self, name: _files(
        "wheelonly-1.0-py3-none-any.whl", "wheelonly-0.9.tar.gz"))
    assert cli_main(["--no-config", "source", "--pypi", "wheelonly==1.0", "--pypi", "wheelonly==2.0"]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "ft-audit: error: --pypi wheelonly==1.0: wheelonly 1.0 has no sdist on the index (wheels only)",
        "ft-audit: error: --pypi wheelonly==2.0: wheelonly has no release 2.0 on the index"]
    assert out == "0 findings in 0 checked files; 2 could not be checked (errors on stderr)\n"


def test_pypi_without_a_version_takes_the_latest_released_sdist(monkeypatch, tmp_path):
    from auditor.http import HttpClient
    from auditor.pypi import PyPIClient
    from auditor.sources.sdist import fetch_sdist

    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(PyPIClient, "project_index", lambda self, name: _files(
        "wheelonly-1.0.zip", "wheelonly-1.0.tar.gz", "wheelonly-2.0rc1.tar.gz", "wheelonly-2.0-py3-none-any.whl"))
    asked = []
    monkeypatch.setattr(HttpClient, "download", lambda self, url, sha256, dest: asked.append((url, dest)) or dest)
    assert fetch_sdist("wheelonly") == tmp_path / "sdists" / "wheelonly" / "wheelonly-1.0.tar.gz"
    assert asked == [("https://files.example/wheelonly-1.0.tar.gz", tmp_path / "sdists" / "wheelonly" / "wheelonly-1.0.tar.gz")]
