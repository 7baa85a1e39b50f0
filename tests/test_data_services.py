"""The `data` services without the CLI: refresh (auditor.compat.refresh_service), the package
list (auditor.compat.package_list) and show / diff (auditor.compat.views), on the local index
of tests/test_compat_refresh (recorded PyPI answers, community excerpts) and the recorded index
of tests/requirements_server (real pages of pure and compiled projects)."""

from __future__ import annotations

import re
import stat
from datetime import date
from pathlib import Path

import pytest

from auditor.compat.dataset import read_census
from auditor.compat.package_list import PackageListOptions, build_package_list, read_ranking
from auditor.compat.refresh_service import (
    CensusStep,
    CommunityStep,
    RefreshOptions,
    RefreshResult,
    refresh_data,
)
from auditor.compat.views import find_disagreements, show_package
from auditor.errors import InputError
from auditor.http import HttpClient
from auditor.pypi import PyPIClient
from auditor.report.data import refresh_summary
from tests.requirements_server import RecordedIndex
from tests.support.compat_sources import EXCERPTS
from tests.test_compat_refresh import PACKAGES, Server, server  # noqa: F401 - fixture

TITLES = ("py-free-threading tracking table", "free-threaded-wheels list")


class Bars:
    """A BarFactory that records each bar: its label, total, the notes it was advanced with."""

    def __init__(self) -> None:
        self.bars: list[Bars.Bar] = []

    class Bar:
        def __init__(self, total: int, label: str) -> None:
            self.total, self.label, self.notes, self.closed = total, label, [], False

        def __enter__(self) -> Bars.Bar:
            return self

        def __exit__(self, *exc: object) -> None:
            self.closed = True

        def advance(self, n: int = 1, note: str = "") -> None:
            self.notes.append(note)

    def __call__(self, total: int, label: str) -> Bars.Bar:
        self.bars.append(Bars.Bar(total, label))
        return self.bars[-1]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def options(server: Server, tmp: Path, names=PACKAGES, **changes) -> RefreshOptions:
    packages = tmp / "packages.txt"
    packages.write_text("# test list\n" + "\n".join(names) + "\n")
    fields = dict(packages=packages, output=tmp / "census.json", workers=4,
                  index_url=f"{server.url}/simple", json_url=f"{server.url}/pypi",
                  source_urls={"tracking": f"{server.url}/community/tracking.md",
                               "wheels": f"{server.url}/community/results.json"})
    return RefreshOptions(**{**fields, **changes})


# ------------------------------------------------------------------ data refresh
def test_refresh_reports_each_step_and_writes_the_census(server, cache):
    steps: list[CommunityStep | CensusStep] = []
    bars = Bars()
    result = refresh_data(options(server, cache), progress=bars, on_step=steps.append)
    assert steps == [result.community, result.census]
    assert result.community == CommunityStep(states=((TITLES[0], "imported"), (TITLES[1], "imported")))
    census = result.census
    assert census is not None
    assert (census.read, census.kept, census.failed, census.inspected) == (5, 0, 0, 0)
    assert census.written == cache / "census.json" and census.errors == () and result.problems == 0
    assert list(read_census(census.written)["packages"]) == list(PACKAGES)
    assert [(b.label, b.total, b.closed) for b in bars.bars] == [("community", 2, True), ("census", 5, True)]
    assert sorted(bars.bars[1].notes) == sorted(PACKAGES)
    assert refresh_summary(result).splitlines() == [
        f"census: 5 packages read from PyPI in {census.seconds:.1f} s", f"wrote {cache / 'census.json'}",
        f"{TITLES[0]}: imported", f"{TITLES[1]}: imported"]


def test_refresh_keeps_previous_entries_and_counts_the_failures(server, cache, monkeypatch):
    first = refresh_data(options(server, cache, community=False))
    assert first.community is None and first.problems == 0
    server.fail["/simple/lxml/"] = 500
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(cache / "cache2"))  # so no cached page stands in for PyPI
    result = refresh_data(options(server, cache, names=PACKAGES + ("no-such-project",), community=False),
                          http=HttpClient(retries=0))
    census = result.census
    assert census is not None
    assert (census.read, census.kept, census.failed) == (4, 1, 1) and result.problems == 2
    lxml, missing = census.errors
    assert lxml.startswith(f"lxml: {server.url}/simple/lxml/: ") and "HTTP 500" in lxml
    assert lxml.endswith(" (previous data kept)")
    assert missing == (f"no-such-project: {server.url}/simple/no-such-project/: "
                       "no project named 'no-such-project' on the index")
    assert refresh_summary(result).splitlines()[0].endswith(", 1 kept from the previous data, 1 could not be read")


def test_refresh_with_nothing_readable_writes_nothing(server, cache, monkeypatch):
    refresh_data(options(server, cache, community=False))
    before = (cache / "census.json").read_bytes()
    for name in PACKAGES:
        server.fail[f"/simple/{name}/"] = 404
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(cache / "cache2"))
    result = refresh_data(options(server, cache, community=False))
    census = result.census
    assert census is not None and census.written is None and census.kept == 5
    assert census.errors[-1] == "no package could be read from PyPI; the previous census is unchanged"
    assert result.problems == 6
    assert (cache / "census.json").read_bytes() == before
    assert "wrote" not in refresh_summary(result)


def test_unreadable_community_sources_are_errors_said_before_a_bad_package_list(server, cache):
    server.fail["/community/tracking.md"] = 404
    server.fail["/community/results.json"] = 404
    steps: list[CommunityStep | CensusStep] = []
    opts = options(server, cache, packages=cache / "missing.txt")
    with pytest.raises(InputError, match="cannot read package list"):
        refresh_data(opts, http=HttpClient(retries=0), on_step=steps.append)
    [community] = steps
    assert isinstance(community, CommunityStep)
    assert community.states == ((TITLES[0], "not updated"), (TITLES[1], "not updated"))
    assert community.notes == () and community.problems == 2
    assert all(e.endswith("; no previous import to fall back on") for e in community.errors)


