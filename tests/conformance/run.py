"""Run HPy 0.9.0's own test suite, tests selected by ``-k debug``, with
hpydbg providing the debug context.

Downloads the sdist from PyPI (cached in .conformance/), copies its test/
directory next to nothing else (so the installed hpy, not the sdist's
sources, is imported) and runs pytest with HPYDBG=1 in the environment, so
that subprocesses started by the tests use hpydbg too.

Usage: python tests/conformance/run.py [extra pytest args]
"""
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CACHE = ROOT / ".conformance"
VERSION = "0.9.0"


def fetch_suite() -> Path:
    sdist_dir = CACHE / f"hpy-{VERSION}"
    if not (sdist_dir / "test").is_dir():
        CACHE.mkdir(exist_ok=True)
        tarball = CACHE / f"hpy-{VERSION}.tar.gz"
        if not tarball.exists():
            subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps",
                                   "--no-binary", ":all:", f"hpy=={VERSION}", "-d", str(CACHE)])
        with tarfile.open(tarball) as tf:
            tf.extractall(CACHE, filter="data")
    suite = CACHE / "suite"
    if suite.exists():
        shutil.rmtree(suite)
    suite.mkdir()
    shutil.copytree(sdist_dir / "test", suite / "test")
    return suite


def main(argv):
    suite = fetch_suite()
    env = dict(os.environ)
    env["HPYDBG"] = "1"
    env.pop("HPY_DEBUG", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "pytest", "test", "-k", "debug", "-p", "hpydbg_conformance",
           "-p", "no:cacheprovider", "-q", *argv]
    print("conformance:", " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=suite, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
