"""hpydbg's Python API: LeakDetector / HPyLeakError, handle listings,
settings, policy, stats.  Each test runs in a fresh interpreter."""
import textwrap

import pytest

from conftest import copy_leakext, leakext_line, run_python

LEAK_LINE = leakext_line("LEAK")


@pytest.fixture
def workdir(tmp_path, leakext_dir):
    copy_leakext(leakext_dir, tmp_path)
    return tmp_path


def check(code, cwd, **env):
    r = run_python(textwrap.dedent(code), cwd, env)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_leak_detector_groups_by_site_and_is_an_hpy_leak_error(workdir):
    check(f"""
        import hpydbg; hpydbg.enable("all"); hpydbg.set_stack_trace_limit(16)
        import hpy.debug, leakext
        assert issubclass(hpydbg.HPyLeakError, hpy.debug.HPyLeakError)
        try:
            with hpydbg.LeakDetector() as ld:
                leakext.leak("a"); leakext.leak("b"); leakext.clean("c")
        except hpy.debug.HPyLeakError as e:
            assert [h.obj for h in e.leaks] == ["a", "b"]
            lines = str(e).splitlines()
            assert lines[0] == "2 unclosed handles:", lines
            assert lines[1].startswith("  2 x opened at leak_impl at ")
            assert lines[1].endswith("leakext.c:{LEAK_LINE} (leakext.hpy0.so)"), lines[1]
            assert list(e.sites) == [lines[1].split(" x opened at ", 1)[1]]
        else:
            raise AssertionError("no leak")
        with hpydbg.LeakDetector():
            leakext.clean("x")
        d = hpydbg.LeakDetector()
        try:
            d.stop()
        except ValueError:
            pass
        else:
            raise AssertionError("stop before start")
    """, workdir)


def test_open_and_closed_handles(workdir):
    check("""
        import hpydbg; hpydbg.enable("all")
        import leakext
        before = {h.id for h in hpydbg.open_handles()}
        gen = hpydbg._hpydbg.new_generation()
        leakext.leak("kept")
        new = hpydbg.open_handles(gen)
        assert [h.obj for h in new] == ["kept"] and not new[0].is_closed
        assert new[0].id not in before
        assert new[0] in hpydbg.open_handles()
        leakext.clean("gone")
        assert any(h.is_closed for h in hpydbg.closed_handles())
    """, workdir)


def test_settings_round_trip(workdir):
    check("""
        import hpydbg
        hpydbg.set_stack_trace_limit(8); assert hpydbg.get_stack_trace_limit() == 8
        hpydbg.set_stack_trace_limit(None); assert hpydbg.get_stack_trace_limit() == 0
        hpydbg.set_closed_handles_queue_max_size(7)
        assert hpydbg.get_closed_handles_queue_max_size() == 7
        hpydbg.set_protected_raw_data_max_size(4096)
        assert hpydbg.get_protected_raw_data_max_size() == 4096
        try:
            hpydbg.set_policy("sometimes")
        except ValueError as e:
            assert "abort, raise, log" in str(e)
        else:
            raise AssertionError("bad policy accepted")
    """, workdir)


def test_stats_counts(workdir):
    check("""
        import hpydbg; hpydbg.enable("all")
        import leakext
        s0 = hpydbg.stats()
        for key in ("open_now", "peak_open", "opened_total", "closed_total", "reports"):
            assert key in s0, (key, s0)
        assert isinstance(s0["reports"], dict)
        leakext.leak("x"); leakext.clean("y")
        s1 = hpydbg.stats()
        assert s1["open_now"] == s0["open_now"] + 1
        assert s1["opened_total"] > s0["opened_total"] and s1["closed_total"] > s0["closed_total"]
        assert s1["peak_open"] >= s1["open_now"]
    """, workdir)


def test_policy_log_goes_on_and_reports_are_counted_and_taken(workdir):
    if not hasattr(__import__("hpydbg")._hpydbg, "set_policy"):
        pytest.skip("this build has no _hpydbg.set_policy")
    r = check("""
        import hpydbg; hpydbg.enable("all")
        import leakext
        hpydbg.set_policy("log")
        assert hpydbg.get_policy() == "log"
        hpydbg.take_reports()
        leakext.use_after_close("x")
        [rep] = hpydbg.take_reports()
        assert rep["event"] == "misuse" and rep["class"] == "use-after-close", rep
        assert rep["api"] == "HPy_Repr"
        assert hpydbg.take_reports() == []
        assert hpydbg.stats()["reports"].get("use-after-close") == 1, hpydbg.stats()
        print("went on")
    """, workdir)
    assert r.stdout.strip() == "went on"
    assert "Invalid usage of already closed handle" in r.stderr


def test_missing_rust_function_gives_a_clear_error():
    import hpydbg

    with pytest.raises(hpydbg.UnsupportedError, match="no no_such_function"):
        hpydbg._rust("no_such_function")
