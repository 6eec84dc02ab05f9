"""Long runs: open/close cycles (and HPyUnicode_AsUTF8AndSize raw data) with
flat memory; the closed-handle records and the protected raw data stay
within their budgets.  1e7 cycles with HPYDBG_LONG_TESTS=1, 3e5 otherwise.

HPy's conformance suite three times in one process is not included: it runs
through pytest in a subprocess (tests/conformance/run.py) and needs the sdist
download; too heavy for this file."""
import pytest

from reliability_util import LONG, last_json, run_script, stress_dir  # noqa: F401

CYCLES = 10_000_000 if LONG else 300_000

SCRIPT = r"""
import json, sys
import stress
from hpydbg import _hpydbg
import hpy.universal as u
dbg = u._debug
cycles, raw, qmax = map(int, sys.argv[1:4])
if qmax >= 0:
    dbg.set_closed_handles_queue_max_size(qmax)
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
def maps():
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)
chunk = 100_000
start = rss()
stress.churn(min(chunk, cycles), raw)          # warm up: tables reach steady size
before, maps_before = rss(), maps()
done = 0
peak_q = peak_raw = 0
while done < cycles:
    stress.churn(min(chunk, cycles - done), raw)
    done += chunk
    s = _hpydbg.stats()
    peak_q = max(peak_q, s["closed_queue"]); peak_raw = max(peak_raw, s["protected_raw_bytes"])
after, maps_after = rss(), maps()
s = _hpydbg.stats()
print(json.dumps({"cycles": done, "rss_start": start, "rss_before": before, "rss_after": after, "maps_before": maps_before,
                  "maps_after": maps_after, "closed_queue": peak_q, "queue_max": dbg.get_closed_handles_queue_max_size(),
                  "raw_bytes": peak_raw, "raw_budget": dbg.get_protected_raw_data_max_size(),
                  "open_now": s["open_now"], "reports": s["reports"]}))
"""


def run(stress_dir, cycles, raw, qmax=-1):
    r, timed_out = run_script(SCRIPT, stress_dir, args=(cycles, raw, qmax), timeout=7200 if LONG else 110)
    assert not timed_out, r.stderr[-2000:]
    assert r.returncode == 0, r.stderr[-3000:]
    res = last_json(r.stdout)
    print(res)
    return res


@pytest.mark.parametrize("raw", [0, 1], ids=["handles", "raw-data"])
def test_open_close_cycles_flat_memory(stress_dir, raw):
    res = run(stress_dir, CYCLES, raw)
    assert res["open_now"] == 0 and res["reports"] == {}
    assert res["closed_queue"] <= res["queue_max"]
    assert res["raw_bytes"] <= res["raw_budget"]
    assert res["rss_after"] - res["rss_before"] < 8 * 2**20, res
    assert res["maps_after"] - res["maps_before"] < 64, res


def test_raw_data_budget_bounds_real_memory(stress_dir):
    # A large closed-handles queue: the protected copies are kept while their
    # handles are in the queue, within the raw-data budget (10 MiB).  Each copy
    # is a whole page (a mapping of its own), so the budget must bound pages
    # and mappings, not only string bytes: 80 000 copies of 36 bytes are
    # 2.8 MB of strings but 320 MB of pages and 80 000 mappings (over Linux's
    # default vm.max_map_count of 65530, where mmap starts failing).
    res = run(stress_dir, 100_000, 1, qmax=100_000)
    grew = res["rss_after"] - res["rss_start"]
    assert res["maps_after"] < 60_000, res
    assert grew <= res["raw_budget"] + 8 * 2**20, res
