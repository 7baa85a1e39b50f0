"""Run one target in a worker process, watch it, collect crash signatures.

The worker (a spawned process, one at a time) feeds inputs to the target's adapter. Before each
input it writes the input to an 'in-flight' file and stamps the start time in shared memory, so
the parent can save the input that killed or hung it. Limits:
- per input: SIGALRM after `timeout` seconds raises InputTimeout inside the target (a Python-level
  hang gets a traceback and a signature); if the worker does not come back within 2 x timeout
  + 3 s (stuck in C code), the parent kills it and records 'Hang (killed)';
- memory: RLIMIT_AS = the worker's size after warm-up + `memory_mb`, so a runaway allocation
  is a MemoryError (a crash signature), not an OOM-killed machine;
- a worker that dies (signal, abort, exit) is a crash too; the parent restarts it after the
  input that killed it, so one bad input does not end the run.

Engines: 'mutate' (tests.fuzz.mutate, deterministic for a seed: input i of a run is the same
bytes on every machine) and 'atheris' (coverage-guided libFuzzer via atheris, when installed;
its log goes to atheris.log in the work directory).

A crash signature is the exception type and the innermost frame in auditor/ (file:line); each
distinct crashing input is saved as <target>-<sha1>.bin beside a .txt with its traceback.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AUDITOR = str(ROOT / "auditor") + os.sep
MAX_SAVED_PER_SIGNATURE = 5


class InputTimeout(BaseException):
    """One input ran past the per-input limit (BaseException: `except Exception` in the
    target must not swallow it)."""


def signature(exc: BaseException, kind: str | None = None) -> str:
    """'ExceptionType at auditor/path.py:LINE', the innermost frame inside auditor/."""
    where = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(AUDITOR):
            where = f"{os.path.relpath(frame.filename, ROOT)}:{frame.lineno}"
    name = kind or type(exc).__name__
    if where == "?" and type(exc).__name__ == "SwallowedError":
        return f"{name}: {str(exc)[:80]}"
    return f"{name} at {where}"


def save_crash(crash_dir: Path, target: str, data: bytes, sig: str, details: str) -> Path:
    digest = hashlib.sha1(data).hexdigest()[:16]
    path = crash_dir / f"{target}-{digest}.bin"
    if not path.exists():
        path.write_bytes(data)
        path.with_suffix(".txt").write_text(f"{sig}\n\n{details}")
    return path


def run_one(target, data: bytes, timeout: float) -> tuple[str, str] | None:
    """Run one input in this process; (signature, traceback) on a crash, None if it passed."""
    def on_alarm(signum, frame):
        raise InputTimeout(f"input ran longer than {timeout} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            target.run(data)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except InputTimeout as exc:
        return signature(exc, f"Timeout(>{timeout:g}s)"), traceback.format_exc()
    except (Exception, RecursionError, MemoryError) as exc:  # noqa: BLE001 - every escape is a finding
        return signature(exc), traceback.format_exc()
    finally:
        signal.signal(signal.SIGALRM, previous)
    return None


# ------------------------------------------------------------------ the worker
def _limit_memory(memory_mb: int) -> None:
    with open("/proc/self/status") as status:
        size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = (size_kb << 10) + (memory_mb << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))


def worker_main(target_name: str, engine: str, seed: int, start: int, timeout: float, memory_mb: int,
                workdir: str, crash_dir: str, conn, state) -> None:
    from tests.fuzz.mutate import Mutator
    from tests.fuzz.targets import TARGETS

    target = TARGETS[target_name]
    seeds = target.seeds()
    inflight = os.open(os.path.join(workdir, "inflight"), os.O_RDWR | os.O_CREAT, 0o600)
    crashes = Path(crash_dir)

    def execute(data: bytes) -> None:
        os.ftruncate(inflight, 0)
        os.pwrite(inflight, data, 0)
        state[1] = time.monotonic()
        found = run_one(target, data, timeout)
        state[1] = 0.0
        state[2] += 1
        if found is not None:
            sig, details = found
            conn.send(("crash", sig, str(save_crash(crashes, target_name, data, sig, details))))

    if engine == "atheris":
        import atheris

        log = os.open(os.path.join(workdir, "atheris.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 2)
        with atheris.instrument_imports(include=["auditor"]):
            run_one(target, seeds[0], timeout * 10)          # imports (and instruments) the code under test
        corpus = Path(workdir) / "corpus"
        corpus.mkdir(exist_ok=True)
        for i, data in enumerate(seeds):
            (corpus / f"seed-{i}").write_bytes(data)
        _limit_memory(memory_mb)
        conn.send(("ready", len(seeds)))
        atheris.Setup([sys.argv[0], f"-seed={seed + start}", "-rss_limit_mb=0", "-malloc_limit_mb=0",
                       f"-max_len={max(len(s) for s in seeds) + 4096}", "-print_final_stats=0",
                       str(corpus)], lambda data: execute(bytes(data)))
        atheris.Fuzz()
        return
    mutator = Mutator(seed, seeds, target.tokens, target.structured)
    run_one(target, seeds[0], timeout * 10)                  # warm-up: imports happen before the limit
    _limit_memory(memory_mb)
    conn.send(("ready", len(seeds)))
    index = start
    while True:
        state[0] = index
        execute(mutator.input(index))
        index += 1


# ------------------------------------------------------------------ the parent
@dataclass
class Found:
    count: int
    first: str                        # the first saved input with this signature


@dataclass
class Summary:
    target: str
    engine: str
    seed: int
    executions: int = 0
    seconds: float = 0.0
    restarts: int = 0
    signatures: dict[str, Found] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.executions / self.seconds if self.seconds else 0.0

    def render(self) -> str:
        lines = [f"target {self.target}  engine {self.engine}  seed {self.seed}",
                 (f"executions: {self.executions}  ({self.rate:.1f}/s over {self.seconds:.1f} s, "
                  f"{self.restarts} worker restarts)"),
                 f"distinct crash signatures: {len(self.signatures)}"]
        for sig, found in sorted(self.signatures.items(), key=lambda kv: -kv[1].count):
            lines.append(f"  {found.count:6d}x  {sig}\n           replay: python -m tests.fuzz {self.target} "
                         f"--replay {found.first}")
        return "\n".join(lines)


def default_engine() -> str:
    import importlib.util

    if importlib.util.find_spec("atheris") is None:
        return "mutate"
    return "atheris"


def fuzz(target_name: str, seconds: float, *, seed: int = 0, crash_dir: Path | None = None,
         engine: str = "mutate", timeout: float = 2.0, memory_mb: int = 512, progress=None,
         startup_limit: float = 120.0) -> Summary:
    """Fuzz one target for `seconds` of fuzzing time (worker start-up not counted)."""
    crash_dir = Path(crash_dir or tempfile.mkdtemp(prefix=f"ft-fuzz-{target_name}-crashes-"))
    crash_dir.mkdir(parents=True, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix=f"ft-fuzz-{target_name}-work-")
    ctx = multiprocessing.get_context("spawn")
    state = ctx.RawArray("d", 3)              # [input index, start of the current input, executions]
    summary = Summary(target_name, engine, seed)
    start_index, started, deadline = 0, None, None
    last_report = time.monotonic()

    def record(sig: str, path: str) -> None:
        found = summary.signatures.get(sig)
        if found is None:
            summary.signatures[sig] = Found(1, path)
        else:
            found.count += 1

    def record_inflight(sig: str) -> None:
        data = Path(workdir, "inflight").read_bytes() if Path(workdir, "inflight").exists() else b""
        record(sig, str(save_crash(crash_dir, target_name, data, sig, sig)))

    def drain(wait: float) -> None:
        nonlocal started, deadline
        try:
            while receiver.poll(wait):
                message = receiver.recv()
                if message[0] == "ready" and deadline is None:
                    started = time.monotonic()
                    deadline = started + seconds
                elif message[0] == "crash":
                    record(message[1], message[2])
        except (EOFError, OSError):
            pass

    while deadline is None or time.monotonic() < deadline:
        receiver, sender = ctx.Pipe(duplex=False)
        state[0], state[1], state[2] = start_index, 0.0, 0
        process = ctx.Process(target=worker_main, daemon=True,
                              args=(target_name, engine, seed, start_index, timeout, memory_mb, workdir,
                                    str(crash_dir), sender, state))
        process.start()
        sender.close()
        launched = time.monotonic()
        try:
            while True:
                drain(0.05)
                now = time.monotonic()
                if deadline is None and now - launched > startup_limit:
                    raise RuntimeError(f"{target_name}: the worker did not start within {startup_limit} s")
                if deadline is not None and now >= deadline:
                    break
                busy_since = state[1]
                if busy_since and now - busy_since > 2 * timeout + 3:
                    record_inflight(f"Hang (killed after {now - busy_since:.0f} s)")
                    state[0] += 1
                    break
                if not process.is_alive():
                    process.join()
                    drain(0)
                    if deadline is None and state[2] == 0 and process.exitcode != 0:
                        raise RuntimeError(f"{target_name}: the worker failed to start (exit {process.exitcode})")
                    code = process.exitcode
                    reason = f"signal {-code}" if code and code < 0 else f"exit {code}"
                    record_inflight(f"WorkerDied ({reason})")
                    state[0] += 1
                    break
                if progress and now - last_report >= 10 and started:
                    last_report = now
                    progress(f"  {now - started:6.0f} s  {summary.executions + int(state[2])} execs  "
                             f"{len(summary.signatures)} signatures")
        finally:
            if process.is_alive():
                process.kill()
            process.join()
            summary.executions += int(state[2])
            receiver.close()
        start_index = int(state[0]) + 1
        if deadline is None or time.monotonic() < deadline:
            summary.restarts += 1
    summary.seconds = time.monotonic() - started if started else 0.0
    shutil.rmtree(workdir, ignore_errors=True)
    return summary


def replay_inputs(target_name: str, inputs: int, *, seed: int = 0, timeout: float = 2.0,
                  max_seconds: float | None = None, start: int = 0) -> Summary:
    """Inputs `start` to `start + inputs` of a seeded mutation run, in this process (no worker,
    no memory limit): the same bytes on every machine, so a short check in the test suite is
    repeatable. `max_seconds` stops early on a slow or loaded machine (fewer inputs, never
    other ones)."""
    from tests.fuzz.mutate import Mutator
    from tests.fuzz.targets import TARGETS

    target = TARGETS[target_name]
    mutator = Mutator(seed, target.seeds(), target.tokens, target.structured)
    summary = Summary(target_name, "mutate (in-process)", seed)
    started = time.monotonic()
    for index in range(start, start + inputs):
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            break
        data = mutator.input(index)
        found = run_one(target, data, timeout)
        summary.executions += 1
        if found is not None:
            sig = found[0]
            if sig in summary.signatures:
                summary.signatures[sig].count += 1
            else:
                summary.signatures[sig] = Found(1, f"input {index} of seed {seed}")
    summary.seconds = time.monotonic() - started
    return summary
