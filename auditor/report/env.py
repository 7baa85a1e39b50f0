"""Rendering of an environment audit: text (a table grouped by verdict under a one-paragraph
summary), Markdown and JSON. Formatters never compute verdicts; they read EnvAudit."""

from __future__ import annotations

from typing import Any, Sequence

from auditor.envaudit import DistributionAudit, EnvAudit
from auditor.rollup import FT_WORST_FIRST, SUBINTERP_WORST_FIRST
from auditor.model import Finding, FreeThreading, Subinterpreters
import json

from auditor.model import SCHEMA

FT_TITLES = {
    FreeThreading.NOT_BUILT_FOR_FT: "not built for free-threading (cannot load on a t interpreter)",
    FreeThreading.REENABLES_GIL: "re-enable the GIL",
    FreeThreading.UNKNOWN: "free-threading unknown",
    FreeThreading.READY: "ready: the GIL stays off",
}
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


def summary_paragraph(audit: EnvAudit) -> str:
    s = audit.summary
    interp = audit.interpreter
    ft = s["free_threading"]
    si = s["subinterpreters"]
    parts = [f"{s['distributions']} distributions, {s['distributions_with_extensions']} with extension modules; "
             f"{s['loadable_modules']} extension modules" + (f" ({s['orphans']} owned by no distribution)" if s["orphans"] else "")
             + "."]
    if interp.free_threaded:
        if ft["gil_stays_off"] is True:
            parts.append(f"On this free-threaded {interp.label} interpreter the GIL stays off: every module declares it.")
        elif ft["gil_stays_off"] is False:
            n = ft["modules"].get(FreeThreading.REENABLES_GIL, 0) + ft["modules"].get(FreeThreading.NOT_BUILT_FOR_FT, 0)
            parts.append(f"The GIL would NOT stay off: {n} module(s) re-enable it or cannot load "
                         f"({', '.join(ft['reenabling'][:6]) or 'see below'}).")
        else:
            parts.append("Whether the GIL stays off is undecided: some modules could not be judged.")
    else:
        offers = s.get("ft_offers") or {}
        if offers:
            bits = []
            for target, c in sorted(offers.items()):
                bits.append(f"for {target}, {c['pinned_has_wheel']} have a wheel of the installed version, "
                            f"{c['newer_version_has_wheel']} only in a newer version, "
                            f"{c['no_wheel']} none in that version or later"
                            + (f", {c['unknown']} unknown" if c["unknown"] else ""))
            parts.append(f"This is a GIL build ({interp.label}); of the distributions with extensions, "
                         + "; ".join(bits) + ".")
        else:
            parts.append(f"This is a GIL build ({interp.label}): free-threading verdicts describe the installed "
                         "binaries, which a t interpreter cannot load.")
    own = si["own_gil_distributions"]
    total = s["distributions_with_extensions"]
    parts.append(f"Own-GIL sub-interpreters: {own} of {total} distributions with extensions can load "
                 f"there; {si['modules'].get(Subinterpreters.NOT_SUPPORTED, 0)} modules refuse every "
                 f"sub-interpreter and {si['blocked_distributions']} distributions are blocked by a dependency.")
    if "verify" in s:
        v = s["verify"]
        parts.append(f"Runtime proof: {v['agree']} modules agree with the static answer, {v['disagree']} disagree, "
                     f"{v['unverified']} could not be checked.")
    return " ".join(parts)


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    widths[-1] = 0
    lines = ["  " + "  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip()]
    for r in rows:
        lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    return lines


def _offers(d: DistributionAudit) -> str:
    return "; ".join(o.text for o in d.ft_offers)


def render_quiet(audit: EnvAudit, failures: Sequence[Finding]) -> str:
    """--quiet: nothing when --fail-on selects nothing, else those findings and one verdict line."""
    if not failures:
        return ""
    lines = [f"  {f.severity:7} {f.code}  {f.message}" for f in failures]
    lines.append(f"{len(failures)} finding(s) selected by --fail-on in {audit.interpreter.label}'s environment")
    return "\n".join(lines) + "\n"


def render_text(audit: EnvAudit) -> str:
    interp = audit.interpreter
    out: list[str] = []
    where = interp.executable or ", ".join(interp.environment_dirs)
    out.append(f"ft-audit env: {where} (CPython {'.'.join(map(str, interp.version))}, "
               f"{'free-threaded' if interp.free_threaded else 'GIL'} build{'' if interp.probed else ', declared by --target'})")
    out.append("")
    out.append(summary_paragraph(audit))
    with_ext = [d for d in audit.distributions if d.modules]

    out.append("")
    out.append("Free-threading")
    for value in FT_WORST_FIRST:
        group = [d for d in with_ext if d.free_threading.value == value]
        if not group:
            continue
        out.append(f" {FT_TITLES[value]} ({len(group)}):")
        rows = []
        for d in group:
            extra = _offers(d) if not interp.free_threaded else ""
            blocked = d.blocked_by_free_threading[0].text if d.blocked_by_free_threading else ""
            rows.append((d.name, d.version or "?", str(len(d.modules)), extra or blocked or d.free_threading.reason))
        out.extend(_table(rows, ("distribution", "version", "modules", "PyPI free-threaded wheels" if not interp.free_threaded else "why")))

    out.append("")
    out.append("Sub-interpreters")
    for si_value in SUBINTERP_WORST_FIRST:
        si_group = [d for d in with_ext if d.subinterpreters.value == si_value]
        if not si_group:
            continue
        out.append(f" {SI_TITLES[si_value]} ({len(si_group)}):")
        out.extend(_table([(d.name, d.version or "?", str(len(d.modules)), d.subinterpreters.reason) for d in si_group],
                          ("distribution", "version", "modules", "why")))
    si_blocked = [d for d in audit.distributions if d.blocked_by_subinterpreters]
    if si_blocked:
        out.append(f" blocked by a dependency ({len(si_blocked)}):")
        for d in si_blocked:
            first = d.blocked_by_subinterpreters[0]
            more = len(d.blocked_by_subinterpreters) - 1
            out.append(f"  {first.text}" + (f" (+{more} more)" if more else ""))

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
    problems = list(audit.errors) + [e for d in audit.distributions for e in d.errors] \
        + [f"{m.file.relpath}: {e}" for m in audit.all_modules() for e in m.report.errors]
    if problems:
        out.append("")
        out.append(f"Could not read ({len(problems)}):")
        out.extend(f"  {p}" for p in problems[:40])
        if len(problems) > 40:
            out.append(f"  ... and {len(problems) - 40} more (see --format json)")
    if audit.notes:
        out.append("")
        out.extend(f"note: {n}" for n in audit.notes)
    return "\n".join(out) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(audit: EnvAudit) -> str:
    interp = audit.interpreter
    out = [f"# ft-audit env: CPython {'.'.join(map(str, interp.version))} "
           f"({'free-threaded' if interp.free_threaded else 'GIL'} build)", "", summary_paragraph(audit), ""]
    out.append("| distribution | version | free-threading | sub-interpreters | blocked by | modules | PyPI free-threaded wheels |")
    out.append("|---|---|---|---|---|---|---|")
    ordered = sorted((d for d in audit.distributions if d.modules),
                     key=lambda d: (FT_WORST_FIRST.index(d.free_threading.value) if d.free_threading.value in FT_WORST_FIRST else 9,
                                    SUBINTERP_WORST_FIRST.index(d.subinterpreters.value)
                                    if d.subinterpreters.value in SUBINTERP_WORST_FIRST else 9,
                                    d.key))
    for d in ordered:
        blocked = d.blocked_by_subinterpreters[0].text if d.blocked_by_subinterpreters else ""
        out.append("| " + " | ".join(_md_escape(x) for x in (
            d.name, d.version or "?", d.free_threading.value, d.subinterpreters.value, blocked,
            str(len(d.modules)), _offers(d))) + " |")
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
