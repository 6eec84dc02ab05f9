"""Command line of hpydbg.

``python -m hpydbg demo``: build a small leaking HPy extension, run it with
HPY_DEBUG=1 and show hpydbg's report.

``python -m hpydbg run [options] script.py [args]`` and
``python -m hpydbg run [options] -m module [args]``: run a program with every
HPy universal module in debug mode on hpydbg's context, and print the leak
summary (grouped by allocation site) when it ends.

``python -m hpydbg stubs [--write] PATH...``: list (or rewrite with hpydbg's
own, which needs no ``pkg_resources``) the HPy 0.9.0 loader stubs under PATH
that import ``pkg_resources`` (removed in setuptools 81).

``python -m hpydbg report [--baseline FILE] [--html DIR] LOG...``: merge the
JSON-lines logs of many processes, group them by site, print the summary
(with ``--baseline``, only what the suppression file does not cover, and
exit 1 if there is any), and write a static HTML report.

Installed as the ``hpydbg`` console script too."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

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


RUN_USAGE = """\
usage: python -m hpydbg run [options] script.py [args ...]
       python -m hpydbg run [options] -m module [args ...]

Run a program with every HPy universal module in debug mode on hpydbg's
context; print the handles still open when it ends, grouped by the source
line that opened them.

options:
  --fail-on-leak     exit with status 1 (if the program itself succeeded) when
                     handles were leaked
  --traces N         frames of stack recorded per handle opened (default 0: the
                     site of each open and close is recorded anyway)
  --policy P         on a misuse: abort (default), raise or log
  --log PATH         write the leak summary to PATH (default: stderr; HPY_DEBUG_LOG)
  --log-format F     text (default) or json (JSON lines; HPY_DEBUG_LOG_FORMAT)
  -h, --help         show this help
"""


class _RunArgs:
    def __init__(self) -> None:
        self.fail_on_leak = False
        self.traces = 0
        self.policy: Optional[str] = None
        self.module: Optional[str] = None
        self.script: Optional[str] = None
        self.argv: List[str] = []


def _parse_run(argv: Sequence[str]) -> _RunArgs:
    """Options of ``run`` come before the program; everything after the
    script (or ``-m module``) belongs to the program."""
    a = _RunArgs()
    args = list(argv)
    i = 0

    def value(opt: str) -> str:
        nonlocal i
        if "=" in args[i]:
            return args[i].split("=", 1)[1]
        i += 1
        if i >= len(args):
            raise SystemExit(f"python -m hpydbg run: {opt} needs a value\n\n{RUN_USAGE}")
        return args[i]

    while i < len(args):
        arg = args[i]
        name = arg.split("=", 1)[0]
        if arg in ("-h", "--help"):
            sys.stdout.write(RUN_USAGE)
            raise SystemExit(0)
        elif arg == "--fail-on-leak":
            a.fail_on_leak = True
        elif name == "--traces":
            v = value(name)
            if not v.isdigit():
                raise SystemExit(f"python -m hpydbg run: --traces needs a number, not {v!r}")
            a.traces = int(v)
        elif name == "--policy":
            a.policy = value(name)
        elif name == "--log":
            os.environ["HPY_DEBUG_LOG"] = value(name)
        elif name == "--log-format":
            os.environ["HPY_DEBUG_LOG_FORMAT"] = value(name)
        elif arg == "-m" or (arg.startswith("-m") and len(arg) > 2):
            if arg == "-m":
                i += 1
                if i >= len(args):
                    raise SystemExit(f"python -m hpydbg run: -m needs a module name\n\n{RUN_USAGE}")
                a.module = args[i]
            else:
                a.module = arg[2:]
            a.argv = args[i + 1:]
            return a
        elif arg == "--":
            i += 1
            if i < len(args):
                a.script, a.argv = args[i], args[i + 1:]
            break
        elif arg.startswith("-"):
            raise SystemExit(f"python -m hpydbg run: unknown option {arg}\n\n{RUN_USAGE}")
        else:
            a.script, a.argv = arg, args[i + 1:]
            return a
        i += 1
    if a.script is None:
        raise SystemExit(f"python -m hpydbg run: no program to run\n\n{RUN_USAGE}")
    return a


def _exit_code(e: SystemExit) -> int:
    code = e.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def run(argv: Sequence[str]) -> int:
    """``python -m hpydbg run``: see RUN_USAGE."""
    import atexit
    import runpy
    import traceback

    a = _parse_run(argv)
    import hpydbg
    from . import _hpydbg
    from ._report import exit_if_findings, print_exit_summary, report_at_end

    hpydbg.enable("all")
    hpydbg.set_stack_trace_limit(a.traces)
    if a.policy:
        hpydbg.set_policy(a.policy)
    # We print the summary ourselves, once (HPY_DEBUG may have set it up too).
    atexit.unregister(print_exit_summary)
    first_epoch = 0

    if a.module is not None:
        sys.argv = [a.module, *a.argv]
        sys.path.insert(0, os.getcwd())
        target = lambda: runpy.run_module(a.module, run_name="__main__", alter_sys=True)  # noqa: E731
    else:
        script = os.path.abspath(a.script)  # type: ignore[arg-type]
        if not os.path.exists(script):
            sys.stderr.write(f"python -m hpydbg run: can't open file {a.script!r}\n")
            return 2
        sys.argv = [a.script, *a.argv]  # type: ignore[list-item]
        sys.path.insert(0, os.path.dirname(script))
        target = lambda: runpy.run_path(script, run_name="__main__")  # noqa: E731

    status = 0
    try:
        target()
    except SystemExit as e:
        status = _exit_code(e)
    except KeyboardInterrupt:
        traceback.print_exc()
        status = 130
    except BaseException as e:  # noqa: BLE001 - report like the interpreter, then the leaks
        traceback.print_exc()
        from ._stubs import diagnose
        hint = diagnose(e)
        if hint:
            sys.stderr.write(hint + "\n")
        status = 1
    finally:
        sys.stdout.flush()

    leaked = misuses = 0
    if _hpydbg.context_created():
        leaked, misuses = report_at_end(_hpydbg.get_open_handles(first_epoch),
                                        " (open when the program ended)")
    if leaked and a.fail_on_leak and status == 0:
        status = 1
    exit_if_findings(leaked + misuses)
    return status


def report(args) -> int:
    """``python -m hpydbg stubs [--write] PATH...``: list (or rewrite with hpydbg's
own, which needs no ``pkg_resources``) the HPy 0.9.0 loader stubs under PATH
that import ``pkg_resources`` (removed in setuptools 81).

