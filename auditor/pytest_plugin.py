"""pytest plugin (entry point `pytest11: ft_audit`): which test imported each extension module,
and what that module means for free-threading and sub-interpreters.

Off unless `--ft-audit` or the ini option `ft_audit = true`. Loading it imports nothing but
pytest; the recorder (auditor.testrun) is imported on enabling, and the inspector only at the
end of the session. Like a command, this module only wires: options, hooks, rendering,
the exit status.
"""

from __future__ import annotations

from typing import Any

import pytest

_KEY = "ft_audit"           # config.workeroutput key (pytest-xdist)
_SESSION = "ft_audit-session"   # the enabled plugin's name (the module is "ft_audit")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ft-audit", "ft-audit: extension modules and free-threading / sub-interpreters")
    group.addoption("--ft-audit", action="store_true", default=None,
                    help="record which test first imported each extension module and judge it at the end")
    group.addoption("--ft-audit-report", metavar="FILE", default=None,
                    help="write the ft-audit result as JSON (ft-audit/1, kind 'pytest') to FILE")
    group.addoption("--ft-audit-fail", action="store_true", default=False,
                    help="fail the session when a module re-enables the GIL or refuses sub-interpreters")
    group.addoption("--ft-audit-offline", action="store_true", default=False,
                    help="do not ask the package index about free-threaded wheels (cache only)")
    parser.addini("ft_audit", "enable the ft-audit plugin (like --ft-audit)", type="bool", default=False)


def _enabled(config: pytest.Config) -> bool:
    flag = config.getoption("ft_audit")
    return bool(flag) if flag is not None else bool(config.getini("ft_audit"))


def pytest_configure(config: pytest.Config) -> None:
    if _enabled(config):
        config.pluginmanager.register(FtAuditSession(config), _SESSION)


class FtAuditSession:
    """The enabled plugin: one per pytest process (controller and each xdist worker)."""

    def __init__(self, config: pytest.Config) -> None:
        from auditor.testrun import ImportRecorder

        self.config = config
        self.recorder = ImportRecorder()
        self.worker_records: list[list[Any]] = []
        self.audit: Any = None
        self.error: str | None = None
        self.is_worker = hasattr(config, "workerinput")

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_collection(self, session: pytest.Session):
        from auditor.testrun import COLLECTION

        token = self.recorder.begin(COLLECTION)
        try:
            yield
        finally:
            self.recorder.end(token)

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None):
        token = self.recorder.begin(item.nodeid)
        try:
            yield
        finally:
            self.recorder.end(token)

    def pytest_warning_recorded(self, warning_message, when, nodeid, location) -> None:
        self.recorder.warning(str(warning_message.message))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        """pytest-xdist controller: a worker's records, sent in its workeroutput."""
        from auditor.testrun import ImportRecord

        docs = getattr(node, "workeroutput", {}).get(_KEY) or []
        self.worker_records.append([ImportRecord.from_json(d) for d in docs])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from auditor.testrun import judge_imports, merge_records

        records = self.recorder.records()
        if self.is_worker:
            self.config.workeroutput[_KEY] = [r.to_json() for r in records]   # type: ignore[attr-defined]
            return
        try:
            self.audit = judge_imports(merge_records([records, *self.worker_records]),
                                       offline=bool(self.config.getoption("ft_audit_offline")),
                                       gil_at_start=self.recorder.gil_at_start)
        except Exception as exc:    # a bug here must not hide the test results
            import traceback

            frame = traceback.extract_tb(exc.__traceback__)[-1]
            self.error = f"internal error: {type(exc).__name__}: {exc} (in {frame.filename}:{frame.lineno})"
        report = self.config.getoption("ft_audit_report")
        if report and self.audit is not None:
            self._write_report(report)
        if self.config.getoption("ft_audit_fail") and session.exitstatus == 0 and (
                self.error or (self.audit is not None and self.audit.failing())):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _write_report(self, path: str) -> None:
        import json
        from pathlib import Path

        try:
            Path(path).write_text(json.dumps(self.audit.to_json(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            self.error = f"error: {path}: {exc.strerror or exc}"

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config) -> None:
        if self.is_worker:
            return
        from auditor.report.testrun import summary_lines

        terminalreporter.write_sep("=", "ft-audit: extension modules imported by the tests")
        if self.error:
            terminalreporter.write_line(f"ft-audit: {self.error}", red=True)
        if self.audit is None:
            return
        fail = bool(config.getoption("ft_audit_fail"))
        for line, problem in summary_lines(self.audit, fail=fail):
            terminalreporter.write_line(line, red=problem and fail, yellow=problem and not fail)
