"""hpydbg takes over HPy's debug mode: through the environment at start-up,
through a late ``hpydbg.enable()``, and for every HPy way of asking for
debug mode; it exports exactly HPy's debug-mode C names."""
import subprocess

import pytest

from conftest import TESTS, build_into, run_python

UNIVERSAL = "HPy Universal ABI"
OURS = "HPy Debug Mode ABI (hpydbg"


def ctx_name_via_import(probe_dir, **env):
    r = run_python("import probe; print(probe.ctx_name())", probe_dir, env)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_without_hpydbg_modules_load_in_universal_mode(probe_dir):
    assert ctx_name_via_import(probe_dir).startswith(UNIVERSAL)


@pytest.mark.parametrize("env", [
    {"HPY_DEBUG": "1"},
    {"HPY_DEBUG": "probe"},
    {"HPY_DEBUG": "other,probe"},
    {"HPY": "debug"},
    {"HPY": "probe:debug"},
])
def test_environment_puts_module_on_our_context(probe_dir, env):
    name = ctx_name_via_import(probe_dir, **env)
    assert name.startswith(OURS), name
    assert "hpydbg" in name


def test_HPY_DEBUG_for_other_modules_leaves_this_one_universal(probe_dir):
    assert ctx_name_via_import(probe_dir, HPY_DEBUG="somethingelse").startswith(UNIVERSAL)


def test_HPY_universal_mode_wins_over_HPYDBG(probe_dir):
    # HPYDBG only provides the context; HPy's own rules pick the modules.
    assert ctx_name_via_import(probe_dir, HPYDBG="1").startswith(UNIVERSAL)


LOAD = """
import importlib.util, hpy.universal as U
import os; so = os.path.abspath('probe.hpy0.so')
spec = importlib.util.spec_from_file_location('probe', so)
m = U.load('probe', so, spec, mode=U.MODE_DEBUG)
print(m.ctx_name())
"""


