"""HPy 0.9.0's own loader stub imports pkg_resources, which setuptools 81
removed (issue 18).  Each test runs where ``import pkg_resources`` fails as
it does under setuptools>=81 (a sitecustomize blocks it), on a real
extension whose stub is the text HPy 0.9.0's ``hpy.devel`` writes.

- ``hpydbg run`` and the pytest plugin say in one line which stub failed
  and what fixes it;
- ``HPY_DEBUG_STUBS=1`` (an explicit opt-in) loads such modules without
  pkg_resources, checked as usual;
- ``python -m hpydbg stubs --write`` rewrites them with hpydbg's stub."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import leakext_line

BLOCK_PKG_RESOURCES = """\
import sys


class _SetuptoolsWithoutPkgResources:
    def find_spec(self, name, path=None, target=None):
        if name == "pkg_resources":
            raise ModuleNotFoundError("No module named 'pkg_resources'", name="pkg_resources")


sys.meta_path.insert(0, _SetuptoolsWithoutPkgResources())
"""

SCRIPT = """\
import leakext
leakext.leak("leaked through HPy's stub")  # LEAK LINE
"""


@pytest.fixture
def hpy_stub_dir(leakext_dir, tmp_path):
    """leakext.hpy0.so with the loader stub HPy 0.9.0 itself generates, a
    script importing it, and a sitecustomize that makes pkg_resources fail."""
    from hpy.devel import _HPY_UNIVERSAL_MODULE_STUB_TEMPLATE

    shutil.copy(leakext_dir / "leakext.hpy0.so", tmp_path)
    (tmp_path / "leakext.py").write_text(_HPY_UNIVERSAL_MODULE_STUB_TEMPLATE.format(
        ext_file="leakext.hpy0.so", module_name="leakext"))
    (tmp_path / "script.py").write_text(SCRIPT)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCK_PKG_RESOURCES)
    return tmp_path


def run(args, cwd, **env_extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("HPY", "HPY_DEBUG", "HPYDBG", "HPY_LOG", "HPY_DEBUG_STUBS")}
    env["PYTHONPATH"] = str(cwd / "site")
    env.update(env_extra)
    return subprocess.run([sys.executable, *args], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=300)


def test_hpys_stub_fails_without_pkg_resources(hpy_stub_dir):
    # The premise: HPy's stub needs pkg_resources.
    r = run(["script.py"], hpy_stub_dir)
    assert r.returncode == 1
    assert "No module named 'pkg_resources'" in r.stderr, r.stderr


def test_run_names_the_stub_and_the_fixes(hpy_stub_dir):
    r = run(["-m", "hpydbg", "run", "script.py"], hpy_stub_dir)
    assert r.returncode == 1, r.stderr
    stub = hpy_stub_dir / "leakext.py"
    [hint] = [line for line in r.stderr.splitlines() if line.startswith("hpydbg: ")]
    assert hint.startswith(f"hpydbg: {stub} is HPy 0.9.0's loader stub, which imports "
                           "pkg_resources (removed in setuptools 81)"), hint
    assert "pip install 'setuptools<81'" in hint
    assert f"python -m hpydbg stubs --write {stub}" in hint and "HPY_DEBUG_STUBS=1" in hint


def test_opt_in_loads_hpys_stub_without_pkg_resources_and_checks_it(hpy_stub_dir):
    r = run(["-m", "hpydbg", "run", "script.py"], hpy_stub_dir, HPY_DEBUG_STUBS="1")
    assert r.returncode == 0, r.stderr
    assert "hpydbg: 1 leaked handle" in r.stderr, r.stderr
    assert f"leakext.c:{leakext_line('LEAK')}" in r.stderr
    assert f"from Python: {hpy_stub_dir / 'script.py'}:2 in <module>" in r.stderr, r.stderr
    # Without HPY_DEBUG_STUBS nothing loads the stub behind the user's back.
    assert "No module named 'pkg_resources'" in run(["script.py"], hpy_stub_dir,
                                                     HPY_DEBUG="1").stderr


def test_stubs_command_lists_then_rewrites(hpy_stub_dir):
    stub = hpy_stub_dir / "leakext.py"
    r = run(["-m", "hpydbg", "stubs", str(hpy_stub_dir)], hpy_stub_dir)
    assert r.returncode == 1 and r.stdout.splitlines() == [
        f"{stub}: HPy 0.9.0 loader stub importing pkg_resources"], r.stdout + r.stderr
    r = run(["-m", "hpydbg", "stubs", "--write", str(hpy_stub_dir)], hpy_stub_dir)
    assert r.returncode == 0 and r.stdout.splitlines() == [
        f"{stub}: rewritten (loads leakext.hpy0.so without pkg_resources)"], r.stdout + r.stderr
    r = run(["script.py"], hpy_stub_dir, HPY_DEBUG="1")
    assert r.returncode == 0, r.stderr
    assert "hpydbg: 1 leaked handle" in r.stderr
    assert f"from Python: {hpy_stub_dir / 'script.py'}:2 in <module>" in r.stderr, r.stderr
    r = run(["-m", "hpydbg", "stubs", str(hpy_stub_dir)], hpy_stub_dir)
    assert r.returncode == 0 and "no HPy loader stub importing pkg_resources" in r.stdout


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]])
def test_pytest_plugin_names_the_stub(hpy_stub_dir, xdist):
    (hpy_stub_dir / "test_it.py").write_text("import leakext\n\ndef test_x():\n    pass\n")
    r = run(["-m", "pytest", "-p", "no:cacheprovider", "test_it.py", *xdist], hpy_stub_dir)
    assert r.returncode != 0
    stub = hpy_stub_dir / "leakext.py"
    hint = (f"hpydbg: {stub} is HPy 0.9.0's loader stub, which imports pkg_resources "
            "(removed in setuptools 81)")
    assert hint in r.stdout, r.stdout
