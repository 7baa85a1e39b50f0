"""[tool.ft-audit] (auditor/config.py) and the common -q / -v / --config / --no-config flags, on
real inputs: a pinned PyPI wheel, the recorded index, the bundled ext/ sources."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from auditor import config, output
from auditor.cli import main
from auditor.config import IgnoreKind
from auditor.errors import InputError
from tests.requirements_server import RecordedIndex
from tests.support.wheels import require_wheel

ROOT = Path(__file__).parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "source"
MARKUPSAFE = "markupsafe-3.0.4-cp314t-manylinux-x86_64"     # passes, with an FTW402 info finding
LXML = "lxml-6.1.3-cp314t-manylinux-x86_64"                 # fails: FTW310 on 7 modules


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Run from a folder of our own (the repository's pyproject.toml must not count), and leave
    the process-wide verbosity as found."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    yield
    output.set_verbosity(output.Verbosity.NORMAL)


def write(folder: Path, text: str) -> Path:
    path = folder / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# -- parsing -----------------------------------------------------------------------------------

def test_a_complete_config_parses_into_each_commands_settings(tmp_path):
    path = write(tmp_path, """
[project]
name = "demo"

[tool.ft-audit.wheel]
require-ft = "3.14"
format = "markdown"
record-hashes = "all"
ignore = ["ftw901", {code = "FTW402", reason = "classifier next release", until = 2027-03-01}]

[tool.ft-audit.requirements]
target = "3.14t"
platforms = ["manylinux_2_28_x86_64", "win_amd64"]
fail-on = ["sdist-only"]
index-url = "https://example.invalid/simple"
ignore = [{package = "Zope.Interface", reason = "tests only", until = "2026-01-31"}]

[tool.ft-audit.env]
target = "3.14t"
fail-on = []
ignore = [{code = "FTE302", reason = "tracker lags"}, {package = "psutil", reason = "main interpreter only"}]

