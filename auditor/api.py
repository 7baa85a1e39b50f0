"""ft-audit as a library: the five questions the commands answer, each returning the model the
command renders (`to_json()` on any of them gives the command's `--format json` document or
the part of it named).

    import auditor

    auditor.inspect_module("ext.cpython-314t-x86_64-linux-gnu.so")    # ModuleReport
    auditor.audit_wheel("dist/pkg-1.0-cp314-cp314t-manylinux_2_28_x86_64.whl")   # WheelReport
    auditor.audit_environment()                                       # EnvAudit (this interpreter)
    auditor.check_requirements("requirements.txt", target="3.14t")    # RequirementsAudit
    auditor.judge_wheel("lxml-6.1.3-cp314-cp314t-manylinux2014_x86_64.manylinux_2_17_x86_64.whl")

Static by default, as on the command line: audited code is never imported or run (only
`audit_environment(verify=True)` does, in subprocesses with a timeout). Bad input raises an
auditor.errors.AuditError subclass (InputError, ServiceError, ...) whose `one_line()` is the
CLI's message; a wheel or module that cannot be read is a report saying so, not an exception.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from auditor.audit.requirements import RequirementsAudit
    from auditor.envaudit import EnvAudit
    from auditor.model import ModuleReport, WheelReport
    from auditor.wheel_verdicts import WheelFile, WheelVerdict

__all__ = ["audit_environment", "audit_wheel", "check_requirements", "inspect_module", "judge_wheel"]

PathLike = Union[str, "os.PathLike[str]"]


def inspect_module(path: PathLike) -> ModuleReport:
    """Inspect one compiled extension module file (`.so`, `.pyd`, `.dylib`) without loading it.

    Returns the ModuleReport the commands show for each module: `free_threading` and
    `subinterpreters` verdicts with their reasons, the init style, the GIL and
    multiple-interpreters declarations, the framework and the evidence. The ABI the file name
    claims (`.cpython-314t-...so`, `.abi3.so`) is part of the question. Never raises for a
    file it cannot read: the report is then "unknown" with `errors` saying why.
    """
    from auditor.wheel_modules import module_file

    return module_file(os.fspath(path)).report


def audit_wheel(path: PathLike, *, ignore: Iterable[str] = (), record_hashes: str = "audited") -> WheelReport:
    """Audit one wheel file as `ft-audit wheel PATH` does: tags against the binaries, every
    module's GIL declaration, the Free Threading classifier, RECORD hashes.

    `ignore` drops findings by code (`--ignore`); `record_hashes` is "audited" (the extension
    modules and .dist-info files) or "all" (`--record-hashes`). Returns the WheelReport
    (`verdict` "pass" / "fail" / "error", `findings`, `modules`); an unreadable wheel is a
    report with verdict "error" and the reason as a finding, not an exception.
    """
    from auditor.audit.wheels import audit_wheel_file

    codes = frozenset(code.strip().upper() for code in ignore if code.strip())
    return audit_wheel_file(os.fspath(path), ignore=codes, hashes=record_hashes)


def audit_environment(python: PathLike | None = None, *, path: PathLike | None = None, target: str | None = None,
                      platform: str | None = None, ft_targets: Sequence[str] = (), ask_pypi: bool = True,
                      offline: bool = False, use_compat: bool = True, use_cache: bool = True,
                      verify: bool = False, verify_timeout: float = 30.0, jobs: int | None = None) -> EnvAudit:
    """Audit an installed environment as `ft-audit env` does.

    With neither `python` nor `path`: the interpreter running this code. `python`: another
    interpreter (a venv's `bin/python`, a 3.14t build), probed in a subprocess that imports
    nothing of the environment. `path`: a site-packages folder, read without any interpreter;
    `target` then names the interpreter it is for ("3.14t", "3.13") and `platform` its
    sysconfig platform ("linux-x86_64", the default). `ft_targets` ("3.14t", ...) are the
    free-threaded interpreters to ask the index about; `ask_pypi=False` asks nothing
    (no network), `use_compat=False` skips the compatibility data. `verify=True` imports each
    module in a subprocess of the interpreter (runs the audited code; needs an interpreter).

    Returns the EnvAudit (`distributions` with their modules and roll-ups, `orphans`, `notes`,
    `errors`). Raises InputError for an interpreter or folder it cannot audit.
    """
    from auditor.audit.env import audit_snapshot
    from auditor.errors import InputError
    from auditor.sources import env as envsource
    from auditor.target import PythonTarget

    wanted = [PythonTarget.parse(t, "ft_targets", free_threaded=True) for t in ft_targets] or None
    notes: list[str] = []
    if path is not None:
        if python is not None:
            raise InputError("audit_environment", "give python or path, not both")
        if target is None:
            raise InputError(os.fspath(path), "a folder needs target= (the interpreter it is for, e.g. '3.14t')")
        snapshot = envsource.snapshot_from_path(os.fspath(path), target, platform_tag=platform)
        cmd = None
    else:
        cmd = envsource.interpreter_command(os.fspath(python)) if python is not None else envsource.current_python()
        snapshot = envsource.probe_interpreter(cmd, cache=use_cache)
        warning = envsource.active_environment_warning(snapshot.interpreter)
        if warning:
            notes.append(warning)
    return audit_snapshot(snapshot, cmd=cmd, verify=verify, verify_timeout=verify_timeout, jobs=jobs,
                          ask_pypi=ask_pypi, offline=offline, ft_targets=wanted, use_compat=use_compat,
                          use_cache=use_cache, notes=notes)


def check_requirements(*inputs: PathLike, target: str | None = None, platforms: Sequence[str] = (),
                       index_url: str | None = None, download: bool = True, transitive: bool = True,
                       offline: bool = False, use_compat: bool = True,
                       skip_editable: bool = False) -> RequirementsAudit:
    """Check requirements as `ft-audit requirements` does: resolve requirements files,
    pyproject.toml, pylock.toml or uv.lock for a target and say which pins install as
    free-threaded wheels, what to upgrade to and what blocks.

    `target`: "3.14t" (default: the newest free-threaded release); `platforms`: wheel platform
    tags ("manylinux_2_28_x86_64", "macosx_14_0_arm64", ...; default this machine);
    `index_url`: a PEP 691 index (default: an --index-url line of the input, else PyPI);
    `download=False` takes binary verdicts only from the census and earlier reads.

    Returns the RequirementsAudit: `packages` (one per resolved project: `status`,
    `free_threading`, `evidence`, `blocked_by`, ...), `incomplete` (what could not be checked),
    and `to_json()`, the command's JSON document.
    """
    from auditor.audit.requirements import audit_requirements

    if not inputs:
        from auditor.errors import InputError

        raise InputError("check_requirements", "nothing to check: give requirements files, pyproject.toml, "
                                               "pylock.toml or uv.lock")
    return audit_requirements([os.fspath(p) for p in inputs], python=target, platforms=platforms,
                              download=download, transitive=transitive, index_url=index_url, offline=offline,
                              use_compat=use_compat, progress=False, skip_editable=skip_editable)


def judge_wheel(wheel: PathLike | WheelFile, *, index_url: str | None = None, download: bool = True,
                offline: bool = False, use_census: bool = True) -> WheelVerdict:
    """The binary verdict of one wheel, as `requirements` and `env` give it for the wheel a user
    would install: does importing it keep the GIL off, and which sub-interpreters can load it?

    `wheel` is one of:
    * a wheel file on disk: its modules are read from it (`source` "local");
    * a published wheel's file name ("lxml-6.1.3-cp314-cp314t-manylinux2014_x86_64...whl"): it
      is looked up on the index (`index_url`, default PyPI) and judged from the cheapest source
      that inspected that exact file: the census, the verdict cache, else HTTP range reads of
      its module members only (`download=False`: no reads);
    * an auditor.wheel_verdicts.WheelFile (project, file name, URL, sha256, size) naming it.

    Returns the WheelVerdict (`free_threading`, `subinterpreters`, `evidence`, `source`,
    `modules`, `bytes_read`, `error`). A wheel that cannot be read is "unknown" with `error`;
    a file name the index does not list raises InputError.
    """
    from auditor.wheel_verdicts import (
        WheelFile,
        census_entries,
        local_verdict,
        wheel_verdicts,
    )

    if not isinstance(wheel, WheelFile):
        text = os.fspath(wheel)
        if os.path.exists(text):
            return local_verdict(text)
        client = _index_client(index_url, offline)
        wheel = _published(client, text)
        http = client.http
    else:
        http = _index_client(index_url, offline).http
    census = census_entries([wheel.project]) if use_census else {}
    return wheel_verdicts([wheel], http=http, census=census, download=download and not offline)[wheel.filename]


def _index_client(index_url: str | None, offline: bool):
    from auditor.pypi import DEFAULT_INDEX_URL, DEFAULT_JSON_URL, PyPIClient

    chosen = index_url or DEFAULT_INDEX_URL
    return PyPIClient(chosen, DEFAULT_JSON_URL if chosen == DEFAULT_INDEX_URL else None, offline=offline)


def _published(client, filename: str) -> WheelFile:
    """The index's record of the file named `filename` (its URL, sha256 and size)."""
    from auditor.errors import InputError
    from auditor.sources.wheel import wheel_name
    from auditor.wheel_verdicts import WheelFile

    name = Path(filename).name
    project = wheel_name(name).project          # ArchiveError for a name that is not a wheel's
    index = client.project_index(project)
    if index.entry(name) is None:
        raise InputError(name, f"no such file in {index.name}'s files on {client.index_url.rstrip('/')} "
                               "(and no such local file)")
    dist = index.dist_file(name)
    return WheelFile(index.name, dist.filename, dist.url, dist.sha256, dist.size)
