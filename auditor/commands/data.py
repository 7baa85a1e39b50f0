"""`ft-audit data`: the compatibility dataset (census from PyPI + community sources).

    ft-audit data show NAME [--version V] [--format json]
    ft-audit data diff [--format json] [--source tracker|wheels-list|classifier|census]
    ft-audit data refresh [--deep] [--packages FILE] [--from-file SRC=PATH] [--output PATH]
    ft-audit data packages --ranking FILE [--minimum N] [--output PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.errors import InputError

if TYPE_CHECKING:
    from auditor.compat.refresh_service import CensusStep, CommunityStep

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


def _print_notes(notes: tuple[str, ...]) -> None:
    from auditor.output import note

    for text in notes:
        note(text)      # not with --quiet


def _show(args: argparse.Namespace) -> int:
    from auditor.compat.views import show_package
    from auditor.report import data as render

    view = show_package(args.name, args.package_version, online=args.online)
    if args.format == "json":
        sys.stdout.write(render.show_json(view.record, view.data, list(view.notes)))
    else:
        _print_notes(view.notes)
        sys.stdout.write(render.show_text(view.record, view.data))
    if not view.known:
        print(f"ft-audit: {view.record.name}: no source knows this package", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from auditor.compat.views import find_disagreements
    from auditor.report import data as render

    found = find_disagreements(args.source, online=args.online)
    if not found.has_census:
        _print_notes(found.notes)
        print("ft-audit: no census data to compare against", file=sys.stderr)
        return EXIT_ERROR
    if args.format == "json":
        sys.stdout.write(render.diff_json(found.rows, found.data, list(found.notes)))
    else:
        _print_notes(found.notes)
        sys.stdout.write(render.diff_text(found.rows, found.data))
    return EXIT_FINDINGS if found.rows else EXIT_OK


def _pairs(values: list[str], option: str, allowed: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or key not in allowed or not rest:
            raise InputError(option, f"expected SRC=VALUE with SRC one of {', '.join(allowed)}, got {value!r}")
        out[key] = rest
    return out


def _refresh(args: argparse.Namespace) -> int:
    from auditor.compat.community import SOURCES
    from auditor.compat.refresh_service import RefreshOptions, refresh_data
    from auditor.progress import Progress
    from auditor.report import data as render

    options = RefreshOptions(
        community=not args.no_community, census=not args.no_census, packages=args.packages,
        from_files={k: Path(v) for k, v in _pairs(args.from_file, "--from-file", SOURCES).items()},
        source_urls=_pairs(args.source_url, "--source-url", SOURCES),
        add_community_names=args.add_community_names, deep=args.deep, deep_limit=args.deep_limit,
        deep_max_mb=args.deep_max_mb, output=args.output, workers=args.workers,
        index_url=args.index_url, json_url=args.json_url)
    result = refresh_data(options, progress=Progress, on_step=_say)
    sys.stdout.write(render.refresh_summary(result))
    return EXIT_ERROR if result.problems else EXIT_OK


def _say(step: CommunityStep | CensusStep) -> None:
    """A step's lines on stderr as soon as it ends (always: --quiet keeps errors and these notes)."""
    for level, lines in (("note", step.notes), ("warning", step.warnings), ("error", step.errors)):
        for line in lines:
            print(f"ft-audit: {level}: {line}", file=sys.stderr)


def _packages(args: argparse.Namespace) -> int:
    from auditor.compat.package_list import PackageListOptions, build_package_list
    from auditor.progress import Progress

    result = build_package_list(PackageListOptions(ranking=args.ranking, minimum=args.minimum,
                                                   output=args.output, workers=args.workers),
                                progress=Progress)
    for line in result.errors:
        print(f"ft-audit: error: {line}", file=sys.stderr)
    if result.written:
        print(f"{len(result.selected)} packages (of {result.scanned} scanned) in {result.seconds:.1f} s "
              f"-> {result.written}")
    else:
        sys.stdout.write(result.text)
    if result.short:
        print(f"ft-audit: error: only {len(result.selected)} packages with compiled wheels found", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK
