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


LEAKEXT_C = TESTS / "ext" / "leakext.c"


def marker_line(path, marker):
    """The line of ``path`` holding ``marker`` (exactly one must)."""
    hits = [n for n, line in enumerate(Path(path).read_text().splitlines(), 1) if marker in line]
    if len(hits) != 1:
        raise LookupError(f"{marker!r} is on {len(hits)} lines of {path}")
    return hits[0]


def build_into(tmp_path_factory, name, source, **kw):
    """Build the test extension ``name`` from ``source`` into a fresh
    directory (for session- or module-scoped fixtures); returns it."""
    from hpydbg.build import build_extension

    out = tmp_path_factory.mktemp(name)
    build_extension(name, [str(source)], str(out), **kw)
    return out


def leakext_line(marker):
    """Line of tests/ext/leakext.c holding ``marker`` (e.g. "LEAK")."""
    return marker_line(LEAKEXT_C, marker)


@pytest.fixture(scope="session")
def leakext_dir(tmp_path_factory):
    """Directory holding the universal-ABI build of tests/ext/leakext.c
    (``leakext.hpy0.so`` and its ``leakext.py`` stub)."""
    from hpydbg.build import build_extension

    out = tmp_path_factory.mktemp("leakext")
    build_extension("leakext", [str(LEAKEXT_C)], str(out))
    return out


def copy_leakext(leakext_dir, dest):
    """Put the built extension (shared object and stub) into ``dest``."""
    import shutil

    for name in ("leakext.hpy0.so", "leakext.py"):
        shutil.copy(Path(leakext_dir) / name, Path(dest) / name)


OLDLEAKS_C = TESTS / "ext" / "oldleaks.c"


def oldleaks_line(marker):
    """Line of tests/ext/oldleaks.c holding ``marker`` (e.g. "OLD_A")."""
    for n, line in enumerate(OLDLEAKS_C.read_text().splitlines(), 1):
        if marker in line:
            return n
    raise LookupError(marker)


@pytest.fixture(scope="session")
def oldleaks_dir(tmp_path_factory):
    """Directory holding the universal-ABI build of tests/ext/oldleaks.c."""
    return build_into(tmp_path_factory, "oldleaks", OLDLEAKS_C)
