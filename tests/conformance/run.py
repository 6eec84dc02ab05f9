"""Run HPy 0.9.0's own test suite, tests selected by ``-k debug``, with
hpydbg providing the debug context.

Downloads the sdist from PyPI (cached in .conformance/), copies its test/
directory next to nothing else (so the installed hpy, not the sdist's
sources, is imported) and runs pytest with HPYDBG=1 in the environment, so
that subprocesses started by the tests use hpydbg too.

Usage: python tests/conformance/run.py [extra pytest args]
``--without-hpydbg`` (first argument) runs HPy's suite as HPy runs it, hpydbg
off (``HPYDBG=0``, no ``-k debug``, nothing deselected): what HPy 0.9.0
itself does on this Python (pass ``-k universal`` for its universal mode).
Paths among the extra args (``test/debug``, ``test/test_hpytype.py::...``)
replace the default ``test`` (a sample of the suite).
"""
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Tests that assert a weakness hpydbg deliberately fixes (also listed in the
# README).  They are deselected here and nowhere else.
DEVIATIONS = {
    "test/debug/test_charptr.py::test_charptr_use_after_implicit_arg_handle_close":
        "asserts that reading raw data after its handle closed kills the process with an EMPTY stderr; "
        "hpydbg reports the fault (handle, API function, site) before stopping",
    "test/debug/test_charptr.py::test_charptr_use_after_handle_close":
        "same: empty stderr asserted, hpydbg reports the read-after-close fault",
    "test/debug/test_charptr.py::test_charptr_write_ptr":
        "same: empty stderr asserted, hpydbg reports the write to read-only raw data",
}
# Tests HPy 0.9.0 itself fails in some environments, hpydbg off and in
# universal mode too (so not a debug-mode matter): deselected there only (also
# listed in the README).  Each entry: (condition, node id, why).
def _no_pkg_resources() -> bool:
    import importlib.util
    return importlib.util.find_spec("pkg_resources") is None


ENVIRONMENT_DESELECTS = [
    (_no_pkg_resources, "test/test_importing.py::TestImporting::test_importing_attributes",
     "imports a module through the loader stub HPy 0.9.0 generates, which imports pkg_resources: "
     "setuptools>=81 (the newest, on 3.9+) has none; passes with setuptools<81 (3.12 included)"),
]
# HPy 0.9.0 itself on CPython 3.13, hpydbg off, universal mode (measured with
# `run.py --without-hpydbg -k universal -n 2 --max-worker-restart=100000`):
# these crash the interpreter (33) or raise SystemError (test_HPy_New,
# test_tp_hash): all of them create HPy types.  Their debug variants are not
# run on 3.13.
HPY_0_9_0_BROKEN_ON_3_13 = """
test/test_helpers.py::TestHPyModuleAddType::test_with_spec_and_params
test/test_helpers.py::TestHPyModuleAddType::test_with_spec_only
test/test_hpyfield.py::TestHPyField::test_automatic_tp_clear
test/test_hpyfield.py::TestHPyField::test_automatic_tp_dealloc
test/test_hpyfield.py::TestHPyField::test_gc_track
test/test_hpyfield.py::TestHPyField::test_store_load
test/test_hpyfield.py::TestHPyField::test_store_overwrite
test/test_hpyfield.py::TestHPyField::test_tp_finalize
test/test_hpyfield.py::TestHPyField::test_tp_traverse
test/test_hpytype.py::TestPureHPyType::test_builtin_shape
test/test_hpytype.py::TestPureHPyType::test_call_zero_basicsize
test/test_hpytype.py::TestType::test_HPyDef_METH
test/test_hpytype.py::TestType::test_HPyDef_METH_IMPL
test/test_hpytype.py::TestType::test_HPyDef_SLOT
test/test_hpytype.py::TestType::test_HPyDef_SLOT_IMPL
test/test_hpytype.py::TestType::test_HPyType_GenericNew
test/test_hpytype.py::TestType::test_HPy_New
test/test_hpytype.py::TestType::test_call
test/test_hpytype.py::TestType::test_metaclass
test/test_hpytype.py::TestType::test_simple_type
test/test_hpytype.py::TestType::test_specparam_base
test/test_hpytype.py::TestType::test_specparam_basestuple
test/test_slots.py::TestSlots::test_buffer
test/test_slots.py::TestSlots::test_nb_ops_binary
test/test_slots.py::TestSlots::test_nb_ops_inplace
test/test_slots.py::TestSlots::test_nb_ops_power
test/test_slots.py::TestSlots::test_nb_ops_unary
test/test_slots.py::TestSlots::test_tp_finalize_gc
test/test_slots.py::TestSlots::test_tp_hash
test/test_slots.py::TestSlots::test_tp_init
test/test_slots.py::TestSqSlots::test_mp_subscript_and_mp_length
test/test_slots.py::TestSqSlots::test_sq_concat_and_sq_inplace_concat
test/test_slots.py::TestSqSlots::test_sq_contains
test/test_slots.py::TestSqSlots::test_sq_item_and_sq_length
test/test_slots.py::TestSqSlots::test_sq_repeat_and_sq_inplace_repeat
""".split()


def _on_3_13() -> bool:
    return sys.version_info[:2] == (3, 13)


ENVIRONMENT_DESELECTS += [
    # "[": every parametrisation of this test, not the tests whose names it prefixes.
    (_on_3_13, nodeid + "[", "HPy 0.9.0 itself fails it on CPython 3.13 in universal mode, hpydbg off "
                       "(a crash or a SystemError)")
    for nodeid in HPY_0_9_0_BROKEN_ON_3_13
]

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
    # A fresh copy per run, so that concurrent runs do not clobber each other.
    suite = Path(tempfile.mkdtemp(prefix="suite-", dir=CACHE))
    shutil.copytree(sdist_dir / "test", suite / "test")
    # Its own rootdir: no configuration or plugin of this repository applies.
    (suite / "pytest.ini").write_text("[pytest]\n")
    return suite


def run_without_hpydbg(argv):
    suite = fetch_suite()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPY")}
    env["HPYDBG"] = "0"
    paths = [a for a in argv if a == "test" or a.startswith("test/")]
    cmd = [sys.executable, "-m", "pytest", *([] if paths else ["test"]),
           "-p", "no:hpydbg", "-p", "no:cacheprovider", "-q", *argv]
    print("conformance (hpydbg off):", " ".join(cmd), flush=True)
    try:
        return subprocess.call(cmd, cwd=suite, env=env)
    finally:
        shutil.rmtree(suite, ignore_errors=True)


def main(argv):
    if argv[:1] == ["--without-hpydbg"]:
        return run_without_hpydbg(argv[1:])
    suite = fetch_suite()
    env = dict(os.environ)
    env["HPYDBG"] = "1"
    env.pop("HPY_DEBUG", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    paths = [a for a in argv if a == "test" or a.startswith("test/")]
    cmd = [sys.executable, "-m", "pytest", *([] if paths else ["test"]), "-k", "debug",
           "-p", "hpydbg_conformance", "-p", "no:hpydbg", "-p", "no:cacheprovider", "-q", *argv]
    deselects = dict(DEVIATIONS)
    deselects.update({nodeid: why for applies, nodeid, why in ENVIRONMENT_DESELECTS if applies()})
    for nodeid, why in deselects.items():
        print(f"conformance: deselected {nodeid}: {why}", flush=True)
        cmd += ["--deselect", nodeid]
    print("conformance:", " ".join(cmd), flush=True)
    try:
        return subprocess.call(cmd, cwd=suite, env=env)
    finally:
        shutil.rmtree(suite, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
