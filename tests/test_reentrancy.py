"""Re-entrancy: Python code that hpydbg runs in the middle of an API call
(``__del__`` run by HPy_Close, the ``on_invalid_handle`` callback) calls back
into the extension, raises, misuses handles again or starts leak detectors.
No deadlock (subprocess with a timeout), no double report, no lost report:
reports are counted both with ``take_reports()`` and in the JSON log."""
import pytest

from reliability_util import last_json, read_jsonl, run_script, stress_dir  # noqa: F401

PRELUDE = r"""
import gc, json, sys
import stress
import hpy.universal as u
from hpydbg import _hpydbg
dbg = u._debug
GARBAGE = 0x1230            # even, never a handle: not-a-handle
out = {}
def bad(v=GARBAGE):
    # a misuse through the extension; a skipped call raises HPyDebugError
    try:
        stress.garbage(v)
        return "ok"
    except _hpydbg.HPyDebugError:
        return "HPyDebugError"
    except BaseException as e:
        return type(e).__name__ + ":" + str(e)
def reports():
    return [r["class"] for r in _hpydbg.take_reports()]
_hpydbg.take_reports()
"""


def run_case(stress_dir, tmp_path, body, policy="log", timeout=60):
    log = tmp_path / "log.jsonl"
    r, timed_out = run_script(PRELUDE + body + "\nprint(json.dumps(out))\n", stress_dir,
                              {"HPY_DEBUG_POLICY": policy, "HPY_DEBUG_LOG": str(log),
                               "HPY_DEBUG_LOG_FORMAT": "json",
                               # Every report printed (no de-duplication):
                               # these tests count them one by one.
                               "HPY_DEBUG_REPORT_LIMIT": "1000000"}, timeout=timeout)
    assert not timed_out, "deadlock (timeout):\n" + r.stderr[-3000:]
    assert r.returncode == 0, r.stderr[-4000:]
    res = last_json(r.stdout)
    assert res is not None, r.stdout[-2000:] + r.stderr[-2000:]
    misuses = [x for x in read_jsonl(log) if x.get("event") == "misuse"]
    return res, misuses, r


def test_del_run_by_close_calls_back_into_extension(stress_dir, tmp_path):
    body = r"""
calls = []
class D:
    def __del__(self):
        # valid calls, a leak, and a misuse, all from inside HPy_Close
        calls.append(stress.step(7, 0, 2))
        calls.append(stress.leak_one(1234567))
        calls.append(bad())
        calls.append(stress.call_and_close(lambda: 5))
g = dbg.new_generation()
out["result"] = stress.call_and_close(D)
gc.collect()
out["calls"] = len(calls)
out["leaks"] = sorted(h.obj for h in dbg.get_open_handles(g))
out["reports"] = reports()
"""
    res, misuses, r = run_case(stress_dir, tmp_path, body)
    assert res["result"] == 4242
    assert res["calls"] == 4
    assert res["leaks"] == [1234567]
    assert res["reports"] == ["not-a-handle"], res
    assert [m["class"] for m in misuses] == ["not-a-handle"]


def test_nested_del_chain(stress_dir, tmp_path):
    # __del__ -> extension -> HPy_Close -> __del__ -> ... 50 levels deep.
    body = r"""
depth = []
class D:
    def __init__(self, n): self.n = n
    def __del__(self):
        depth.append(self.n)
        if self.n < 50:
            stress.call_and_close(lambda: D(self.n + 1))
out["result"] = stress.call_and_close(lambda: D(1))
out["depth"] = max(depth)
out["reports"] = reports()
out["open_now"] = _hpydbg.stats()["open_now"]
"""
    res, misuses, _ = run_case(stress_dir, tmp_path, body)
    assert res["result"] == 4242 and res["depth"] == 50
    assert res["reports"] == [] and misuses == []


@pytest.mark.parametrize("policy", ["log", "abort", "raise"])
def test_callback_that_raises(stress_dir, tmp_path, policy):
    # The callback takes precedence over every policy; its exception is
    # printed, the call goes on, exactly one report per misuse.
    body = r"""
n = [0]
def cb():
    n[0] += 1
    raise RuntimeError("from the callback")
dbg.set_on_invalid_handle(cb)
for i in range(5):
    out.setdefault("outcomes", []).append(bad())
out["callback_calls"] = n[0]
out["reports"] = reports()
x = stress.step(1, 0, 0)      # the interpreter is still fine
out["after"] = x
"""
    res, misuses, r = run_case(stress_dir, tmp_path, body, policy=policy)
    assert res["callback_calls"] == 5
    assert res["reports"] == ["not-a-handle"] * 5
    assert len(misuses) == 5
    assert res["after"] == 0
    # The callback's exception must not leak into the extension's call as a
    # stray pending exception (SystemError "returned a result with an
    # exception set").
    # (HPyDebugError: the call was skipped, HPy_Repr has an error return.)
    assert set(res["outcomes"]) <= {"ok", "HPyDebugError"}, res["outcomes"]


