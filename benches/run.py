#!/usr/bin/env python3
"""hpydbg performance, measured against HPy's C debug mode in the same run.

    python benches/run.py            # full run (~5 minutes on 2 cores)
    python benches/run.py --quick    # smoke run (< 1.5 minutes)

Builds benches/workloads.c once (universal ABI, -O2) and runs every workload
in the modes people run, each in its own process (the modes are process-wide
settings, made by ``_worker.load``):

  universal            HPy's universal mode (no checks)
  hpy-debug            HPy's C debug mode, stack traces off
  hpy-debug-traces16   HPy's C debug mode, set_handle_stack_trace_limit(16)
  hpydbg               hpydbg's default: policy abort, sites on, traces off
  hpydbg-pytest        what ``pytest --hpy-debug`` runs: policy log, sites on,
                       traces off (the plugin's default)
  hpydbg-traces16      hpydbg.set_stack_trace_limit(16), policy abort

Prints the tables and the targets (met / missed) and rewrites
benches/RESULTS.md.

Figures:
  * wall time per op (min and median over repeated runs, rounds of the modes
    interleaved so that drift of the machine hits all of them); the traced
    modes run fewer iterations (``_worker.WALL_DIVISOR``: HPy's C debug mode
    symbolises every trace when the handle is opened, ~0.2 ms each);
  * instructions per op from ``valgrind --tool=callgrind`` for universal, HPy
    C debug, hpydbg and hpydbg-pytest: one valgrind run per mode dumps the
    counters around every workload (callgrind client requests in
    workloads.c); per op = (Ir(run n) - Ir(baseline n)) / n, the baseline
    being the same call with n = 0 for C loops and an empty Python loop of n
    iterations for calls from Python;
  * ratios: pytest mode against universal, HPy C debug, hpydbg's default;
    hpydbg-traces16 against HPy C debug with traces; extra = (hpydbg -
    universal) / (HPy C debug - universal);
  * memory and warm-up: VmRSS, Pss, VmPTE after 2 x 2^20 calls of
    m.noargs() and the time of each half, per untraced mode (medians of 3
    processes); hpydbg with sites off under callgrind too (the Ir of a site
    record);
  * memory per open handle (RSS growth while 1e6 handles are open, sites
    recorded), time to list them with ``_debug.get_open_handles``, time to
    build the end-of-run leak report (and whether it names the site);
  * cost of stack-trace capture (limit 16) in both debug modes, and of one
    16-frame capture in hpydbg with libgcc's unwinder vs the caching one;
  * a callgrind profile of hpydbg's hottest workload (and of pytest mode's,
    where it costs more instructions than hpydbg's default).
"""
from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import _worker as W  # noqa: E402

CONTEXTS = W.CONTEXTS
U, C, CT, D, P, DT = CONTEXTS
SHORT = {U: "univ", C: "C-debug", CT: "C-debug+tr16", D: "hpydbg", P: "pytest",
         DT: "hpydbg+tr16"}
CG_CONTEXTS = (U, C, D, P)      # the traced modes: wall time only (+ the capture figures)
NOSITES = "hpydbg-nosites"      # under callgrind too, for the cost of a site record
FOOTPRINT_CONTEXTS = (U, C, D, P)  # 2^21 calls: the traced modes would take hours (HPy's)
FOOTPRINT_RUNS = 3
# site records (opens and closes of the extension's handles) per op
SITE_RECORDS = {"long_close": 2, "dup_close": 2, "getattr_s": 2, "meth_bump": 1, "call_noargs": 1}
TRACES_CONTEXTS = (C, D)        # the stack-trace on/off task and the capture benchmark
PY = sys.executable
BUILD = os.path.join(HERE, "build")

# HPy's C debug mode symbolises every stack trace when the handle is opened
# (~0.2 ms per handle here): the traced counts are small on purpose
QUICK = dict(rounds=1, reps=3, handles_n=1_000_000, handles_traces_n=1_000,
             traces_n=500, traces_reps=3, cg_trace_n=0, cg_scale=0.25)
# many short processes rather than long ones: on the shared machine a whole
# process can run ~2x slower than the next one (same mode, same instructions)
FULL = dict(rounds=5, reps=2, handles_n=1_000_000, handles_traces_n=5_000,
            traces_n=3_000, traces_reps=5, cg_trace_n=300, cg_scale=1.0)

TARGET_EXTRA_RATIO = 0.5
TARGET_BYTES_PER_HANDLE = 40          # with attribution (sites) on
TARGET_LIST_SECONDS = 1.0
TARGET_REPORT_SECONDS = 2.0           # leak report of 1e6 handles, sites on
TARGET_CAPTURE_NS = 1000
TARGET_PYTEST_OVER_C = 1.0            # on PYTEST_VS_C_WORKLOADS
TARGET_PYTEST_OVER_DEFAULT = 1.5      # on every workload
TARGET_RSS_OVER_UNIVERSAL = 64e6      # VmRSS growth over 2^21 calls, over universal's
TARGET_WARMUP_RATIO = 1.25            # first 2^20 calls / next 2^20
PYTEST_VS_C_WORKLOADS = ("long_close", "dup_close")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def clean_env() -> dict:
    # HPY, HPY_DEBUG, HPYDBG (and HPY_DEBUG_TRACES, ...) switch hpydbg on at
    # start-up: none of them may reach the workers
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("HPY")}
    env["PYTHONHASHSEED"] = "0"
    env.pop("PYTHONMALLOC", None)
    return env


