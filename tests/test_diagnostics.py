"""Misuses are caught and reported (classes and schema: docs/REPORTS.md),
and hpydbg survives garbage."""
import json
import random

import pytest

from conftest import TESTS, run_python


@pytest.fixture(scope="session")
def misuse_dir(tmp_path_factory):
    from hpydbg.build import build_extension

    out = tmp_path_factory.mktemp("misuse")
    build_extension("misuse", [str(TESTS / "ext" / "misuse.c")], str(out))
    return out


def run_logged(misuse_dir, code, policy="log", **env):
    log = misuse_dir / f"log-{random.getrandbits(40):x}.jsonl"
    env = {"HPY_DEBUG": "1", "HPY_DEBUG_POLICY": policy, "HPY_DEBUG_LOG": str(log),
           "HPY_DEBUG_LOG_FORMAT": "json", **env}
    r = run_python(code, misuse_dir, env)
    records = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return r, records


def test_use_after_close_caught_after_100000_other_handles(misuse_dir):
    r, records = run_logged(misuse_dir, "import misuse; misuse.use_after_many(100000)")
    misuses = [x for x in records if x["event"] == "misuse"]
    assert len(misuses) == 1, (r.stderr, records)
    rec = misuses[0]
    assert rec["class"] == "use-after-close"
    assert rec["api"] == "HPy_Repr"
    assert rec["site"]["file"].endswith("misuse.c")
    assert rec["site"]["function"] == "use_after_many_impl"


def test_identical_misuses_are_printed_once_and_counted(misuse_dir):
    # 10,000 times the same misuse at the same site: one full report in the
    # log, one record for take_reports() with the count, a total at exit.
    code = """
import time, misuse
from hpydbg import _hpydbg
for i in range(10000):
    try:
        misuse.call_with_raw(0, 0x1230)
    except Exception:
        pass
rep = _hpydbg.take_reports()
print(len(rep), rep[0]["count"], rep[0]["total"], rep[0]["class"])
"""
    r, records = run_logged(misuse_dir, code)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["1", "10000", "10000", "not-a-handle"]
    misuses = [x for x in records if x["event"] == "misuse"]
    repeats = [x for x in records if x["event"] == "repeat"]
    assert len(misuses) == 1, records[:3]
    assert [(x["class"], x["count"], x["shown"]) for x in repeats] == [("not-a-handle", 10000, 1)]
    assert repeats[0]["site"]["function"] == misuses[0]["site"]["function"]


def test_garbage_values_are_reported_never_crash(misuse_dir):
    # 1000 random non-handle values, 250 for each of 4 API functions.
    code = """
import random, misuse, hpydbg
from hpydbg import _hpydbg
rng = random.Random(1234)
n = 0
for i in range(1000):
    v = rng.getrandbits(64) - 2**63
    if v % 2 == 0 and 0 < (v >> 32) < 2**20:
        v += 1   # stay away from values that could be live handles
    try:
        misuse.call_with_raw(i % 4, v)
    except Exception:
        pass
    n += 1
reports = _hpydbg.take_reports()
# Identical reports (class, API, site) are kept once, with their count.
print(n, sum(r["count"] for r in reports), sorted({r["class"] for r in reports}), sorted({r["api"] for r in reports}))
"""
    r, records = run_logged(misuse_dir, code)
    assert r.returncode == 0, r.stderr[-3000:]
    n, count, *_ = r.stdout.split(" ", 2)
    assert int(n) == 1000
    assert int(count) == 1000, r.stdout
    assert "not-a-handle" in r.stdout or "foreign-handle" in r.stdout
    # HPyLong_AsLong is an inline helper over HPyLong_AsInt64_t on LP64.
    for api in ("HPy_Repr", "HPy_Close", "HPy_Dup", "HPyLong_AsInt64_t"):
        assert api in r.stdout


def test_wrong_context_is_fatal_by_default(misuse_dir):
    r = run_python("import misuse; misuse.keep_ctx(); misuse.use_kept_ctx()", misuse_dir, {"HPY_DEBUG": "1"})
    assert r.returncode == -6
    assert "Error: Wrong HPy Context!" in r.stderr
    assert "HPyLong_FromInt64_t" in r.stderr


def test_wrong_context_from_another_thread(misuse_dir):
    code = """
import threading, misuse
misuse.keep_ctx()
t = threading.Thread(target=misuse.use_kept_ctx)
t.start(); t.join()
"""
    r, records = run_logged(misuse_dir, code)
    assert [x["class"] for x in records] == ["wrong-context"], (r.stderr, records)


