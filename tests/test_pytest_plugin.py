"""The pytest plugin (``pytest --hpy-debug``), exercised with pytest's own
``pytester`` on fresh test projects that use a real HPy extension built
from tests/ext/leakext.c.  Each inner pytest runs in a subprocess (debug mode
is process-wide), with the plugin loaded through its ``pytest11`` entry point."""
import pytest

from conftest import copy_leakext, leakext_line

pytest_plugins = ["pytester"]

LEAK_LINE = leakext_line("LEAK")
MISUSE_LINE = leakext_line("MISUSE")

PLAIN_TESTS = """
import leakext

def test_leaky():
    leakext.leak("a leaked string")

def test_clean():
    assert leakext.clean("x") is None
"""


@pytest.fixture
def project(pytester, leakext_dir, monkeypatch):
    """A fresh test project holding the built extension; no HPy debug
    switches in the environment."""
    for var in ("HPY", "HPY_DEBUG", "HPYDBG", "HPY_LOG", "HPY_DEBUG_TRACES",
                "HPY_DEBUG_LOG", "HPY_DEBUG_LOG_FORMAT", "HPY_DEBUG_POLICY",
                "PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(var, raising=False)
    copy_leakext(leakext_dir, pytester.path)
    return pytester


def run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)


def hpydbg_output(r):
    """What the run printed that mentions hpydbg, besides pytest's list of plugins."""
    lines = (r.stdout.str() + "\n" + r.stderr.str()).splitlines()
    return [l for l in lines if "hpydbg" in l and not l.startswith("plugins:")]


def test_leak_fails_the_test_with_object_and_extension_line(project):
    project.makepyfile(test_plain=PLAIN_TESTS)
    r = run(project, "--hpy-debug")
    r.assert_outcomes(failed=1, passed=1)
    out = r.stdout.str()
    r.stdout.fnmatch_lines([
        "*_ test_leaky _*",
        "hpydbg: 1 leaked handle during this test, opened at 1 place:",
        f"  1 x opened at leak_impl at *leakext.c:{LEAK_LINE} (leakext.hpy0.so)",
        "      e.g. 'a leaked string'",
    ])
    assert f"leakext.c:{LEAK_LINE}" in out
    assert "FAILED test_plain.py::test_leaky" in out
    assert "test_clean" not in out.split("short test summary")[1]


def test_without_the_flag_nothing_changes(project):
    project.makepyfile(test_plain=PLAIN_TESTS)
    r = run(project)
    r.assert_outcomes(passed=2)
    assert hpydbg_output(r) == []


def test_nothing_printed_when_nothing_is_wrong(project):
    project.makepyfile(test_ok="""
        import leakext
        def test_clean():
            leakext.clean("x")
        def test_debug_context():
            assert "hpydbg" in leakext.ctx_name()
    """)
    r = run(project, "--hpy-debug")
    r.assert_outcomes(passed=2)
    # only the header saying that debug mode is on
    [header] = hpydbg_output(r)
    assert header.startswith("hpydbg: debug mode on: every HPy module on HPy Debug Mode ABI (hpydbg")
    assert "stack traces sites only, policy log" in header


def test_ini_setting_turns_it_on_and_no_hpy_debug_off(project):
    project.makepyfile(test_plain=PLAIN_TESTS)
    project.makeini("[pytest]\nhpy_debug = true\n")
    r = run(project)
    r.assert_outcomes(failed=1, passed=1)
    assert f"leakext.c:{LEAK_LINE}" in r.stdout.str()
    run(project, "--no-hpy-debug").assert_outcomes(passed=2)


def test_extension_imported_by_conftest_is_in_debug_mode(project):
    project.makeconftest("import leakext\nCTX = leakext.ctx_name()\n")
    project.makepyfile(test_ctx="""
        from conftest import CTX
        def test_ctx():
            assert CTX.startswith("HPy Debug Mode ABI (hpydbg"), CTX
    """)
    run(project, "--hpy-debug").assert_outcomes(passed=1)


def test_traces_can_be_turned_off(project):
    # Per-handle traces off: the site is still known (from the site table).
    project.makepyfile(test_plain=PLAIN_TESTS)
    r = run(project, "--hpy-debug", "--hpy-debug-traces=0")
    r.assert_outcomes(failed=1, passed=1)
    r.stdout.fnmatch_lines([f"  1 x opened at leak_impl at *leakext.c:{LEAK_LINE} (leakext.hpy0.so)"])


def test_sites_can_be_turned_off(project, monkeypatch):
    monkeypatch.setenv("HPY_DEBUG_SITES", "0")
    project.makepyfile(test_plain=PLAIN_TESTS)
    r = run(project, "--hpy-debug", "--hpy-debug-traces=0")
    r.assert_outcomes(failed=1, passed=1)
    out = r.stdout.str()
    assert "1 x opened at unknown site" in out and "allocation sites are unknown" in out
    assert "leakext.c" not in out


