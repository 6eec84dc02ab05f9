"""A log destination that fails must not take the program down: reports
fall back to stderr (misuse reports written by Rust, the exit leak summary
written by Python)."""
import os

import pytest

from reliability_util import last_json, run_script, stress_dir  # noqa: F401

CODE = r"""
import json, stress
from hpydbg import _hpydbg
for i in range(3):
    try:
        stress.garbage(0x1230)
    except _hpydbg.HPyDebugError:
        pass
stress.leak_one(31337)
print(json.dumps({"taken": len(_hpydbg.take_reports())}))
"""


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_log_to_dev_full_falls_back_to_stderr(stress_dir, fmt):
    r, timed_out = run_script(CODE, stress_dir, {"HPY_DEBUG_POLICY": "log", "HPY_DEBUG_LOG": "/dev/full", "HPY_DEBUG_REPORT_LIMIT": "10",
                                                 "HPY_DEBUG_LOG_FORMAT": fmt, "HPY_DEBUG_EXIT_REPORT": "1"},
                              timeout=60)
    assert not timed_out
    assert r.returncode == 0, r.stderr[-3000:]
    assert last_json(r.stdout) == {"taken": 3}
    # all three misuse reports and the leak summary reached stderr
    key = "not-a-handle"
    assert r.stderr.count(key) >= 3, r.stderr[-3000:]
    assert "31337" in r.stderr, r.stderr[-3000:]
    assert "/dev/full" in r.stderr   # says why


def test_log_to_unopenable_path_says_so(stress_dir, tmp_path):
    bad = tmp_path / "no" / "such" / "dir" / "log.jsonl"
    r, _ = run_script(CODE, stress_dir, {"HPY_DEBUG_POLICY": "log", "HPY_DEBUG_LOG": str(bad), "HPY_DEBUG_REPORT_LIMIT": "10",
                                         "HPY_DEBUG_LOG_FORMAT": "json"}, timeout=60)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.count("not-a-handle") >= 3
    assert str(bad) in r.stderr, "the fallback to stderr should say which log could not be used:\n" + r.stderr[-2000:]
