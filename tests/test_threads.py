"""hpydbg under threads: 8 Python threads call tests/ext/stress.c (which
opens, closes, reads raw data, releases the GIL with
HPy_LeavePythonExecution around pure C work and leaks a known number of
handles) while two other threads start and stop leak detectors.  At the end
the leak list must be exact and no misuse may have been reported."""
import pytest

from reliability_util import LONG, LEAK_BASE, last_json, run_script, stress_dir  # noqa: F401

THREADS = 8
CALLS = 100_000 if LONG else 5_000
LEAK_EVERY = 50

SCRIPT = r"""
import itertools, json, sys, threading, time
import stress
import hpy.universal as u
from hpydbg import _hpydbg
dbg = u._debug
N, T, LEAK_EVERY, LEAK_BASE = map(int, sys.argv[1:5])
seq = itertools.count()          # next() is atomic under the GIL
_hpydbg.take_reports()
g0 = dbg.new_generation()
open0 = _hpydbg.stats()["open_now"]
results = [[] for _ in range(T)]
errors = []
stop = threading.Event()
windows = []                     # (s0, s1, e, listed handle values) per detector run

def worker(t):
    try:
        out = results[t]
        for k in range(N):
            i = t * N + k
            leak = 1 if k % LEAK_EVERY == 0 else 0
            a = next(seq)
            v = stress.step(i, leak, 8 if k % 4 == 0 else 0)
            b = next(seq)
            if leak:
                out.append((a, b, v, i))
            elif v != 0:
                errors.append(f"step returned {v} without a leak")
    except BaseException as e:
        errors.append(f"worker {t}: {e!r}")

def detector():
    try:
        while not stop.is_set():
            s0 = next(seq)
            g = dbg.new_generation()
            s1 = next(seq)
            time.sleep(0.002)
            e = next(seq)
            listed = [h.handle for h in dbg.get_open_handles(g)]
            windows.append((s0, s1, e, listed))
            # also what HPy's LeakDetector API does, the exception path included
            from hpy.debug import LeakDetector, HPyLeakError
            ld = LeakDetector()
            ld.start()
            time.sleep(0.001)
            try:
                ld.stop()
            except HPyLeakError:
                pass
    except BaseException as e:
        errors.append(f"detector: {e!r}")

ws = [threading.Thread(target=worker, args=(t,)) for t in range(T)]
ds = [threading.Thread(target=detector) for _ in range(2)]
t0 = time.time()
for th in ws + ds:
    th.start()
for th in ws:
    th.join()
stop.set()
for th in ds:
    th.join()
elapsed = time.time() - t0

leaks = [x for r in results for x in r]
leak_values = {v for (_, _, v, _) in leaks}
final = dbg.get_open_handles(g0)
final_values = [h.handle for h in final]
final_objs = sorted(h.obj for h in final)
expected_objs = sorted(LEAK_BASE + i for (_, _, _, i) in leaks)
problems = list(errors)
if len(leak_values) != len(leaks):
    problems.append(f"duplicate leaked handle values: {len(leaks) - len(leak_values)}")
if len(final_values) != len(set(final_values)):
    problems.append("get_open_handles lists a handle twice")
if set(final_values) != leak_values:
    problems.append(f"final open handles != leaks: missing {len(leak_values - set(final_values))}, "
                    f"extra {len(set(final_values) - leak_values)}")
if final_objs != expected_objs:
    problems.append("objects of the listed leaks differ from the leaked objects")
stats = _hpydbg.stats()
if stats["open_now"] - open0 != len(leaks):
    problems.append(f"stats open_now grew by {stats['open_now'] - open0}, expected {len(leaks)}")
# Detector windows: leaks made wholly inside the window must be listed, leaks
# completed before the window started must not be.
missed = spurious = 0
for (s0, s1, e, listed) in windows:
    ls = set(listed)
    for (a, b, v, i) in leaks:
        if a > s1 and b < e and v not in ls:
            missed += 1
        if b < s0 and v in ls:
            spurious += 1
if missed:
    problems.append(f"leak detectors missed {missed} leaks made inside their window")
if spurious:
    problems.append(f"leak detectors listed {spurious} leaks made before they started")
reports = _hpydbg.take_reports()
if reports:
    problems.append(f"{len(reports)} unexpected reports, e.g. {reports[0]}")
print(json.dumps({"calls": N * T, "threads": T, "leaks": len(leaks), "listed": len(final_values),
                  "detector_windows": len(windows), "elapsed": round(elapsed, 2),
                  "opened_total": stats["opened_total"], "problems": problems[:20]}))
"""


def test_threads_leaks_exact(stress_dir):
    r, timed_out = run_script(SCRIPT, stress_dir, args=(CALLS, THREADS, LEAK_EVERY, LEAK_BASE),
                              timeout=3600 if LONG else 110)
    assert not timed_out, "deadlock or far too slow:\n" + r.stderr[-3000:]
    assert r.returncode == 0, r.stderr[-4000:]
    res = last_json(r.stdout)
    assert res is not None, r.stdout[-2000:] + r.stderr[-2000:]
    print(res)
    expected_leaks = THREADS * len(range(0, CALLS, LEAK_EVERY))
    assert res["leaks"] == expected_leaks
    assert res["detector_windows"] > 0
    assert res["problems"] == [], res


SCRIPT_CTX = r"""
import json, sys, threading
import stress
from hpydbg import _hpydbg
# Threads that each release the GIL for long pure-C stretches: with many
# calls in flight at once (more than HPy's pool of 16 contexts) a context
# must never be reported as wrong for the thread that owns the call.
N = int(sys.argv[1])
errors = []
def w(t):
    try:
        for k in range(N):
            stress.step(t * N + k, 0, 200)
    except BaseException as e:
        errors.append(repr(e))
ths = [threading.Thread(target=w, args=(t,)) for t in range(24)]
for th in ths: th.start()
for th in ths: th.join()
rep = _hpydbg.take_reports()
print(json.dumps({"errors": errors, "reports": [r["class"] for r in rep][:10], "n": len(rep)}))
"""


def test_more_threads_than_pooled_contexts(stress_dir):
    # 24 threads (more than a 16-context pool), all releasing the GIL.
    r, timed_out = run_script(SCRIPT_CTX, stress_dir, args=(2000 if LONG else 300,), timeout=110)
    assert not timed_out, r.stderr[-3000:]
    assert r.returncode == 0, r.stderr[-4000:]
    res = last_json(r.stdout)
    assert res == {"errors": [], "reports": [], "n": 0}, res
