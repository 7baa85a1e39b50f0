import subprocess
import sys

from auditor import __version__
from auditor.cli import main


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert capsys.readouterr().out.strip() == f"ft-audit {__version__}"


def test_python_dash_m_runs_the_same_cli():
    out = subprocess.run([sys.executable, "-m", "auditor", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.strip() == f"ft-audit {__version__}"


def test_no_command_is_a_usage_error():
    assert main([]) == 2


def test_top_level_help_lists_every_command(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for name in ("wheel", "env", "requirements", "source", "data", "bench"):
        assert name in out


def test_a_command_run_imports_only_that_command():
    code = ("import sys; from auditor.cli import build_parser, _chosen_command; "
            "build_parser(only=_chosen_command(['--cache-dir', '/tmp/x', 'source', 'x.c'])); "
            "print(sorted(m for m in sys.modules if m.startswith('auditor.commands.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['auditor.commands.source']"


def test_every_command_module_builds_its_parser():
    import argparse

    from auditor.cli import build_parser

    parser = build_parser(only="*")
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert sorted(sub.choices) == sorted(["wheel", "env", "requirements", "source", "data", "bench"])
    for name, command in sub.choices.items():
        assert callable(command.get_default("_run")), name
