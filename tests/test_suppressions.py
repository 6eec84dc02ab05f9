"""Adoption on a code base that already leaks (issue 15): suppression files,
the baseline, pytest-xdist, findings outside tests.  Test projects run in
subprocesses with pytester, on the real extension tests/ext/oldleaks.c
(three old leaks, one new one, one misuse)."""
import re
import shutil
from pathlib import Path

import pytest

from conftest import oldleaks_line

pytest_plugins = ["pytester"]

A, B, C = oldleaks_line("OLD_A"), oldleaks_line("OLD_B"), oldleaks_line("OLD_C")
NEW, MISUSE = oldleaks_line("NEW_LEAK"), oldleaks_line("MISUSE")

OLD_TESTS = """\
import oldleaks

def test_a():
    oldleaks.old_a("a leaked string")

def test_b():
    oldleaks.old_b()

def test_c():
    oldleaks.old_c("x")

def test_clean():
    pass
"""

NEW_TESTS = """\
import oldleaks

def test_new():
    oldleaks.new_leak(42)
"""

BASELINE = f"""\
# hpydbg suppressions: the baseline of a run (pytest --hpy-debug-write-baseline).
# One entry per class, C function/file and caller; 'lines' and 'seen' are hints, not matched.
# 3 entries.

[[suppress]]
class = "leak"
function = "old_a_impl"
file = "*/oldleaks.c"
module = "oldleaks"
lines = [{A}]
seen = 1
comment = "baseline: test_old.py::test_a"

[[suppress]]
class = "leak"
function = "old_b_impl"
file = "*/oldleaks.c"
module = "oldleaks"
lines = [{B}]
seen = 2
comment = "baseline: test_old.py::test_b"

[[suppress]]
class = "leak"
function = "old_c_impl"
file = "*/oldleaks.c"
module = "oldleaks"
lines = [{C}]
seen = 3
comment = "baseline: test_old.py::test_c"
"""

ENV_VARS = ("HPY", "HPY_DEBUG", "HPYDBG", "HPY_LOG", "HPY_DEBUG_TRACES", "HPY_DEBUG_LOG",
            "HPY_DEBUG_LOG_FORMAT", "HPY_DEBUG_POLICY", "HPY_DEBUG_SUPPRESSIONS",
            "HPY_DEBUG_EXITCODE", "PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")


@pytest.fixture
def project(pytester, oldleaks_dir, monkeypatch):
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    for name in ("oldleaks.hpy0.so", "oldleaks.py"):
        shutil.copy(Path(oldleaks_dir) / name, pytester.path / name)
    return pytester


def run(pytester, *args):
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=180)


def section(r):
    """The lines of the hpydbg section of the terminal summary (asserting
    there is exactly one)."""
    out = r.stdout.str().splitlines()
    starts = [i for i, l in enumerate(out) if re.match(r"^=+ hpydbg =+$", l)]
    assert len(starts) == 1, r.stdout.str()
    body = []
    for l in out[starts[0] + 1:]:
        if l.startswith("====="):
            break
        body.append(l)
    return body