[tool.ft-audit.source]
select = ["FTS101", "fts201"]
exclude = ["vendor/**"]
format = "sarif"
""")
    conf = config.load(path)
    assert conf.path == path
    assert conf.wheel.require_ft == "3.14" and conf.wheel.format == "markdown" and conf.wheel.record_hashes == "all"
    plain, dated = conf.wheel.ignore
    assert (plain.kind, plain.value, plain.reason, plain.until) == (IgnoreKind.CODE, "FTW901", None, None)
    assert (dated.value, dated.reason, dated.until) == ("FTW402", "classifier next release", date(2027, 3, 1))
    assert dated.where == f"{path}:9"
    assert conf.requirements.platforms == ("manylinux_2_28_x86_64", "win_amd64")
    assert conf.requirements.fail_on == ("sdist-only",)
    (pkg,) = conf.requirements.ignore
    assert (pkg.kind, pkg.value, pkg.until) == (IgnoreKind.PACKAGE, "zope-interface", date(2026, 1, 31))
    assert conf.env.target == ("3.14t",) and conf.env.fail_on == ()
    assert [(i.kind, i.value) for i in conf.env.ignore] == [(IgnoreKind.CODE, "FTE302"), (IgnoreKind.PACKAGE, "psutil")]
    assert conf.source.select == ("FTS101", "FTS201") and conf.source.exclude == ("vendor/**",)
    assert conf.where("requirements", "fail-on", "--fail-on") == f"{path}:14: [tool.ft-audit.requirements] fail-on"
    assert conf.where("requirements", "format", "--format") == "--format"     # not configured


@pytest.mark.parametrize("body, message", [
    ("[tool.ft-audit.wheel]\nformat = \"json\"\nignroe = []\n",
     ":3: [tool.ft-audit.wheel] ignroe: unknown key (known: require-ft, ignore, format, record-hashes, select)"),
    ("[tool.ft-audit]\nwheels = {}\n", ":2: [tool.ft-audit] wheels: unknown key"),
    ("[tool.ft-audit]\nwheel = 3\n", ":2: [tool.ft-audit] wheel: must be a table"),
    ("[tool.ft-audit.requirements]\nplatforms = \"win_amd64\"\n",
     ":2: [tool.ft-audit.requirements] platforms: must be a list of strings, not 'win_amd64'"),
    ("[tool.ft-audit.wheel]\nrecord-hashes = 3\n", ":2: [tool.ft-audit.wheel] record-hashes: must be a non-empty string, not 3"),
    ("[tool.ft-audit.env]\nformat = \"sarif2\"\n", ":2: [tool.ft-audit.env] format: 'sarif2' is not one of"),
    ("[tool.ft-audit.wheel]\nignore = [\n  {code = \"FTW402\", reason = \"r\", until = \"2027-13-01\"},\n]\n",
     ":3: [tool.ft-audit.wheel] ignore of FTW402: until must be a date (YYYY-MM-DD), not '2027-13-01'"),
    ("[tool.ft-audit.wheel]\nignore = [{code = \"FTW402\", reason = \"r\", until = 2027}]\n",
     ":2: [tool.ft-audit.wheel] ignore of FTW402: until must be a date (YYYY-MM-DD), not 2027"),
    ("[tool.ft-audit.wheel]\nignore = [{code = \"FTW402\"}]\n", ":2: [tool.ft-audit.wheel] ignore of FTW402: needs a reason"),
    ("[tool.ft-audit.wheel]\nignore = [{code = \"FTW402\", reason = \"r\", expires = 2027-01-01}]\n",
     ":2: [tool.ft-audit.wheel] expires: unknown key in an ignore entry (known: code, reason, until)"),
    ("[tool.ft-audit.wheel]\nignore = [\"FTE101\"]\n", ":2: [tool.ft-audit.wheel] ignore: unknown FTW finding code(s): FTE101"),
    ("[tool.ft-audit.requirements]\nignore = [\"lxml\"]\n", "[tool.ft-audit.requirements] ignore: each entry must be {package = ..."),
    ("[tool.ft-audit.source]\nselect = [\"FTS999\"]\n", ":2: [tool.ft-audit.source] select: unknown FTS finding code(s): FTS999"),
])
def test_every_error_names_the_file_line_and_key(tmp_path, body, message):
    path = write(tmp_path, body)
    with pytest.raises(InputError) as caught:
        config.load(path)
    assert caught.value.one_line().startswith(str(path))
    assert message in caught.value.one_line()


def test_an_error_is_one_line_and_exit_2_from_any_command(tmp_path, capsys):
    write(tmp_path, "[tool.ft-audit.env]\ntarget = 3.14\n")
    code, out, err = run(capsys, "wheel", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == (f"ft-audit: error: {tmp_path / 'pyproject.toml'}:2: [tool.ft-audit.env] target: "
                   "must be a list of strings, not 3.14\n")


def test_expiry_is_after_the_until_day(tmp_path):
    path = write(tmp_path, '[tool.ft-audit.wheel]\nignore = [{code = "FTW402", reason = "r", until = 2027-03-01}]\n')
    ignores = config.load(path).wheel.ignore
    assert config.active_codes(ignores, date(2027, 3, 1)) == {"FTW402"}
    assert config.expired_findings(ignores, date(2027, 3, 1)) == ()
    assert config.active_codes(ignores, date(2027, 3, 2)) == frozenset()
    (finding,) = config.expired_findings(ignores, date(2027, 3, 2))
    assert finding.code == "FTC001" and finding.severity == "error" and finding.where == f"{path}:2"
    assert finding.message == "the ignore of code FTW402 (r) expired on 2027-03-01: it is no longer applied"


# -- discovery -----------------------------------------------------------------------------------

def test_discovery_from_a_subfolder_passes_over_a_pyproject_without_the_table(tmp_path):
    root = write(tmp_path, '[tool.ft-audit.wheel]\nformat = "json"\n')
    inner = tmp_path / "pkg" / "src"
    inner.mkdir(parents=True)
    write(tmp_path / "pkg", '[project]\nname = "inner"\n')
    assert config.find_config(inner) == root
    assert config.load_for(None, False, cwd=inner).wheel.format == "json"
    assert config.load_for(None, True, cwd=inner) == config.Config()
    with pytest.raises(InputError, match=r"no \[tool\.ft-audit\] table"):
        config.load_for(str(tmp_path / "pkg" / "pyproject.toml"), False)
    with pytest.raises(InputError, match="no such file"):
        config.load_for(str(tmp_path / "missing.toml"), False)


# -- the commands merge: config < CLI --------------------------------------------------------------

def test_wheel_format_and_ignore_from_config_and_the_flag_wins(tmp_path, capsys, monkeypatch):
    wheel = require_wheel(MARKUPSAFE)
    sub = tmp_path / "sub"
    sub.mkdir()
    write(tmp_path, '[tool.ft-audit.wheel]\nformat = "json"\n'
                    'ignore = [{code = "FTW402", reason = "classifier next release", until = 2999-01-01}]\n')
    monkeypatch.chdir(sub)
    code, out, err = run(capsys, "wheel", str(wheel))
    doc = json.loads(out)
    assert code == 0 and err == ""
    assert doc["wheels"][0]["verdict"] == "pass" and doc["wheels"][0]["findings"] == []
    code, out, _ = run(capsys, "wheel", str(wheel), "--format", "text")
    assert code == 0 and out.startswith("PASS  markupsafe-3.0.4") and "FTW402" not in out
    code, out, _ = run(capsys, "--no-config", "wheel", str(wheel), "--format", "text")
    assert code == 0 and "could declare the Free Threading classifier (FTW402)" in out


def test_an_expired_ignore_is_no_longer_applied_and_fails_the_run(tmp_path, capsys):
    wheel = require_wheel(MARKUPSAFE)
    path = write(tmp_path, '[tool.ft-audit.wheel]\nformat = "json"\n'
                           'ignore = [{code = "FTW402", reason = "classifier next release", until = 2020-03-01}]\n')
    code, out, err = run(capsys, "wheel", str(wheel))
    doc = json.loads(out)
    assert code == 1
    assert [f["code"] for f in doc["wheels"][0]["findings"]] == ["FTW402"]
    assert doc["config_findings"] == [{"code": "FTC001", "severity": "error", "where": f"{path}:3",
                                       "message": "the ignore of code FTW402 (classifier next release) expired "
                                                  "on 2020-03-01: it is no longer applied"}]
    assert err == (f"ft-audit: {path}:3: FTC001 the ignore of code FTW402 (classifier next release) expired "
                   "on 2020-03-01: it is no longer applied\n")


def test_config_given_before_or_after_the_command(tmp_path, capsys):
    wheel = require_wheel(LXML)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = write(elsewhere, '[tool.ft-audit.wheel]\nignore = [{code = "FTW310", reason = "known, tracked upstream"}]\n')
    assert run(capsys, "wheel", str(wheel))[0] == 1                       # nothing found from the cwd
    for argv in (["--config", str(path), "wheel", str(wheel)], ["wheel", str(wheel), "--config", str(path)]):
        code, out, _ = run(capsys, *argv)
        assert code == 0 and out.startswith("PASS  lxml-6.1.3") and "FTW310" not in out


def test_a_value_the_command_rejects_is_named_where_it_was_written(tmp_path, capsys):
    path = write(tmp_path, '[tool.ft-audit.wheel]\nrequire-ft = "2.7"\n')
    code, _, err = run(capsys, "wheel", str(require_wheel(MARKUPSAFE)))
    assert code == 2 and err.startswith(f"ft-audit: error: {path}:2: [tool.ft-audit.wheel] require-ft: ")
    path = write(tmp_path, '[tool.ft-audit.env]\nfail-on = ["bogus"]\n')
    code, _, err = run(capsys, "env", "--no-pypi")
    assert code == 2 and err.startswith(f"ft-audit: error: {path}:2: [tool.ft-audit.env] fail-on: unknown value(s) bogus")


def test_requirements_target_platforms_fail_on_and_package_ignores(tmp_path, capsys):
    req = tmp_path / "req.txt"
    req.write_text("bcrypt==4.1.2\nmsgpack>=1.0\n")
    with RecordedIndex() as index:
        path = write(tmp_path, f"""[tool.ft-audit.requirements]
