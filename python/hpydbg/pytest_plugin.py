"""pytest plugin of hpydbg (registered through the ``pytest11`` entry point).

``pytest --hpy-debug`` (or ``hpy_debug = true`` in the ini file) loads every
HPy universal module the tests import in debug mode on hpydbg's context, with
the site of every open and close recorded (per-handle stack traces with
``--hpy-debug-traces=N``),
and checks every test:

- handles opened during the test and still open at its end fail the test,
  with a report grouped by the extension source line that opened them;
  ``@pytest.mark.hpy_leaks(n)`` declares that the test leaks exactly ``n``;
- an invalid use of the API (closed handle, wrong context...) during the test
  fails it with hpydbg's report, instead of aborting the whole run.

Findings covered by a suppression file (``--hpy-debug-suppressions=FILE``,
``hpy_debug_suppressions`` in the ini file) do not fail tests; the terminal
summary lists the entries used and those that matched nothing.
``--hpy-debug-write-baseline=FILE`` writes a suppression file covering every
finding of the run.  Leaks and misuses outside tests (import, collection,
session fixtures, the end of the session) are listed in the summary and fail
the session (``--hpy-debug-outside=warn``: only listed).  Under
pytest-xdist, workers send their findings to the controller, which prints
one summary and writes one baseline.

Leaks a leak detector already reported (``hpy.debug.LeakDetector``, the
``hpy_debug`` fixture) and misuses a test handles with its own
``set_on_invalid_handle`` callback are not reported a second time.

The ``hpy_debug`` fixture (HPy's, from ``hpy.debug.pytest``) is available
with or without the option.  Without the option this plugin does nothing
else, and imports neither hpy nor hpydbg.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import pytest

# What a failing test shows (a stated bound on its lines): misuse findings
# once each with their counts, the first MAX_FULL_REPORTS in full, the next
# MAX_ONE_LINE one line each, then one line for the rest; leaks grouped by
# site, the biggest MAX_LEAK_GROUPS groups, then one line for the rest.
MAX_FULL_REPORTS = 3
MAX_ONE_LINE = 20
MAX_LEAK_GROUPS = 10
# The session summary: each finding of the failed tests once, the biggest
# SUMMARY_FINDINGS, each with its first SUMMARY_TESTS tests and a count.
SUMMARY_FINDINGS = 30
SUMMARY_TESTS = 3

# Per-handle stack traces: off by default.  Every open and close still
# records its site (C call site and Python line, from hpydbg's site table),
# which is what the reports name; a full stack per handle costs microseconds.
DEFAULT_TRACES = 0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hpydbg", "hpydbg: debug mode for HPy extensions")
    group.addoption(
        "--hpy-debug", action="store_true", dest="hpy_debug", default=None,
        help="load every HPy module in debug mode (hpydbg) and fail tests that leak "
             "handles or misuse the HPy API")
    group.addoption(
        "--no-hpy-debug", action="store_false", dest="hpy_debug",
        help="turn off hpy_debug = true from the ini file")
    group.addoption(
        "--hpy-debug-traces", type=int, dest="hpy_debug_traces", default=None, metavar="N",
        help=f"frames of stack recorded for every handle opened (default {DEFAULT_TRACES}, off: "
             "sites are recorded anyway)")
    group.addoption(
        "--hpy-debug-suppressions", dest="hpy_debug_suppressions", default=None, metavar="FILE",
        help="TOML file of known leaks and misuses that do not fail tests (see docs/REPORTS.md)")
    group.addoption(
        "--hpy-debug-write-baseline", dest="hpy_debug_write_baseline", default=None, metavar="FILE",
        help="write a suppression file covering every leak and misuse found in this run")
    group.addoption(
        "--hpy-debug-outside", dest="hpy_debug_outside", default=None, choices=("fail", "warn"),
        help="leaks and misuses outside tests (import, collection, session fixtures): "
             "fail the session (default) or only warn")
    parser.addini("hpy_debug", type="bool", default=False,
                  help="same as --hpy-debug")
    parser.addini("hpy_debug_suppressions", default="",
                  help="same as --hpy-debug-suppressions (relative to the ini file)")
    parser.addini("hpy_debug_outside", default="fail",
                  help="same as --hpy-debug-outside")
    parser.addini("hpy_debug_traces", default=str(DEFAULT_TRACES),
                  help="same as --hpy-debug-traces")


def _option(config: pytest.Config, name: str) -> Any:
    # Before pytest_configure only the early parse of the command line exists.
    ns = getattr(config, "known_args_namespace", None)
    value = getattr(config.option, name, None)
    if value is None and ns is not None:
        value = getattr(ns, name, None)
    return value


def _is_on(config: pytest.Config) -> bool:
    value = _option(config, "hpy_debug")
    if value is None:
        value = config.getini("hpy_debug")
    return bool(value)


def _traces(config: pytest.Config) -> int:
    value = _option(config, "hpy_debug_traces")
    if value is None:
        try:
            value = int(config.getini("hpy_debug_traces"))
        except (TypeError, ValueError):
            raise pytest.UsageError("hpy_debug_traces must be an integer") from None
    return max(0, int(value))


def _suppressions_path(config: pytest.Config) -> Optional[str]:
    value = _option(config, "hpy_debug_suppressions")
    if value:
        return os.path.abspath(value)
    value = config.getini("hpy_debug_suppressions")
    if not value:
        return None
    base = os.path.dirname(str(config.inipath)) if config.inipath else str(config.rootpath)
    return os.path.join(base, value)


def _outside_mode(config: pytest.Config) -> str:
    value = _option(config, "hpy_debug_outside") or config.getini("hpy_debug_outside") or "fail"
    if value not in ("fail", "warn"):
        raise pytest.UsageError(f"hpy_debug_outside must be 'fail' or 'warn', not {value!r}")
    return value


def _activate(config: pytest.Config) -> "HPyDebugSession":
    session = config.pluginmanager.get_plugin("hpydbg-session")
    if session is None:
        session = HPyDebugSession(config)
        config.pluginmanager.register(session, "hpydbg-session")
    return session


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser,
                                  args: List[str]) -> None:
    # As early as possible: conftest files may import extensions.
    if _is_on(early_config):
        _activate(early_config)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hpy_leaks(n): the test is expected to leak exactly n HPy handles "
                   "(checked under --hpy-debug)")
    if _is_on(config):
        _activate(config)


# HPy 0.9.0's loader stubs import pkg_resources (gone in setuptools>=81): a
# test or module failing on it gets one line naming the stub and the fixes,
# with or without --hpy-debug (the report carries it, so xdist shows it too).
def _stub_hint(report: Any, call: Any) -> None:
    excinfo = getattr(call, "excinfo", None)
    if excinfo is None or not report.failed:
        return
    from hpydbg._stubs import diagnose
    hint = diagnose(excinfo.value)
    if hint:
        report.sections.append(("hpydbg: loader stub", hint))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    _stub_hint(outcome.get_result(), call)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    _stub_hint(report, getattr(report, "call", None))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    hints = sorted({text for reports in terminalreporter.stats.values() for r in reports
                    for name, text in getattr(r, "sections", ()) if name == "hpydbg: loader stub"})
    for hint in hints:
        terminalreporter.write_line(hint)


@pytest.fixture
def hpy_debug(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Control hpy.debug from within a test, and check that the test does not
    leak (as ``hpy.debug.pytest.hpy_debug``).  The leak error is an
    ``hpydbg.HPyLeakError`` (a subclass of ``hpy.debug.HPyLeakError``)."""
    from hpydbg import LeakDetector

    with LeakDetector() as ld:
        yield ld