def test_callback_calls_the_extension_and_misuses_again(stress_dir, tmp_path):
    body = r"""
n = [0]
g_inner = []
def cb():
    n[0] += 1
    stress.step(3, 0, 1)                 # valid call from inside the report
    g_inner.append(dbg.new_generation())  # a leak detector started inside a callback
    stress.leak_one(555)
    if n[0] == 1:
        out["inner"] = bad(GARBAGE + 2)  # a second misuse, nested (depth 1)
dbg.set_on_invalid_handle(cb)
out["outer"] = bad()
out["callback_calls"] = n[0]
out["reports"] = reports()
out["inner_leaks"] = [sorted(h.obj for h in dbg.get_open_handles(g)) for g in g_inner]
"""
    res, misuses, _ = run_case(stress_dir, tmp_path, body)
    assert res["callback_calls"] == 2
    assert res["reports"] == ["not-a-handle", "not-a-handle"]
    assert len(misuses) == 2
    # generation started in the outer callback sees both leaks, the inner one only its own
    assert res["inner_leaks"] == [[555, 555], [555]], res


def test_exception_pending_while_handle_closed(stress_dir, tmp_path):
    body = r"""
dels = []
class D:
    def __del__(self):
        dels.append(stress.step(9, 0, 0))     # extension called while an exception is pending
def attempt(f, *a):
    try:
        f(*a)
        return "no exception"
    except BaseException as e:
        return type(e).__name__ + ":" + str(e)
out["close_pending"] = attempt(stress.close_pending, D())
gc.collect()
out["dels"] = dels
out["r1"] = reports()
out["double_close_pending"] = attempt(stress.double_close_pending)
out["r2"] = reports()
n = [0]
def cb():
    n[0] += 1
dbg.set_on_invalid_handle(cb)
out["double_close_pending_cb"] = attempt(stress.double_close_pending)
out["cb"] = n[0]
out["r3"] = reports()
"""
    res, misuses, r = run_case(stress_dir, tmp_path, body)
    assert res["close_pending"] == "ValueError:pending", res
    assert res["dels"] == [0]
    assert res["r1"] == []
    assert res["double_close_pending"] == "ValueError:pending", res
    assert res["r2"] == ["double-close"]
    assert res["cb"] == 1
    assert res["double_close_pending_cb"] == "ValueError:pending", (res, r.stderr[-2000:])
    assert res["r3"] == ["double-close"]
    assert len(misuses) == 2


def test_leak_detector_inside_del(stress_dir, tmp_path):
    body = r"""
from hpy.debug import LeakDetector, HPyLeakError
seen = []
class D:
    def __del__(self):
        ld = LeakDetector()
        ld.start()
        stress.leak_one(999)
        try:
            ld.stop()
            seen.append("no error")
        except HPyLeakError as e:
            seen.append(len(e.leaks))
out["result"] = stress.call_and_close(D)
out["seen"] = seen
out["reports"] = reports()
"""
    res, misuses, _ = run_case(stress_dir, tmp_path, body)
    assert res["result"] == 4242
    assert res["seen"] == [1]
    assert res["reports"] == []


def test_reports_not_lost_beyond_keep_limit(stress_dir, tmp_path):
    # 12_000 misuses without take_reports() in between: every one must be
    # logged, and the ones take_reports() no longer holds must at least be
    # counted (stats()["reports"]).
    body = r"""
for i in range(12_000):
    bad()
rep = _hpydbg.take_reports()
out["taken"] = len(rep)
out["counted"] = _hpydbg.stats()["reports"].get("not-a-handle", 0)
"""
    res, misuses, _ = run_case(stress_dir, tmp_path, body)
    assert len(misuses) == 12_000
    assert res["counted"] == 12_000
    assert res["taken"] == 12_000, f"take_reports() returned {res['taken']} of 12000 reports (silently dropped)"
