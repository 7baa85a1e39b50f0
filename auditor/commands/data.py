"""`ft-audit data`: the compatibility dataset (census from PyPI + community sources).

    ft-audit data show NAME [--version V] [--format json]
    ft-audit data diff [--format json] [--source tracker|wheels-list|classifier|census]
    ft-audit data refresh [--deep] [--packages FILE] [--from-file SRC=PATH] [--output PATH]
    ft-audit data packages --ranking FILE [--minimum N] [--output PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from auditor.errors import InputError

NAME = "data"
HELP = "show, compare and refresh the compatibility data (census from PyPI, community trackers)"

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")

    show = sub.add_parser("show", help="everything the sources say about one package, with dates")
    show.add_argument("name")
    show.add_argument("--version", dest="package_version", metavar="VERSION",
                      help="also say which free-threaded wheels this release has")
    _common_read_options(show)

    diff = sub.add_parser("diff", help="every disagreement between the sources and the evidence")
    diff.add_argument("--source", choices=("tracker", "wheels-list", "classifier", "census"),
                      help="only disagreements with this source")
    _common_read_options(diff)

    refresh = sub.add_parser("refresh", help="rebuild the census from PyPI and re-import the community sources")
    refresh.add_argument("--packages", type=Path, metavar="FILE",
                         help="package list, one name a line (default: the bundled data/packages.txt)")
    refresh.add_argument("--from-file", action="append", default=[], metavar="SRC=PATH",
                         help="import a local copy of a community source instead of fetching it "
                         "(SRC: tracking = tracking.md, wheels = results.json); repeatable")
    refresh.add_argument("--source-url", action="append", default=[], metavar="SRC=URL",
                         help="fetch a community source from this URL instead of its default")
    refresh.add_argument("--deep", action="store_true",
                         help="also download the latest release's free-threaded wheels and inspect them")
    refresh.add_argument("--deep-limit", type=int, metavar="N",
                         help="with --deep, inspect only the first N packages of the list")
    refresh.add_argument("--deep-max-mb", type=int, default=150, metavar="MB",
                         help="with --deep, skip wheels larger than this (default: 150)")
    refresh.add_argument("--output", type=Path, metavar="PATH",
                         help="where to write the census (default: the user cache; "
                         "data/census.json regenerates the bundled dataset)")
    refresh.add_argument("--add-community-names", action="store_true",
                         help="also census every PyPI project the imported community sources name, "
                         "so `data diff` can check all of their claims")
    refresh.add_argument("--no-census", action="store_true", help="only re-import the community sources")
    refresh.add_argument("--no-community", action="store_true", help="only rebuild the census")
    refresh.add_argument("--workers", type=int, default=12, metavar="N",
                         help="concurrent PyPI requests (default: 12)")
    refresh.add_argument("--index-url", default="https://pypi.org/simple", help="simple (PEP 691) index URL")
    refresh.add_argument("--json-url", default="https://pypi.org/pypi", help="PyPI project JSON API URL")

    packages = sub.add_parser("packages", help="derive the default package list from a download ranking")
    packages.add_argument("--ranking", type=Path, required=True, metavar="FILE",
                          help="names in download-rank order: one a line, or a TSV with 'name' and a "
                          "'rank...' column")
    packages.add_argument("--minimum", type=int, default=300, metavar="N",
                          help="stop once this many packages with compiled wheels are found (default: 300)")
    packages.add_argument("--output", type=Path, default=None, metavar="PATH",
                          help="write the list here (default: stdout)")
    packages.add_argument("--workers", type=int, default=12, metavar="N")


def _common_read_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--online", action="store_true",
                        help="refresh the community sources live first (cached for a day)")


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "data_command", None)
    if action == "show":
        return _show(args)
    if action == "diff":
        return _diff(args)
    if action == "refresh":
        return _refresh(args)
    if action == "packages":
        return _packages(args)
    print("ft-audit data: choose an action: show, diff, refresh, packages", file=sys.stderr)
    return EXIT_ERROR


def _notes(data) -> list[str]:
    notes = list(data.notes)
    stale = data.staleness_note()
    if stale:
        notes.append(stale)
    return notes


def _print_notes(notes: list[str]) -> None:
    from auditor.output import note

    for text in notes:
        note(text)      # not with --quiet


def _show(args: argparse.Namespace) -> int:
    from auditor.compat.lookup import load_compat
    from auditor.report import data as render

    data = load_compat(allow_network=args.online)
    notes = _notes(data)
    record = data.lookup(args.name, args.package_version)
    if args.format == "json":
        sys.stdout.write(render.show_json(record, data, notes))
    else:
        _print_notes(notes)
        sys.stdout.write(render.show_text(record, data))
    if not (record.census or record.tracker or record.wheels_list):
        print(f"ft-audit: {record.name}: no source knows this package", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from auditor.compat.lookup import load_compat
    from auditor.report import data as render

    data = load_compat(allow_network=args.online)
    notes = _notes(data)
    if data.census_doc is None:
        _print_notes(notes)
        print("ft-audit: no census data to compare against", file=sys.stderr)
        return EXIT_ERROR
    rows = data.all_disagreements()
    outside = data.community_names_outside_census()
    if outside:
        notes.append(f"{len(outside)} projects named by the community sources are not in the census, so their "
                     "claims are not checked (e.g. " + ", ".join(outside[:5]) + "); "
                     "`ft-audit data refresh --add-community-names` adds them")
    if args.source:
        rows = [(r, [d for d in found if d.source == args.source]) for r, found in rows]
        rows = [(r, found) for r, found in rows if found]
    if args.format == "json":
        sys.stdout.write(render.diff_json(rows, data, notes))
    else:
        _print_notes(notes)
        sys.stdout.write(render.diff_text(rows, data))
    return EXIT_FINDINGS if rows else EXIT_OK


def _pairs(values: list[str], option: str, allowed: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or key not in allowed or not rest:
            raise InputError(option, f"expected SRC=VALUE with SRC one of {', '.join(allowed)}, got {value!r}")
        out[key] = rest
    return out


def _refresh(args: argparse.Namespace) -> int:
    from auditor.compat.community import SOURCE_TITLES, SOURCES, refresh_community
    from auditor.compat.dataset import (
        PACKAGES_FILE,
        bundled_path,
        newest_census,
        read_census,
        read_package_list,
        user_census_path,
        write_json_atomic,
    )
    from auditor.compat.refresh import run_census
    from auditor.http import HttpClient
    from auditor.progress import Progress
    from auditor.pypi import PyPIClient
    from auditor.report import data as render

    from_files = {k: Path(v) for k, v in _pairs(args.from_file, "--from-file", SOURCES).items()}
    urls = _pairs(args.source_url, "--source-url", SOURCES)
    http = HttpClient()
    summary: dict = {"read": 0, "kept": 0, "failed": 0, "seconds": 0.0, "community": [],
                     "census": not args.no_census}
    problems = 0

    if not args.no_community:
        with Progress(len(SOURCES), "community") as bar:
            _, community = refresh_community(from_files=from_files, urls=urls, http=http,
                                             on_source=lambda s: bar.advance(note=s))
        for note in community.notes:
            print(f"ft-audit: note: {note}", file=sys.stderr)
        # An unreachable live source is a note while another one was read; when none could
        # be read, the refresh checked nothing: each is an error, and the exit code 2.
        nothing_read = community.nothing_read()
        for line in community.unreachable:
            print(f"ft-audit: {'error' if nothing_read else 'note'}: {line}", file=sys.stderr)
        for error in community.errors:
            print(f"ft-audit: error: {error}", file=sys.stderr)
        problems += len(community.errors) + (len(community.unreachable) if nothing_read else 0)
        for source in SOURCES:
            state = ("imported" if source in community.updated else "unchanged" if source in community.unchanged
                     else "not updated")
            summary["community"].append({"title": SOURCE_TITLES[source], "state": state})

    if not args.no_census:
        list_path = args.packages or bundled_path(PACKAGES_FILE)
        if list_path is None:
            raise InputError("--packages", "no package list given and no bundled data/packages.txt found")
        names = read_package_list(list_path)
        if not names:
            raise InputError(str(list_path), "the package list is empty")
        if args.add_community_names:
            from auditor.compat.lookup import load_compat

            extra = load_compat().community_names()
            names += [n for n in extra if n not in names]
        output = args.output or user_census_path()
        previous = None
        if output.is_file():
            try:
                previous = read_census(output)
            except InputError as exc:
                print(f"ft-audit: note: {exc.one_line()}; starting afresh", file=sys.stderr)
        if previous is None:
            previous = newest_census()[0]
        client = PyPIClient(args.index_url, args.json_url, http=http)
        deep_names: frozenset[str] = frozenset()
        if args.deep:
            deep_names = frozenset(names[: args.deep_limit] if args.deep_limit else names)
        with Progress(len(names), "census") as bar:
            census = run_census(names, client, previous=previous, workers=args.workers,
                                on_done=lambda n: bar.advance(note=n),
                                package_list={"path": list_path.name, "count": len(names)},
                                deep_names=deep_names, deep_max_bytes=args.deep_max_mb << 20)
        for warning in census.warnings:
            print(f"ft-audit: warning: {warning}", file=sys.stderr)
        for name, reason in {**census.kept, **census.failed}.items():
            kept = " (previous data kept)" if name in census.kept else ""
            print(f"ft-audit: error: {name}: {reason}{kept}", file=sys.stderr)
        problems += len(census.kept) + len(census.failed)
        summary.update(read=len(census.read), kept=len(census.kept), failed=len(census.failed),
                       seconds=census.seconds,
                       deep=len(census.inspected))
        if census.document is None:
            print("ft-audit: error: no package could be read from PyPI; the previous census is unchanged",
                  file=sys.stderr)
            sys.stdout.write(render.refresh_summary(summary))
            return EXIT_ERROR
        write_json_atomic(output, census.document)
        summary["written"] = str(output)
    sys.stdout.write(render.refresh_summary(summary))
    return EXIT_ERROR if problems else EXIT_OK


def _packages(args: argparse.Namespace) -> int:
    from auditor.compat.refresh import derive_package_list
    from auditor.progress import Progress
    from auditor.pypi import PyPIClient

    ranked, described = read_ranking(args.ranking)
    started = time.monotonic()
    with Progress(len(ranked), "checking") as bar:
        selected, errors = derive_package_list(ranked, PyPIClient(), minimum=args.minimum, workers=args.workers,
                                               on_checked=lambda n, c: bar.advance(note=n))
    for name, reason in errors.items():
        print(f"ft-audit: error: {name}: {reason}", file=sys.stderr)
    scanned = ranked.index(selected[-1]) + 1 if selected else len(ranked)
    header = [
        "# ft-audit census package list: projects whose latest release ships compiled wheels,",
        f"# in download-rank order. Derived {date.today().isoformat()} by `ft-audit data packages` from",
        f"# the download ranking {args.ranking.name}{described} (top {scanned} names scanned), the compiled-wheel",
        "# check made live against PyPI's simple JSON API. `ft-audit data refresh` re-checks it.",
    ]
    text = "\n".join(header + selected) + "\n"
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=args.output.parent, prefix=".packages.")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, args.output)
        print(f"{len(selected)} packages (of {scanned} scanned) in {time.monotonic() - started:.1f} s "
              f"-> {args.output}")
    else:
        sys.stdout.write(text)
    if len(selected) < args.minimum:
        print(f"ft-audit: error: only {len(selected)} packages with compiled wheels found", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def read_ranking(path: Path) -> tuple[list[str], str]:
    """Names in rank order from a plain list or a TSV with a 'name' and a 'rank...' column."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(str(path), f"cannot read ({exc.strerror or exc})") from None
    if lines and "\t" in lines[0]:
        header = lines[0].split("\t")
        rank_col = next((i for i, h in enumerate(header) if h.startswith("rank")), None)
        if "name" not in header or rank_col is None:
            raise InputError(str(path), "a TSV ranking needs a 'name' and a 'rank...' column")
        name_col = header.index("name")
        ranked = []
        for line in lines[1:]:
            cells = line.split("\t")
            if len(cells) > max(name_col, rank_col) and cells[rank_col].strip().isdigit():
                ranked.append((int(cells[rank_col]), cells[name_col].strip()))
        return [name for _, name in sorted(ranked)], f", column {header[rank_col]}"
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()], ""