class HPyDebugSession:
    """The checks made under ``--hpy-debug``."""

    def __init__(self, config: pytest.Config) -> None:
        import hpydbg
        from hpydbg import _debug, _hpydbg, suppressions

        self.config = config
        self._hpydbg = _hpydbg
        self._debug = _debug
        self.traces = _traces(config)
        self.outside_mode = _outside_mode(config)
        path = _suppressions_path(config)
        self.supp: Optional[suppressions.Suppressions] = None
        if path is not None:
            try:
                self.supp = suppressions.load(path)
            except suppressions.SuppressionError as e:
                raise pytest.UsageError(f"hpydbg: {e}") from None
        self.baseline_path = _option(config, "hpy_debug_write_baseline")
        hpydbg.enable("all")
        hpydbg.set_stack_trace_limit(self.traces)
        # A misuse must fail the test, not kill pytest: report and go on.
        set_policy = getattr(_hpydbg, "set_policy", None)
        self.policy: Optional[str] = None
        if set_policy is not None:
            set_policy("log")
            self.policy = "log"
        self._take_reports = getattr(_hpydbg, "take_reports", None)
        self._set_test_id = getattr(_hpydbg, "set_test_id", None)
        # Without a policy to set, HPy's callback mechanism does the same:
        # the report is written, our callback counts it, execution goes on.
        self.invalid_uses = 0
        self._epoch = 0
        self._checked_once = False
        self._install_callbacks()
        # Everything found, for the summary and the baseline (serialisable).
        self.findings: List[Dict[str, Any]] = []
        # Findings outside tests that are not suppressed: (phase, text).
        self.outside: List[Tuple[str, str]] = []
        # Tests that failed on findings: (nodeid, one line per site).
        self.failed: List[Tuple[str, List[str]]] = []
        self._attributed: set = set()   # handles opened during some test
        self._outside_handles: set = set()  # opened by session/module/class fixtures
        self._pending: List[Dict[str, Any]] = []  # reports of this test seen early
        self._tests_started = 0
        self._start_epoch = _hpydbg.new_generation()
        self._worker_data: List[Dict[str, Any]] = []
        self._finished = False

    # -- invalid-handle fallback ------------------------------------------
    def _on_invalid(self) -> None:
        self.invalid_uses += 1

    def _install_callbacks(self) -> None:
        if self.policy is not None:
            return
        # Only where the test has not installed its own.
        if self._debug._callbacks["handle"] is None:
            self._hpydbg.set_on_invalid_handle(self._on_invalid)
        if self._debug._callbacks["builder"] is None:
            self._hpydbg.set_on_invalid_builder_handle(self._on_invalid)

    @property
    def is_worker(self) -> bool:
        # Set by pytest-xdist after the early configuration (when we start).
        return hasattr(self.config, "workerinput")

    def _test_id(self, nodeid: Optional[str]) -> None:
        if self._set_test_id is not None:
            self._set_test_id(nodeid)

    # -- hooks ------------------------------------------------------------
    def pytest_report_header(self, config: pytest.Config) -> Optional[str]:
        traces = f"{self.traces} frames per handle" if self.traces else "sites only"
        text = (f"hpydbg: debug mode on: every HPy module on {self._hpydbg.context_name()}, "
                f"stack traces {traces}, policy {self.policy or 'callback'}")
        if self.supp is not None:
            n = len(self.supp.entries)
            text += f"; suppressions: {self.supp.path} ({n} entr{'y' if n == 1 else 'ies'})"
        return text

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Iterator[None]:
        self._check_outside("during import and collection" if not self._tests_started
                            else "between tests")
        self._tests_started += 1
        self._test_id(item.nodeid)
        self._debug._reset_tracking()
        self._install_callbacks()
        self.invalid_uses = 0
        self._checked_once = False
        self._epoch = self._hpydbg.new_generation()
        yield

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Iterator[None]:
        # What a fixture wider than a test opens or misuses is no test's.
        scope = getattr(fixturedef, "scope", "function")
        if scope == "function":
            yield
            return
        self._pending.extend(self._unhandled_reports())
        gen = self._hpydbg.new_generation()
        yield
        self._outside_handles.update(h.handle for h in self._hpydbg.get_open_handles(gen))
        self._check_outside(f"in {scope} fixture {fixturedef.argname!r}")

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self._test_id(None)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
        outcome = yield
        if call.when not in ("call", "teardown"):
            return
        # The hpy_debug fixture checks for leaks in its teardown: check after
        # it, so that its report is not repeated.
        leaks_now = call.when == "teardown" or "hpy_debug" not in getattr(item, "fixturenames", ())
        rep: pytest.TestReport = outcome.get_result()
        problems = self._check(item, call.when, leaks_now)
        if not problems:
            return
        if rep.passed and not hasattr(rep, "wasxfail"):
            rep.outcome = "failed"
            rep.longrepr = problems
        else:
            rep.sections.append(("hpydbg", problems))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self._finished:
            return
        self._finished = True
        self._test_id(None)
        # Objects that die with the session (their destructors may report)
        # die now, so that what they report is in this summary, not after it.
        import gc
        gc.collect()
        # A process that ran no test (the xdist controller, an idle worker)
        # found what it found while importing conftest files and collecting.
        self._check_outside("at the end of the session" if self._tests_started
                            else "during import and collection", leaks=True)
        if self.is_worker:
            self.config.workeroutput["hpydbg"] = json.dumps(self._data(), default=str)
            return
        for d in self._worker_data:
            self._add_data(d)
        if self.baseline_path:
            from hpydbg.suppressions import write_baseline
            self.baseline_entries = write_baseline(self.findings, self.baseline_path)
        if self.outside and self.outside_mode == "fail" and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        data = getattr(node, "workeroutput", {}).get("hpydbg")
        if data:
            self._worker_data.append(json.loads(data))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        lines = self._summary_lines(getattr(terminalreporter, "stats", None))
        if lines:
            terminalreporter.write_sep("=", "hpydbg")
            for line in lines:
                terminalreporter.write_line(line)

    # -- what travels from a worker to the controller ----------------------
    def _data(self) -> Dict[str, Any]:
        return {"findings": self.findings, "outside": self.outside, "failed": self.failed,
                "usage": self.supp.usage() if self.supp is not None else []}

    def _add_data(self, d: Mapping[str, Any]) -> None:
        self.findings.extend(d.get("findings", []))
        self.outside.extend(tuple(x) for x in d.get("outside", []))  # type: ignore[misc]
        self.failed.extend((x[0], list(x[1])) for x in d.get("failed", []))
        if self.supp is not None:
            self.supp.add_usage(d.get("usage", []))

    def _failed_ids(self, stats: Optional[Mapping[str, Any]]) -> set:
        """The tests that had findings and that pytest counts as failed or
        in error (not a skip, an xfail or a rerun)."""
        ours = {nodeid for nodeid, _ in self.failed}
        if stats is None:
            return ours
        return {getattr(r, "nodeid", None) for k in ("failed", "error") for r in stats.get(k, [])} & ours

    def _failed_headline(self, stats: Optional[Mapping[str, Any]]) -> str:
        """How many tests failed on findings, counted as pytest counts its
        "failed" and "error" reports (a rerun, a skip or an xfail is not a
        failure; under xdist the controller has every worker's reports)."""
        ours = {nodeid for nodeid, _ in self.failed}
        if stats is None:
            n, e = len(ours), 0
        else:
            n = sum(1 for r in stats.get("failed", []) if getattr(r, "nodeid", None) in ours)
            e = sum(1 for r in stats.get("error", []) if getattr(r, "nodeid", None) in ours)
        text = f"hpydbg: {n} test{'s' if n != 1 else ''} failed on leaks or misuses"
        if e:
            text += f", {e} error{'s' if e != 1 else ''} (at setup or teardown)"
        return text

    def _finding_lines(self, failed: set) -> List[str]:
        """Each finding of the ``failed`` tests once (``finding_key``),
        biggest first, with its count, Python callers and tests."""
        from hpydbg.logs import finding_key, site_text

        groups: Dict[str, Dict[str, Any]] = {}
        for f in self.findings:
            if f.get("suppressed") or f.get("test") not in failed:
                continue
            key = f.get("key") or finding_key(f)
            g = groups.setdefault(key, {"f": f, "count": 0, "tests": {}, "python": {}})
            n = int(f.get("count") or 1)
            g["count"] += n
            g["tests"][f["test"]] = g["tests"].get(f["test"], 0) + n
            for c in f.get("python") or []:
                if c.get("file"):
                    k = (c["file"], c.get("line"), c.get("function"))
                    g["python"][k] = g["python"].get(k, 0) + int(c.get("count") or 1)
        lines: List[str] = []
        ordered = sorted(groups.values(), key=lambda g: (-g["count"], str(g["f"].get("class"))))
        for g in ordered[:SUMMARY_FINDINGS]:
            f = g["f"]
            api = f" in {f['api']}()" if f.get("api") else ""
            lines.append(f"  {g['count']} x {f.get('class')}{api} at {site_text(f.get('site'))}")
            callers = sorted(g["python"].items(), key=lambda kv: -kv[1])
            if len(callers) > 1:
                shown = ", ".join(f"{os.path.basename(str(k[0]))}:{k[1]} ({n})" for k, n in callers[:3])
                more = f" and {len(callers) - 3} more" if len(callers) > 3 else ""
                lines.append(f"      from Python: {shown}{more}")
            tests = sorted(g["tests"])
            more = f" and {len(tests) - SUMMARY_TESTS} more" if len(tests) > SUMMARY_TESTS else ""
            lines.append(f"      tests ({len(tests)}): {', '.join(tests[:SUMMARY_TESTS])}{more}")
        if len(ordered) > SUMMARY_FINDINGS:
            rest = ordered[SUMMARY_FINDINGS:]
            lines.append(f"  ... and {len(rest)} more findings ({sum(g['count'] for g in rest)} in all)")
        return lines

    def _summary_lines(self, stats: Optional[Mapping[str, Any]] = None) -> List[str]:
        lines: List[str] = []
        # The controller and every worker import the conftest files: the same
        # finding outside tests is shown once, with the number of processes.
        seen: Dict[Tuple[str, str], int] = {}
        for phase, text in self.outside:
            seen[(phase, text)] = seen.get((phase, text), 0) + 1
        for (phase, text), n in seen.items():
            lines.append(text if n == 1 else f"{text}\n  (the same in {n} processes)")
        if self.outside:
            if self.outside_mode == "fail":
                lines.append("hpydbg: the session fails because of the findings outside tests above "
                             "(--hpy-debug-outside=warn only warns)")
            else:
                lines.append("hpydbg: warning: findings outside tests (listed above; "
                             "--hpy-debug-outside=warn)")
        if self.failed:
            lines.append(self._failed_headline(stats) + ":")
            lines.extend(self._finding_lines(self._failed_ids(stats)))
        if self.supp is not None:
            lines.extend(self.supp.summary_lines())
        if self.baseline_path and hasattr(self, "baseline_entries"):
            n = self.baseline_entries
            total = sum(int(f.get("count") or 1) for f in self.findings)
            lines.append(f"hpydbg: baseline written to {self.baseline_path}: {n} "
                         f"entr{'y' if n == 1 else 'ies'} covering {total} finding"
                         f"{'s' if total != 1 else ''}")
        return lines

    # -- checks -----------------------------------------------------------
    def _take(self) -> List[Dict[str, Any]]:
        if self._take_reports is None:
            return []
        return [dict(r) for r in self._take_reports()]

    def _unhandled_reports(self, pending: bool = True) -> List[Dict[str, Any]]:
        out: List[Dict[str, Any]] = []
        if pending:
            out, self._pending = self._pending, []
        for r in self._take():
            if r.get("event", "misuse") == "leak":
                continue
            handled = r.get("callback")
            if handled is None:
                handled = self._debug._callback_installed
            if not handled:
                out.append(r)
        return out

    def _record(self, findings: List[Dict[str, Any]], covered: List[Dict[str, Any]]) -> None:
        """Keep what was found (both kinds) for the summary and the baseline."""
        for f, suppressed in [(f, False) for f in findings] + [(f, True) for f in covered]:
            rec = {k: v for k, v in f.items() if k not in ("handles", "report")}
            rec["suppressed"] = suppressed
            self.findings.append(rec)

    def _split_reports(self, reports: List[Dict[str, Any]], test: Optional[str],
                       fallback: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """The misuse reports not suppressed (all are recorded)."""
        from hpydbg import suppressions
        from hpydbg._report import misuse_findings

        found = misuse_findings(reports)
        for f in found:
            f["test"] = f.get("test") or test
            if not f["python"]:
                f["python"] = list(fallback)
        kept, covered = suppressions.split(self.supp, found)
        self._record(kept, covered)
        return kept

    def _split_leaks(self, leaks: List[Any], test: Optional[str],
                     fallback: List[Dict[str, Any]]) -> Tuple[List[Any], List[Dict[str, Any]], List[Dict[str, Any]]]:
        from hpydbg import suppressions
        from hpydbg._report import leak_findings

        kept, covered = suppressions.split(self.supp, leak_findings(leaks, test, fallback))
        self._record(kept, covered)
        return [h for f in kept for h in f["handles"]], kept, covered

    def _check_outside(self, phase: str, leaks: bool = False) -> None:
        """Misuses (and, at the end, leaks) outside any test."""
        from hpydbg._report import emit_leaks, format_leaks, format_reports

        kept = self._split_reports(self._unhandled_reports(pending=False), None, [])
        if kept:
            self.outside.append((phase, format_reports([f["report"] for f in kept],
                                                        f" outside tests ({phase})")))
        if not leaks:
            return
        done = self._attributed | self._debug._reported_leaks
        open_now = [h for h in self._hpydbg.get_open_handles(self._start_epoch) if h.handle not in done]
        left, kept_f, covered_f = self._split_leaks(open_now, None, [])
        if left:
            self.outside.append((phase, format_leaks(
                left, " outside tests (opened during import, collection, session fixtures or "
                      "between tests, and open at the end of the session)")))
            if _log_configured(os.environ):
                emit_leaks(left, " outside tests")

    def _check(self, item: pytest.Item, when: str, check_leaks: bool = True) -> str:
        from hpydbg._report import emit_leaks, format_leaks, format_reports
        from hpydbg.logs import site_text

        phase = "this test" if when == "call" else "teardown"
        parts: List[str] = []
        fallback = _test_caller(item)

        found = self._split_reports(self._unhandled_reports(), item.nodeid, fallback)
        sites = [f"{f['class']} at {site_text(f.get('site'))}" for f in found]
        if found:
            parts.append(format_reports([f["report"] for f in found], f" during {phase}",
                                        MAX_FULL_REPORTS, MAX_ONE_LINE))
        elif self.invalid_uses and self._take_reports is None:
            n = self.invalid_uses
            parts.append(f"hpydbg: {n} invalid HPy API use{'s' if n != 1 else ''} during {phase} "
                         f"(the report{'s are' if n != 1 else ' is'} in the captured stderr)")
        self.invalid_uses = 0
        if check_leaks:
            outside = self._outside_handles
            all_new = [h for h in self._hpydbg.get_open_handles(self._epoch) if h.handle not in outside]
            self._attributed.update(h.handle for h in all_new)
            reported = self._debug._reported_leaks
            leaks = [h for h in all_new if h.handle not in reported]
            self._epoch = self._hpydbg.new_generation()
            expected = 0
            marker = item.get_closest_marker("hpy_leaks")
            if marker is not None and not self._checked_once:
                expected = int(marker.args[0] if marker.args else marker.kwargs.get("n", 0))
            self._checked_once = True
            left, kept, covered = self._split_leaks(leaks, item.nodeid, fallback)
            if len(left) != expected:
                text = format_leaks(left, f" during {phase}", MAX_LEAK_GROUPS) if left else \
                    f"hpydbg: no leaked handle during {phase}"
                if left and not any(getattr(h, "python_site", None) for h in left):
                    text = _before_what_to_do(text, f"  from Python: {_caller_text(fallback)} (the test)")
                if expected:
                    text = (f"hpydbg: expected {expected} leaked handle{'s' if expected != 1 else ''} "
                            f"(@pytest.mark.hpy_leaks({expected})), found {len(left)}\n" + text)
                parts.append(text)
                sites += [f"{f['count']} x leak at {site_text(f.get('site'))}" for f in kept]
            if _log_configured(os.environ):
                if left:
                    emit_leaks(left, f" during {phase} of {item.nodeid}", test=item.nodeid,
                               python_fallback=fallback)
                supp_left = [h for f in covered for h in f["handles"]]
                if supp_left and self.supp is not None:
                    from hpydbg._report import log_format
                    if log_format() == "json":
                        emit_leaks(supp_left, "", test=item.nodeid, python_fallback=fallback,
                                   suppressed=True)
        if parts:
            self.failed.append((item.nodeid, sites or ["(see the test's report)"]))
        return "\n\n".join(parts)


def _test_caller(item: pytest.Item) -> List[Dict[str, Any]]:
    """The test function as the Python caller, for handles and reports that
    do not know theirs."""
    try:
        path, line, _ = item.location
        file = str(item.path) if getattr(item, "path", None) else path
        return [{"file": file, "line": (line or 0) + 1, "function": getattr(item, "name", None),
                 "count": 1}]
    except Exception:  # noqa: BLE001
        return []


def _before_what_to_do(text: str, line: str) -> str:
    from hpydbg._report import WHAT_TO_DO

    if WHAT_TO_DO in text:
        return text.replace(WHAT_TO_DO, line + "\n" + WHAT_TO_DO, 1)
    return text + "\n" + line


def _caller_text(callers: List[Dict[str, Any]]) -> str:
    if not callers:
        return "unknown"
    c = callers[0]
    return f"{os.path.basename(str(c['file']))}:{c['line']} in {c['function']}"


def _log_configured(env: Mapping[str, str]) -> bool:
    return bool(env.get("HPY_DEBUG_LOG") or env.get("HPY_DEBUG_LOG_FORMAT"))
