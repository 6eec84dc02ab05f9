"""Shared helpers of the reliability tests (test_threads, test_reentrancy,
test_fuzz_handles, test_long_runs, test_log_faults).

Long versions run only with ``HPYDBG_LONG_TESTS=1``; the short versions are
sized for CI (well under two minutes together on two cores)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
STRESS_C = TESTS / "ext" / "stress.c"
LEAK_BASE = 1_000_000_000

LONG = os.environ.get("HPYDBG_LONG_TESTS", "") not in ("", "0")
long_only = pytest.mark.skipif(not LONG, reason="long run: set HPYDBG_LONG_TESTS=1")

# Report classes that mean "a bad handle/builder/tracker was diagnosed".
HANDLE_CLASSES = {"not-a-handle", "foreign-handle", "use-after-close", "double-close",
                  "builder-after-close", "tracker-after-close", "null-handle"}


@pytest.fixture(scope="session")
def stress_dir(tmp_path_factory):
    """Directory holding the universal-ABI build of tests/ext/stress.c."""
    from hpydbg.build import build_extension

    out = tmp_path_factory.mktemp("stress")
    build_extension("stress", [str(STRESS_C)], str(out))
    return out


def run_script(code, cwd, env_extra=None, timeout=120, args=()):
    """Run ``code`` in a fresh interpreter under HPY_DEBUG=1 (exit leak summary
    off unless asked).  Returns (CompletedProcess, timed_out)."""
    drop = ("HPY", "HPY_DEBUG", "HPYDBG", "HPY_LOG", "HPY_DEBUG_POLICY", "HPY_DEBUG_LOG",
            "HPY_DEBUG_LOG_FORMAT", "HPY_DEBUG_TRACES", "HPY_DEBUG_EXIT_REPORT")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update({"HPY_DEBUG": "1", "HPY_DEBUG_EXIT_REPORT": "0", "PYTHONFAULTHANDLER": "1"})
    env.update(env_extra or {})
    try:
        r = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=str(cwd), env=env,
                           capture_output=True, text=True, timeout=timeout)
        return r, False
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        return subprocess.CompletedProcess(e.cmd, -999, out, err), True


def last_json(stdout):
    """The last line of ``stdout`` that parses as JSON (the script's result)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def read_jsonl(path):
    p = Path(path)
    if not p.exists():
        return []
    out = []
    for line in p.read_text().splitlines():
        line = line.strip()
        if line:
            out.append(json.loads(line))
    return out
