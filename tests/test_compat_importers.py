"""The two community importers on real excerpts of the sources, and on mutated copies of them.

The excerpts (tests/fixtures/compat/, see SOURCE.md there) keep every case asserted here; the
whole-file counts, and the check that the excerpts are unchanged parts of the snapshots, run
when the full snapshots are beside the repository.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

from auditor.compat.names import NOT_ON_PYPI, pypi_names_for
from auditor.compat.tracking import TrackingFormatError, parse_tracking
from auditor.compat.wheels_list import WheelsListFormatError, parse_wheels_list
from tests.support.compat_sources import (
    EXCERPT_TRACKING_ROWS,
    EXCERPT_WHEELS_ROWS,
    EXCERPTS,
    SNAPSHOTS,
    needs_snapshots,
)


@pytest.fixture(scope="module")
def tracking_text() -> str:
    return (EXCERPTS / "tracking.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def results_bytes() -> bytes:
    return (EXCERPTS / "results.json").read_bytes()


@pytest.fixture(scope="module")
def rows(tracking_text):
    return {r.display_name: r for r in parse_tracking(tracking_text)}


@pytest.mark.parametrize("folder, expected", [
    # counted by hand on the excerpt (SOURCE.md)
    pytest.param(EXCERPTS, dict(rows=EXCERPT_TRACKING_ROWS, status={"released": 28, "ci-only": 5, "tracked": 5},
                                ci={"yes": 28, "no": 8, "footnote": 2}, nightly=7, ci_only_no_version=2),
                 id="excerpt"),
    # the counts documented in ../shared/compat-snapshots/README.md
    pytest.param(SNAPSHOTS, dict(rows=149, status={"released": 117, "ci-only": 11, "tracked": 21},
                                 ci={"yes": 119, "no": 28, "footnote": 2}, nightly=19, ci_only_no_version=8),
                 id="snapshot", marks=needs_snapshots),
])
def test_tracking_every_row_parsed_with_the_documented_counts(folder, expected):
    rows = parse_tracking((folder / "tracking.md").read_text(encoding="utf-8"))
    assert len(rows) == expected["rows"]
    assert Counter(r.status for r in rows) == expected["status"]
    assert sum(r.pypi_release for r in rows) == expected["status"]["released"]
    assert all(r.first_version for r in rows if r.pypi_release)
    assert sorted(r.display_name for r in rows if r.first_version and not r.pypi_release) == \
        ["Boost.Python", "lxml", "ultrajson"]
    assert Counter(r.tested_in_ci for r in rows) == expected["ci"]
    assert sum(bool(r.nightly_platforms) for r in rows) == expected["nightly"]
    # "CI only": CI column alone, neither release nor first version
    assert sum(1 for r in rows if r.status == "ci-only" and not r.first_version) == expected["ci_only_no_version"]


@needs_snapshots
def test_excerpts_are_unchanged_parts_of_the_snapshots():
    """The excerpts were cut from the snapshots SOURCE.md names, and nothing in them was edited."""
    source_md = (EXCERPTS / "SOURCE.md").read_text(encoding="utf-8")
    for name in ("tracking.md", "results.json"):
        assert hashlib.sha256((SNAPSHOTS / name).read_bytes()).hexdigest() in source_md, name
    full = (SNAPSHOTS / "tracking.md").read_text(encoding="utf-8").splitlines()
    excerpt = (EXCERPTS / "tracking.md").read_text(encoding="utf-8").splitlines()
    assert excerpt[:27] == full[:27]  # prose, header, alignment row: same line numbers
    assert excerpt[-20:] == full[-20:]  # the footnotes
    remaining = iter(full[27:-20])
    assert all(line in remaining for line in excerpt[27:-20])  # table rows, unchanged and in order
    assert len(excerpt) == 27 + EXCERPT_TRACKING_ROWS + 20
    full_doc = json.loads((SNAPSHOTS / "results.json").read_bytes())
    excerpt_doc = json.loads((EXCERPTS / "results.json").read_bytes())
    names = {d["name"] for d in excerpt_doc["data"]}
    assert excerpt_doc["data"] == [d for d in full_doc["data"] if d["name"] in names]
    assert excerpt_doc["last_update"] == full_doc["last_update"]
    assert (EXCERPTS / "results.json").read_text() == json.dumps(excerpt_doc, indent=1)  # the original's format


def test_tracking_typo_icon_counts_as_a_release(rows):
    msgpack = rows["msgpack"]
    assert msgpack.pypi_release is True and msgpack.status == "released"
    assert msgpack.first_version == "1.2.0"


def test_tracking_rows_read_exactly(rows):
    pandas = rows["pandas"]
    assert pandas.upstream_issue == "https://github.com/pandas-dev/pandas/issues/59057"
    assert pandas.issue_tracker == "github"
    assert pandas.first_version == "2.2.3"
    assert pandas.nightly_platforms == ("linux", "macos", "windows")
    lxml = rows["lxml"]
    assert (lxml.status, lxml.first_version, lxml.pypi_release, lxml.issue_tracker) == \
        ("ci-only", "7.0.0", False, "launchpad")
    assert rows["jupyter_client"].tested_in_ci == "footnote"
    assert rows["jupyter_client"].notes == ("Functional, CI flaky test and disabled: blocked on msgpack",)
    assert rows["cuda-tile"].upstream_issue is None


@pytest.mark.parametrize("display, pypi", [
    ("NumPy", "numpy"), ("PyTorch", "torch"), ("ultrajson", "ujson"), ("mypyc", "mypy"), ("PyAV", "av"),
    ("PyTables", "tables"), ("greenlet", "greenlet"), ("zstandard", "zstandard"), ("CuTe DSL", "nvidia-cutlass-dsl"),
    ("ruamel.yaml.clib", "ruamel-yaml-clib"), ("PyYAML", "pyyaml"), ("jupyter_client", "jupyter-client"),
    ("OpenCV", "opencv-python"), ("connector-x", "connectorx"), ("JAX", "jax"),
])
def test_display_names_map_to_pypi_names(rows, display, pypi):
    assert rows[display].pypi_names[0] == pypi
    assert rows[display].not_on_pypi is None


def test_footnotes_are_stripped_from_names_and_kept_as_notes(rows):
    assert "greenlet[^3]" not in rows and "zstandard[^8]" not in rows
    assert "3.14t it may crash at runtime exit" in rows["greenlet"].notes[0]
    # footnote 8 continues on indented lines
    assert rows["zstandard"].notes[0].endswith("for Python 3.9-3.13")
    assert rows["CuTe DSL"].pypi_names == ("nvidia-cutlass-dsl", "nvidia-cutlass-dsl-libs-base",
                                           "nvidia-cutlass-dsl-libs-cu13")


def test_rows_that_are_not_pypi_projects_are_kept_and_marked(rows):
    marked = sorted(r.display_name for r in rows.values() if r.not_on_pypi)
    assert marked == ["Bazel (rules-python)", "Boost.Python", "Pixi", "PyO3", "SWIG", "Spack", "conda",
                      "mamba", "mlir-python", "rust-numpy"]
    assert len(marked) == len(NOT_ON_PYPI)
    assert rows["PyO3"].pypi_names == () and "crates.io" in rows["PyO3"].not_on_pypi
    assert rows["Bazel (rules-python)"].pypi_release is True  # its footnote says where


def test_unknown_display_name_is_its_own_normalised_pypi_name():
    assert pypi_names_for("Some_Project.Name") == (("some-project-name",), None)


# -- mutated copies --------------------------------------------------------------------------

def test_missing_column_is_a_clear_error(tracking_text):
    lines = tracking_text.splitlines()
    mutated = []
    for line in lines:
        if line.lstrip().startswith("|"):
            cells = line.strip().strip("|").split("|")
            del cells[3]  # the "PyPI release" column
            line = "|" + "|".join(cells) + "|"
        mutated.append(line)
    with pytest.raises(TrackingFormatError) as info:
        parse_tracking("\n".join(mutated), where="tracking.md")
    assert "lacks column(s) 'pypi release'" in info.value.one_line()
    assert info.value.one_line().startswith("tracking.md: line 26:")


def test_new_icon_is_reported_with_its_line(tracking_text):
    mutated = tracking_text.replace(
        "| aiohttp               |       [:simple-github:](https://github.com/aio-libs/aiohttp/issues/8796)       "
        "| :material-check-bold: |",
        "| aiohttp               |       [:simple-github:](https://github.com/aio-libs/aiohttp/issues/8796)       "
        "| :material-check-circle: |")
    assert mutated != tracking_text
    with pytest.raises(TrackingFormatError) as info:
        parse_tracking(mutated)
    assert "line 28: unknown icon(s) :material-check-circle: in 'tested in ci'" in info.value.one_line()


def test_undefined_footnote_and_short_row_are_reported(tracking_text):
    mutated = tracking_text.replace("[^8]: Python 3.14", "[^9]: Python 3.14")
    lines = mutated.splitlines()
    lines[29] = lines[29].rsplit("|", 2)[0] + "|"  # drop a cell from row 3 (line 30)
    with pytest.raises(TrackingFormatError) as info:
        parse_tracking("\n".join(lines))
    message = info.value.one_line()
    assert "line 30: 6 cells, the header has 7" in message
    assert "footnote [^8] is used but not defined" in message


def test_no_table_at_all():
    with pytest.raises(TrackingFormatError, match="no Markdown table"):
        parse_tracking("# Compatibility Status Tracking\n\nnothing here\n")


@pytest.mark.parametrize("folder, rows, classes", [
    pytest.param(EXCERPTS, EXCERPT_WHEELS_ROWS, {"success": 18, "warning": 5, "pure-py": 2}, id="excerpt"),
    pytest.param(SNAPSHOTS, 360, {"success": 220, "warning": 127, "pure-py": 13}, id="snapshot",
                 marks=needs_snapshots),
])
def test_wheels_list_every_row(folder, rows, classes):
    parsed = parse_wheels_list((folder / "results.json").read_bytes())
    assert len(parsed.rows) == rows
    assert Counter(r.css_class for r in parsed.rows) == classes
    assert sum(r.free_threaded_wheel for r in parsed.rows) == classes["success"]
    assert parsed.last_update == "2026-06-14T11:03:57+00:00"
    by_name = {r.name: r for r in parsed.rows}
    assert by_name["charset-normalizer"].rank == 1
    assert by_name["ruamel-yaml-clib"].css_class == "warning"
    assert by_name["zstandard"].free_threaded_wheel is False
    assert by_name["tokenizers"].free_threaded_wheel is False


def test_truncated_results_json(results_bytes):
    with pytest.raises(WheelsListFormatError) as info:
        parse_wheels_list(results_bytes[: len(results_bytes) // 2], where="results.json")
    assert info.value.one_line().startswith("results.json: invalid JSON")
    assert "truncated" in info.value.one_line()


def test_changed_results_format(results_bytes):
    doc = json.loads(results_bytes)
    doc["data"][3]["css_class"] = "danger"
    del doc["data"][7]["free_threaded_wheel"]
    with pytest.raises(WheelsListFormatError) as info:
        parse_wheels_list(json.dumps(doc))
    message = info.value.one_line()
    assert "data[3]" in message and "unknown css_class 'danger'" in message
    assert "data[7]: missing free_threaded_wheel" in message
    with pytest.raises(WheelsListFormatError, match="'data' list"):
        parse_wheels_list(json.dumps({"results": []}))
