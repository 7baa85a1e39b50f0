"""The model's value sets are str enums that are their values in every text a user sees.

auditor.model.StrEnum exists because enum.StrEnum is 3.11+ and a bare `(str, Enum)` member
prints as `Class.MEMBER` (str() everywhere, f-strings from 3.11): a report line would then read
"FreeThreading.READY" instead of "ready". These hold on every Python ft-audit supports.
"""

from __future__ import annotations

import json
import pickle

import pytest

from auditor.finding_codes import Family
from auditor.model import (
    Abi,
    FreeThreading,
    GilDeclaration,
    InitStyle,
    ModuleReport,
    MultipleInterpreters,
    Severity,
    StrEnum,
    Subinterpreters,
    Verdict,
)

VALUE_SETS = (FreeThreading, Subinterpreters, InitStyle, GilDeclaration, MultipleInterpreters, Severity, Family)


@pytest.mark.parametrize("member", [m for cls in VALUE_SETS for m in cls], ids=repr)
def test_a_member_is_its_value_in_text_json_and_lookups(member):
    value = member.value
    assert isinstance(member, str) and isinstance(member, StrEnum)
    assert type(value) is str
    assert str(member) == value
    assert f"{member}" == value
    assert f"[{member:>20}]" == f"[{value:>20}]"
    assert f"{member}" == value
    assert "%s" % member == value  # noqa: UP031 -- the %-format path is what this checks
    assert json.dumps(member) == json.dumps(value)
    assert json.dumps({member: [member]}, indent=1) == json.dumps({value: [value]}, indent=1)
    # a value read back from JSON or an older cache as a plain string still matches
    assert member == value and hash(member) == hash(value)
    assert {member: 1}[value] == 1 and {value: 1}[member] == 1
    assert type(member)(value) is member
    assert pickle.loads(pickle.dumps(member)) is member


def test_values_and_order_are_the_documented_ones():
    assert [m.value for m in FreeThreading] == ["ready", "reenables-gil", "not-built-for-ft", "unknown"]
    assert [m.value for m in Subinterpreters] == ["own-gil", "shared-gil-only", "not-supported", "unknown"]
    assert [m.value for m in Severity] == ["error", "warning", "info"]
    assert FreeThreading("not-built-for-ft") is FreeThreading.NOT_BUILT_FOR_FT
    with pytest.raises(ValueError):
        FreeThreading("Ready")


def test_a_module_report_serialises_its_members_as_plain_strings():
    report = ModuleReport(
        name="m", path="m.cpython-314t-x86_64-linux-gnu.so", format="elf", arch="x86_64",
        abi=Abi("cp314t", True), init=InitStyle.MULTI_PHASE, gil=GilDeclaration.NOT_USED,
        multiple_interpreters=MultipleInterpreters.PER_INTERPRETER_GIL, framework="c",
        free_threading=Verdict(FreeThreading.READY, "declares Py_MOD_GIL_NOT_USED"),
        subinterpreters=Verdict(Subinterpreters.OWN_GIL, "declares per-interpreter GIL support"))
    text = json.dumps(report.to_json(), sort_keys=True)
    assert '"free_threading": "ready"' in text
    assert '"init": "multi-phase"' in text
    assert '"multiple_interpreters": "per-interpreter-gil"' in text
    assert json.loads(text)["subinterpreters"] == "own-gil"
    line = f"{report.name}: {report.free_threading.value} / {report.subinterpreters.value} ({report.gil})"
    assert line == "m: ready / own-gil (not-used)"
