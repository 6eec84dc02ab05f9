"""HPy's own suite, run three times in ONE process on hpydbg's context: no
growth in open handles, and memory growth from the second run to the third
within a stated bound (the first run warms caches: compiled modules, types).

Short version (CI): a slice of the suite; the whole `-k debug` selection with
HPYDBG_LONG_TESTS=1."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "conformance"))
import run as conformance  # noqa: E402

LONG = os.environ.get("HPYDBG_LONG_TESTS") == "1"
RSS_BOUND = 40 * 2**20

DRIVER = r"""
import gc, json, sys, pytest
import hpydbg
from hpydbg import _hpydbg
args = json.loads(sys.argv[1])
s = _hpydbg.stats()
out = [{"exit": 0, "rss": 0, "open_now": s["open_now"], "opened_total": s["opened_total"]}]
for i in range(3):
    code = pytest.main(args)
    gc.collect()
    rss = int([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1]) * 1024
    s = _hpydbg.stats()
    out.append({"exit": int(code), "rss": rss, "open_now": s["open_now"], "opened_total": s["opened_total"]})
print("RESULT " + json.dumps(out))
"""


def test_suite_three_times_in_one_process():
    suite = conformance.fetch_suite()
    try:
        selection = "debug" if LONG else "debug and (test_handles or test_hpydict or test_hpylist or test_tracker)"
        args = ["test", "-k", selection, "-p", "hpydbg_conformance", "-p", "no:hpydbg",
                "-p", "no:cacheprovider", "-q", "-x"]
        for nodeid in conformance.DEVIATIONS:
            args += ["--deselect", nodeid]
        env = dict(os.environ, HPYDBG="1")
        env.pop("HPY_DEBUG", None)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "tests" / "conformance"), env.get("PYTHONPATH")]))
        r = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(args)], cwd=suite, env=env,
                           capture_output=True, text=True, timeout=3000)
    finally:
        import shutil
        shutil.rmtree(suite, ignore_errors=True)
    lines = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, (r.stdout[-3000:], r.stderr[-3000:])
    start, *runs = json.loads(lines[-1][len("RESULT "):])
    print(start, runs)
    assert [x["exit"] for x in runs] == [0, 0, 0], r.stdout[-3000:]
    assert runs[0]["opened_total"] > 300, runs  # the suite really ran on our context
    # HPy's debug tests leak a few handles on purpose (test_get_open_handles
    # and friends never close what `mod.leak()` opened): each run leaves the
    # same number open, and nothing more accumulates.
    opened = [start["open_now"]] + [x["open_now"] for x in runs]
    deltas = [b - a for a, b in zip(opened, opened[1:])]
    assert deltas[0] == deltas[1] == deltas[2] <= 64, (opened, deltas)
    assert runs[2]["rss"] - runs[1]["rss"] < RSS_BOUND, runs
