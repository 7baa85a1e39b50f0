"""Input parsers for `ft-audit requirements` (auditor.sources.requirements) on real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import InputError
from auditor.sources.requirements import (
    expand_dependency_group,
    logical_lines,
    parse_requirement,
    read_input,
    read_inputs,
)

FIXTURES = Path(__file__).parent / "fixtures" / "requirements"


def test_requirements_file_with_includes_constraints_markers_hashes():
    result = read_input(FIXTURES / "main.txt")
    names = [(e.name, e.constraint) for e in result.entries if e.requirement]
    assert names == [("lxml", False), ("markupsafe", False), ("markupsafe", True), ("numpy", False),
                     ("psycopg2-binary", False), ("zope-interface", False), ("requests", False),
                     ("pywin32", False), ("tomli", False)]
    assert result.index_url == "https://pypi.org/simple"
    by_name = {e.name: e for e in result.requirements}
    # Included files keep their own origin; the continuation line with --hash is one requirement.
    assert by_name["lxml"].origin == f"{FIXTURES / 'nested' / 'base.txt'}:1"
    assert by_name["psycopg2-binary"].origin == f"{FIXTURES / 'main.txt'}:7"
    assert str(by_name["psycopg2-binary"].requirement.specifier) == "==2.9.9"
    assert by_name["requests"].requirement.extras == {"socks"}
    assert str(by_name["pywin32"].requirement.marker) == 'sys_platform == "win32"'
    assert [str(c.requirement) for c in result.constraints] == ["markupsafe<3"]
    # URLs, VCS links and editables are kept as "cannot check", with their lines.
    unchecked = [(e.origin.rsplit(":", 1)[1], e.unchecked.split(":")[0]) for e in result.unchecked]
    assert unchecked == [("13", "URL, VCS or local path"), ("14", "editable install (./local-package)"),
                         ("15", "URL, VCS or local path")]
    assert result.problems == []


def test_broken_lines_are_reported_with_file_and_line_and_the_rest_is_read():
    result = read_input(FIXTURES / "broken.txt")
    assert [e.name for e in result.requirements] == ["numpy", "msgpack"]
    where = [w.rsplit("/", 1)[1] for w, _ in result.problems]
    assert where == ["broken.txt:2", "broken.txt:3", "broken.txt:4", "broken.txt:5"]
    reasons = [r for _, r in result.problems]
    assert reasons[0].startswith("invalid requirement 'this is not a requirement!'")
    assert reasons[2] == "unknown option --frobnicate"
    assert reasons[3].startswith("does-not-exist.txt: cannot read")


def test_include_cycle_is_an_error_not_a_hang(tmp_path):
    (tmp_path / "a.txt").write_text("-r b.txt\nsix\n")
    (tmp_path / "b.txt").write_text("-r a.txt\nidna\n")
    result = read_input(tmp_path / "a.txt")
    assert sorted(e.name for e in result.requirements) == ["idna", "six"]
    assert any("include cycle" in reason for _, reason in result.problems)


def test_pyproject_dependencies_optional_and_groups():
    result = read_input(FIXTURES / "pyproject.toml")
    got = [(e.name, e.origin.rsplit(":", 1)[1]) for e in result.entries]
    assert got == [("numpy", "5"), ("psycopg2-binary", "6"), ("lxml", "10"), ("pytest", "13"), ("ruff", "14")]
    assert result.problems == []


def test_dependency_group_cycle_and_unknown_include():
    with pytest.raises(InputError, match="cycle"):
        expand_dependency_group({"a": [{"include-group": "b"}], "b": [{"include-group": "a"}]}, "a")
    with pytest.raises(InputError, match="unknown dependency group"):
        expand_dependency_group({"a": [{"include-group": "missing"}]}, "a")


def test_pylock_and_uv_lock_become_pins():
    pylock = read_input(FIXTURES / "pylock.toml")
    assert [str(e.requirement) for e in pylock.requirements] == ["msgpack==1.1.0",
                                                                 'colorama==0.4.6; sys_platform == "win32"']
    assert [e.raw for e in pylock.unchecked] == ["mylib"]
    uv = read_input(FIXTURES / "uv.lock")
    assert [str(e.requirement) for e in uv.requirements] == ["pyyaml==6.0.1"]   # the editable root is skipped
    assert [e.raw for e in uv.unchecked] == ["mygit"]


def test_bad_toml_names_the_file(tmp_path):
    bad = tmp_path / "pyproject.toml"
    bad.write_text("[project\ndependencies = [")
    with pytest.raises(InputError) as info:
        read_input(bad)
    assert info.value.where == str(bad) and "invalid TOML" in info.value.reason


def test_missing_input_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_inputs([tmp_path / "nope.txt"])


def test_logical_lines_comments_and_continuations():
    text = "a==1  # comment\n# only a comment\nb \\\n  >=2\n\nc @ https://x.org/c.whl#sha256=abc\n"
    assert logical_lines(text) == [(1, "a==1"), (3, "b >=2"), (6, "c @ https://x.org/c.whl#sha256=abc")]


def test_direct_reference_is_unchecked():
    entry = parse_requirement("c @ https://x.org/c-1.0-py3-none-any.whl", "f:1")
    assert entry.requirement is None and entry.unchecked.startswith("direct reference")


def test_forked_uv_lock_audits_the_newest_pin_and_says_so(tmp_path):
    lock = tmp_path / "uv.lock"
    lock.write_text('''version = 1
[[package]]
name = "numpy"
version = "2.2.6"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "numpy"
version = "2.3.2"
source = { registry = "https://pypi.org/simple" }
''')
    result = read_input(lock)
    assert [str(e.requirement) for e in result.requirements] == ["numpy==2.3.2"]
    assert result.notes == [f"{lock}: numpy is locked at 2.3.2, 2.2.6 (forked resolution); auditing 2.3.2"]


def test_pyproject_origin_is_the_line_in_the_requirement_s_own_table(tmp_path):
    """The same string in [build-system] requires must not be taken for the extra's line."""
    from auditor.sources.requirements import read_pyproject

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[build-system]\n'
        'requires = ["Cython>=3.1"]\n'
        '\n'
        '[project]\n'
        'name = "demo"\n'
        'dependencies = ["packaging"]\n'
        '\n'
        '[project.optional-dependencies]\n'
        'test = ["pytest", "Cython>=3.1"]\n'
    )
    origins = {e.raw: e.origin for e in read_pyproject(pyproject).entries}
    assert origins == {"packaging": f"{pyproject}:6", "pytest": f"{pyproject}:9",
                       "Cython>=3.1": f"{pyproject}:9"}
