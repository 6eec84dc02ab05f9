"""``python -m hpydbg run``: runs a program with every HPy module in debug
mode and prints the grouped leak summary when it ends."""
import os
import subprocess
import sys

import pytest

from conftest import copy_leakext, leakext_line

LEAK_LINE = leakext_line("LEAK")

LEAKY_SCRIPT = """\
import sys
import leakext
assert "hpydbg" in leakext.ctx_name()
for i in range(3):
    leakext.leak(f"item{i}")
leakext.clean("x")
print("args:", sys.argv[1:])
"""


@pytest.fixture
def workdir(tmp_path, leakext_dir):
    copy_leakext(leakext_dir, tmp_path)
    (tmp_path / "leaky.py").write_text(LEAKY_SCRIPT)
    (tmp_path / "clean.py").write_text("import leakext, sys\nleakext.clean('x')\nsys.exit(int(sys.argv[1]))\n")
    return tmp_path


def hpydbg_run(args, cwd, **env_extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("HPY", "HPY_DEBUG", "HPYDBG", "HPY_DEBUG_TRACES", "HPY_DEBUG_LOG",
                        "HPY_DEBUG_LOG_FORMAT", "HPY_DEBUG_POLICY")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "hpydbg", "run", *args], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=120)


def test_script_leaks_are_summarised_grouped_by_site(workdir):
    r = hpydbg_run(["leaky.py", "a", "--b"], workdir)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "args: ['a', '--b']\n"
    lines = r.stderr.splitlines()
    assert lines[0] == "hpydbg: 3 leaked handles (open when the program ended), opened at 1 place:"
    assert lines[1].startswith("  3 x opened at leak_impl at ")
    assert lines[1].endswith(f"leakext.c:{LEAK_LINE} (leakext.hpy0.so)")
    assert lines[2] == "      e.g. 'item0'"
    assert r.stderr.count("opened at leak_impl") == 1


def test_fail_on_leak_sets_the_exit_status(workdir):
    r = hpydbg_run(["--fail-on-leak", "leaky.py"], workdir)
    assert r.returncode == 1 and "3 leaked handles" in r.stderr


def test_module_mode_with_arguments(workdir):
    r = hpydbg_run(["--fail-on-leak", "-m", "leaky", "-x", "y"], workdir)
    assert r.returncode == 1, r.stderr
    assert r.stdout == "args: ['-x', 'y']\n"
    assert "3 x opened at leak_impl" in r.stderr


def test_clean_program_prints_nothing_and_keeps_its_exit_status(workdir):
    r = hpydbg_run(["--fail-on-leak", "clean.py", "0"], workdir)
    assert (r.returncode, r.stderr) == (0, "")
    r = hpydbg_run(["clean.py", "3"], workdir)
    assert (r.returncode, r.stderr) == (3, "")


def test_summary_printed_once_even_with_HPY_DEBUG(workdir):
    r = hpydbg_run(["leaky.py"], workdir, HPY_DEBUG="1")
    assert r.stderr.count("leaked handles") == 1, r.stderr


def test_usage_errors(workdir):
    r = hpydbg_run([], workdir)
    assert r.returncode != 0 and "no program to run" in r.stderr
    r = hpydbg_run(["missing.py"], workdir)
    assert r.returncode == 2 and "can't open file" in r.stderr


def test_demo_command_still_there():
    r = subprocess.run([sys.executable, "-m", "hpydbg", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "demo" in r.stdout and "run" in r.stdout
