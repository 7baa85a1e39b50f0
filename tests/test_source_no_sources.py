"""`ft-audit source DIR` on a folder without C, C++ or Cython sources says so and exits 2."""

from __future__ import annotations

from auditor.cli import main as cli_main


def test_a_folder_without_sources_says_so(tmp_path, capsys):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "README.txt").write_text("no C here\n")
    assert cli_main(["--no-config", "source", str(tmp_path / "pkg")]) == 2
    out, err = capsys.readouterr()
    assert err == (f"ft-audit: error: {tmp_path / 'pkg'}: no sources found under {tmp_path / 'pkg'} "
                   "(no C, C++ or Cython files outside excluded folders)\n")
    assert out == "0 findings in 0 checked files; 1 could not be checked (errors on stderr)\n"
