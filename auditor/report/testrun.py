"""Text of the pytest plugin's terminal summary (auditor.testrun.TestRunAudit): problems first,
then one line per distribution (or per module nobody owns) with the test that imported it."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.testrun import FAILING_KINDS, ModuleVerdict, TestRunAudit


def _importer(modules: list[ModuleVerdict]) -> str:
    tests = list(dict.fromkeys(m.record.imported_by for m in modules))
    return tests[0] + (f" (+{len(tests) - 1} more)" if len(tests) > 1 else "")


def summary_lines(audit: TestRunAudit, *, fail: bool = False) -> Iterator[tuple[str, bool]]:
    """(line, is_problem) pairs."""
    problems = audit.problems
    build = f"Python {audit.python} ({'free-threaded' if audit.free_threaded else 'GIL build'})"
    if audit.free_threaded and audit.gil_at_start:
        build += ", GIL already enabled at start (PYTHON_GIL=1 or a module imported before the plugin)"
    yield (f"{build}: {len(audit.modules)} extension module(s) imported, {len(problems)} problem(s)"
           + (f"; --ft-audit-fail fails on {', '.join(FAILING_KINDS)}" if fail else ""), False)
    if problems:
        yield "problems:", True
        for module, problem in problems:
            yield f"  {problem.kind}: {problem.text} [imported by {module.record.imported_by}]", True
    groups: dict[str, list[ModuleVerdict]] = {}
    for m in audit.modules:
        groups.setdefault(m.distribution or m.record.module, []).append(m)
    if groups:
        yield "modules:", False
    for key, modules in sorted(groups.items()):
        first = modules[0]
        name = f"{key} {first.version}" if first.distribution else f"{key} (no distribution)"
        count = f", {len(modules)} modules" if len(modules) > 1 else ""
        ft = sorted({m.free_threading for m in modules})
        sub = sorted({m.subinterpreters for m in modules})
        parts = [f"  {name}{count}: imported by {_importer(modules)}",
                 f"free-threading {'/'.join(ft)}", f"sub-interpreters {'/'.join(sub)}"]
        if any(m.gil_reenabled for m in modules):
            parts.append("re-enabled the GIL during its test")
        yield "; ".join(parts), any(m.problems for m in modules)
        for offer in first.ft_offers:
            yield f"      {offer.text}", False
    for note in audit.notes:
        yield f"note: {note}", False
