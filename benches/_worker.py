"""One context, one task: the process that benches/run.py starts for every
measurement (so that universal mode, HPy's C debug mode and hpydbg never
share a process).

    python benches/_worker.py CONTEXT TASK SO_PATH JSON_PARAMS

CONTEXT is one of CONTEXTS (a debug context and the mode it is set to, see
MODES); TASK is wall | callgrind | handles | traces.  The result is one JSON
object on the last line of stdout.

This file is also imported by run.py for the workload table, so it imports
nothing from hpy at module level.
"""
from __future__ import annotations

import gc
import importlib.util
import json
import os
import sys
import time
from itertools import repeat

# context: (the HPy context it loads, what the mode sets after loading).
# The modes are process-wide settings, so each runs in its own process.
MODES = {
    "universal":          ("universal", "HPy's universal mode, no checks"),
    "hpy-debug":          ("hpy-debug", "HPy's C debug mode, stack traces off"),
    "hpy-debug-traces16": ("hpy-debug", "HPy's C debug mode, "
                                        "_debug.set_handle_stack_trace_limit(16)"),
    "hpydbg":             ("hpydbg",    "hpydbg default: policy abort, sites on, traces off"),
    "hpydbg-pytest":      ("hpydbg",    "what pytest --hpy-debug runs: set_policy('log'), "
                                        "sites on, traces off"),
    "hpydbg-traces16":    ("hpydbg",    "hpydbg.set_stack_trace_limit(16), policy abort"),
}
CONTEXTS = tuple(MODES)
# Modes measured only for one figure (not in the tables of every workload):
# sites off, for the cost of a site record (callgrind).
EXTRA_MODES = {
    "hpydbg-nosites":     ("hpydbg",    "hpydbg default with sites off (HPY_DEBUG_SITES=0)"),
}
BASE = {c: b for c, (b, _) in list(MODES.items()) + list(EXTRA_MODES.items())}
TRACE_LIMIT = {"hpy-debug-traces16": 16, "hpydbg-traces16": 16}
# Wall-time iterations are divided by this in the traced modes: HPy's C debug
# mode symbolises every trace when the handle is opened (~0.2 ms per handle),
# hpydbg captures 16 frames in ~0.5 us; the full counts would take hours.
WALL_DIVISOR = {"hpy-debug-traces16": 1000, "hpydbg-traces16": 20}

# name, kind, handle-heavy, iterations {full, quick, callgrind}, what one op is
WORKLOADS = [
    # calls from Python (a Python for-loop calls the function n times)
    ("call_noargs",   "call", False, "m.noargs()"),
    ("call_onearg",   "call", False, "m.onearg(x)"),
    ("call_varargs",  "call", False, "m.varargs(1, 2, 3, 4, 5)"),
    ("call_keywords", "call", False, "m.keywords(1, 2, c=3, d=4) (HPyArg_ParseKeywords)"),
    ("alloc_int",     "call", False, "m.alloc_int() -> new int"),
    ("alloc_tuple",   "call", False, "m.alloc_tuple() -> 2 ints + HPyTuple_Pack"),
    ("type_new",      "call", False, "m.Point() (HPy_tp_new, HPy_New)"),
    ("meth_add",      "call", False, "p.add(1) (HPyLong_AsLong, AsStruct, new int)"),
    ("meth_bump",     "call", True,  "p.bump(): method trampoline, 1 op = 1 call"),
    # C loops (one call, n iterations inside)
    ("long_close",    "loop", True,  "HPyLong_FromLong + HPy_Close"),
    ("dup_close",     "loop", True,  "HPy_Dup + HPy_Close"),
    ("field_store",   "loop", False, "HPyField_Store (2 values in turn) + HPyField_Load + HPy_Close in a GC type with tp_traverse"),
    ("tuple_builder", "loop", True,  "HPyTupleBuilder of 100 items: New + 100 Set + Build + Close"),
    ("list_builder",  "loop", True,  "HPyListBuilder of 100 items: New + 100 Set + Build + Close"),
    ("getattr_s",     "loop", True,  "HPy_GetAttr_s(obj, \"x\") + HPy_Close"),
    ("make_types",    "loop", False, "HPyType_FromSpec + HPy_Close"),
]
WORKLOAD_NAMES = [w[0] for w in WORKLOADS]
KIND = {w[0]: w[1] for w in WORKLOADS}
HANDLE_HEAVY = [w[0] for w in WORKLOADS if w[2]]
DESCRIPTION = {w[0]: w[3] for w in WORKLOADS}

