"""The pre-commit hooks (.pre-commit-hooks.yaml) through `pre-commit try-repo` on a fixture
repository made here. The hook repository is a snapshot of this working tree (every file git
would track, committed in a temporary repository), so the test sees new, unstaged files too;
pre-commit builds the hook environment from it as it would for a user.

Network: pre-commit's `pip install` of this repository fetches the build requirements and
ft-audit's dependencies from the index; the requirements hook itself asks only a local recorded
index (tests/requirements_server.py). Slow: building the hook environment compiles ext/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.requirements_server import RecordedIndex
from tests.support.unavailable import skip_or_fail

pytestmark = [pytest.mark.slow, pytest.mark.network]

REPO = Path(__file__).resolve().parent.parent
SOURCE_FIXTURES = Path(__file__).parent / "fixtures" / "source"
CLEAN_C = "static int add(int a, int b)\n{\n    return a + b;\n}\n"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
                   cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory) -> Path:
    """One PRE_COMMIT_HOME for the module, so the hook environment is built once."""
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        skip_or_fail("pre-commit is not installed (the test extra has it)")
    if shutil.which("git") is None:
        skip_or_fail("git is not installed")
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory) -> Path:
    """This working tree as a one-commit repository: tracked and untracked-but-not-ignored files."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, check=True, capture_output=True, timeout=60).stdout
    snapshot = tmp_path_factory.mktemp("hook-repo")
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():                      # a deleted, not yet committed file is skipped
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    _git(snapshot, "init", "-q")
    _git(snapshot, "add", ".")
    _git(snapshot, "commit", "-q", "-m", "snapshot")
    return snapshot


@pytest.fixture()
def project(tmp_path) -> Path:
    """A git repository with a C file that has a finding (FTS302: single-phase init), one that
    has none, a README no hook should take, and requirements files (added by the tests, which
    know the local index's address)."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(SOURCE_FIXTURES / "single_phase.c", root / "single_phase.c")
    (root / "clean.c").write_text(CLEAN_C)
    (root / "README.md").write_text("# fixture\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "fixture")
    return root


def _requirements(project: Path, index: RecordedIndex) -> None:
    # The index comes from each file's own --index-url line: the hooks pass no flags.
    (project / "requirements.txt").write_text(f"--index-url {index.url}\nbcrypt==4.1.2\n")   # abi3 only
    (project / "requirements-docs.txt").write_text(f"--index-url {index.url}\nidna==3.20\n")  # pure Python
    _git(project, "add", ".")


def pre_commit(project: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never",
           "FT_AUDIT_CACHE_DIR": str(project.parent / "ft-audit-cache")}
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], check=False, cwd=project, env=env,
                          capture_output=True, text=True, timeout=900)


def _hook_line(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(name + "."))


def _section(output: str, name: str) -> str:
    """What pre-commit --verbose printed for one hook: its status line to the next hook's."""
    text = output[output.index(_hook_line(output, name)):]
    rest = text.split("\n", 1)[1]
    ends = [rest.index(other) for other in ("ft-audit source.", "ft-audit requirements.") if other in rest]
    return text.split("\n", 1)[0] + "\n" + (rest[:min(ends)] if ends else rest)


def test_try_repo_runs_both_hooks_on_the_files_each_takes(project, hook_repo, pre_commit_home):
    """One `pre-commit try-repo` (it builds the hook environment in a throw-away store): the
    source hook gets the two C files, the requirements hook the requirements file, neither the
    README; both fail on their known finding."""
    with RecordedIndex() as index:
        _requirements(project, index)
        result = pre_commit(project, pre_commit_home, "try-repo", str(hook_repo), "--verbose", "--files",
                            "single_phase.c", "clean.c", "README.md", "requirements.txt")
    assert result.returncode == 1, result.stdout + result.stderr
    source = _section(result.stdout, "ft-audit source")
    assert source.splitlines()[0].endswith("Failed")
    assert "single_phase.c:8:1: FTS302 PyInit_sp creates a single-phase module" in source
    assert "clean.c:" not in source
    assert "1 finding in 2 checked files" in source           # not README.md, not requirements.txt
    requirements = _section(result.stdout, "ft-audit requirements")
    assert requirements.splitlines()[0].endswith("Failed")
    assert "bcrypt 4.1.2  abi3-only" in requirements
    assert "1 package(s), 1 not ready" in requirements       # requirements.txt alone


def test_hooks_pass_on_clean_files_and_skip_the_others(project, hook_repo, pre_commit_home):
    """The same hooks from a project's .pre-commit-config.yaml (`pre-commit run`, the hook
    environment built once in PRE_COMMIT_HOME): clean inputs pass, other files are skipped."""
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hook_repo, check=True, capture_output=True,
                         text=True, timeout=60).stdout.strip()
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hook_repo}\n  rev: {rev}\n  hooks:\n"
        "  - id: ft-audit-source\n  - id: ft-audit-requirements\n")
    with RecordedIndex() as index:
        _requirements(project, index)
        clean = pre_commit(project, pre_commit_home, "run", "--verbose", "--files", "clean.c",
                           "requirements-docs.txt")
        neither = pre_commit(project, pre_commit_home, "run", "--files", "README.md")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert _hook_line(clean.stdout, "ft-audit source").endswith("Passed")
    assert "0 findings in 1 checked file" in _section(clean.stdout, "ft-audit source")
    assert _hook_line(clean.stdout, "ft-audit requirements").endswith("Passed")
    assert "idna 3.20" in _section(clean.stdout, "ft-audit requirements")
    assert neither.returncode == 0, neither.stdout + neither.stderr
    assert _hook_line(neither.stdout, "ft-audit source").endswith("(no files to check)Skipped")
    assert _hook_line(neither.stdout, "ft-audit requirements").endswith("(no files to check)Skipped")