def run_worker(context, task, so, params, valgrind=None, timeout=900):
    cmd = [PY, os.path.join(HERE, "_worker.py"), context, task, so, json.dumps(params)]
    if valgrind:
        cmd = valgrind + cmd
    last_err = ""
    for attempt in range(2):  # hpydbg may be reinstalled under us: retry once
        p = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True,
                           timeout=timeout)
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        if p.returncode == 0 and lines:
            return json.loads(lines[-1])
        last_err = (f"exit {p.returncode}\n--- stdout\n{p.stdout[-2000:]}\n"
                    f"--- stderr\n{p.stderr[-4000:]}")
        log(f"  worker {context}/{task} failed (attempt {attempt + 1}); retrying")
        time.sleep(2)
    raise RuntimeError(f"worker {context}/{task} failed:\n{last_err}")


def build(quiet=True) -> str:
    from hpydbg.build import build_extension
    return build_extension("hpybench", [os.path.join(HERE, "workloads.c")], BUILD,
                           extra_compile_args=["-O2"], quiet=quiet)


# ---------------------------------------------------------------------------
# measurements

def measure_wall(so, cfg, quick):
    samples = {c: {w: [] for w in W.WORKLOAD_NAMES} for c in CONTEXTS}
    names = {}
    order = list(CONTEXTS)
    for r in range(cfg["rounds"]):
        for c in order:
            log(f"  wall: round {r + 1}/{cfg['rounds']}, {c}")
            res = run_worker(c, "wall", so, {"quick": quick, "reps": cfg["reps"]})
            names[c] = res["ctx_name"]
            for w, s in res["result"].items():
                samples[c][w].extend(s)
        order = order[1:] + order[:1]
    return samples, names


def measure_footprint(so):
    """FOOTPRINT_RUNS processes per mode (rounds interleaved), each making
    2 x 2^20 calls of m.noargs() (`_worker.task_footprint`)."""
    out = {c: [] for c in FOOTPRINT_CONTEXTS}
    for r in range(FOOTPRINT_RUNS):
        for c in FOOTPRINT_CONTEXTS:
            log(f"  footprint: run {r + 1}/{FOOTPRINT_RUNS}, {c}")
            out[c].append(run_worker(c, "footprint", so, {})["result"])
    return out


def parse_dump(path):
    label = total = None
    with open(path) as f:
        for line in f:
            if line.startswith("desc: Trigger: Client Request: "):
                label = line.split(": ", 2)[2].strip().split(": ", 1)[-1]
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
                if label is not None:
                    break
    return label, total


def measure_callgrind(so, cfg, outdir):
    """{context: {label: (Ir, dump file)}}"""
    res = {}
    for c in CG_CONTEXTS + (NOSITES,):
        log(f"  callgrind: {c}")
        for old in glob.glob(os.path.join(outdir, f"cg.{c}.out*")):
            os.remove(old)
        vg = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
              f"--callgrind-out-file={os.path.join(outdir, f'cg.{c}.out')}"]
        params = {"traces": c in TRACES_CONTEXTS and cfg["cg_trace_n"] > 0,
                  "trace_n": cfg["cg_trace_n"],
                  "scale": cfg["cg_scale"]}
        run_worker(c, "callgrind", so, params, valgrind=vg, timeout=1200)
        dumps = {}
        for path in glob.glob(os.path.join(outdir, f"cg.{c}.out.*")):
            label, total = parse_dump(path)
            if label is not None and total is not None:
                dumps[label] = (total, path)
        res[c] = dumps
    return res


def ir_per_op(dumps, name):
    """(Ir per op, n, dump of the run) for workload `name` in one context."""
    base = run = None
    for label, (total, path) in dumps.items():
        parts = label.split(":")
        if parts[0] != name:
            continue
        if parts[1] == "base":
            base = total
        elif parts[1] == "run":
            run, n, run_path = total, int(parts[2]), path
    if base is None or run is None:
        return None, None, None
    return (run - base) / n, n, run_path


def measure_handles(so, cfg):
    out = {}
    for c in CONTEXTS:
        log(f"  handles: {c}")
        n = cfg["handles_traces_n"] if c in W.TRACE_LIMIT else cfg["handles_n"]
        out[c] = run_worker(c, "handles", so, {"n": n})["result"]
    return out


def measure_traces(so, cfg):
    out = {}
    for c in TRACES_CONTEXTS:
        log(f"  stack traces: {c}")
        out[c] = run_worker(c, "traces", so, {"n": cfg["traces_n"],
                                              "reps": cfg["traces_reps"]})["result"]
    return out


