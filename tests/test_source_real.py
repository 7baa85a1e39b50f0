"""`ft-audit source` on real third-party sources: pinned sdists from PyPI (version + sha256,
cached under ~/.cache/ft-audit-tests/sdists/). Every asserted finding was checked by hand
against the source; the seeded-bug test plants three bugs in a real file and expects each at
its line."""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path
from urllib.parse import urljoin

import pytest

from auditor.lint.engine import LintOptions, lint_paths
from tests.support.unavailable import skip_or_fail

pytestmark = pytest.mark.network

# name -> (version, sdist filename, sha256, size) -- from https://pypi.org/pypi/NAME/json
SDISTS = {
    "regex": ("2026.11.19", "regex-2026.11.19.tar.gz",
              "2826a006b68acfd3ed5074433caafe21d7f9d026eb82cb856724a4a893a70915"),
    "psutil": ("7.2.2", "psutil-7.2.2.tar.gz",
               "0746f5f8d406af344fd547f1c8daa5f5c33dbc293bb8d6a16d80b4bb88f59372"),
    "markupsafe-old": ("2.1.5", "MarkupSafe-2.1.5.tar.gz",
                       "d283d37a890ba4c1ae73ffadf8046435c76e7bc2247bbb63c00bd1a709c6544b"),
    "markupsafe": ("3.0.4", "markupsafe-3.0.4.tar.gz",
                   "2e9ad7dd851bf45fab9f75cbff4cb493fee9979e8d8c7c9c3ee119022518edd6"),
    "msgpack-old": ("1.0.8", "msgpack-1.0.8.tar.gz",
                    "95c02b0e27e706e48d0e5426d1710ca78e0f0628d6e89d5b5a5b91a5f12274f3"),
    "msgpack": ("1.2.4", "msgpack-1.2.4.tar.gz",
                "475c44e12f2a5de766a8448783f149c9b33f3f49b88953c6cd739a77d93c732c"),
}
CACHE = Path(os.environ.get("FT_AUDIT_TEST_CACHE", Path.home() / ".cache" / "ft-audit-tests")) / "sdists"


def _download(key: str) -> Path:
    import requests

    version, filename, sha256 = SDISTS[key]
    target = CACHE / filename
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
        return target
    project = key.split("-old")[0]
    api = f"https://pypi.org/pypi/{project}/json"
    try:
        meta = requests.get(api, timeout=60)
        meta.raise_for_status()
        files = meta.json()["releases"][version]
        url = next(urljoin(api, f["url"]) for f in files if f["filename"] == filename)
        data = requests.get(url, timeout=300)
        data.raise_for_status()
    except (requests.RequestException, KeyError, StopIteration, ValueError) as exc:
        skip_or_fail(f"cannot download {filename}: {exc}")
    if hashlib.sha256(data.content).hexdigest() != sha256:
        pytest.fail(f"{filename}: sha256 mismatch (PyPI served different bytes)")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    tmp.write_bytes(data.content)
    tmp.replace(target)
    return target


@pytest.fixture(scope="module")
def sdist_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("sdists")

    def unpack(key: str) -> Path:
        _version, filename, _ = SDISTS[key]
        archive = _download(key)
        dest = root / key
        if not dest.exists():
            with tarfile.open(archive) as tf:
                if hasattr(tarfile, "data_filter"):      # 3.11.4+ / 3.10.12+
                    tf.extractall(dest, filter="data")
                else:
                    for member in tf.getmembers():
                        if member.name.startswith(("/", "..")) or ".." in Path(member.name).parts:
                            pytest.fail(f"{filename}: unsafe member {member.name}")
                    tf.extractall(dest)
        (top,) = list(dest.iterdir())
        return top

    return unpack


def rel(report, top: Path) -> list[tuple[str, int, str]]:
    return sorted((Path(f.path).relative_to(top).as_posix(), f.line, f.rule) for f in report.findings)


def test_regex_borrowed_references_and_gil_wrappers(sdist_root):
    top = sdist_root("regex")
    report = lint_paths([top / "src"], LintOptions(use_config=False))
    # _regex.c releases the GIL through its own release_GIL()/acquire_GIL() functions and
    # self-acquiring helpers (safe_alloc, lock_pattern): none of that is a finding.
    assert rel(report, top) == [("src/_regex.c", line, "FTS201") for line in
                                (19592, 19637, 19853, 19869, 20001, 20078, 20083, 22080)] + [
        ("src/_regex.c", 23130, "FTS207"),        # PyDict_Next(self->named_lists, ...)
        ("src/_regex.c", 26056, "FTS201"),
    ]
    assert report.diagnostics == ()


def test_psutil_is_ported_except_one_sequence_fast(sdist_root):
    top = sdist_root("psutil")
    report = lint_paths([top], LintOptions(use_config=False))
    # every PyInit_* calls PyUnstable_Module_SetGIL; the only hazard left:
    # psutil/arch/freebsd/proc.c:490  item = PySequence_Fast_GET_ITEM(py_cpu_seq, i);
    assert rel(report, top) == [("psutil/arch/freebsd/proc.c", 490, "FTS206")]
    assert report.checked_files > 90


