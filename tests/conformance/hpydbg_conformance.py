"""pytest plugin loaded into HPy's own test suite by tests/conformance/run.py:
fails the run unless the debug context under test is hpydbg's."""
import pytest


def _check_ours():
    import hpy.universal
    import hpydbg
    from hpydbg import _debug

    assert hpydbg.is_enabled(), "hpydbg is not enabled in the conformance run"
    assert hpy.universal._debug is _debug, "hpy.universal._debug is not hpydbg's"
    assert "hpydbg" in hpydbg.context_name()


def pytest_sessionstart(session):
    _check_ours()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    outcome = yield
    if "debug" in item.nodeid and outcome.excinfo is None:
        from hpydbg import _hpydbg
        # A debug-mode test ran: the context must have been created by us.
        if "compiler" in getattr(item, "fixturenames", ()):
            assert _hpydbg.context_created() or "python_subprocess" in item.fixturenames, (
                "debug test ran but hpydbg's context was never requested")
