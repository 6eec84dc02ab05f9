"""``python -m hpydbg demo``: build a small leaking HPy extension, run it with
HPY_DEBUG=1 and show hpydbg's report."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

DEMO_SCRIPT = """\
import leaky
print("greet:", leaky.greet("world"))
print("sum_items:", leaky.sum_items([10, 20, 30]))
"""


def demo(args) -> int:
    from .build import build_extension

    src = Path(__file__).resolve().parent / "demo" / "leaky.c"
    with tempfile.TemporaryDirectory(prefix="hpydbg-demo-") as d:
        print(f"$ building {src.name} for the HPy universal ABI in {d}", flush=True)
        build_extension("leaky", [str(src)], d)
        env = dict(os.environ, HPY_DEBUG="1", HPY_DEBUG_TRACES=os.environ.get("HPY_DEBUG_TRACES", "16"))
        print("$ HPY_DEBUG=1 HPY_DEBUG_TRACES=16 python -c '<import leaky; call it>'", flush=True)
        r = subprocess.run([sys.executable, "-c", DEMO_SCRIPT], cwd=d, env=env)
        return r.returncode


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m hpydbg")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("demo", help="build a leaking HPy extension and show hpydbg's report")
    args = p.parse_args(argv)
    return {"demo": demo}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
