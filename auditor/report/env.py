"""Rendering of an environment audit: text and Markdown grouped by what the user must do
(auditor.envaudit.next_step) under a few summary lines, and JSON. Formatters never compute
verdicts; they read EnvAudit."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence

from auditor.envaudit import BlockedBy, DistributionAudit, EnvAudit, NextStep, next_step
from auditor.model import SCHEMA, Finding, Subinterpreters
from auditor.rollup import SUBINTERP_WORST_FIRST

SI_TITLES = {
    Subinterpreters.NOT_SUPPORTED: "not supported in sub-interpreters",
    Subinterpreters.SHARED_GIL_ONLY: "shared-GIL sub-interpreters only",
    Subinterpreters.UNKNOWN: "sub-interpreter support unknown",
    Subinterpreters.OWN_GIL: "own-GIL sub-interpreters",
}


def render_json(audit: EnvAudit) -> str:
    """The documented document, `schema` first. Written without indentation: an environment
    document runs to megabytes, and only the unindented form uses the C encoder (5-10x faster
    than the pure-Python one that indent= selects); pipe it through `jq .` to read it."""
    doc = {"schema": SCHEMA, **audit.to_json()}
    return json.dumps(doc, ensure_ascii=False) + "\n"


# Groups by what the user must do, worst first (auditor.envaudit.next_step decides the group).
STEP_TITLES_GIL_BUILD = {
    NextStep.NO_WHEEL: "no free-threaded wheel: build from source or ask upstream",
    NextStep.WHEEL_REENABLES_GIL: "a free-threaded wheel exists, but it re-enables the GIL (or cannot load)",
    NextStep.UNKNOWN: "could not tell: check by hand",
    NextStep.UPGRADE: "upgrade: a later version has a free-threaded wheel",
    NextStep.REINSTALL: "reinstall on the t build: the installed version has a free-threaded wheel that keeps the GIL off",
    NextStep.NOT_ON_INDEX: "not on the index (built here or from another index): nothing published to check",
    NextStep.READY: "ready: the GIL stays off",
    NextStep.PURE_PYTHON: "pure Python: nothing to rebuild",
}
STEP_TITLES_FT_BUILD = {
    **STEP_TITLES_GIL_BUILD,
    NextStep.NO_WHEEL: "cannot load here, and no free-threaded wheel: build from source or ask upstream",
    NextStep.WHEEL_REENABLES_GIL: "re-enables the GIL when imported",
    NextStep.UPGRADE: "cannot load here: upgrade, a later version has a free-threaded wheel",
    NextStep.REINSTALL: "cannot load here: reinstall, the installed version has a free-threaded wheel",
}
# The summary's words for each group's count.
_STEP_COUNTS = {
    NextStep.NO_WHEEL: "no free-threaded wheel",
    NextStep.WHEEL_REENABLES_GIL: "re-enables the GIL",
    NextStep.UNKNOWN: "could not tell",
    NextStep.UPGRADE: "upgrade",
    NextStep.REINSTALL: "reinstall a ready wheel",
    NextStep.NOT_ON_INDEX: "not on the index",
    NextStep.READY: "ready",
}


def steps(audit: EnvAudit) -> dict[NextStep, list[DistributionAudit]]:
    """Distributions by next step, worst first, empty groups left out."""
    ft = audit.interpreter.free_threaded
    out: dict[NextStep, list[DistributionAudit]] = {step: [] for step in NextStep}
    for d in audit.distributions:
        out[next_step(d, free_threaded=ft)].append(d)
    return {step: group for step, group in out.items() if group}


def _targets(audit: EnvAudit) -> str:
    names = sorted({o.target for d in audit.distributions for o in d.ft_offers})
    return ", ".join(names)


def summary_lines(audit: EnvAudit) -> list[str]:
    """A few short lines: what is there, the free-threading answer, the sub-interpreter answer."""
    s = audit.summary
    interp = audit.interpreter
    ft = s["free_threading"]
    si = s["subinterpreters"]
    with_ext, modules, total = s["distributions_with_extensions"], s["loadable_modules"], s["distributions"]
    orphans = f", {s['orphans']} owned by no distribution" if s["orphans"] else ""
    if modules:
        lines = [f"{_count(total, 'distribution')}: {with_ext} with extension modules "
                 f"({_count(modules, 'module')}{orphans}), {total - with_ext} pure Python."]
    else:
        lines = [f"{_count(total, 'distribution')}, no extension modules for this interpreter."]
    grouped = steps(audit)
    counted = [f"{words} ({len(grouped[step])})" for step, words in _STEP_COUNTS.items() if step in grouped]
    if not modules:
        pass   # nothing to say about the GIL: no module decides it
    elif interp.free_threaded:
        if ft["gil_stays_off"] is True:
            lines.append(f"Free-threaded {interp.label}: the GIL stays off; "
                         + ("its one module declares it." if modules == 1 else f"all {modules} modules declare it."))
        elif ft["gil_stays_off"] is False:
            lines.append(f"Free-threaded {interp.label}: the GIL would NOT stay off "
                         f"({', '.join(ft['reenabling'][:6]) or 'modules that cannot load'}).")
            lines.append(f"Distributions with extension modules: {', '.join(counted)}.")
        else:
            lines.append(f"Free-threaded {interp.label}: whether the GIL stays off is undecided.")
            lines.append(f"Distributions with extension modules: {', '.join(counted)}.")
    elif any(d.ft_offers for d in audit.distributions):
        lines.append(f"On {_targets(audit)} (this GIL build's binaries cannot load there): {', '.join(counted)}.")
    else:
        lines.append(f"GIL build {interp.label}: its binaries cannot load on a free-threaded interpreter "
                     "(PyPI not asked what it offers).")
    if with_ext:
        refuse = si["modules"].get(Subinterpreters.NOT_SUPPORTED, 0)
        blocked = len(_blocked_subinterpreters(audit))
        lines.append(f"Own-GIL sub-interpreters: {si['own_gil_distributions']} of {with_ext} distributions with "
                     "extension modules load there"
                     + (f"; {_count(refuse, 'module')} {'refuses' if refuse == 1 else 'refuse'} every sub-interpreter"
                        if refuse else "")
                     + (f"; {blocked} more blocked by a dependency" if blocked else "") + ".")
    if "verify" in s:
        v = s["verify"]
        lines.append(f"Runtime proof: {v['agree']} modules agree with the static answer, {v['disagree']} disagree, "
                     f"{v['unverified']} could not be checked.")
    return lines


def summary_paragraph(audit: EnvAudit) -> str:
    return "\n".join(summary_lines(audit))


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _blocked_subinterpreters(audit: EnvAudit) -> list[DistributionAudit]:
    """Distributions that would load in an own-GIL sub-interpreter themselves (or are pure
    Python) but need one that does not; one whose own modules refuse says so already."""
    return [d for d in audit.distributions
            if d.blocked_by_subinterpreters and d.subinterpreters.value == Subinterpreters.OWN_GIL]


def _needs(chains: Sequence[BlockedBy]) -> str:
    """`requests needs charset-normalizer (charset_normalizer.cd: not-supported)`, the first chain."""
    first, more = chains[0], len(chains) - 1
    return (f"{first.chain[0]} needs {' -> '.join(first.chain[1:])} ({first.module}: {first.verdict})"
            + (f" and {more} more" if more else ""))


def _evidence(d: DistributionAudit, step: NextStep, free_threaded: bool) -> str:
    if step is NextStep.NOT_ON_INDEX:
        return "build it on the free-threaded interpreter" if not free_threaded else d.free_threading.reason
    if step is NextStep.READY:
        return d.free_threading.reason
    blocked = d.blocked_by_free_threading[0].text if d.blocked_by_free_threading else ""
    offers = _offers(d)
    if free_threaded:
        return "; ".join(x for x in (d.free_threading.reason, offers) if x) or blocked
    return offers or "PyPI not asked"


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    widths[-1] = 0
    lines = ["  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip()]
    for r in rows:
        lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    return lines


def _rows(rows: Sequence[Sequence[str]]) -> list[str]:
    """Aligned columns without a heading (the group's title says what they are)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]


def _offers(d: DistributionAudit) -> str:
    return "; ".join(o.text for o in d.ft_offers)


def render_quiet(audit: EnvAudit, failures: Sequence[Finding]) -> str:
    """--quiet: nothing when --fail-on selects nothing, else those findings and one verdict line."""
    if not failures:
        return ""
    lines = [f"  {f.severity:7} {f.code}  {f.message}" for f in failures]
    lines.append(f"{len(failures)} finding(s) selected by --fail-on in {audit.interpreter.label}'s environment")
    return "\n".join(lines) + "\n"


def problem_lines(audit: EnvAudit) -> list[str]:
    """What could not be read, one line each: the command prints them on stderr, in every format."""
    return list(audit.errors) + [e for d in audit.distributions for e in d.errors] \
        + [f"{m.file.relpath}: {e}" for m in audit.all_modules() for e in m.report.errors]


def render_text(audit: EnvAudit) -> str:
    interp = audit.interpreter
    out: list[str] = []
    where = interp.executable or ", ".join(interp.environment_dirs)
    out.append(f"ft-audit env: {where} (CPython {'.'.join(map(str, interp.version))}, "
               f"{'free-threaded' if interp.free_threaded else 'GIL'} build{'' if interp.probed else ', declared by --target'})")
    out.append("")
    out.extend(summary_lines(audit))
    with_ext = [d for d in audit.distributions if d.has_extensions]
    grouped = steps(audit)
    titles = STEP_TITLES_FT_BUILD if interp.free_threaded else STEP_TITLES_GIL_BUILD
    if with_ext:
        out.append("")
        out.append(f"Free-threading on {interp.label}" if interp.free_threaded
                   else f"Free-threading on {_targets(audit) or 'a free-threaded build'} (what to do there)")
    for step, group in grouped.items():
        if step is NextStep.PURE_PYTHON:
            continue
        out.append(f" {titles[step]} ({len(group)}):")
        rows = [(d.name, d.version or "?", _count(len(d.modules), "module"),
                 _evidence(d, step, interp.free_threaded)) for d in group]
        out.extend(_rows(rows))
    pure = grouped.get(NextStep.PURE_PYTHON, [])
    if pure and with_ext:
        out.append(f" {titles[NextStep.PURE_PYTHON]} ({len(pure)}):")
        out.extend(textwrap.wrap(", ".join(d.name for d in pure), width=100,
                                 initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False))

    if with_ext:
        out.append("")
        out.append("Sub-interpreters")
    for si_value in SUBINTERP_WORST_FIRST:
        si_group = [d for d in with_ext if d.subinterpreters.value == si_value]
        if not si_group:
            continue
        out.append(f" {SI_TITLES[si_value]} ({len(si_group)}):")
        out.extend(_table([(d.name, d.version or "?", str(len(d.modules)), d.subinterpreters.reason) for d in si_group],
                          ("distribution", "version", "modules", "why")))
    si_blocked = _blocked_subinterpreters(audit)
    if si_blocked:
        out.append(f" would load, but a dependency they declare cannot ({len(si_blocked)}):")
        for d in si_blocked:
            out.append(f"  {_needs(d.blocked_by_subinterpreters)}")

    if audit.orphans:
        out.append("")
        out.append(f"Modules owned by no distribution ({len(audit.orphans)}):")
        for m in audit.orphans:
            out.append(f"  {m.file.relpath}: {m.report.free_threading.value}, {m.report.subinterpreters.value}")
    helpers = [m for m in audit.all_modules() if m.file.loadable and m.helper_library]
    if helpers:
        out.append("")
        owners = sorted({m.file.owner or "no distribution" for m in helpers})
        out.append(f"Shared libraries with no PyInit_ export, not extension modules ({len(helpers)}, "
                   f"in {', '.join(owners)}): not counted")
    foreign = [m for m in audit.all_modules() if not m.file.loadable]
    if foreign:
        out.append("")
        out.append(f"Files tagged for another interpreter, never imported here ({len(foreign)}):")
        out.extend(f"  {m.file.relpath}" for m in foreign[:20])
    if audit.verified:
        bad = [m for m in audit.all_modules() if m.comparison is not None and m.comparison.agrees is False]
        out.append("")
        out.append(f"Static vs runtime disagreements ({len(bad)}):")
        for m in bad:
            out.append(f"  {m.file.module}: " + "; ".join(m.comparison.disagreements))
        gaps = [m for m in audit.all_modules() if m.comparison is not None and m.comparison.gaps]
        if gaps:
            out.append(f"Static answer unknown where the runtime knows ({len(gaps)}):")
            out.extend(f"  {m.file.module}: " + "; ".join(m.comparison.gaps) for m in gaps)
        odd = [m for m in audit.all_modules() if m.runtime is not None and m.runtime.status != "ok"]
        if odd:
            out.append(f"Crashes, hangs and errors during the runtime proof ({len(odd)}):")
            out.extend(f"  {m.file.module}: {m.runtime.status}: {m.runtime.detail}" for m in odd)
    tracker = [(d, msg) for d in audit.distributions for msg in d.tracker_disagreements]
    if tracker:
        out.append("")
        out.append("Compatibility data disagrees with the evidence:")
        out.extend(f"  ! {msg}" for _, msg in tracker)
    unreadable = problem_lines(audit)
    if unreadable:
        from auditor.report.problems import summary

        out.append("")
        out.append(summary(len(unreadable)))     # the lines themselves: once, on stderr
    if audit.notes:
        out.append("")
        out.extend(f"note: {n}" for n in audit.notes)
    return "\n".join(out) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(audit: EnvAudit) -> str:
    """The text report's groups: one table per next step, then the sub-interpreter verdicts."""
    interp = audit.interpreter
    out = [f"# ft-audit env: CPython {'.'.join(map(str, interp.version))} "
           f"({'free-threaded' if interp.free_threaded else 'GIL'} build)", ""]
    out += [f"- {line}" for line in summary_lines(audit)]
    grouped = steps(audit)
    titles = STEP_TITLES_FT_BUILD if interp.free_threaded else STEP_TITLES_GIL_BUILD
    with_ext = [d for d in audit.distributions if d.has_extensions]
    if with_ext:
        out += ["", f"## Free-threading on {interp.label if interp.free_threaded else _targets(audit) or 'a free-threaded build'}"]
    for step, group in grouped.items():
        if step is NextStep.PURE_PYTHON:
            continue
        out += ["", f"### {_md_escape(titles[step])} ({len(group)})", "",
                "| distribution | version | modules | evidence |", "|---|---|---|---|"]
        out += ["| " + " | ".join(_md_escape(x) for x in (d.name, d.version or "?", str(len(d.modules)),
                                                          _evidence(d, step, interp.free_threaded))) + " |"
                for d in group]
    pure = grouped.get(NextStep.PURE_PYTHON, [])
    if pure and with_ext:
        out += ["", f"### {titles[NextStep.PURE_PYTHON]} ({len(pure)})", "", ", ".join(d.name for d in pure)]
    if with_ext:
        out += ["", "## Sub-interpreters", "",
                "| distribution | version | sub-interpreters | why | blocked by |", "|---|---|---|---|---|"]
        ordered = sorted(with_ext, key=lambda d: (SUBINTERP_WORST_FIRST.index(d.subinterpreters.value)
                                                  if d.subinterpreters.value in SUBINTERP_WORST_FIRST else 9, d.key))
        blocked_ok = {d.key for d in _blocked_subinterpreters(audit)}
        for d in ordered + [d for d in audit.distributions if d.key in blocked_ok and not d.has_extensions]:
            blocked = _needs(d.blocked_by_subinterpreters) if d.key in blocked_ok else ""
            out.append("| " + " | ".join(_md_escape(x) for x in (
                d.name, d.version or "?", d.subinterpreters.value, d.subinterpreters.reason, blocked)) + " |")
    if audit.orphans:
        out += ["", "## Modules owned by no distribution", ""]
        out += [f"- `{m.file.relpath}`: {m.report.free_threading.value}, {m.report.subinterpreters.value}" for m in audit.orphans]
    if audit.verified:
        bad = [m for m in audit.all_modules() if m.comparison is not None and m.comparison.agrees is False]
        out += ["", f"## Static vs runtime disagreements ({len(bad)})", ""]
        out += [f"- `{m.file.module}`: " + "; ".join(m.comparison.disagreements) for m in bad]
    tracker = [msg for d in audit.distributions for msg in d.tracker_disagreements]
    if tracker:
        out += ["", "## Compatibility data disagrees with the evidence", ""] + [f"- {m}" for m in tracker]
    problems = list(audit.errors) + [e for d in audit.distributions for e in d.errors]
    if problems:
        out += ["", "## Could not read", ""] + [f"- {_md_escape(p)}" for p in problems]
    if audit.notes:
        out += [""] + [f"> note: {n}" for n in audit.notes]
    return "\n".join(out) + "\n"
