"""Inspect a wheel's extension members: one path for the wheel gate, requirements and env.

A member (from a local wheel, a downloaded one, or one read with HTTP range requests) goes
through auditor.inspect with the ABI its file name claims; a plain `.so` / `.pyd` is told the
wheel's ABI tag when there is exactly one. An inspector failure becomes an "unknown" report
naming the member, never an exception that ends the audit.
"""

from __future__ import annotations

from auditor.model import (
    Abi, FreeThreading, GilDeclaration, InitStyle, ModuleReport, MultipleInterpreters, Subinterpreters, Verdict,
)


def inspect_member(member, wheel_abis: frozenset[str] = frozenset()) -> tuple:
    """(member, ModuleReport, ABI claimed by the file name) for one extension member.

    A plain `.so` / `.pyd` claims nothing by name; the inspector is then told the wheel's ABI
    tag when there is exactly one (a Windows abi3 or cp314t wheel names modules `x.pyd`).
    """
    from auditor.inspect import claimed_abi_from_filename, inspect_module, module_name_from_path

    basename = member.name.rsplit("/", 1)[-1]
    claimed = claimed_abi_from_filename(basename)
    module_name = module_name_from_path(member.install_path)
    hint = claimed
    if hint is None and len(wheel_abis) == 1 and not wheel_abis & {"none"}:
        hint = next(iter(wheel_abis))
    try:
        report = inspect_module(member.source, display=member.name, claimed=hint, module_name=module_name)
    except Exception as exc:  # noqa: BLE001 - the inspector promises not to raise; if it does, say so
        report = failed_module_report(module_name, member.name, claimed,
                                      f"inspector failed: {exc.__class__.__name__}: {exc}")
    return member, report, claimed


def failed_module_report(name: str, path: str, claimed: str | None, reason: str) -> ModuleReport:
    unknown = Verdict("unknown", reason)
    return ModuleReport(
        name=name, path=path, format=None, arch=None, abi=Abi(claimed, None),
        init=InitStyle.UNKNOWN, gil=GilDeclaration.UNKNOWN, multiple_interpreters=MultipleInterpreters.UNKNOWN,
        framework=None, free_threading=Verdict(FreeThreading.UNKNOWN, reason),
        subinterpreters=Verdict(Subinterpreters.UNKNOWN, unknown.reason), errors=(reason,),
    )