target = "3.14t"
platforms = ["manylinux_2_28_x86_64"]
index-url = "{index.url}"
fail-on = ["abi3-only"]
""")
        base = ["requirements", str(req), "--no-compat", "--no-download"]
        code, out, _ = run(capsys, *base)
        assert code == 1
        assert out.startswith("Target 3.14t (cp314t) on manylinux_2_28_x86_64: 2 package(s), 1 not ready")
        assert "bcrypt 4.1.2   abi3-only" in out
        code, out, _ = run(capsys, *base, "--fail-on", "sdist-only")              # the flag wins
        assert code == 0
        code, out, _ = run(capsys, *base, "--target", "3.13t", "--format", "json")
        assert code == 1 and json.loads(out)["target"]["python"] == "3.13t"
        # quiet: only what fails, and the headline; nothing when nothing fails
        code, out, err = run(capsys, *base, "-q")
        assert code == 1 and "bcrypt" in out and "msgpack" not in out and "note:" not in out and err == ""
        assert run(capsys, *base, "-q", "--fail-on", "none") == (0, "", "")
        with path.open("a") as fh:
            fh.write('ignore = [{package = "BCrypt", reason = "replaced next sprint", until = 2999-12-31}]\n')
        code, out, err = run(capsys, *base)
        assert code == 0 and "bcrypt 4.1.2   abi3-only" in out
        assert err == f"ft-audit: note: bcrypt: ignored by {path}:6 (replaced next sprint)\n"
        path.write_text(path.read_text().replace("2999-12-31", "2021-12-31"))
        code, out, err = run(capsys, *base, "--format", "json")
        assert code == 1 and json.loads(out)["config_findings"][0]["code"] == "FTC001"
        assert "FTC001 the ignore of package bcrypt (replaced next sprint) expired on 2021-12-31" in err


# -- source: the linter's config is the same module ----------------------------------------------

def test_source_select_ignore_and_cli_select(tmp_path, capsys):
    shutil.copy(FIXTURES / "borrowed.c", tmp_path / "b.c")
    _code, out, _ = run(capsys, "source", "--no-config", "--format", "json", str(tmp_path))
    every = {f["rule"] for f in json.loads(out)["findings"]}
    assert {"FTS201", "FTS202", "FTS207"} <= every
    write(tmp_path, '[tool.ft-audit.source]\nselect = ["FTS201", "FTS202"]\nformat = "json"\n'
                    'ignore = [{code = "FTS202", reason = "audited by hand"}]\n')
    _code, out, _ = run(capsys, "source", str(tmp_path))
    assert {f["rule"] for f in json.loads(out)["findings"]} == {"FTS201"}
    _code, out, _ = run(capsys, "source", "--select", "FTS207", str(tmp_path))
    assert {f["rule"] for f in json.loads(out)["findings"]} == {"FTS207"}


def test_source_expired_ignore(tmp_path, capsys):
    shutil.copy(FIXTURES / "single_phase_ok.c", tmp_path / "ok.c")
    path = write(tmp_path, '[tool.ft-audit]\nignore = [{code = "FTS201", reason = "r", until = 2020-01-01}]\n')
    code, out, err = run(capsys, "source", str(tmp_path))
    assert code == 1 and "0 findings in 1 checked file" in out
    assert err == (f"ft-audit: {path}:2: FTC001 the ignore of code FTS201 (r) expired on 2020-01-01: "
                   "it is no longer applied\n")


# -- --quiet / --verbose ---------------------------------------------------------------------------

def test_wheel_quiet_and_verbose(capsys):
    ok, bad = str(require_wheel(MARKUPSAFE)), str(require_wheel(LXML))
    assert run(capsys, "wheel", ok, "-q") == (0, "", "")
    assert run(capsys, "-q", "wheel", ok) == (0, "", "")
    code, out, _ = run(capsys, "wheel", "--quiet", ok, bad)
    lines = out.splitlines()
    assert code == 1
    assert lines[0] == "FAIL  lxml-6.1.3-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    assert [line.split()[1] for line in lines[1:-1]] == ["FTW310"] * 7
    assert lines[-1] == "2 wheels, 8 extension modules: 1 pass, 1 fail, 0 could not be checked"
    code, out, err = run(capsys, "wheel", ok, "-v")
    assert code == 0
    assert "          evidence: gil: Py_mod_gil(4) = 1 Py_MOD_GIL_NOT_USED at 0x4030 [capi-reference 1.1, 1.2]" in out
    assert "          evidence: init: exports PyInit__speedups at 0x18f0" in out
    assert err.splitlines()[-1].startswith("ft-audit: took ") and err.endswith(" s\n")
    with pytest.raises(SystemExit):
        main(["-q", "wheel", ok, "-v"])


@pytest.mark.slow   # lints the whole bundled ext/ (about 2 s)
def test_source_quiet_on_the_bundled_ext_is_silent_and_verbose_names_the_config(tmp_path, capsys):
    assert run(capsys, "source", "-q", "--no-config", str(ROOT / "ext")) == (0, "", "")
    shutil.copy(FIXTURES / "borrowed.c", tmp_path / "b.c")
    code, out, _ = run(capsys, "source", "-q", "--no-config", str(tmp_path))
    assert code == 1 and "    fix:" not in out and out.splitlines()[-1] == "15 findings in 1 checked file"
    assert len(out.splitlines()) == 16                         # one line a finding, then the summary
    path = write(tmp_path, '[tool.ft-audit.source]\nformat = "text"\n')
    _, _, err = run(capsys, "-v", "source", str(tmp_path))
    assert f"ft-audit: config: {path} [tool.ft-audit]" in err.splitlines()


def test_progress_bar_never_with_quiet(monkeypatch):
    from auditor.progress import Progress

    monkeypatch.setenv("FT_AUDIT_PROGRESS", "1")
    assert Progress(3, "x").enabled
    output.set_verbosity(output.Verbosity.QUIET)
    assert not Progress(3, "x").enabled


def test_colour_follows_no_color_force_color_and_the_tty():
    class Tty:
        def isatty(self) -> bool:
            return True

    assert output.use_color(Tty(), {"TERM": "xterm"})
    assert not output.use_color(Tty(), {"TERM": "xterm", "NO_COLOR": "1"})
    assert not output.use_color(Tty(), {"TERM": "dumb"})
    assert not output.use_color(None, {})                       # sys.stdout under pytest: not a TTY
    assert output.use_color(None, {"FORCE_COLOR": "1"})
    assert not output.use_color(Tty(), {"FORCE_COLOR": "1", "NO_COLOR": "1"})


def test_wheel_verdict_word_coloured_only_when_forced(capsys, monkeypatch):
    ok = str(require_wheel(MARKUPSAFE))
    assert "\x1b[" not in run(capsys, "wheel", ok)[1]
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert run(capsys, "wheel", ok)[1].startswith("\x1b[32mPASS \x1b[0m markupsafe")
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in run(capsys, "wheel", ok)[1]
