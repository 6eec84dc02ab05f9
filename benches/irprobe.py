"""Developer tool: instructions per op of hpydbg (and optionally the other
contexts) under callgrind, for quick before/after comparisons while
optimising.  Usage: python benches/irprobe.py [--all-contexts] [--scale S]"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as R  # noqa: E402
import _worker as W  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--all-contexts", action="store_true")
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--contexts", help="comma-separated modes (of benches/_worker.py), e.g. hpydbg,hpydbg-nosites")
    args = ap.parse_args()
    so = R.build()
    contexts = (tuple(args.contexts.split(",")) if args.contexts
                else R.CG_CONTEXTS if args.all_contexts else ("hpydbg",))
    with tempfile.TemporaryDirectory() as out:
        res = {}
        for c in contexts:
            vg = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                  f"--callgrind-out-file={os.path.join(out, f'cg.{c}.out')}"]
            R.run_worker(c, "callgrind", so, {"traces": False, "trace_n": 0, "scale": args.scale},
                         valgrind=vg, timeout=1200)
            dumps = {}
            import glob
            for path in glob.glob(os.path.join(out, f"cg.{c}.out.*")):
                label, total = R.parse_dump(path)
                if label is not None and total is not None:
                    dumps[label] = (total, path)
            res[c] = {w: R.ir_per_op(dumps, w)[0] for w in W.WORKLOAD_NAMES}
    print("workload".ljust(16) + "".join(c.rjust(12) for c in contexts))
    for w in W.WORKLOAD_NAMES:
        print(w.ljust(16) + "".join((f"{res[c][w]:.0f}" if res[c][w] is not None else "-").rjust(12) for c in contexts))


if __name__ == "__main__":
    main()