``python -m hpydbg report``: merge logs, print the summary, HTML."""
    from . import html, logs, suppressions

    stats = logs.LogStats()
    try:
        groups = logs.merge(logs.read_logs(args.logs, stats))
    except OSError as e:
        sys.stderr.write(f"hpydbg report: cannot read {e.filename!r} ({e.strerror})\n")
        return 2
    where = (f"in {stats.files} log{'s' if stats.files != 1 else ''} "
             f"({len(stats.pids)} process{'es' if len(stats.pids) != 1 else ''})")
    status = 0
    shown = groups
    if args.baseline:
        try:
            supp = suppressions.load(args.baseline)
        except suppressions.SuppressionError as e:
            sys.stderr.write(f"hpydbg report: {e}\n")
            return 2
        shown, covered = suppressions.split(supp, groups)
        total = sum(g["count"] for g in shown)
        head = (f"hpydbg: {total} new finding{'s' if total != 1 else ''} at {len(shown)} "
                f"site{'s' if len(shown) != 1 else ''} {where}, not in {args.baseline} "
                f"({sum(g['count'] for g in covered)} covered by it)")
        status = 1 if shown else 0
        print(logs.format_summary(shown, head + (":" if shown else "")))
        lines = supp.summary_lines()
        if lines:
            print("\n".join(lines))
    else:
        total = sum(g["count"] for g in groups)
        head = (f"hpydbg: {total} finding{'s' if total != 1 else ''} at {len(groups)} "
                f"site{'s' if len(groups) != 1 else ''} {where}")
        print(logs.format_summary(groups, head + (":" if groups else "")))
    if stats.skipped:
        print(f"hpydbg: {stats.skipped} line{'s' if stats.skipped != 1 else ''} that are not "
              f"JSON records skipped (use HPY_DEBUG_LOG_FORMAT=json)")
    if args.html:
        index = html.write_html(shown, args.html)
        print(f"hpydbg: HTML report written to {index}")
    return status


def stubs(args) -> int:
    """``python -m hpydbg stubs``: HPy loader stubs that need pkg_resources."""
    from . import _stubs

    found = list(_stubs.find(args.paths))
    for stub in found:
        if args.write:
            so = _stubs.rewrite(stub)
            print(f"{stub}: rewritten (loads {os.path.basename(so)} without pkg_resources)")
        else:
            print(f"{stub}: HPy 0.9.0 loader stub importing pkg_resources")
    if not found:
        print("hpydbg: no HPy loader stub importing pkg_resources found")
    return 1 if found and not args.write else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "run":
        return run(argv[1:])
    p = argparse.ArgumentParser(prog="hpydbg")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("demo", help="build a leaking HPy extension and show hpydbg's report")
    sub.add_parser("run", help="run a script (or -m module) with every HPy module in debug mode "
                               "and print the leak summary (see `python -m hpydbg run -h`)")
    rp = sub.add_parser("report", help="merge JSON-lines logs of many processes and print "
                                       "the findings by site (or an HTML report)")
    rp.add_argument("logs", nargs="+", metavar="LOG", help="JSON-lines logs (HPY_DEBUG_LOG_FORMAT=json)")
    rp.add_argument("--baseline", metavar="FILE",
                    help="a suppression file: show only what it does not cover; exit 1 if any")
    rp.add_argument("--html", metavar="DIR", help="write a static HTML report into DIR")
    sp = sub.add_parser("stubs", help="list (--write: rewrite) HPy 0.9.0 loader stubs that "
                                      "import pkg_resources (removed in setuptools 81)")
    sp.add_argument("paths", nargs="+", metavar="PATH", help="files or directories to search")
    sp.add_argument("--write", action="store_true",
                    help="replace them with hpydbg's loader stub (needs no pkg_resources)")
    args = p.parse_args(argv)
    return {"demo": demo, "report": report, "stubs": stubs}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