def test_markupsafe_2_1_single_phase_without_setgil(sdist_root):
    top = sdist_root("markupsafe-old")
    report = lint_paths([top], LintOptions(use_config=False))
    # _speedups.c:193, in escape():  id_html = PyUnicode_InternFromString("__html__");
    # a lazily filled function-static cache; `markup` (line 14) is set in init_constants(),
    # which only PyInit__speedups calls
    assert rel(report, top) == [("src/markupsafe/_speedups.c", 193, "FTS304"),
                                ("src/markupsafe/_speedups.c", 314, "FTS302")]
    fts304 = report.findings[0]
    assert fts304.message.startswith("escape() writes the function-static PyObject *id_html after "
                                     "module init with no lock or critical section held")


def test_regex_lazy_error_cache_is_guarded_by_its_pymutex(sdist_root, tmp_path):
    top = sdist_root("regex")
    # ensure_error_exception() fills the global error_exception under a PyMutex (the unmodified
    # file has no FTS303, see above); it is reached from PyInit__regex only through re_alloc's
    # error path, and re_alloc is called everywhere, so it is not init code. Without the lock:
    original = (top / "src" / "_regex.c").read_text()
    seeded = original.replace("    PyMutex_Lock(&init_mutex);\n", "", 1)
    assert seeded != original
    src = tmp_path / "src"
    src.mkdir()
    for header in (top / "src").glob("*.h"):
        (src / header.name).write_text(header.read_text())
    (src / "_regex.c").write_text(seeded)
    report = lint_paths([src], LintOptions(use_config=False))
    line = next(n for n, text in enumerate(seeded.splitlines(), 1)
                if "error_exception = get_object(" in text)
    assert line == 2106
    (finding,) = [f for f in report.findings if f.rule.startswith("FTS3")]
    assert (Path(finding.path).name, finding.line, finding.rule) == ("_regex.c", line, "FTS303")
    assert finding.message.startswith("ensure_error_exception() writes the process-global "
                                      "PyObject *error_exception")


def test_msgpack_1_0_without_directive_and_generated_code_skipped(sdist_root):
    top = sdist_root("msgpack-old")
    report = lint_paths([top], LintOptions(use_config=False))
    # _packer.pyx and _unpacker.pyx are `include`d by _cmsgpack.pyx: not modules of their own
    assert rel(report, top) == [("msgpack/_cmsgpack.pyx", 1, "FTS501")]
    assert any("_cmsgpack.cpp: skipped, generated code (Generated by Cython 3.0.8)" in n
               for n in report.config_notes)


@pytest.mark.parametrize("key", ["markupsafe", "msgpack"])
def test_ported_releases_are_clean(sdist_root, key):
    top = sdist_root(key)
    report = lint_paths([top], LintOptions(use_config=False))
    assert report.findings == ()
    assert report.unchecked_files == 0


def test_seeded_bugs_in_markupsafe_speedups_are_caught_at_their_lines(sdist_root, tmp_path):
    top = sdist_root("markupsafe")
    original = (top / "src" / "markupsafe" / "_speedups.c").read_text()
    seeded = original
    # 1. a C-API call inside a GIL-released region
    seeded = seeded.replace(
        "\tDO_ESCAPE(inp, inp_end, outp);\n\treturn out;\n}\n\nstatic PyObject*\nescape_unicode_kind2",
        "\tPy_BEGIN_ALLOW_THREADS\n\tDO_ESCAPE(inp, inp_end, outp);\n"
        "\tif (outp == NULL)\n\t\tPyErr_NoMemory();  /* SEED-1 */\n\tPy_END_ALLOW_THREADS\n"
        "\treturn out;\n}\n\nstatic PyObject*\nescape_unicode_kind2", 1)
    # 2. a borrowed PyDict_GetItem
    seeded = seeded.replace(
        "\tif (!PyUnicode_Check(s))\n\t\treturn NULL;\n",
        "\tPyObject *hit = PyDict_GetItem(PyModule_GetDict(self), s);  /* SEED-2 */\n"
        "\t(void)hit;\n\tif (!PyUnicode_Check(s))\n\t\treturn NULL;\n", 1)
    # 3. the Py_mod_gil slot removed
    seeded = seeded.replace("\t{Py_mod_gil, Py_MOD_GIL_NOT_USED},\n", "", 1)
    assert seeded.count("SEED-") == 2 and "Py_mod_gil," not in seeded
    copy = tmp_path / "_speedups.c"
    copy.write_text(seeded)

    def line_of(text: str) -> int:
        return next(n for n, line in enumerate(seeded.splitlines(), 1) if text in line)

    report = lint_paths([copy], LintOptions(use_config=False))
    assert sorted((f.line, f.rule) for f in report.findings) == sorted([
        (line_of("SEED-1"), "FTS101"),
        (line_of("SEED-2"), "FTS202"),
        (line_of("static PyModuleDef_Slot module_slots[]"), "FTS301"),
    ])
    # the untouched original is clean
    assert lint_paths([top / "src" / "markupsafe" / "_speedups.c"], LintOptions(use_config=False)).findings == ()