# iterations per measurement: wall (full), wall (--quick), under callgrind
ITERATIONS = {
    "call":          (1_000_000, 100_000, 5_000),
    "builder":       (10_000, 1_000, 200),
    "make_types":    (2_000, 200, 50),
    "loop":          (1_000_000, 100_000, 20_000),
}


def iterations(name: str, which: int, context: str = "") -> int:
    """Iterations of one measurement; which: 0 full, 1 quick, 2 callgrind."""
    if name in ("tuple_builder", "list_builder"):
        n = ITERATIONS["builder"][which]
    elif name == "make_types":
        n = ITERATIONS["make_types"][which]
    else:
        n = ITERATIONS[KIND[name]][which]
    div = WALL_DIVISOR.get(context, 1) if which < 2 else 1
    return n if div == 1 else max(min(n, 10), n // div)


def cg_iterations(name: str, scale: float = 1.0) -> int:
    return max(10, int(iterations(name, 2) * scale))


# ---------------------------------------------------------------------------

class Holder:
    x = 1

    def __init__(self):
        self.x = 42


def load(context: str, so: str):
    import hpy.universal as universal
    base = BASE[context]
    if base == "hpydbg":
        import hpydbg
        hpydbg.enable()
    spec = importlib.util.spec_from_file_location("hpybench", so)
    mode = universal.MODE_UNIVERSAL if base == "universal" else universal.MODE_DEBUG
    m = universal.load("hpybench", so, spec, mode=mode)
    name = m.ctx_name()
    if base == "hpydbg" and "hpydbg" not in name:
        raise SystemExit(f"expected hpydbg's context, got {name!r}")
    if base != "hpydbg" and ("hpydbg" in name or "hpydbg" in sys.modules):
        raise SystemExit(f"hpydbg is active in the {context} process (context {name!r})")
    set_mode(context)
    return m, name


def set_mode(context: str) -> None:
    """The process-wide settings of the mode (see MODES)."""
    if context == "hpydbg-pytest":
        # as python/hpydbg/pytest_plugin.py does (DEFAULT_TRACES = 0)
        import hpydbg
        hpydbg.set_stack_trace_limit(None)
        hpydbg.set_policy("log")
    elif context == "hpydbg-traces16":
        import hpydbg
        hpydbg.set_stack_trace_limit(TRACE_LIMIT[context])
    elif context == "hpydbg-nosites":
        from hpydbg import _hpydbg
        _hpydbg.set_sites(False)
    elif context == "hpy-debug-traces16":
        import hpy.universal as universal
        universal._debug.set_handle_stack_trace_limit(TRACE_LIMIT[context])


def mode_trace_limit(context: str):
    return TRACE_LIMIT.get(context)


def make_runners(m, name: str):
    """(run(n), baseline(n)): per-op work = (run(n) - baseline(n)) / n."""
    def empty(n):
        for _ in repeat(None, n):
            pass

    kind = KIND[name]
    x = 12345
    if kind == "call":
        if name == "call_noargs":
            f = m.noargs
            def run(n):
                for _ in repeat(None, n):
                    f()
        elif name == "call_onearg":
            f = m.onearg
            def run(n):
                for _ in repeat(None, n):
                    f(x)
        elif name == "call_varargs":
            f = m.varargs
            def run(n):
                for _ in repeat(None, n):
                    f(1, 2, 3, 4, 5)
        elif name == "call_keywords":
            f = m.keywords
            def run(n):
                for _ in repeat(None, n):
                    f(1, 2, c=3, d=4)
        elif name == "alloc_int":
            f = m.alloc_int
            def run(n):
                for _ in repeat(None, n):
                    f()
        elif name == "alloc_tuple":
            f = m.alloc_tuple
            def run(n):
                for _ in repeat(None, n):
                    f()
        elif name == "type_new":
            f = m.Point
            def run(n):
                for _ in repeat(None, n):
                    f()
        elif name == "meth_add":
            p = m.Point()
            def run(n):
                for _ in repeat(None, n):
                    p.add(1)
        elif name == "meth_bump":
            p = m.Point()
            def run(n):
                for _ in repeat(None, n):
                    p.bump()
        else:
            raise KeyError(name)
        return run, empty

    obj = Holder()
    if name == "long_close":
        f = m.long_close
        run = lambda n: f(n)
    elif name == "dup_close":
        f = m.dup_close
        run = lambda n: f(n, obj)
    elif name == "field_store":
        f, box, a, b = m.field_store, m.Box(), object(), Holder()
        run = lambda n: f(n, box, a, b)
    elif name == "tuple_builder":
        f = m.tuple_builder
        run = lambda n: f(n, obj)
    elif name == "list_builder":
        f = m.list_builder
        run = lambda n: f(n, obj)
    elif name == "getattr_s":
        f = m.getattr_s
        run = lambda n: f(n, obj)
    elif name == "make_types":
        f = m.make_types
        run = lambda n: f(n)
    else:
        raise KeyError(name)
    return run, (lambda n: run(0))


def timed(fn, n) -> float:
    t0 = time.perf_counter()
    fn(n)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------
# tasks

# The footprint task: calls of m.noargs() in two halves of FOOTPRINT_HALF.
FOOTPRINT_HALF = 1 << 20


def memory_now() -> dict:
    """VmRSS, VmPTE (/proc/self/status) and Pss (/proc/self/smaps_rollup),
    in bytes: what ps/top show, the memory proportionally this process's,
    and its page tables."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k = line.split(":", 1)[0]
            if k in ("VmRSS", "VmPTE", "VmSize"):
                out[k] = int(line.split()[1]) * 1024
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    out["Pss"] = int(line.split()[1]) * 1024
    except OSError:
        out["Pss"] = None
    return out


def task_footprint(m, p, context):
    """2 x FOOTPRINT_HALF calls of m.noargs(): the memory figures before and
    after, and the time of each half (first / second = the warm-up)."""
    f = m.noargs
    f()
    before = memory_now()
    halves = []
    for _ in range(2):
        t0 = time.perf_counter()
        for _ in repeat(None, FOOTPRINT_HALF):
            f()
        halves.append((time.perf_counter() - t0) / FOOTPRINT_HALF * 1e9)
    after = memory_now()
    out = {"calls": 2 * FOOTPRINT_HALF, "ns_first": halves[0], "ns_second": halves[1],
           "before": before, "after": after}
    if BASE[context] == "hpydbg":
        from hpydbg import _hpydbg
        st = _hpydbg.stats()
        out["pool"] = {k: st[k] for k in ("context_slots", "context_addresses", "context_moves",
                                          "context_scheme")}
    return out


def task_wall(m, p, context):
    """ns per op for every workload, p['reps'] samples each."""
    out = {}
    which = 1 if p["quick"] else 0
    for name in WORKLOAD_NAMES:
        run, _ = make_runners(m, name)
        n = iterations(name, which, context)
        run(max(1, n // 20))  # warm up (specialisation, caches, table growth)
        samples = []
        for _ in range(p["reps"]):
            gc.collect()
            samples.append(timed(run, n) / n * 1e9)
        out[name] = samples
    return out


def task_callgrind(m, p):
    """Dump callgrind stats around baseline and run of every workload."""
    labels = []
    m.cg_start()

    def measure(label, fn, n):
        gc.collect()
        m.cg_label(label)
        m.cg_zero()
        fn(n)
        m.cg_dump()
        labels.append(label)

    for name in p.get("workloads") or WORKLOAD_NAMES:  # benches/versions.py: a few
        run, base = make_runners(m, name)
        n = cg_iterations(name, p.get("scale", 1.0))
        run(max(1, n // 10))
        run(max(1, n // 10))
        measure(f"{name}:base:{n}", base, n)
        measure(f"{name}:run:{n}", run, n)
    if p.get("traces"):
        import hpy.universal as universal
        universal._debug.set_handle_stack_trace_limit(16)
        for name in ("long_close", "dup_close"):
            run, base = make_runners(m, name)
            n = p["trace_n"]
            run(max(1, n // 10))
            measure(f"{name}+traces16:base:{n}", base, n)
            measure(f"{name}+traces16:run:{n}", run, n)
        universal._debug.set_handle_stack_trace_limit(None)
    return {"labels": labels}


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def task_handles(m, p, context):
    """Memory per open handle, listing them, building a leak report."""
    n = p["n"]
    obj = Holder()
    out = {}
    debug = None
    if BASE[context] != "universal":
        import hpy.universal as universal
        debug = universal._debug

    def one_round(tag, count):
        m.hold_prepare(count)
        gc.collect()
        gen = debug.new_generation() if debug is not None else None
        r0 = rss_bytes()
        t0 = time.perf_counter()
        m.hold_open(count, obj)
        t_open = time.perf_counter() - t0
        r1 = rss_bytes()
        res = {"n": count, "bytes_per_handle": (r1 - r0) / count,
               "open_ns_per_handle": t_open / count * 1e9}
        if debug is not None and tag == "plain":
            t0 = time.perf_counter()
            hs = debug.get_open_handles(gen)
            res["list_s"] = time.perf_counter() - t0
            res["listed"] = len(hs)
            t0 = time.perf_counter()
            if BASE[context] == "hpydbg":
                from hpydbg._report import format_leaks
                text = format_leaks(hs)
            else:
                from hpy.debug.leakdetector import HPyLeakError
                text = str(HPyLeakError(hs))
            res["report_s"] = time.perf_counter() - t0
            res["report_chars"] = len(text)
            # the report must name where the handles were opened
            res["report_head"] = text[:600]
            res["report_names_site"] = "hold_open_impl" in text and "workloads.c:" in text
            del hs, text
        m.hold_close()
        gc.collect()
        return res

    gc.disable()
    # a first small round so that one-time set-up (first chunk of a table,
    # code paths) is not charged to the measured round; the measured round
    # must be the first big one, or it reuses memory freed by an earlier one
    one_round("warm", 1000)
    out = one_round("traces" if mode_trace_limit(context) else "plain", n)
    return out


def task_traces(m, p, context):
    """ns per op of long_close / dup_close with stack traces off and at 16."""
    import hpy.universal as universal
    debug = universal._debug
    out = {}
    n = p["n"]
    for limit in (None, 16):
        debug.set_handle_stack_trace_limit(limit)
        for name in ("long_close", "dup_close"):
            run, _ = make_runners(m, name)
            run(max(1, n // 10))
            samples = []
            for _ in range(p["reps"]):
                gc.collect()
                samples.append(timed(run, n) / n * 1e9)
            out[f"{name}:{'off' if limit is None else limit}"] = samples
    debug.set_handle_stack_trace_limit(mode_trace_limit(context))
    if BASE[context] == "hpydbg":
        out.update(bench_capture(p))
    return out


def bench_capture(p):
    """ns per 16-frame capture, libgcc's unwinder (the old path) and the fast
    one, measured in hpydbg itself (`_hpydbg._bench_capture`), runs of the
    two interleaved.  The call is nested in C-level calls (map) so that the
    stack holds more than 16 frames outside hpydbg."""
    from hpydbg import _hpydbg

    def nest(k, f):
        return f() if k == 0 else list(map(lambda _: nest(k - 1, f), [0]))[0]

    out = {"capture_frames": {}}
    # short runs, many of them: on a shared machine a preempted run is an
    # outlier the median ignores
    n = max(500, p["n"] // 2)
    for fast in (False, True):
        key = "fast" if fast else "old"
        nest(4, lambda: _hpydbg._bench_capture(n // 10, 16, fast))  # warm the caches
        out[f"capture:{key}"] = []
    for _ in range(4 * p["reps"]):
        for fast in (False, True):
            key = "fast" if fast else "old"
            ns, frames = nest(4, lambda: _hpydbg._bench_capture(n, 16, fast))
            out[f"capture:{key}"].append(ns)
            out["capture_frames"][key] = frames
    return out


def main(argv):
    context, task, so, params = argv[1], argv[2], argv[3], json.loads(argv[4])
    if context not in BASE:
        raise SystemExit(f"unknown context {context}")
    m, ctx_name = load(context, so)
    gc.disable()
    if task == "wall":
        res = task_wall(m, params, context)
    elif task == "callgrind":
        res = task_callgrind(m, params)
    elif task == "handles":
        res = task_handles(m, params, context)
    elif task == "traces":
        res = task_traces(m, params, context)
    elif task == "footprint":
        res = task_footprint(m, params, context)
    else:
        raise SystemExit(f"unknown task {task}")
    gc.enable()
    sys.stdout.flush()
    print(json.dumps({"context": context, "ctx_name": ctx_name, "task": task,
                      "result": res}))


if __name__ == "__main__":
    main(sys.argv)
