"""Ir per op of the handle-heavy loops (dup_close, long_close) on each
CPython version, hpydbg next to HPy's C debug mode (and universal mode), under
callgrind.  The workload extension is universal-ABI, built once; each
interpreter given must have hpydbg installed (the venvs tests/run_versions.sh
makes: ``$HPYDBG_VERSIONS_DIR/venv-3.X/bin/python``).

Usage: python benches/versions.py [--scale S] [--output FILE] PYTHON...
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as R  # noqa: E402

WORKLOADS = ("dup_close", "long_close")
CONTEXTS = ("universal", "hpy-debug", "hpydbg")
SHORT = {"universal": "univ", "hpy-debug": "C-debug", "hpydbg": "hpydbg"}


def version_of(py):
    return subprocess.run([py, "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, check=True).stdout.strip()


def measure(py, so, scale, out):
    R.PY = py  # run.run_worker starts the workers with R.PY
    res = {}
    for c in CONTEXTS:
        vg = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
              f"--callgrind-out-file={os.path.join(out, f'cg.{c}.out')}"]
        for old in glob.glob(os.path.join(out, f"cg.{c}.out*")):
            os.remove(old)
        R.run_worker(c, "callgrind", so, {"traces": False, "trace_n": 0, "scale": scale,
                                          "workloads": list(WORKLOADS)},
                     valgrind=vg, timeout=1200)
        dumps = {}
        for path in glob.glob(os.path.join(out, f"cg.{c}.out.*")):
            label, total = R.parse_dump(path)
            if label is not None and total is not None:
                dumps[label] = (total, path)
        res[c] = {w: R.ir_per_op(dumps, w)[0] for w in WORKLOADS}
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=0.25)
    ap.add_argument("--output", help="also write the table (markdown) to this file")
    ap.add_argument("pythons", nargs="+")
    args = ap.parse_args()
    so = R.build()
    header = ["CPython"] + [f"{w} {SHORT[c]}" for w in WORKLOADS for c in CONTEXTS] \
        + [f"{w} hpydbg/C-debug" for w in WORKLOADS]
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for py in args.pythons:
            v = version_of(py)
            R.log(f"callgrind on CPython {v} ({py})")
            ir = measure(py, so, args.scale, out)
            rows.append([v] + [R.fmt(ir[c][w], 0) for w in WORKLOADS for c in CONTEXTS]
                        + [R.fmt(R.ratio(ir["hpydbg"][w], ir["hpy-debug"][w]), 2) for w in WORKLOADS])
    table = R.md_table(header, rows)
    print(table)
    if args.output:
        with open(args.output, "w") as f:
            f.write("# Ir per op on each CPython version\n\n"
                    "`python benches/versions.py` (callgrind, instructions per op; "
                    f"scale {args.scale}): hpydbg's default mode next to HPy's C debug mode "
                    "(stack traces off) and universal mode, on the same universal-ABI build "
                    "of benches/workloads.c.\n\n" + table + "\n")


if __name__ == "__main__":
    main()