def annotate(path, n, top=18):
    """Top functions by self cost.  callgrind_annotate splits a function by
    source file (code inlined from other files gets its own line, without the
    object); those parts are folded into one row per function."""
    p = subprocess.run(["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100",
                        path], capture_output=True, text=True)
    total = None
    ir_of: "OrderedDict[str, int]" = OrderedDict()
    obj_of, src_of = {}, {}
    for line in p.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)$", line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        rest = m.group(2)
        if rest.startswith("PROGRAM TOTALS"):
            total = ir
            continue
        obj = ""
        om = re.search(r"\s\[([^\]]+)\]\s*$", rest)
        if om:
            obj = os.path.basename(om.group(1))
            rest = rest[:om.start()]
        src, _, fn = rest.partition(":")  # "file:function" (paths have no ':')
        ir_of[fn] = ir_of.get(fn, 0) + ir
        if obj:
            obj_of[fn] = obj
            src_of[fn] = os.path.basename(src) if src.startswith("/") else src
        else:
            src_of.setdefault(fn, os.path.basename(src) if src.startswith("/") else src)
    rows = sorted(ir_of.items(), key=lambda kv: -kv[1])[:top]
    return total, [(ir, ir / n, fn, obj_of.get(fn, "?"), src_of.get(fn, "?")) for fn, ir in rows]


# ---------------------------------------------------------------------------
# report

def fmt(x, digits=1):
    if x is None:
        return "n/a"
    if isinstance(x, float):
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        return f"{x:.{digits}f}"
    return str(x)


