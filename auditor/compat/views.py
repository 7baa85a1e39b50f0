"""`data show` and `data diff` as services: what the sources say about one package, and every
disagreement between the sources and the evidence, each with the notes a reader needs (stored
data problems, a stale census, community claims the census cannot check). Nothing here prints
or exits: auditor.commands.data renders these through auditor.report.data.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.compat.lookup import CompatData, CompatRecord, Disagreement, load_compat


@dataclass(frozen=True)
class PackageView:
    record: CompatRecord
    data: CompatData
    notes: tuple[str, ...]

    @property
    def known(self) -> bool:
        """Does any source speak about this package?"""
        return bool(self.record.census or self.record.tracker or self.record.wheels_list)


@dataclass(frozen=True)
class SourceDisagreements:
    data: CompatData
    rows: list[tuple[CompatRecord, list[Disagreement]]]   # packages with at least one disagreement
    notes: tuple[str, ...]

    @property
    def has_census(self) -> bool:
        """False: there is no evidence to compare the sources against (rows is then empty)."""
        return self.data.census_doc is not None


def dataset_notes(data: CompatData) -> list[str]:
    """The stored data's own notes, and one when the census is old."""
    notes = list(data.notes)
    stale = data.staleness_note()
    if stale:
        notes.append(stale)
    return notes


def show_package(name: str, version: str | None = None, *, online: bool = False) -> PackageView:
    """Everything the sources say about `name` (with `version`: its free-threaded wheels too);
    online: refresh the community sources live first (cached for a day)."""
    data = load_compat(allow_network=online)
    notes = dataset_notes(data)
    return PackageView(record=data.lookup(name, version), data=data, notes=tuple(notes))


def find_disagreements(source: str | None = None, *, online: bool = False) -> SourceDisagreements:
    """Every disagreement between the sources and the census (only `source`'s when given)."""
    data = load_compat(allow_network=online)
    notes = dataset_notes(data)
    if data.census_doc is None:
        return SourceDisagreements(data=data, rows=[], notes=tuple(notes))
    rows = data.all_disagreements()
    outside = data.community_names_outside_census()
    if outside:
        notes.append(f"{len(outside)} projects named by the community sources are not in the census, so their "
                     "claims are not checked (e.g. " + ", ".join(outside[:5]) + "); "
                     "`ft-audit data refresh --add-community-names` adds them")
    if source:
        rows = [(r, [d for d in found if d.source == source]) for r, found in rows]
        rows = [(r, found) for r, found in rows if found]
    return SourceDisagreements(data=data, rows=rows, notes=tuple(notes))