def test_an_empty_package_list_is_an_input_error(server, cache):
    empty = cache / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(InputError, match="the package list is empty"):
        refresh_data(options(server, cache, community=False, packages=empty))


def test_summary_with_neither_step_is_an_empty_line():
    assert refresh_summary(RefreshResult(community=None, census=None)) == "\n"
    deep = CensusStep(read=3, kept=0, failed=0, inspected=2, seconds=1.25, written=None)
    assert refresh_summary(RefreshResult(None, deep)) == "census: 3 packages read from PyPI in 1.2 s, 2 inspected (--deep)\n"


# ------------------------------------------------------------------ data packages
def test_read_ranking_plain_and_tsv(tmp_path):
    plain = tmp_path / "top.txt"
    plain.write_text("# most downloaded\nrequests\n\nnumpy  # compiled\n")
    assert read_ranking(plain) == (["requests", "numpy"], "")
    tsv = tmp_path / "top.tsv"
    tsv.write_text("name\trank_30d\nmsgpack\t2\nrequests\t1\nbcrypt\tn/a\nshort\nmarkupsafe\t10\n")
    assert read_ranking(tsv) == (["requests", "msgpack", "markupsafe"], ", column rank_30d")
    bad = tmp_path / "bad.tsv"
    bad.write_text("name\tdownloads\nrequests\t5\n")
    with pytest.raises(InputError, match=re.escape("needs a 'name' and a 'rank...' column")):
        read_ranking(bad)
    with pytest.raises(InputError, match="cannot read"):
        read_ranking(tmp_path / "missing.txt")


@pytest.fixture
def index(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path / "cache"))
    with RecordedIndex() as served:
        yield PyPIClient(served.url, None, http=HttpClient(retries=0))


RANKING = "# top\nrequests\ncertifi\nmarkupsafe\nhttp-500\nurllib3\nmsgpack\nbcrypt\nidna\n"


def test_package_list_stops_at_the_minimum_and_writes_the_file(tmp_path, index):
    ranking = tmp_path / "ranking.txt"
    ranking.write_text(RANKING)
    output = tmp_path / "out" / "packages.txt"
    bars = Bars()
    result = build_package_list(PackageListOptions(ranking=ranking, minimum=2, output=output, workers=2,
                                                   today=date(2026, 1, 2)), client=index, progress=bars)
    assert result.selected == ("markupsafe", "msgpack") and result.scanned == 6 and not result.short
    [error] = result.errors
    assert error.startswith("http-500: ") and "HTTP 500" in error
    assert result.written == output and output.read_text(encoding="utf-8") == result.text
    assert stat.S_IMODE(output.stat().st_mode) == 0o644
    assert [p.name for p in output.parent.iterdir()] == ["packages.txt"]   # no temporary left
    assert result.text.splitlines() == [
        "# ft-audit census package list: projects whose latest release ships compiled wheels,",
        "# in download-rank order. Derived 2026-01-02 by `ft-audit data packages` from",
        "# the download ranking ranking.txt (top 6 names scanned), the compiled-wheel",
        "# check made live against PyPI's simple JSON API. `ft-audit data refresh` re-checks it.",
        "markupsafe", "msgpack"]
    [bar] = bars.bars
    assert (bar.label, bar.total, bar.closed) == ("checking", 8, True)
    # checked in rank order, and no further than the name that made the minimum
    assert bar.notes == ["requests", "certifi", "markupsafe", "http-500", "urllib3", "msgpack"]


def test_package_list_short_of_the_minimum(tmp_path, index):
    ranking = tmp_path / "ranking.txt"
    ranking.write_text(RANKING)
    result = build_package_list(PackageListOptions(ranking=ranking, minimum=20, workers=2), client=index)
    assert result.selected == ("markupsafe", "msgpack", "bcrypt") and result.scanned == 7
    assert result.short and result.written is None
    assert "(top 7 names scanned)" in result.text


# ------------------------------------------------------------------ data show / diff
@pytest.fixture
def imported(tmp_path, monkeypatch):
    monkeypatch.setenv("FT_AUDIT_CACHE_DIR", str(tmp_path))
    result = refresh_data(RefreshOptions(census=False, from_files={"tracking": EXCERPTS / "tracking.md",
                                                                   "wheels": EXCERPTS / "results.json"}))
    assert result.problems == 0


def test_show_package(imported):
    view = show_package("lxml", "6.1.3")
    assert view.known and view.record.version == "6.1.3"
    assert view.record.tracker is not None and view.record.tracker.first_version == "7.0.0"
    assert any("stale" in note for note in view.notes)   # the June excerpt of the wheels list
    unknown = show_package("surely-not-a-package-xyz")
    assert not unknown.known and unknown.record.name == "surely-not-a-package-xyz"


def test_find_disagreements_filtered_by_source(imported):
    everything = find_disagreements()
    assert everything.has_census
    by = {(r.name, d.source) for r, found in everything.rows for d in found}
    assert {("zstandard", "tracker"), ("tokenizers", "wheels-list"), ("lxml", "tracker")} <= by
    tracker = find_disagreements("tracker")
    assert {r.name for r, _ in tracker.rows} == {name for name, source in by if source == "tracker"}
    assert all(d.source == "tracker" for _, found in tracker.rows for d in found)
    assert tracker.notes == everything.notes   # the filter narrows the rows, not what the reader is told