def test_marker_declares_expected_leaks(project):
    project.makepyfile(test_marked="""
        import pytest, leakext

        @pytest.mark.hpy_leaks(2)
        def test_two_expected():
            leakext.leak("a"); leakext.leak("b")

        @pytest.mark.hpy_leaks(1)
        def test_one_expected_two_found():
            leakext.leak("a"); leakext.leak("b")
    """)
    r = run(project, "--hpy-debug", "--strict-markers")
    r.assert_outcomes(passed=1, failed=1)
    r.stdout.fnmatch_lines(["hpydbg: expected 1 leaked handle (@pytest.mark.hpy_leaks(1)), found 2"])


def test_invalid_handle_fails_that_test_and_the_run_goes_on(project):
    project.makepyfile(test_misuse="""
        import leakext
        def test_use_after_close():
            leakext.use_after_close("x")
        def test_after():
            leakext.clean("y")
    """)
    r = run(project, "--hpy-debug")
    r.assert_outcomes(failed=1, passed=1)
    out = r.stdout.str()
    assert "FAILED test_misuse.py::test_use_after_close" in out
    assert "Invalid usage of already closed handle" in out
    assert f"leakext.c:{MISUSE_LINE}" in out
    assert "HPy_Repr" in out


def test_unmodified_hpy_debug_leak_detector_and_fixture(project):
    project.makeconftest("from hpy.debug.pytest import hpy_debug  # noqa: F401\n")
    project.makepyfile(test_hpy_api="""
        import pytest, leakext
        from hpy.debug import LeakDetector, HPyLeakError

        def test_detector_clean():
            with LeakDetector():
                leakext.clean("x")

        def test_detector_catches_a_leak():
            # the detector reported it: the plugin does not report it again
            with pytest.raises(HPyLeakError) as e:
                with LeakDetector():
                    leakext.leak("caught")
            assert [h.obj for h in e.value.leaks] == ["caught"]

        def test_fixture_clean(hpy_debug):
            leakext.clean("x")

        def test_fixture_leak(hpy_debug):
            leakext.leak("seen by the fixture")
    """)
    r = run(project, "--hpy-debug")
    r.assert_outcomes(passed=4, errors=1)
    out = r.stdout.str()
    assert "ERROR at teardown of test_fixture_leak" in out
    assert "1 unclosed handle" in out
    # reported once, by the fixture
    assert "leaked handle during" not in out


def test_plugin_fixture_raises_hpydbg_error_catchable_as_hpys(project):
    project.makepyfile(test_fixture="""
        import hpy.debug, hpydbg, leakext

        def test_fixture_leak(hpy_debug):
            leakext.leak("seen by the fixture")

        def test_subclass():
            assert issubclass(hpydbg.HPyLeakError, hpy.debug.HPyLeakError)
            d = hpydbg.LeakDetector()
            d.start()
            leakext.leak("x")
            try:
                d.stop()
            except hpy.debug.HPyLeakError as e:
                assert isinstance(e, hpydbg.HPyLeakError) and len(e.leaks) == 1
                assert str(e).splitlines()[0] == "1 unclosed handle:"
            else:
                raise AssertionError("no leak")
    """)
    r = run(project, "--hpy-debug")
    r.assert_outcomes(passed=2, errors=1)
    out = r.stdout.str()
    assert "hpydbg._leaks.HPyLeakError" in out or "HPyLeakError" in out
    assert f"1 x opened at leak_impl at" in out and f"leakext.c:{LEAK_LINE}" in out


def test_leak_records_go_to_the_json_log_too(project, tmp_path, monkeypatch):
    import json

    log = tmp_path / "leaks.jsonl"
    project.makepyfile(test_plain=PLAIN_TESTS)
    monkeypatch.setenv("HPY_DEBUG_LOG", str(log))
    monkeypatch.setenv("HPY_DEBUG_LOG_FORMAT", "json")
    r = run(project, "--hpy-debug")
    r.assert_outcomes(failed=1, passed=1)
    recs = [json.loads(l) for l in log.read_text().splitlines()]
    assert [(x["event"], x["count"], x["site"]["line"], x["test"]) for x in recs] == \
        [("leak", 1, LEAK_LINE, "test_plain.py::test_leaky")]


def test_test_id_is_set_for_each_test_and_cleared_after(project):
    # A plugin loaded before hpydbg's session starts records the calls of
    # _hpydbg.set_test_id (wrapping the Rust one where it exists).
    project.makepyfile(idrecorder="""
        from hpydbg import _hpydbg
        CALLS = []
        _real = getattr(_hpydbg, "set_test_id", None)
        def set_test_id(nodeid):
            CALLS.append(nodeid)
            if _real is not None:
                _real(nodeid)
        _hpydbg.set_test_id = set_test_id
    """)
    project.makepyfile(test_ids="""
        import idrecorder

        def test_one():
            assert idrecorder.CALLS[-1] == "test_ids.py::test_one"

        def test_two():
            assert idrecorder.CALLS[-2:] == [None, "test_ids.py::test_two"]
    """)
    r = run(project, "--hpy-debug", "-p", "idrecorder")
    r.assert_outcomes(passed=2)
