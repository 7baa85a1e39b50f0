"""Rendering of `ft-audit requirements` (auditor.report.requirements): a missing value is said,
with why, never printed as "None"."""

from __future__ import annotations

import pytest

from auditor.cli import main
from auditor.report.requirements import render_markdown, render_text
from tests.requirements_server import RecordedIndex


def package(name: str, status: str, **extra) -> dict:
    return {"name": name, "version": "1.0", "extras": [], "requested_by": ["r.txt:1"], "status": status,
            "status_detail": f"{status} detail", "wheel": None, "min_ft_version": None, "newest_ft_version": None,
            "suggestion": None, "free_threading": None, "subinterpreters": None, "blocked_by": [], "modules": [],
            **extra}


def document(*packages: dict, **extra) -> dict:
    return {"schema": "ft-audit/1", "target": {"python": "3.14t", "abi": "cp314t", "platforms": ["manylinux_2_28_x86_64"]},
            "inputs": ["r.txt"], "index_url": "https://pypi.org/simple", "packages": list(packages),
            "skipped": [], "stale": [], "notes": [], "incomplete": [], **extra}


DEEP = document(
    package("abi3pkg", "abi3-only", free_threading="not-built-for-ft",
            evidence="no wheel built for the free-threaded ABI"),
    package("ftpkg", "ft-wheel", wheel="ftpkg-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl",
            free_threading="ready", subinterpreters="own-gil", evidence="all 1 extension module(s) keep the GIL off"),
    package("lost", "ft-wheel", wheel="lost-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl"),
)


def test_a_missing_verdict_is_said_with_its_reason():
    text = render_text(DEEP)
    assert "None" not in text
    assert ("binary: free-threading: not-built-for-ft, sub-interpreters: not checked "
            "(no wheel built for the free-threaded ABI)\n") in text
    assert "binary: free-threading: ready, sub-interpreters: own-gil (all 1 extension module(s) keep the GIL off)\n" in text
    # A package the inspection left without any verdict is not silently shown as if it had none to give.
    assert ("binary: free-threading: not checked (no wheel of this package was inspected), "
            "sub-interpreters: not checked (no wheel of this package was inspected)") in text
    markdown = render_markdown(DEEP)
    assert "None" not in markdown
    assert "| free-threading: not-built-for-ft, sub-interpreters: not checked (no wheel built for the free-threaded ABI) |" in markdown


def test_without_inspection_no_verdict_line_and_no_none():
    doc = document(package("plain", "sdist-only", requested_by=[]), target={})
    text = render_text(doc)
    assert "binary:" not in text and "None" not in text
    assert text.startswith("Target unknown (unknown ABI) on no platform: 1 package(s), 1 not ready")
    assert "None" not in render_markdown(doc)


def test_markdown_keeps_notes_and_stale_pages():
    doc = document(package("plain", "pure-python"), notes=["--extra-index-url X ignored"],
                   stale=[{"project": "plain", "age_seconds": 3600}])
    markdown = render_markdown(doc)
    assert "- --extra-index-url X ignored" in markdown
    assert "- plain: 3600 s old" in markdown


@pytest.fixture()
def index(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    with RecordedIndex() as served:
        yield served


def test_deep_text_on_an_abi3_only_pin_has_no_none(index, tmp_path, capsys):
    """The first-run reproducer: `--deep` printed "sub-interpreters: None" for an abi3-only pin."""
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("bcrypt==4.1.2\n")
    main(["requirements", str(reqs), "--target", "3.14t", "--platform", "manylinux_2_28_x86_64",
          "--index-url", index.url, "--deep", "--no-compat", "--no-download"])
    text = capsys.readouterr().out
    assert "bcrypt 4.1.2" in text and "      binary: free-threading: " in text
    assert "None" not in text