def ratio(a, b):
    try:
        return a / b
    except (TypeError, ZeroDivisionError):
        return None


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def text_table(header, rows):
    cols = list(zip(*([header] + [[str(c) for c in r] for r in rows])))
    widths = [max(len(x) for x in col) for col in cols]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                       for i, (h, w) in enumerate(zip(header, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def git_info():
    def git(*a):
        p = subprocess.run(["git", "-C", REPO, *a], capture_output=True, text=True)
        return p.stdout.strip()
    commit = git("rev-parse", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src", "python", "Cargo.toml")
    return commit, bool(dirty)


def installed_hpydbg():
    p = subprocess.run([PY, "-c", "import hpydbg._hpydbg as h; print(h.__file__)"],
                       env=clean_env(), capture_output=True, text=True)
    path = p.stdout.strip()
    if not path:
        return "unknown", "unknown"
    mtime = datetime.datetime.fromtimestamp(os.path.getmtime(path)).strftime("%Y-%m-%d %H:%M:%S")
    return path, mtime


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run, < 1.5 minutes")
    ap.add_argument("--no-callgrind", action="store_true", help="skip valgrind (no Ir figures)")
    ap.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    which = 1 if args.quick else 0
    t_start = time.time()

    if not args.no_callgrind and shutil.which("valgrind") is None:
        log("valgrind not found: skipping the instruction counts")
        args.no_callgrind = True

    log("building benches/workloads.c")
    so = build()
    cgdir = os.path.join(BUILD, "callgrind")
    os.makedirs(cgdir, exist_ok=True)

    def phase(name, fn, *a):
        t0 = time.time()
        r = fn(*a)
        log(f"  ({name}: {time.time() - t0:.0f} s)")
        return r

    wall, ctx_names = phase("wall", measure_wall, so, cfg, args.quick)
    foot = phase("footprint", measure_footprint, so)
    cg = None if args.no_callgrind else phase("callgrind", measure_callgrind, so, cfg, cgdir)
    handles = phase("handles", measure_handles, so, cfg)
    traces = phase("traces", measure_traces, so, cfg)

    # --- per-workload figures
    cgc = CG_CONTEXTS if cg else ()
    per = {}
    for w in W.WORKLOAD_NAMES:
        mn = {c: min(wall[c][w]) for c in CONTEXTS}
        md = {c: statistics.median(wall[c][w]) for c in CONTEXTS}
        ir = {c: (ir_per_op(cg[c], w)[0] if c in cgc else None) for c in CONTEXTS}

        def extra(x, vals):
            return ratio(None if vals[x] is None or vals[U] is None else vals[x] - vals[U],
                         None if vals[C] is None or vals[U] is None else vals[C] - vals[U])
        per[w] = dict(min=mn, med=md, ir=ir,
                      extra_ir=extra(D, ir), extra_ir_pytest=extra(P, ir),
                      extra_wall=extra(D, md),
                      d_over_u_ir=ratio(ir[D], ir[U]), d_over_u_wall=ratio(md[D], md[U]),
                      d_over_c_wall=ratio(md[D], md[C]),
                      p_over_u_wall=ratio(md[P], md[U]), p_over_c_wall=ratio(md[P], md[C]),
                      p_over_d_wall=ratio(md[P], md[D]), dt_over_ct_wall=ratio(md[DT], md[CT]),
                      p_over_u_ir=ratio(ir[P], ir[U]), p_over_c_ir=ratio(ir[P], ir[C]),
                      p_over_d_ir=ratio(ir[P], ir[D]))

    def tagged(w):
        return w + (" *" if w in W.HANDLE_HEAVY else "")

    # wall: one column per mode, then the ratios
    header = (["workload", "n", "n traced (C / hpydbg)"]
              + [f"{SHORT[c]} ns/op" for c in CONTEXTS]
              + ["pytest / univ", "pytest / C-debug", "pytest / hpydbg",
                 "hpydbg+tr16 / C-debug+tr16"])
    rows = []
    for w in W.WORKLOAD_NAMES:
        f = per[w]
        rows.append([tagged(w), f"{W.iterations(w, which):,}",
                     f"{W.iterations(w, which, CT):,} / {W.iterations(w, which, DT):,}"]
                    + [fmt(f["med"][c]) for c in CONTEXTS]
                    + [fmt(f["p_over_u_wall"], 2), fmt(f["p_over_c_wall"], 2),
                       fmt(f["p_over_d_wall"], 2), fmt(f["dt_over_ct_wall"], 3)])
    # instructions: the modes measured under callgrind
    irheader = (["workload", "callgrind n"] + [f"{SHORT[c]} Ir/op" for c in CG_CONTEXTS]
                + ["pytest / univ", "pytest / C-debug", "pytest / hpydbg",
                   "extra hpydbg (D-U)/(C-U)", "extra pytest (P-U)/(C-U)", "hpydbg / univ"])
    irrows = []
    for w in W.WORKLOAD_NAMES:
        f = per[w]
        ir = f["ir"]
        # a ratio over a difference that is within noise says nothing
        small = ir[C] is not None and abs(ir[C] - ir[U]) < 0.05 * ir[U]
        irrows.append([tagged(w), f"{W.cg_iterations(w, cfg['cg_scale']):,}"]
                      + [fmt(ir[c], 0) for c in CG_CONTEXTS]
                      + [fmt(f["p_over_u_ir"], 2), fmt(f["p_over_c_ir"], 2),
                         fmt(f["p_over_d_ir"], 2),
                         "~ (C = U)" if small else fmt(f["extra_ir"], 2),
                         "~ (C = U)" if small else fmt(f["extra_ir_pytest"], 2),
                         fmt(f["d_over_u_ir"], 2)])
    # min of the wall samples (the table above has medians)
    minheader = ["workload"] + [f"{SHORT[c]} min" for c in CONTEXTS]
    minrows = [[tagged(w)] + [fmt(per[w]["min"][c]) for c in CONTEXTS] for w in W.WORKLOAD_NAMES]
    # memory and warm-up over 2^21 calls (medians of FOOTPRINT_RUNS processes)
    def fmed(c, fn):
        vals = [fn(x) for x in foot[c]]
        vals = [v for v in vals if v is not None]
        return statistics.median(vals) if vals else None

    def grow(key):
        return lambda x: (None if x["after"].get(key) is None or x["before"].get(key) is None
                          else x["after"][key] - x["before"][key])
    fp = {}
    for c in FOOTPRINT_CONTEXTS:
        fp[c] = dict(first=fmed(c, lambda x: x["ns_first"]), second=fmed(c, lambda x: x["ns_second"]),
                     ratio=fmed(c, lambda x: x["ns_first"] / x["ns_second"]),
                     rss_growth=fmed(c, grow("VmRSS")), pss_growth=fmed(c, grow("Pss")),
                     pte_growth=fmed(c, grow("VmPTE")),
                     rss=fmed(c, lambda x: x["after"]["VmRSS"]), pss=fmed(c, lambda x: x["after"].get("Pss")),
                     pte=fmed(c, lambda x: x["after"]["VmPTE"]), vsz=fmed(c, lambda x: x["after"]["VmSize"]),
                     pool=foot[c][-1].get("pool"))
    mb = lambda v: fmt(None if v is None else v / 1e6)
    kb = lambda v: fmt(None if v is None else v / 1e3, 0)
    wheader = ["mode", "first 2^20 ns/call", "next 2^20 ns/call", "first / next",
               "VmRSS growth (MB)", "Pss growth (MB)", "VmPTE growth (kB)",
               "VmRSS after (MB)", "Pss after (MB)", "VmPTE after (kB)", "VSZ after (MB)"]
    wrows = [[c, fmt(f["first"]), fmt(f["second"]), fmt(f["ratio"], 2), mb(f["rss_growth"]),
              mb(f["pss_growth"]), kb(f["pte_growth"]), mb(f["rss"]), mb(f["pss"]), kb(f["pte"]),
              mb(f["vsz"])] for c, f in fp.items()]
    pool = fp[D]["pool"] or {}

    # sites on (hpydbg's default) against sites off, Ir per site record
    srows = []
    if cg:
        for w, k in SITE_RECORDS.items():
            on, off = per[w]["ir"][D], ir_per_op(cg[NOSITES], w)[0]
            srows.append([w, k, fmt(on, 0), fmt(off, 0),
                          fmt(None if on is None or off is None else (on - off) / k, 1)])
    sheader = ["workload", "site records per op", "sites on Ir/op", "sites off Ir/op",
               "Ir per site record"]

    # --- handles, traces
    hrows = []
    for c in CONTEXTS:
        h = handles[c]
        hrows.append([c, f"{h['n']:,}", fmt(h["bytes_per_handle"]), fmt(h["open_ns_per_handle"]),
                      fmt(h.get("list_s"), 3) if "list_s" in h else "-",
                      fmt(h.get("report_s"), 3) if "report_s" in h else "-",
                      f"{h['report_chars']:,}" if "report_chars" in h else "-",
                      ("yes" if h["report_names_site"] else "NO") if "report_names_site" in h else "-"])
    hheader = ["mode", "handles open", "bytes/handle", "ns/open", "list (s)",
               "leak report (s)", "report chars", "report names hold_open_impl, workloads.c:N"]

    trows, trace_extra = [], {}
    for c in TRACES_CONTEXTS:
        for w in ("long_close", "dup_close"):
            off = statistics.median(traces[c][f"{w}:off"])
            on = statistics.median(traces[c][f"{w}:16"])
            ir_extra = None
            if cg:
                a = ir_per_op(cg[c], w + "+traces16")[0]
                b = ir_per_op(cg[c], w)[0]
                ir_extra = None if a is None or b is None else a - b
            trace_extra[(c, w)] = (on - off, ir_extra)
            trows.append([c, w, fmt(off), fmt(on), fmt(on - off), fmt(ir_extra, 0)])
    theader = ["context", "workload", "ns/op traces off (med)", "ns/op traces 16 (med)",
               "capture ns/op", "capture Ir/op"]

    # --- one 16-frame capture in hpydbg: libgcc's unwinder vs the caching one
    cap = {k: statistics.median(traces[D][f"capture:{k}"]) for k in ("old", "fast")}
    cap_min = {k: min(traces[D][f"capture:{k}"]) for k in ("old", "fast")}
    cap_frames = traces[D]["capture_frames"]
    crows = [["backtrace::trace (libgcc, old)", fmt(cap_min["old"]), fmt(cap["old"]), cap_frames["old"]],
             ["base::unwind (framehop, cached)", fmt(cap_min["fast"]), fmt(cap["fast"]), cap_frames["fast"]],
             ["ratio old / fast", fmt(ratio(cap_min["old"], cap_min["fast"]), 1),
              fmt(ratio(cap["old"], cap["fast"]), 1), ""]]
    cheader = ["capture path", "ns per capture (min)", "ns per capture (med)", "frames"]

    # --- targets
    targets = []
    for w in PYTEST_VS_C_WORKLOADS:
        f = per[w]
        targets.append((
            f"pytest mode no slower than HPy C debug without traces on {w} "
            f"(median wall, ratio <= {TARGET_PYTEST_OVER_C:g})",
            f["p_over_c_wall"] <= TARGET_PYTEST_OVER_C,
            f"median {fmt(f['med'][P])} vs {fmt(f['med'][C])} ns/op = "
            f"{fmt(f['p_over_c_wall'], 2)} (min {fmt(f['min'][P])} vs {fmt(f['min'][C])} = "
            f"{fmt(ratio(f['min'][P], f['min'][C]), 2)})"))
        if cg:
            targets.append((
                f"pytest mode no more instructions than HPy C debug without traces on {w} "
                f"(Ir ratio <= {TARGET_PYTEST_OVER_C:g})",
                f["p_over_c_ir"] <= TARGET_PYTEST_OVER_C,
                f"{fmt(f['ir'][P], 0)} vs {fmt(f['ir'][C], 0)} Ir/op = {fmt(f['p_over_c_ir'], 2)} "
                f"(hpydbg's default {fmt(f['ir'][D], 0)})"))
    over = {w: per[w]["p_over_d_wall"] for w in W.WORKLOAD_NAMES}
    bad = {w: v for w, v in over.items() if v > TARGET_PYTEST_OVER_DEFAULT}
    worst = max(over, key=over.get)
    overmin = {w: ratio(per[w]["min"][P], per[w]["min"][D]) for w in W.WORKLOAD_NAMES}
    wmin = max(overmin, key=overmin.get)
    detail = (f"worst {worst}: pytest/hpydbg = {fmt(over[worst], 2)} "
              f"({fmt(per[worst]['med'][P])} vs {fmt(per[worst]['med'][D])} ns/op); "
              f"{len(over) - len(bad)}/{len(over)} pass; on the minima worst {wmin}: "
              f"{fmt(overmin[wmin], 2)}")
    if cg:
        ovi = {w: per[w]["p_over_d_ir"] for w in W.WORKLOAD_NAMES if per[w]["p_over_d_ir"]}
        wi = max(ovi, key=ovi.get)
        detail += f"; in Ir worst {wi}: {fmt(ovi[wi], 2)}"
    if bad:
        detail += "; misses: " + ", ".join(f"{w} {fmt(v, 2)}" for w, v in bad.items())
    targets.append((f"pytest mode within {TARGET_PYTEST_OVER_DEFAULT:g}x of hpydbg's default "
                    "(median wall, every workload)", not bad, detail))
    if cg:
        vals = {w: per[w]["extra_ir"] for w in W.HANDLE_HEAVY}
        bad = {w: v for w, v in vals.items() if v is None or v > TARGET_EXTRA_RATIO}
        worst = max(vals, key=lambda w: -1 if vals[w] is None else vals[w])
        targets.append((
            "handle-heavy workloads: hpydbg's extra Ir over universal <= 1/2 of HPy C debug's",
            not bad,
            f"worst {worst}: {fmt(vals[worst], 2)} (target <= {TARGET_EXTRA_RATIO}); "
            f"{len(vals) - len(bad)}/{len(vals)} pass"
            + ("; misses: " + ", ".join(f"{w} {fmt(v, 2)}" for w, v in bad.items()) if bad else "")))
    else:
        targets.append(("handle-heavy workloads: extra Ir <= 1/2 of HPy C debug's", None,
                        "not measured (--no-callgrind)"))
    for c in (D, P):
        over = None if fp[c]["rss_growth"] is None else fp[c]["rss_growth"] - fp[U]["rss_growth"]
        targets.append((
            f"{c}: VmRSS growth over {2 * W.FOOTPRINT_HALF:,} calls <= universal's + "
            f"{TARGET_RSS_OVER_UNIVERSAL / 1e6:g} MB (median of {FOOTPRINT_RUNS})",
            over is not None and over <= TARGET_RSS_OVER_UNIVERSAL,
            f"{mb(fp[c]['rss_growth'])} MB vs universal {mb(fp[U]['rss_growth'])} MB "
            f"(VmRSS after {mb(fp[c]['rss'])} MB, universal {mb(fp[U]['rss'])} MB)"))
        targets.append((
            f"{c}: the first 2^20 calls cost <= {TARGET_WARMUP_RATIO:g}x the next 2^20 "
            f"(median of {FOOTPRINT_RUNS})",
            fp[c]["ratio"] is not None and fp[c]["ratio"] <= TARGET_WARMUP_RATIO,
            f"{fmt(fp[c]['first'])} vs {fmt(fp[c]['second'])} ns/call = {fmt(fp[c]['ratio'], 2)}"))
    slower = {w: per[w]["d_over_c_wall"] for w in W.WORKLOAD_NAMES if per[w]["d_over_c_wall"] > 1.0}
    worst_w = max(W.WORKLOAD_NAMES, key=lambda w: per[w]["d_over_c_wall"])
    targets.append((
        "hpydbg's default never slower than HPy C debug (median wall, every workload)",
        not slower,
        f"worst {worst_w}: hpydbg/C-debug = {fmt(per[worst_w]['d_over_c_wall'], 2)}; "
        f"{len(W.WORKLOAD_NAMES) - len(slower)}/{len(W.WORKLOAD_NAMES)} pass"))
    targets.append((f"one 16-frame stack capture <= {TARGET_CAPTURE_NS:g} ns (fast unwinder)",
                    cap["fast"] <= TARGET_CAPTURE_NS and cap_frames["fast"] == 16,
                    f"fast {fmt(cap['fast'])} ns ({cap_frames['fast']} frames), libgcc's "
                    f"{fmt(cap['old'])} ns: {fmt(ratio(cap['old'], cap['fast']), 1)}x"))
    hd = handles[D]
    targets.append((
        f"leak report of {hd['n']:,} open handles, sites on, <= {TARGET_REPORT_SECONDS:g} s "
        "and naming the site",
        hd["report_s"] <= TARGET_REPORT_SECONDS and hd["report_names_site"],
        f"hpydbg {fmt(hd['report_s'], 3)} s, {hd['report_chars']:,} chars, names hold_open_impl at workloads.c:N: "
        f"{'yes' if hd['report_names_site'] else 'NO'} (HPy C debug {fmt(handles[C]['report_s'], 3)} s, "
        f"{handles[C]['report_chars']:,} chars)"))
    bph = hd["bytes_per_handle"]
    targets.append((f"<= {TARGET_BYTES_PER_HANDLE} bytes per open handle with attribution (sites) on",
                    bph <= TARGET_BYTES_PER_HANDLE,
                    f"hpydbg {fmt(bph)} B, pytest mode {fmt(handles[P]['bytes_per_handle'])} B "
                    f"(HPy C debug {fmt(handles[C]['bytes_per_handle'])} B)"))
    ls = hd["list_s"]
    targets.append((f"listing {hd['n']:,} open handles < {TARGET_LIST_SECONDS:g} s",
                    ls < TARGET_LIST_SECONDS,
                    f"hpydbg {fmt(ls, 3)} s (HPy C debug {fmt(handles[C]['list_s'], 3)} s)"))
    cap_ok = all(trace_extra[(D, w)][0] <= trace_extra[(C, w)][0] for w in ("long_close", "dup_close"))
    targets.append((
        "stack traces on (16 frames): hpydbg's capture costs no more than HPy C debug's",
        cap_ok,
        "; ".join(f"{w}: hpydbg {fmt(trace_extra[(D, w)][0])} ns vs C debug "
                  f"{fmt(trace_extra[(C, w)][0])} ns per handle" for w in ("long_close", "dup_close"))))

    # --- profiles: hpydbg's hottest workload, dup_close, and pytest mode's
    # workload with the largest excess over hpydbg's default (if it has one)
    profile = []
    if cg:
        cand = [w for w in W.HANDLE_HEAVY if per[w]["extra_ir"] is not None]
        hottest = max(cand, key=lambda w: per[w]["extra_ir"])
        picks = [(D, hottest)] + ([(D, "dup_close")] if hottest != "dup_close" else [])
        pd = {w: per[w]["p_over_d_ir"] for w in W.WORKLOAD_NAMES if per[w]["p_over_d_ir"]}
        if pd:
            wp = max(pd, key=pd.get)
            if pd[wp] > 1.05:
                picks += [(P, wp)]
        for c, w in picks:
            _, n, path = ir_per_op(cg[c], w)
            total, prow = annotate(path, n)
            profile.append((c, w, n, total, prow, os.path.relpath(path, REPO)))

    # --- output
    commit, dirty = git_info()
    sopath, somtime = installed_hpydbg()
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    elapsed = time.time() - t_start
    status = lambda ok: "n/a" if ok is None else ("PASS" if ok else "MISS")
    legend = ("* = handle-heavy; univ = universal, C-debug = HPy's C debug mode, hpydbg = its "
              "default, pytest = pytest --hpy-debug's mode, +tr16 = 16-frame stack trace per "
              "handle; ns/op wall includes the Python loop for calls, Ir/op does not")

    print()
    print("wall, median ns/op:")
    print(text_table(header, rows))
    if cg:
        print("\ncallgrind, Ir/op:")
        print(text_table(irheader, irrows))
    print(f"\n({legend})\n")
    print(f"footprint, {2 * W.FOOTPRINT_HALF:,} calls of m.noargs() (medians of {FOOTPRINT_RUNS}):")
    print(text_table(wheader, wrows))
    if srows:
        print("\nsite records, sites on vs off (callgrind):")
        print(text_table(sheader, srows))
    print()
    print(text_table(hheader, hrows))
    print()
    print(text_table(theader, trows))
    print()
    print(text_table(cheader, crows))
    print()
    for name, ok, detail in targets:
        print(f"[{'met' if ok else 'missed' if ok is not None else 'n/a'}] {name}: {detail}")
    for c, w, n, total, prow, path in profile:
        print(f"\ncallgrind, {c}, {w} (n={n}), top functions by self Ir:")
        print(text_table(["Ir/op", "function", "object"],
                         [[fmt(per_op, 1), fn[:90], obj] for _, per_op, fn, obj, _ in prow]))
    print(f"\n{'quick' if args.quick else 'full'} run in {elapsed:.0f} s; wrote {args.output}")

    md = []
    md.append("# hpydbg performance vs HPy's C debug mode\n")
    md.append(f"Written by `python benches/run.py{' --quick' if args.quick else ''}` "
              f"({'quick smoke run: few iterations, figures are rough' if args.quick else 'full run'}); "
              f"rerun it to refresh this file.\n")
    md.append("| | |\n|---|---|")
    md.append(f"| date | {now} |")
    md.append(f"| machine | {os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {cpu_model()} |")
    md.append(f"| git commit | `{commit}`{' + uncommitted changes in src/python' if dirty else ''} |")
    md.append(f"| hpydbg measured | `{sopath}` (built {somtime}) |")
    md.append(f"| python | {sys.version.split()[0]}, hpy 0.9.0 |")
    md.append(f"| contexts | universal: {ctx_names.get(U)!r}; HPy C debug: {ctx_names.get(C)!r}; "
              f"hpydbg: {ctx_names.get(D)!r} |")
    md.append(f"| run time | {elapsed:.0f} s |\n")
    md.append("## Targets\n")
    for name, ok, detail in targets:
        md.append(f"- **{status(ok)}** {name}: {detail}")
    md.append("")
    md.append("## Modes\n")
    md.append("Each mode runs in its own process; `benches/_worker.py` (`load`, `set_mode`) "
              "makes the settings after loading the module.\n")
    md.append("| mode | column | context | settings | wall iterations |\n|---|---|---|---|---:|")
    for c in CONTEXTS:
        div = W.WALL_DIVISOR.get(c, 1)
        md.append(f"| {c} | {SHORT[c]} | {W.BASE[c]} | {W.MODES[c][1]} | "
                  f"{'n' if div == 1 else f'n / {div:,}'} |")
    md.append("")
    md.append("## Per workload: wall time\n")
    md.append("Median ns per op over "
              f"{cfg['rounds']} round(s) x {cfg['reps']} runs (the modes interleaved round by round; "
              "the minima are in the table after the next). "
              "For calls from Python the time includes the Python loop. `n` is the iteration count "
              "of the untraced modes; the traced modes run `n traced` (HPy's C debug mode symbolises "
              "each trace when the handle is opened, ~0.2 ms per handle). "
              f"{legend}.\n")
    md.append(md_table(header, rows))
    md.append("")
    if cg:
        md.append("## Per workload: instructions\n")
        md.append("Instructions per op under callgrind, baseline subtracted (same call with n = 0 "
                  "for C loops; an empty Python loop for calls); the traced modes are not run under "
                  "callgrind (their capture cost is in the stack-trace section). "
                  "extra = (mode - universal) / (HPy C debug - universal): below 1 the mode adds "
                  "less than HPy's C debug mode; `*` marks the handle-heavy workloads the extra-Ir "
                  "target is about.\n")
        md.append(md_table(irheader, irrows))
        md.append("")
    md.append("## Memory and warm-up (2^21 calls)\n")
    md.append(f"{FOOTPRINT_RUNS} processes per mode (rounds interleaved), each calling `m.noargs()` "
              f"{W.FOOTPRINT_HALF:,} times, timed, then {W.FOOTPRINT_HALF:,} times more "
              "(`_worker.task_footprint`); medians. VmRSS and VmPTE from `/proc/self/status` "
              "(what `ps`/`top` show, and the page tables), Pss from `/proc/self/smaps_rollup`; "
              "growth = after - before the calls. hpydbg gives every call a context at a new "
              f"address: a {pool.get('context_addresses', 0) // max(1, pool.get('context_slots', 1)):,}-context "
              "window (2 MB, one memfd) whose page table moves to one of "
              f"{pool.get('context_slots', '?')} slots, at random, after each turn "
              f"(`src/state/ctxpool.rs`, scheme `{pool.get('context_scheme', '?')}`, "
              f"{pool.get('context_moves', '?')} moves in the last process); the traced modes are "
              "left out (HPy's would take hours).\n")
    md.append(md_table(wheader, wrows))
    md.append("")
    if srows:
        md.append("Site records (where handles are opened and closed, on by default), hpydbg's "
                  "default against `_hpydbg.set_sites(False)` (mode `hpydbg-nosites`, callgrind): "
                  "Ir per record = (on - off) / records per op. The call's first record reads the "
                  "Python frame; the others reuse it (`func::call::site_here`).\n")
        md.append(md_table(sheader, srows))
        md.append("")
    md.append("Wall-time minima (ns/op):\n")
    md.append(md_table(minheader, minrows))
    md.append("")
    md.append("| workload | one op |\n|---|---|")
    for w in W.WORKLOAD_NAMES:
        md.append(f"| {w} | {W.DESCRIPTION[w]} |")
    md.append("")
    md.append("## Open handles: memory, listing, leak report\n")
    md.append("`hold_open(n, obj)` does n x `HPy_Dup(obj)` and keeps them open (the array that "
              "holds them is allocated and touched first). bytes/handle = RSS growth / n; hpydbg "
              "records every handle's open site (attribution is on by default), so its figures are "
              "with attribution. "
              "list = `hpy.universal._debug.get_open_handles(gen)` (hpydbg's `_debug` when enabled). "
              "leak report: hpydbg `hpydbg._report.format_leaks(handles)` (the end-of-run report), "
              "HPy C debug `str(hpy.debug.HPyLeakError(handles))` (what `LeakDetector` raises); "
              "`report names ...`: the report names the C function and line that opened them. "
              f"The traced modes open {cfg['handles_traces_n']:,} handles.\n")
    md.append(md_table(hheader, hrows))
    md.append("")
    head = handles[D].get("report_head", "")
    if head:
        md.append(f"Start of hpydbg's report of the {handles[D]['n']:,} handles:\n")
        md.append("```\n" + head.rstrip() + "\n```\n")
    md.append("## Stack-trace capture (limit 16)\n")
    md.append(f"Median ns/op of the C loops with `hpy.debug.set_handle_stack_trace_limit(16)` vs off "
              f"(n = {cfg['traces_n']:,}, {cfg['traces_reps']} runs); capture = on - off. "
              f"capture Ir/op from callgrind (n = {cfg['cg_trace_n']}; not measured with --quick).\n")
    md.append(md_table(theader, trows))
    md.append("")
    md.append("One capture of 16 frames in hpydbg's process (`_hpydbg._bench_capture`: "
              "`Trace::capture_slow`, i.e. `backtrace::trace`, vs `Trace::capture`, the caching "
              "unwinder of `src/base/unwind.rs`), min and median of the runs, the two paths interleaved "
              "in the same process, "
              f"{4 * cfg['traces_reps']} runs of {max(500, cfg['traces_n'] // 2):,} captures each; "
              "`frames` = frames captured (hpydbg's own left out).\n")
    md.append(md_table(cheader, crows))
    md.append("")
    if profile:
        md.append("## Where hpydbg's time goes (callgrind)\n")
        md.append("Self cost per function (inlined code folded into the function that contains it), "
                  "for the run dump of the workload (n iterations plus a constant of a few thousand "
                  "Ir for the call). The first workload is the handle-heavy one with the highest "
                  "extra-Ir ratio in hpydbg's default mode, then `dup_close` (the bare open/close "
                  "path), then, where pytest mode costs more than 5% over the default on some "
                  "workload, pytest mode's worst. Reproduce with "
                  "`callgrind_annotate --inclusive=no <dump>`; the dumps are in `benches/build/callgrind/`.\n")
        for c, w, n, total, prow, path in profile:
            md.append(f"### {c}: {w} (n = {n:,}; {fmt(total / n, 0)} Ir per op in total; "
                      f"universal {fmt(per[w]['ir'][U], 0)}, HPy C debug {fmt(per[w]['ir'][C], 0)}, "
                      f"hpydbg {fmt(per[w]['ir'][D], 0)}, pytest {fmt(per[w]['ir'][P], 0)})\n")
            md.append(f"dump: `{path}`\n")
            md.append(md_table(["Ir", "Ir/op", "function", "object", "source"],
                               [[f"{ir:,}", fmt(per_op, 1), f"`{fn}`", obj, src]
                                for ir, per_op, fn, obj, src in prow]))
            md.append("")
    md.append("## Method\n")
    md.append("- `benches/workloads.c` is one HPy extension (universal ABI, `-O2 -g`), loaded with "
              "`hpy.universal.load` in `MODE_UNIVERSAL` or `MODE_DEBUG`; for hpydbg the worker "
              "calls `hpydbg.enable()` first and checks `ctx->name` (HPy C debug's process must not "
              "contain hpydbg), then sets the mode.\n"
              "- Each mode runs in its own process (`benches/_worker.py`) with every `HPY*` "
              "variable removed from the environment and `PYTHONHASHSEED=0`; the cyclic GC is "
              "disabled while timing.\n"
              "- callgrind: one valgrind run per mode with `--instr-atstart=no`; the worker "
              "starts instrumentation, then for every workload zeroes the counters, runs, and dumps "
              "(`CALLGRIND_ZERO_STATS` / `CALLGRIND_DUMP_STATS_AT`). Instruction counts are "
              "deterministic; wall times on a shared 2-core machine are not: a whole process "
              "sometimes runs ~2x slower than the next one of the same mode (same instructions), "
              "hence many short processes and medians; use the Ir columns for small differences.")
    with open(args.output, "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(BUILD, "results.json"), "w") as f:
        json.dump({"wall": wall, "footprint": foot, "handles": handles, "traces": traces,
                   "ir": {w: per[w]["ir"] for w in per}}, f, indent=1)


if __name__ == "__main__":
    main()