def test_api_call_outside_python_execution(misuse_dir):
    r, records = run_logged(misuse_dir, "import misuse; assert misuse.outside_python() == 7")
    assert r.returncode == 0, r.stderr
    assert [(x["class"], x["api"]) for x in records] == [("outside-python", "HPyLong_FromInt64_t")]


def test_api_call_outside_python_is_made_holding_the_gil(misuse_dir):
    # Under `log` the call goes on; hpydbg takes the GIL for it, so CPython
    # and the handle table stay consistent while other threads run Python.
    code = """
import threading, misuse
stop = False
def spin():
    n = 0
    while not stop:
        n += len([i for i in range(50)])
ts = [threading.Thread(target=spin) for _ in range(2)]
for t in ts: t.start()
for i in range(300):
    assert misuse.outside_python() == 7
stop = True
for t in ts: t.join()
print("ok")
"""
    r, records = run_logged(misuse_dir, code)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]
    # One full report, then counted: the exit summary has the total.
    misuses = [x for x in records if x["event"] == "misuse"]
    repeats = [x for x in records if x["event"] == "repeat"]
    assert len(misuses) == 1 and misuses[0]["class"] == "outside-python", records
    assert [(x["class"], x["count"]) for x in repeats] == [("outside-python", 300)], records


def test_context_used_by_a_c_thread_without_the_gil_is_refused_not_deadlocked(misuse_dir):
    # The calling thread holds the GIL and joins the worker: taking the GIL
    # in the worker would hang forever.  The call is reported and refused.
    code = "import misuse; print(misuse.dup_in_c_thread(42))"
    r, records = run_logged(misuse_dir, code)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == "None"
    assert [(x["class"], x["api"]) for x in records] == [("wrong-context", "HPy_Dup")]
    assert "does not hold the GIL" in records[0]["note"]


def test_raise_policy_turns_a_misuse_into_an_exception(misuse_dir):
    code = """
import misuse, hpydbg
try:
    misuse.use_after_many(10)
except hpydbg.HPyDebugError as e:
    print("raised", e)
"""
    r, records = run_logged(misuse_dir, code, policy="raise")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("raised"), r.stdout
    assert records and records[0]["class"] == "use-after-close"


def test_text_report_names_function_handle_and_site(misuse_dir):
    r = run_python("import misuse; misuse.use_after_many(3)", misuse_dir,
                   {"HPY_DEBUG": "1", "HPY_DEBUG_TRACES": "16"})
    assert r.returncode == -6
    err = r.stderr
    assert err.startswith("Invalid usage of already closed handle"), err[:500]
    assert "[use-after-close]" in err
    assert "HPy_Repr()" in err
    assert "use_after_many_impl at" in err and "misuse.c" in err
    assert "opened at:" in err and "closed at:" in err
    assert "what to do:" in err


def test_log_file_failure_falls_back_to_stderr(misuse_dir):
    # The closed handle's object (a fresh int) is kept in quarantine under
    # "log": the use is forwarded, universal mode's result.
    code = """
import misuse
print(misuse.use_after_many(3))
"""
    r = run_python(code, misuse_dir,
                   {"HPY_DEBUG": "1", "HPY_DEBUG_POLICY": "log", "HPY_DEBUG_LOG": "/nonexistent-dir/x.log"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "12345"
    assert "cannot open HPY_DEBUG_LOG" in r.stderr
    assert "[use-after-close]" in r.stderr


def test_out_of_memory_opening_a_handle_is_a_memory_error(misuse_dir):
    # Limit the address space so that the handle table cannot grow: HPy_Dup
    # must fail with MemoryError (not abort), and the program go on.
    code = """
import resource, misuse
vm = int([l for l in open('/proc/self/status') if l.startswith('VmSize')][0].split()[1]) * 1024
N = 40_000_000
resource.setrlimit(resource.RLIMIT_AS, (vm + N * 8 + 200 * 2**20, resource.RLIM_INFINITY))
try:
    misuse.dup_until_error("x", N)
except MemoryError:
    print("MemoryError")
else:
    print("no error")
import hpydbg
print(hpydbg.stats()["peak_open"] > 1_000_000)
print(misuse.dup_until_error("y", 1000))
"""
    r = run_python(code, misuse_dir, {"HPY_DEBUG": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    # the failure came from the handle table, after millions of handles
    assert r.stdout.split() == ["MemoryError", "True", "1000"], r.stdout
