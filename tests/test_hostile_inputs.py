"""Hostile inputs and faults: each reproducer from the fuzz campaign, built small in the test.

Every case ends as a one-line error naming the input and the reason (exit 2, or a finding
about that file while the rest of the audit goes on) — never a traceback, never exit 1 for a
crash, never a clean result after checking less.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import pytest

from auditor.cli import main

TAG = "cp314-cp314t-linux_x86_64"


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _base_members(project: str) -> dict[str, bytes]:
    return {f"{project}-1.0.dist-info/WHEEL": f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {TAG}\n".encode(),
            f"{project}-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {project}\nVersion: 1.0\n".encode(),
            f"{project}-1.0.dist-info/RECORD": b""}


def _rename_last_central_entry(data: bytes, new_name: bytes) -> bytes:
    """Give the last central-directory entry another name, fixing the directory size."""
    entry = data.rfind(b"PK\x01\x02")
    old_length = struct.unpack_from("<H", data, entry + 28)[0]
    patched = (data[:entry + 28] + struct.pack("<H", len(new_name)) + data[entry + 30:entry + 46] + new_name
               + data[entry + 46 + old_length:])
    end = patched.rfind(b"PK\x05\x06")
    size = struct.unpack_from("<I", patched, end + 12)[0] + len(new_name) - old_length
    return patched[:end + 12] + struct.pack("<I", size) + patched[end + 16:]


def _wheel_json(capsys, path: Path) -> tuple[int, dict, str]:
    code = main(["wheel", str(path), "--format", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def test_a_member_with_an_empty_name_is_an_unsafe_member(tmp_path, capsys):
    path = tmp_path / f"x-1.0-{TAG}.whl"
    _wheel(path, {**_base_members("x"), "a": b"hi"})
    path.write_bytes(_rename_last_central_entry(path.read_bytes(), b""))
    code, doc, err = _wheel_json(capsys, path)
    assert "internal error" not in err
    wheel = doc["wheels"][0]
    assert wheel["verdict"] == "error"
    assert any("empty member name" in f["message"] for f in wheel["findings"])
    assert code == 2


def test_a_zip64_member_declaring_a_terabyte_in_a_small_file_is_refused_before_reading(tmp_path, capsys):
    path = tmp_path / f"z-1.0-{TAG}.whl"
    _wheel(path, {**_base_members("z"), "z/m.cpython-314t-x86_64-linux-gnu.so": b"\x7fELF" + b"\0" * 60})
    data = bytearray(path.read_bytes())
    entry = data.rfind(b"PK\x01\x02")
    name_length, extra_length = struct.unpack_from("<HH", data, entry + 28)
    # sizes -> 0xFFFFFFFF, with a zip64 extra: 64 bytes uncompressed, 2**40 compressed.
    extra = struct.pack("<HHQQ", 1, 16, 64, 2 ** 40)
    struct.pack_into("<II", data, entry + 20, 0xFFFFFFFF, 0xFFFFFFFF)
    struct.pack_into("<H", data, entry + 30, extra_length + len(extra))
    insert_at = entry + 46 + name_length
    data[insert_at:insert_at] = extra
    end = data.rfind(b"PK\x05\x06")
    size = struct.unpack_from("<I", data, end + 12)[0]
    struct.pack_into("<I", data, end + 12, size + len(extra))
    path.write_bytes(bytes(data))
    code, doc, err = _wheel_json(capsys, path)
    assert "internal error" not in err and "MemoryError" not in err
    messages = " ".join(f["message"] for f in doc["wheels"][0]["findings"])
    assert "declares 1099511627776 compressed bytes at offset" in messages and "past the end of the" in messages
    assert doc["wheels"][0]["verdict"] == "error" and code == 2


def test_metadata_with_a_name_that_is_not_utf8_is_a_finding_not_a_crash(tmp_path, capsys):
    path = tmp_path / f"y-1.0-{TAG}.whl"
    members = _base_members("y")
    members["y-1.0.dist-info/METADATA"] = b"Metadata-Version: 2.1\nName: y\xff\xfe\nVersion: 1.0\n"
    _wheel(path, members)
    code, doc, err = _wheel_json(capsys, path)
    assert "internal error" not in err
    assert any("METADATA" in f["message"] and "Name" in f["message"] for f in doc["wheels"][0]["findings"])
    assert code in (1, 2)


# ------------------------------------------------------------------ requirements inputs
def _requirements(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["requirements", *argv, "--target", "3.14t", "--platform", "manylinux_2_28_x86_64",
                 "--offline", "--no-compat", "--format", "json"])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_nul_byte_in_a_requirements_path_is_one_line(capsys):
    code, _, err = _requirements(capsys, "-r", "a\0b.txt")
    assert code == 2 and "internal error" not in err
    assert "NUL byte" in err and len(err.strip().splitlines()) == 1


def test_a_device_is_refused_instead_of_read_without_end(capsys):
    code, _, err = _requirements(capsys, "-r", "/dev/zero")
    assert code == 2 and "/dev/zero: cannot read: not a regular file" in err


@pytest.mark.parametrize("toml, where, reason", [
    ('[project]\nname = "p"\n[tool.x]\n', None, None),     # the control: a valid, empty project
    ('project = "x"\n', "[project]", "expected a table, found a string"),
    ('[project]\noptional-dependencies = "x"\n', "[project.optional-dependencies]", "expected a table, found a string"),
    ('dependency-groups = 5\n', "[dependency-groups]", "expected a table, found an integer"),
    ('dependency-groups = ["a"]\n', "[dependency-groups]", "expected a table, found an array"),
])
def test_pyproject_tables_of_the_wrong_type_are_reported(tmp_path, toml, where, reason):
    from auditor.sources.requirements import read_pyproject

    path = tmp_path / "pyproject.toml"
    path.write_text(toml)
    result = read_pyproject(path)
    if where is None:
        assert result.problems == []
    else:
        assert (f"{path}:{where}", reason) in result.problems


def test_a_chain_of_1200_group_includes_is_bounded(tmp_path):
    from auditor.sources.requirements import read_pyproject

    lines = ["[dependency-groups]"] + [f'g{i} = [{{include-group = "g{i + 1}"}}]' for i in range(1200)] + ['g1200 = ["six"]']
    path = tmp_path / "pyproject.toml"
    path.write_text("\n".join(lines) + "\n")
    result = read_pyproject(path)
    assert (f"{path}:[dependency-groups.g0]", "dependency group includes nested more than 20 deep") in result.problems
    # the groups near the end of the chain are within the bound and are read
    assert [e.raw for e in result.entries] == ["six"]


def test_a_diamond_of_group_includes_that_doubles_at_every_level_is_bounded(tmp_path):
    from auditor.sources.requirements import read_pyproject

    levels = 19   # 2**19 requirement strings if expanded naively
    lines = ["[dependency-groups]"] + [
        f'd{i} = [{{include-group = "d{i + 1}"}}, {{include-group = "d{i + 1}"}}]' for i in range(levels)]
    lines.append(f'd{levels} = ["six"]')
    path = tmp_path / "pyproject.toml"
    path.write_text("\n".join(lines) + "\n")
    result = read_pyproject(path)
    assert any("expands to more than 100000 requirements" in reason for _, reason in result.problems)


def test_line_numbers_of_a_large_pyproject(tmp_path):
    """8,000 dependencies: each origin is its own line (found through one index of the file)."""
    from auditor.sources.requirements import read_pyproject

    deps = [f'  "pkg{i}>=1",' for i in range(8000)]
    path = tmp_path / "pyproject.toml"
    path.write_text('[build-system]\nrequires = ["pkg7999>=1"]\n[project]\nname = "p"\ndependencies = [\n'
                    + "\n".join(deps) + "\n]\n")
    result = read_pyproject(path)
    origins = {e.raw: e.origin for e in result.entries}
    assert origins["pkg0>=1"] == f"{path}:6"
    # The same string in [build-system] comes first in the file; the table's own line wins.
    assert origins["pkg7999>=1"] == f"{path}:{6 + 7999}"


# ------------------------------------------------------------------ the outer guard
def test_an_unexpected_exception_is_exit_2_with_one_line(monkeypatch, capsys):
    import auditor.commands.source as source

    def broken(args):
        raise KeyError("surprise")

    monkeypatch.setattr(source, "run", broken)
    code = main(["source", "x.c"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ft-audit: internal error: KeyError: 'surprise'") and "Traceback" not in err
    code = main(["--debug", "source", "x.c"])
    assert code == 2 and "Traceback" in capsys.readouterr().err


def test_ctrl_c_is_exit_130_without_a_traceback(monkeypatch, capsys):
    import auditor.commands.source as source

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(source, "run", interrupted)
    assert main(["source", "x.c"]) == 130
    assert capsys.readouterr().err == "ft-audit: interrupted\n"


# ------------------------------------------------------------------ never run audited code
def test_the_probe_runs_no_pth_import_line_but_keeps_pth_path_entries(tmp_path, capsys):
    """A .pth `import` line is code of the audited environment: site.main() would run it on any
    interpreter start. The probe starts with -S and reads the .pth path lines itself."""
    import subprocess
    import sys
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    marker = tmp_path / "ran"
    extra = tmp_path / "extra"
    extra.mkdir()
    (site_packages / "evil.pth").write_text(f"import pathlib; pathlib.Path({str(marker)!r}).touch()\n")
    (site_packages / "extra.pth").write_text(f"# a comment\n{extra}\n{tmp_path / 'missing'}\n")
    main(["env", "--python", str(venv / "bin" / "python"), "--no-pypi", "--no-compat", "--no-cache",
          "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert not marker.exists()
    assert doc["interpreter"]["prefix"] == str(venv)
    assert doc["interpreter"]["environment_dirs"] == [str(site_packages), str(extra)]


# ------------------------------------------------------------------ reproducers from tests/fuzz
def test_fuzz_requirements_include_with_a_nul_byte_is_a_problem_not_a_crash(tmp_path):
    """fuzz requirements: ValueError (embedded null byte) at requirements.py resolving `-r a\\0b`."""
    from auditor.sources.requirements import read_input

    path = tmp_path / "requirements.txt"
    path.write_bytes(b"six\n-r a\x00b.txt\nidna\n")
    result = read_input(path)
    assert [e.raw for e in result.entries] == ["six", "idna"]
    assert len(result.problems) == 1
    where, reason = result.problems[0]
    assert where == f"{path}:2" and reason.startswith("-r 'a\\x00b.txt': not a readable path")


def test_fuzz_requirements_include_of_a_symlink_loop_is_a_problem_not_a_crash(tmp_path):
    from auditor.sources.requirements import read_input

    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    path = tmp_path / "requirements.txt"
    path.write_text("-r loop\nsix\n")
    result = read_input(path)
    assert [e.raw for e in result.entries] == ["six"]
    assert [where for where, _ in result.problems] == [f"{path}:1"]


def test_fuzz_index_page_whose_versions_is_not_a_list_is_ignored():
    from auditor.http import CachedResponse
    from auditor.project_index import parse_index

    response = CachedResponse("https://pypi.org/simple/x/", b'{"files": [], "versions": 5}', 0.0, True, False)
    index = parse_index("x", response.json(), response.url)
    assert index.files == () and index.versions == () and index.free_threaded_wheels() == ()
