"""A short fuzz run of every target (tests/fuzz): the first inputs of seed 0, in-process, must
raise nothing but the project's typed errors, finish within the per-input time limit, and stay
clean. The inputs are the same on every machine (input i is a function of seed and i only), so
a failure here names an input that `python -m tests.fuzz TARGET --seed 0` reproduces.
The long runs are manual: `python -m tests.fuzz TARGET --seconds 600`."""

from __future__ import annotations

import pytest

from tests.fuzz.mutate import Mutator
from tests.fuzz.runner import fuzz, replay_inputs, run_one, signature
from tests.fuzz.targets import TARGETS, Target

# About 1-2 s each on the build machine (inputs/s differ 100x between targets). The fast subset
# runs the first quarter of them (~0.2 s each), the slow test the rest: the full suite runs them all.
SMOKE_INPUTS = {"elf": 3000, "macho": 1000, "pe": 3000, "wheel": 50, "requirements": 1500, "lint": 300,
                "index": 400}
FAST_SHARE = 4


def test_every_target_has_a_smoke_budget():
    assert set(SMOKE_INPUTS) == set(TARGETS)


@pytest.mark.parametrize("name", sorted(SMOKE_INPUTS))
def test_the_first_inputs_of_seed_0_raise_only_typed_errors(name):
    # Input 0 is the first seed itself: run it once without the per-input limit, so first-use
    # costs (imports, Cython's parser tables in a fresh venv: >2 s on 3.12) are not a "hang".
    replay_inputs(name, 1, seed=0, timeout=60)
    inputs = SMOKE_INPUTS[name] // FAST_SHARE
    summary = replay_inputs(name, inputs, seed=0, max_seconds=6)
    assert summary.executions >= min(inputs, 20)
    assert summary.signatures == {}, summary.render()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMOKE_INPUTS))
def test_the_rest_of_the_smoke_inputs_of_seed_0_raise_only_typed_errors(name):
    replay_inputs(name, 1, seed=0, timeout=60)      # first-use costs, as above
    first = SMOKE_INPUTS[name] // FAST_SHARE
    summary = replay_inputs(name, SMOKE_INPUTS[name] - first, seed=0, max_seconds=6, start=first)
    assert summary.executions >= min(SMOKE_INPUTS[name] - first, 20)
    assert summary.signatures == {}, summary.render()


def test_inputs_are_a_function_of_seed_and_index():
    seeds = [bytes(range(64)), b"requirements\n" * 8]
    first, again, other = Mutator(7, seeds, (b"TOKEN",)), Mutator(7, seeds, (b"TOKEN",)), Mutator(8, seeds)
    assert [first.input(i) for i in range(200)] == [again.input(i) for i in range(200)]
    assert first.input(0) == seeds[0] and first.input(1) == seeds[1]   # the seeds themselves come first
    assert len({first.input(i) for i in range(2, 200)}) > 150
    assert [first.input(i) for i in range(2, 50)] != [other.input(i) for i in range(2, 50)]


def test_a_hang_and_an_escaping_exception_are_crashes_with_signatures():
    import time

    def hangs(data: bytes) -> None:
        time.sleep(5)

    def raises(data: bytes) -> None:
        raise KeyError("escaped")

    hang = run_one(Target("t", list, hangs), b"x", timeout=0.2)
    assert hang is not None and hang[0] == "Timeout(>0.2s) at ?"
    crash = run_one(Target("t", list, raises), b"x", timeout=2)
    assert crash is not None and crash[0] == "KeyError at ?" and "escaped" in crash[1]
    assert run_one(Target("t", list, lambda data: None), b"x", timeout=2) is None


def test_signature_names_the_innermost_auditor_frame():
    from auditor.sources.requirements import parse_requirement

    try:
        parse_requirement(None, "origin")   # not a string: fails inside auditor, not in the caller
    except AttributeError as exc:
        sig = signature(exc)
    assert sig.startswith("AttributeError at auditor/sources/requirements.py:")


def test_the_worker_runs_a_target_and_reports_executions(tmp_path):
    summary = fuzz("pe", 0.3, seed=0, crash_dir=tmp_path, engine="mutate")   # ~1,200 inputs here
    assert summary.executions > 100 and summary.restarts == 0
    assert summary.signatures == {} and list(tmp_path.iterdir()) == []