def used_rows(lines):
    """{function: (suppressed, findings)} of the "suppressions used" table."""
    rows = {}
    for l in lines:
        m = re.match(r"^\s+(\d+)\s+(\d+)\s+line \d+: class='leak' function='(\w+)'", l)
        if m:
            rows[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    return rows


def failed_tests(r):
    return sorted(re.findall(r"^FAILED (\S+)", r.stdout.str(), re.M))


def check_new_leak_failure(r):
    out = r.stdout.str()
    assert failed_tests(r) == ["test_new.py::test_new"]
    r.stdout.fnmatch_lines([
        "*_ test_new _*",
        "hpydbg: 1 leaked handle during this test, opened at 1 place:",
        f"  1 x opened at new_leak_impl at *oldleaks.c:{NEW} (oldleaks.hpy0.so)",
        "      e.g. '42'",
    ])
    # the Python caller: the innermost Python frame (line 4) where the Rust
    # side records it (DebugHandle.python_site), else the test (its def, line 3)
    assert re.search(r"from Python: \S*test_new\.py:[34] in test_new", out), out
    for fn in ("old_a_impl", "old_b_impl", "old_c_impl"):
        assert f"opened at {fn}" not in out


@pytest.mark.parametrize("xdist", [False, True], ids=["one-process", "n2"])
def test_baseline_then_pass_then_only_the_new_leak_fails(project, xdist):
    n = ("-n", "2") if xdist else ()
    project.makepyfile(test_old=OLD_TESTS)
    r = run(project, "--hpy-debug", "--hpy-debug-write-baseline=base.toml", *n)
    r.assert_outcomes(failed=3, passed=1)
    assert failed_tests(r) == ["test_old.py::test_a", "test_old.py::test_b", "test_old.py::test_c"]
    lines = section(r)
    assert "hpydbg: baseline written to base.toml: 3 entries covering 6 findings" in lines
    # same file whether or not the run was split between workers
    assert (project.path / "base.toml").read_text() == BASELINE

    if not xdist:   # (under -n 2 the next run shows the same for test_old.py)
        r = run(project, "--hpy-debug", "--hpy-debug-suppressions=base.toml")
        r.assert_outcomes(passed=4)
        lines = section(r)
        assert used_rows(lines) == {"old_c_impl": (3, 1), "old_b_impl": (2, 1), "old_a_impl": (1, 1)}
        assert not any("matched nothing" in l for l in lines)

    project.makepyfile(test_new=NEW_TESTS)
    r = run(project, "--hpy-debug", "--hpy-debug-suppressions=base.toml", *n)
    r.assert_outcomes(passed=4, failed=1)
    check_new_leak_failure(r)
    lines = section(r)
    # each finding once, with its tests
    i = lines.index("hpydbg: 1 test failed on leaks or misuses:")
    assert re.fullmatch(rf"  1 x leak at new_leak_impl at \S+oldleaks\.c:{NEW} \(oldleaks\.hpy0\.so\)",
                        lines[i + 1]), lines[i + 1]
    assert lines[i + 2] == "      tests (1): test_new.py::test_new"
    assert used_rows(lines) == {"old_c_impl": (3, 1), "old_b_impl": (2, 1), "old_a_impl": (1, 1)}
    assert not any("matched nothing" in l for l in lines)


def test_unmatched_entries_count_limit_and_ini_setting(project):
    project.makepyfile(test_old=OLD_TESTS)
    (project.path / "supp").mkdir()
    (project.path / "supp" / "known.toml").write_text(f"""\
# old_a and old_b are known; of old_c's leaks only two are
[[suppress]]
function = "old_[ab]_impl"
comment = "tracked in issue 1"

[[suppress]]
at = "oldleaks.c:{C}"
max = 2

[[suppress]]
class = "use-after-close"
python = "test_old.py:test_*"
comment = "nothing does this any more"

[[suppress]]
function = "old_a_impl"
type = "int"

[[suppress]]
class = "use-after-close"
at = "oldleaks.c:{MISUSE}"
python = "test_m.py:test_misuse"
""")
    project.makepyfile(test_m="import oldleaks\n\ndef test_misuse():\n    oldleaks.misuse('m')\n")
    project.makeini("[pytest]\nhpy_debug = true\nhpy_debug_suppressions = supp/known.toml\n")
    r = run(project)
    r.assert_outcomes(passed=4, failed=1)
    assert failed_tests(r) == ["test_old.py::test_c"]
    r.stdout.fnmatch_lines(["hpydbg: 1 leaked handle during this test, opened at 1 place:",
                            f"  1 x opened at old_c_impl at *oldleaks.c:{C} (oldleaks.hpy0.so)"])
    lines = section(r)
    path = project.path / "supp" / "known.toml"
    assert f"hpydbg: suppressions used ({path}):" in lines
    assert "           3         2  line 2: function='old_[ab]_impl'  # tracked in issue 1" in lines
    assert f"           2         1  line 6: at='oldleaks.c:{C}' max=2" in lines
    assert (f"           1         1  line 19: class='use-after-close' at='oldleaks.c:{MISUSE}' "
            "python='test_m.py:test_misuse'") in lines
    i = lines.index(f"hpydbg: suppressions that matched nothing ({path}):")
    assert lines[i + 1:] == [
        "  line 10: class='use-after-close' python='test_old.py:test_*'  # nothing does this any more",
        "  line 15: function='old_a_impl' type='int'",
    ]


@pytest.mark.parametrize("text, line, message", [
    ('[[suppress]]\nclass = "leak"\nfunction = old_a_impl\n', 3, "not valid TOML: Invalid value"),
    ('[[suppress]]\nclass = "leak"\n\n[[suppress]]\nfunction = "f"\nfunc = "g"\n', 6,
     "unknown key 'func'"),
    ('[[suppress]]\nclass = "leak"\nmax = "two"\n', 3, "'max' must be an integer >= 0"),
    ('[[suppress]]\ncomment = "matches everything?"\n', 1, "a suppression needs at least one of"),
])
def test_a_broken_file_is_a_usage_error_naming_the_line(project, text, line, message):
    project.makepyfile(test_old=OLD_TESTS)
    (project.path / "bad.toml").write_text(text)
    r = run(project, "--hpy-debug", "--hpy-debug-suppressions=bad.toml")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    err = r.stderr.str()
    assert f"hpydbg: {project.path / 'bad.toml'}:{line}: {message}" in err, err


OUTSIDE_CONFTEST = """\
import pytest, oldleaks

oldleaks.old_a("leaked at import")
oldleaks.misuse("misused at import")

@pytest.fixture(scope="session", autouse=True)
def session_resource():
    oldleaks.old_b()
    yield
"""


@pytest.mark.parametrize("mode", ["fail", "warn", "fail-n2"])
def test_findings_outside_tests_are_shown_and_fail_the_session(project, mode):
    project.makeconftest(OUTSIDE_CONFTEST)
    project.makepyfile(test_x="def test_ok():\n    pass\n")
    args = ["--hpy-debug"] + (["--hpy-debug-outside=warn"] if mode == "warn" else [])
    if mode == "fail-n2":
        # the controller and both workers import the conftest file; one
        # worker runs the test (and the session fixture)
        args += ["-n", "2"]
    r = run(project, *args)
    r.assert_outcomes(passed=1)   # the session fixture's leak is no test's
    lines = section(r)
    text = "\n".join(lines)
    assert "hpydbg: 1 invalid HPy API use outside tests (during import and collection):" in lines
    assert re.search(rf"^  at: misuse_impl at \S+oldleaks\.c:{MISUSE} \(oldleaks\.hpy0\.so\)$", text, re.M)
    i = next(i for i, l in enumerate(lines) if l.startswith("hpydbg: 3 leaked handles outside tests"))
    assert lines[i].endswith("opened at 2 places:")
    end = next(j for j in range(i, len(lines)) if lines[j].startswith("  what to do:"))
    sites = [l for l in lines[i + 1:end] if l.startswith("  ") and " x opened at " in l]
    assert [re.sub(r" at \S+oldleaks\.c:", " at oldleaks.c:", l) for l in sites] == [
        f"  2 x opened at old_b_impl at oldleaks.c:{B} (oldleaks.hpy0.so)",   # session fixture
        f"  1 x opened at old_a_impl at oldleaks.c:{A} (oldleaks.hpy0.so)",   # import
    ]
    assert "      e.g. 'leaked at import'" in lines
    if mode == "fail-n2":
        # the same report from three processes is shown once
        assert lines.count("hpydbg: 1 invalid HPy API use outside tests (during import and collection):") == 1
        assert "  (the same in 3 processes)" in lines
    if mode.startswith("fail"):
        assert r.ret == pytest.ExitCode.TESTS_FAILED
        assert lines[-1] == ("hpydbg: the session fails because of the findings outside tests "
                             "above (--hpy-debug-outside=warn only warns)")
    else:
        assert r.ret == pytest.ExitCode.OK
        assert lines[-1].startswith("hpydbg: warning: findings outside tests")
    # visible without -s: in pytest's own output, not only on the captured stderr
    assert "leaked at import" in r.stdout.str()


def test_session_fixture_leak_is_found_at_the_last_teardown(project):
    # A session fixture is torn down with the last test: what it leaks then
    # is reported in that test's teardown, not lost.
    project.makeconftest("""\
import pytest, oldleaks

@pytest.fixture(scope="session")
def res():
    yield
    oldleaks.old_c("at session teardown")
""")
    project.makepyfile(test_x="def test_one(res):\n    pass\n")
    r = run(project, "--hpy-debug")
    r.assert_outcomes(passed=1, errors=1)
    r.stdout.fnmatch_lines(["*ERROR at teardown of test_one*",
                            "hpydbg: 3 leaked handles during teardown, opened at 1 place:",
                            f"  3 x opened at old_c_impl at *oldleaks.c:{C} (oldleaks.hpy0.so)"])
