"""`data refresh` as a service: re-import the community sources, rebuild the census, write it.

The command (auditor.commands.data) parses the options and renders what `refresh_data`
returns; nothing here prints or exits. Each step's notes, warnings and errors are one-line
strings, kept in its result and handed to `on_step` as soon as the step ends, so a command can
say what went wrong with the community sources before the census (minutes of PyPI reads)
starts, and still has said it when a bad package list stops the census with an InputError.
The census itself is built by auditor.compat.refresh.run_census.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from auditor.compat.refresh import DEFAULT_WORKERS, run_census
from auditor.errors import InputError
from auditor.http import HttpClient
from auditor.progress import BarFactory, no_progress
from auditor.pypi import DEFAULT_INDEX_URL, DEFAULT_JSON_URL, PyPIClient

DEFAULT_DEEP_MAX_MB = 150      # --deep skips larger wheels


@dataclass(frozen=True)
class RefreshOptions:
    community: bool = True                 # re-import the community sources
    census: bool = True                    # rebuild the census from PyPI
    packages: Path | None = None           # the package list; None: the bundled data/packages.txt
    from_files: Mapping[str, Path] = field(default_factory=dict)   # source -> local copy to import
    source_urls: Mapping[str, str] = field(default_factory=dict)   # source -> URL instead of its default
    add_community_names: bool = False      # also census every project the community sources name
    deep: bool = False                     # inspect the latest release's free-threaded wheels
    deep_limit: int | None = None          # ... of the first N packages only
    deep_max_mb: int = DEFAULT_DEEP_MAX_MB
    output: Path | None = None             # where the census goes; None: the user cache
    workers: int = DEFAULT_WORKERS
    index_url: str = DEFAULT_INDEX_URL
    json_url: str = DEFAULT_JSON_URL


@dataclass(frozen=True)
class CommunityStep:
    """What re-importing the community sources did."""

    states: tuple[tuple[str, str], ...]    # (source title, "imported" | "unchanged" | "not updated")
    notes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()         # none: the same shape as CensusStep for on_step

    @property
    def problems(self) -> int:
        return len(self.errors)


@dataclass(frozen=True)
class CensusStep:
    """What rebuilding the census did; `written` is None when no package could be read."""

    read: int                              # packages read fresh from PyPI
    kept: int                              # packages not read whose previous entry was kept
    failed: int                            # packages not read and with no previous entry
    inspected: int                         # packages whose free-threaded wheels were inspected (--deep)
    seconds: float
    written: Path | None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def problems(self) -> int:
        return self.kept + self.failed + (1 if self.written is None else 0)


Step = CommunityStep | CensusStep


@dataclass(frozen=True)
class RefreshResult:
    community: CommunityStep | None        # None: not asked for
    census: CensusStep | None

    @property
    def problems(self) -> int:
        """Errors that make the refresh exit 2: a source or package not read, nothing written."""
        return sum(step.problems for step in (self.community, self.census) if step is not None)


def refresh_data(options: RefreshOptions, *, http: HttpClient | None = None, progress: BarFactory = no_progress,
                 on_step: Callable[[Step], None] | None = None) -> RefreshResult:
    """Run the steps the options ask for, the community sources first (with --add-community-names
    the census reads the names they name). Raises InputError for a missing or empty package list."""
    http = http or HttpClient()
    community = census = None
    if options.community:
        community = refresh_community_sources(options, http=http, progress=progress)
        if on_step:
            on_step(community)
    if options.census:
        census = rebuild_census(options, http=http, progress=progress)
        if on_step:
            on_step(census)
    return RefreshResult(community, census)


def refresh_community_sources(options: RefreshOptions, *, http: HttpClient | None = None,
                              progress: BarFactory = no_progress) -> CommunityStep:
    """Import each community source from its local copy or its URL; a failed one keeps its old import."""
    from auditor.compat.community import SOURCE_TITLES, SOURCES, refresh_community

    with progress(len(SOURCES), "community") as bar:
        _, outcome = refresh_community(from_files=dict(options.from_files), urls=dict(options.source_urls),
                                       http=http, on_source=lambda s: bar.advance(note=s))
    # An unreachable live source is a note while another one was read; when none could be
    # read, the refresh checked nothing: each is an error, and the exit code 2.
    nothing_read = outcome.nothing_read()
    states = tuple((SOURCE_TITLES[source],
                    "imported" if source in outcome.updated else
                    "unchanged" if source in outcome.unchanged else "not updated") for source in SOURCES)
    return CommunityStep(
        states=states,
        notes=(*outcome.notes, *(() if nothing_read else outcome.unreachable)),
        errors=(*(outcome.unreachable if nothing_read else ()), *outcome.errors),
    )


def census_names(options: RefreshOptions) -> tuple[list[str], Path]:
    """The names to census, in list order, and the list they came from (InputError: none)."""
    from auditor.compat.dataset import PACKAGES_FILE, bundled_path, read_package_list

    list_path = options.packages or bundled_path(PACKAGES_FILE)
    if list_path is None:
        raise InputError("--packages", "no package list given and no bundled data/packages.txt found")
    names = read_package_list(list_path)
    if not names:
        raise InputError(str(list_path), "the package list is empty")
    if options.add_community_names:
        from auditor.compat.lookup import load_compat

        extra = load_compat().community_names()
        names += [n for n in extra if n not in names]
    return names, list_path


def rebuild_census(options: RefreshOptions, *, http: HttpClient | None = None, progress: BarFactory = no_progress) -> CensusStep:
    """Read every listed package from PyPI (keeping the previous entry of one that fails) and
    write the census atomically; write nothing when no package could be read."""
    from auditor.compat.dataset import newest_census, read_census, user_census_path, write_json_atomic
    names, list_path = census_names(options)
    output = options.output or user_census_path()
    notes: list[str] = []
    previous = None
    if output.is_file():
        try:
            previous = read_census(output)
        except InputError as exc:
            notes.append(f"{exc.one_line()}; starting afresh")
    if previous is None:
        previous = newest_census()[0]
    client = PyPIClient(options.index_url, options.json_url, http=http)
    deep_names: frozenset[str] = frozenset()
    if options.deep:
        deep_names = frozenset(names[: options.deep_limit] if options.deep_limit else names)
    with progress(len(names), "census") as bar:
        census = run_census(names, client, previous=previous, workers=options.workers,
                            on_done=lambda n: bar.advance(note=n),
                            package_list={"path": list_path.name, "count": len(names)},
                            deep_names=deep_names, deep_max_bytes=options.deep_max_mb << 20)
    errors = [f"{name}: {reason}{' (previous data kept)' if name in census.kept else ''}"
              for name, reason in {**census.kept, **census.failed}.items()]
    written = None
    if census.document is None:
        errors.append("no package could be read from PyPI; the previous census is unchanged")
    else:
        write_json_atomic(output, census.document)
        written = output
    return CensusStep(read=len(census.read), kept=len(census.kept), failed=len(census.failed),
                      inspected=len(census.inspected), seconds=census.seconds, written=written,
                      notes=tuple(notes), warnings=tuple(census.warnings), errors=tuple(errors))
