"""pytest plugin of hpydbg (registered through the ``pytest11`` entry point).

``pytest --hpy-debug`` (or ``hpy_debug = true`` in the ini file) loads every
HPy universal module the tests import in debug mode on hpydbg's context, with
allocation stack traces on (16 frames; ``--hpy-debug-traces=N``, 0 = off),
and checks every test:

- handles opened during the test and still open at its end fail the test,
  with a report grouped by the extension source line that opened them;
  ``@pytest.mark.hpy_leaks(n)`` declares that the test leaks exactly ``n``;
- an invalid use of the API (closed handle, wrong context...) during the test
  fails it with hpydbg's report, instead of aborting the whole run.

Leaks a leak detector already reported (``hpy.debug.LeakDetector``, the
``hpy_debug`` fixture) and misuses a test handles with its own
``set_on_invalid_handle`` callback are not reported a second time.

The ``hpy_debug`` fixture (HPy's, from ``hpy.debug.pytest``) is available
with or without the option.  Without the option this plugin does nothing
else, and imports neither hpy nor hpydbg.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Mapping, Optional

import pytest

DEFAULT_TRACES = 16


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
        help=f"frames recorded where handles are opened (default {DEFAULT_TRACES}, 0 = off)")
    parser.addini("hpy_debug", type="bool", default=False,
                  help="same as --hpy-debug")
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
        from hpydbg import _debug, _hpydbg

        self._hpydbg = _hpydbg
        self._debug = _debug
        self.traces = _traces(config)
        hpydbg.enable("all")
        hpydbg.set_stack_trace_limit(self.traces)
        # A misuse must fail the test, not kill pytest: report and go on.
        set_policy = getattr(_hpydbg, "set_policy", None)
        self.policy: Optional[str] = None
        if set_policy is not None:
            set_policy("log")
            self.policy = "log"
        self._take_reports = getattr(_hpydbg, "take_reports", None)
        # Without a policy to set, HPy's callback mechanism does the same:
        # the report is written, our callback counts it, execution goes on.
        self.invalid_uses = 0
        self._epoch = 0
        self._checked_once = False
        self._install_callbacks()

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

    # -- hooks ------------------------------------------------------------
    def pytest_report_header(self, config: pytest.Config) -> Optional[str]:
        if config.option.verbose <= 0:
            return None
        traces = f"{self.traces} frames" if self.traces else "off"
        return (f"hpydbg: every HPy module in debug mode ({self._hpydbg.context_name()}), "
                f"stack traces {traces}, policy {self.policy or 'callback'}")

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Iterator[None]:
        self._take()  # forget what happened outside this test
        self._debug._reset_tracking()
        self._install_callbacks()
        self.invalid_uses = 0
        self._checked_once = False
        self._epoch = self._hpydbg.new_generation()
        yield

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

    # -- checks -----------------------------------------------------------
    def _take(self) -> List[Dict[str, Any]]:
        if self._take_reports is None:
            return []
        return [dict(r) for r in self._take_reports()]

    def _unhandled_reports(self) -> List[Dict[str, Any]]:
        out = []
        for r in self._take():
            if r.get("event", "misuse") == "leak":
                continue
            handled = r.get("callback")
            if handled is None:
                handled = self._debug._callback_installed
            if not handled:
                out.append(r)
        return out

    def _check(self, item: pytest.Item, when: str, check_leaks: bool = True) -> str:
        from hpydbg._report import emit_leaks, format_leaks, format_reports

        phase = "this test" if when == "call" else "teardown"
        parts: List[str] = []

        reports = self._unhandled_reports()
        if reports:
            parts.append(format_reports(reports, f" during {phase}"))
        elif self.invalid_uses and self._take_reports is None:
            n = self.invalid_uses
            parts.append(f"hpydbg: {n} invalid HPy API use{'s' if n != 1 else ''} during {phase} "
                         f"(the report{'s are' if n != 1 else ' is'} in the captured stderr)")
        self.invalid_uses = 0
        if not check_leaks:
            return "\n\n".join(parts)

        reported = self._debug._reported_leaks
        leaks = [h for h in self._hpydbg.get_open_handles(self._epoch) if h.handle not in reported]
        self._epoch = self._hpydbg.new_generation()
        expected = 0
        marker = item.get_closest_marker("hpy_leaks")
        if marker is not None and not self._checked_once:
            expected = int(marker.args[0] if marker.args else marker.kwargs.get("n", 0))
        self._checked_once = True
        if len(leaks) != expected:
            text = format_leaks(leaks, f" during {phase}") if leaks else \
                f"hpydbg: no leaked handle during {phase}"
            if expected:
                text = (f"hpydbg: expected {expected} leaked handle{'s' if expected != 1 else ''} "
                        f"(@pytest.mark.hpy_leaks({expected})), found {len(leaks)}\n" + text)
            parts.append(text)
            if leaks and _log_configured(os.environ):
                emit_leaks(leaks, f" during {phase} of {item.nodeid}", test=item.nodeid)
        return "\n\n".join(parts)


def _log_configured(env: Mapping[str, str]) -> bool:
    return bool(env.get("HPY_DEBUG_LOG") or env.get("HPY_DEBUG_LOG_FORMAT"))
