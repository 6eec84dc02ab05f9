import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def probe_dir(tmp_path_factory):
    """Directory holding the universal-ABI build of tests/ext/probe.c
    (``probe.hpy0.so`` plus its ``probe.py`` bootstrap stub)."""
    from hpydbg.build import build_extension

    out = tmp_path_factory.mktemp("probe")
    build_extension("probe", [str(TESTS / "ext" / "probe.c")], str(out))
    return out


def run_python(code, cwd, env_extra=None, drop=("HPY", "HPY_DEBUG", "HPYDBG", "HPY_LOG")):
    """Run ``code`` in a fresh interpreter; returns CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=120)