def test_explicit_debug_load_without_hpydbg_is_hpys_own(probe_dir):
    r = run_python(LOAD, probe_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("HPy Debug Mode ABI") and "hpydbg" not in r.stdout


def test_late_enable_after_hpy_universal_was_imported(probe_dir):
    code = "import hpy.universal\nimport hpydbg\nhpydbg.enable()\n" + LOAD + \
           "assert hpydbg.context_name() == m.ctx_name(), (hpydbg.context_name(), m.ctx_name())\n"
    r = run_python(code, probe_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(OURS)


def test_explicit_universal_load_keeps_its_mode_under_HPY_DEBUG(probe_dir):
    code = LOAD.replace("MODE_DEBUG", "MODE_UNIVERSAL")
    r = run_python(code, probe_dir, {"HPY_DEBUG": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(UNIVERSAL)


def test_unmodified_hpy_debug_leak_detector_sees_our_handles(probe_dir):
    code = """
import probe
from hpy.debug import LeakDetector, HPyLeakError
from hpydbg._hpydbg import DebugHandle
try:
    with LeakDetector():
        probe.leak("leaked string")
except HPyLeakError as e:
    assert len(e.leaks) == 1 and isinstance(e.leaks[0], DebugHandle)
    assert e.leaks[0].obj == "leaked string"
    print(str(e).splitlines()[0])
else:
    raise SystemExit("no leak reported")
"""
    r = run_python(code, probe_dir, {"HPY_DEBUG": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1 unclosed handle:"


def test_use_after_close_aborts_with_hpys_message_and_our_details(probe_dir):
    r = run_python("import probe; probe.use_after_close('x')", probe_dir, {"HPY_DEBUG": "1"})
    assert r.returncode == -6, (r.returncode, r.stderr)
    assert "Invalid usage of already closed handle" in r.stderr
    assert "use after close" in r.stderr and "HPy_Repr" in r.stderr


def test_exports_exactly_the_hpy_debug_names():
    import hpydbg._hpydbg as m
    out = subprocess.check_output(["nm", "-D", "--defined-only", m.__file__], text=True)
    names = sorted(line.split()[-1] for line in out.splitlines() if line.strip())
    assert names == sorted([
        "PyInit__hpydbg",
        "hpy_debug_close_handle", "hpy_debug_ctx_init", "hpy_debug_get_ctx",
        "hpy_debug_open_handle", "hpy_debug_set_ctx", "hpy_debug_unwrap_handle",
    ]), names


@pytest.fixture(scope="module")
def warnext_dir(tmp_path_factory):
    return build_into(tmp_path_factory, "warnext", TESTS / "ext" / "warnext.c", abi="hybrid")


@pytest.mark.parametrize("env", [{}, {"HPY_DEBUG": "1"}])
def test_warning_from_module_init_is_attributed_as_in_universal_mode(warnext_dir, env):
    # The extension's own loader stub, not hpydbg's import hook.
    r = run_python("import warnings\nwarnings.simplefilter('always')\nimport warnext", warnext_dir, env)
    assert r.returncode == 0, r.stderr
    [line] = [l for l in r.stderr.splitlines() if "DeprecationWarning" in l]
    assert line.split(":")[0].endswith("warnext.py") and "old API used by warnext" in line, r.stderr
    # (hpydbg's start-up notes, "hpydbg: CPython 3.13.0: ...", go to stderr by design)
    assert "hpydbg" not in "\n".join(l for l in r.stderr.splitlines()
                                     if not l.startswith("hpydbg: CPython ")), r.stderr


# How piconumpy's and ultrajson-hpy's harnesses load modules: no mode=.
PLAIN_LOAD = """
import importlib.util, os, hpy.universal as U
so = os.path.abspath('leakext.hpy0.so')
spec = importlib.util.spec_from_file_location('leakext', so)
m = U.load('leakext', so, spec{extra})
print(m.ctx_name())
m.leak('leaked by a plain load')  # PLAIN LEAK
"""


def plain_load(extra=""):
    return PLAIN_LOAD.format(extra=extra)


@pytest.mark.parametrize("selection", ["1", "leakext"])
def test_plain_load_under_HPY_DEBUG_is_checked(leakext_dir, selection):
    from conftest import leakext_line

    r = run_python(plain_load(), leakext_dir, {"HPY_DEBUG": selection})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(OURS), r.stdout
    assert "hpydbg: 1 leaked handle" in r.stderr, r.stderr
    assert f"leak_impl at {TESTS / 'ext' / 'leakext.c'}:{leakext_line('LEAK')}" in r.stderr, r.stderr
    assert "e.g. 'leaked by a plain load'" in r.stderr, r.stderr
    # The harness's line, not hpydbg's wrapper.
    line = plain_load().splitlines().index("m.leak('leaked by a plain load')  # PLAIN LEAK") + 1
    assert f"from Python: <string>:{line} in <module> (1 handle)" in r.stderr, r.stderr


@pytest.mark.parametrize("extra", [", mode=U.MODE_UNIVERSAL", ", debug=False", ", False"])
def test_plain_load_with_an_explicit_universal_mode_is_not_checked(leakext_dir, extra):
    r = run_python(plain_load(extra), leakext_dir, {"HPY_DEBUG": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(UNIVERSAL), r.stdout
    assert "leaked handle" not in r.stderr, r.stderr


def test_plain_load_for_another_module_or_under_HPY_debug_keeps_hpys_rules(leakext_dir):
    # HPY_DEBUG names another module; HPY=debug: HPy's rule (load() ignores HPY).
    for env in ({"HPY_DEBUG": "other"}, {"HPY": "debug"}):
        r = run_python(plain_load(), leakext_dir, env)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(UNIVERSAL), (env, r.stdout)


def test_loader_stub_needs_no_pkg_resources(leakext_dir):
    # hpydbg.build writes its own stub: importing the module works where
    # pkg_resources cannot be imported (setuptools>=81), in every mode.
    block = ("import sys\nclass _NoPkgResources:\n"
             "    def find_spec(self, name, path=None, target=None):\n"
             "        if name == 'pkg_resources': raise ModuleNotFoundError(\"No module named 'pkg_resources'\")\n"
             "sys.meta_path.insert(0, _NoPkgResources())\n")
    stub = (leakext_dir / "leakext.py").read_text()
    assert "pkg_resources" not in stub.replace("(which imports pkg_resources", "")
    for env in ({}, {"HPY_DEBUG": "1"}, {"HPY": "debug"}):
        r = run_python(block + "import leakext\nprint(leakext.ctx_name())", leakext_dir, env)
        assert r.returncode == 0, (env, r.stderr)
        assert r.stdout.startswith(UNIVERSAL if not env else OURS), (env, r.stdout)
