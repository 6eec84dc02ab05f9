"""Property and fuzz tests of the handle table, through the public behaviour.

(a) A model-based test: random sequences of open / close / dup / double
    close / use of stale handles / new leak-detector epoch, run through
    tests/ext/stress.c and ``hpy.universal._debug``, checked after every
    step against a small Python model (which handles are open, in which
    epoch each was opened, the leak list of every epoch).

(b) Garbage handles to EVERY API function that takes a handle (HPy,
    HPy arrays, builders, trackers): a C extension generated here from the
    signatures in hpy's installed ``autogen_ctx.h`` calls each
    ``ctx->ctx_*`` member with one garbage handle argument (the others
    valid) under HPY_DEBUG_POLICY=log.  Every call must yield a report and
    the process must survive.
"""
import json
import os
import re
from pathlib import Path

import pytest

from reliability_util import (HANDLE_CLASSES, LONG, last_json, run_script,  # noqa: F401
                              stress_dir)

# ---------------------------------------------------------------- (a) model

MODEL_STEPS = 200_000 if LONG else 6_000

MODEL_SCRIPT = r"""
import json, random, sys
import stress
import hpy.universal as u
from hpydbg import _hpydbg
dbg = u._debug
seed, steps, qmax = map(int, sys.argv[1:4])
rng = random.Random(seed)
dbg.set_closed_handles_queue_max_size(qmax)
_hpydbg.take_reports()
base = dbg.new_generation()
epoch = base
open_ = {}        # handle value -> (object value, epoch opened)
closed = []       # handle values closed (stale now or later)
epochs = [base]
expected_reports = 0
problems = []
keep_alive = []
counter = 0
def check(tag):
    for e in rng.sample(epochs, min(3, len(epochs))):
        got = {h.handle: h.obj for h in dbg.get_open_handles(e)}
        want = {h: o for h, (o, ep) in open_.items() if ep >= e}
        bad = sorted(h for h in want if h in got and want[h] is not None and got[h] != want[h])
        if set(got) != set(want) or bad:
            problems.append(f"{tag}: epoch {e}: listed {len(got)} vs model {len(want)}; "
                            f"missing {sorted(set(want) - set(got))[:3]} extra {sorted(set(got) - set(want))[:3]} "
                            f"wrong objects {[(hex(h), got[h], want[h]) for h in bad[:3]]}")
for i in range(steps):
    op = rng.random()
    if op < 0.35 or not open_:
        counter += 1
        v = 10_000_000 + counter
        keep_alive.append(v)   # see test_log_policy_use_after_close_of_freed_object
        h = stress.open_one(v)
        if h in open_:
            problems.append(f"open returned a value that is already open: {h:#x}")
        if h in closed:
            problems.append(f"open returned a value handed out before: {h:#x}")
        open_[h] = (v, epoch)
    elif op < 0.6:
        h = rng.choice(list(open_))
        stress.close_raw(h)
        del open_[h]
        closed.append(h)
    elif op < 0.7:
        h = rng.choice(list(open_))
        d = stress.dup_raw(h)
        open_[d] = (open_[h][0], epoch)
    elif op < 0.8 and closed:
        h = rng.choice(closed[-5000:])
        what = rng.choice(["close", "repr", "dup"])
        try:
            if what == "close":
                stress.close_raw(h)
            elif what == "repr":
                stress.repr_raw(h)
            else:
                d = stress.dup_raw(h)
                if d:
                    # log policy forwarded a closed handle: the dup is a real new handle
                    open_[d] = (None, epoch)
        except _hpydbg.HPyDebugError:
            pass
        expected_reports += 1
        rep = _hpydbg.take_reports()
        if len(rep) != 1 or rep[0]["class"] not in ("use-after-close", "double-close"):
            problems.append(f"stale {what} of {h:#x}: reports {[r['class'] for r in rep]}")
    elif op < 0.85:
        epoch = dbg.new_generation()
        epochs.append(epoch)
    else:
        # the object behind an open handle is the one the model expects
        h = rng.choice(list(open_))
        r = stress.repr_raw(h)
        o = open_[h][0]
        if o is not None and r != repr(o):
            problems.append(f"repr via {h:#x} is {r!r}, model says {o!r}")
    if i % 97 == 0:
        check(f"step {i}")
    if len(problems) > 10:
        break
check("end")
for d in [h for h, (o, e) in open_.items() if o is None]:
    stress.close_raw(d); del open_[d]
for h in list(open_):
    stress.close_raw(h)
left = dbg.get_open_handles(base)
if left:
    problems.append(f"{len(left)} handles still listed after closing everything")
rest = _hpydbg.take_reports()
if rest:
    problems.append(f"unexpected reports: {[r['class'] for r in rest][:5]}")
print(json.dumps({"steps": i + 1, "epochs": len(epochs), "stale_uses": expected_reports,
                  "opened_total": _hpydbg.stats()["opened_total"], "problems": problems}))
"""


@pytest.mark.parametrize("seed,qmax", [(1, 1024), (2, 3), (3, 0)])
def test_handle_table_model(stress_dir, seed, qmax):
    r, timed_out = run_script(MODEL_SCRIPT, stress_dir, {"HPY_DEBUG_POLICY": "log", "HPY_DEBUG_LOG": os.devnull},
                              args=(seed, MODEL_STEPS, qmax), timeout=3600 if LONG else 110)
    assert not timed_out, r.stderr[-3000:]
    assert r.returncode == 0, r.stderr[-4000:]
    res = last_json(r.stdout)
    print(res)
    assert res["problems"] == [], res


FREED_SCRIPT = r"""
import json, stress
from hpydbg import _hpydbg
res = []
class Foo:
    def __init__(self, i): self.i = i; self.d = {"k": [i] * 3}
    def __repr__(self): return "Foo(%d)" % self.i
for i in range(200):
    h = stress.open_one(Foo(i))          # the handle holds the only reference
    stress.close_raw(h)                  # object freed here
    x = [bytearray(56) for j in range(20)]  # reuse the memory
    try:
        res.append(stress.repr_raw(h))   # use after close (1 report)
    except _hpydbg.HPyDebugError:
        res.append(None)
    d = stress.dup_raw(h)                # use after close (1 report)
    if d:
        stress.close_raw(d)
rep = _hpydbg.take_reports()
# Identical reports come once each, with their count.
print(json.dumps({"n": sum(r["count"] for r in rep), "distinct": len(rep), "classes": sorted({r["class"] for r in rep})}))
"""


def test_log_policy_use_after_close_of_freed_object(stress_dir):
    # Under HPY_DEBUG_POLICY=log a use of a closed handle forwards the object
    # the handle wrapped; once HPy_Close dropped the last reference that
    # object is freed.  hpydbg must report and survive, not hand CPython a
    # dangling pointer.
    r, timed_out = run_script(FREED_SCRIPT, stress_dir, {"HPY_DEBUG_POLICY": "log", "HPY_DEBUG_LOG": os.devnull},
                              timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    # 200 x HPy_Repr and 200 x HPy_Dup, each at one site.
    assert last_json(r.stdout) == {"n": 400, "distinct": 2, "classes": ["use-after-close"]}


# ------------------------------------------------------ (b) garbage to every API

HEADER = Path(__import__("hpy.devel", fromlist=["x"]).__file__).parent / "include" / "hpy" / "universal" / "autogen_ctx.h"

# Members left out, and why.
EXCLUDED = {
    "FatalError": "aborts by design, and takes no handle",
    "CallRealFunctionFromTrampoline": "runtime-only entry point; no handle argument (raw PyObject* args)",
    "LeavePythonExecution": "no handle argument",
    "ReenterPythonExecution": "HPyThreadState is not a handle; a garbage state crashes CPython itself",
}
HANDLE_TYPES = {"HPy", "HPyListBuilder", "HPyTupleBuilder", "HPyTracker"}
# Types that look like handles to the runtime but are not checked by HPy's
# own debug mode either; tested separately (test_garbage_field_and_global).
FIELD_TYPES = {"HPyField", "HPyGlobal"}

BENIGN = {
    "double": "1.0", "bool": "0", "int": "0", "int32_t": "0", "uint32_t": "0", "int64_t": "0",
    "uint64_t": "0", "size_t": "0", "HPy_ssize_t": "0", "const char *": '"x"', "void *": "NULL",
    "void **": "&dummy_ptr", "HPy *": "&dummy_h", "HPy_ssize_t *": "&dummy_ss",
    "HPyField *": "&dummy_field", "HPyGlobal *": "&dummy_global", "const wchar_t *": 'L"x"',
    "HPyCapsule_Destructor *": "NULL", "_HPyCapsule_key": "0", "HPy_SourceKind": "0",
    "HPyCallFunction *": "&dummy_callfunc", "HPyType_Spec *": "&dummy_spec",
    "HPyType_SpecParam *": "NULL", "cpy_PyObject *": "NULL", "HPyContext *": None,
}


def parse_members():
    """[(member, return type, [(type, name)])] from autogen_ctx.h, in order."""
    rx = re.compile(r"^\s*(.+?)\s*\(\*ctx_(\w+)\)\((.*)\);\s*$")
    out = []
    for line in HEADER.read_text().splitlines():
        m = rx.match(line)
        if not m:
            continue
        ret, name, args = m.group(1), m.group(2), m.group(3)
        parsed = []
        for a in [x.strip() for x in args.split(",")][1:]:   # drop HPyContext *ctx
            arr = a.endswith("[]")
            a = a[:-2] if arr else a
            am = re.match(r"^(.*?)(\w+)$", a)
            typ = re.sub(r"\s+", " ", am.group(1)).strip().replace(" *", " *")
            if arr:
                typ = typ + " []"
            parsed.append((typ.replace("* ", "*").strip(), am.group(2)))
        out.append((name, ret.strip(), parsed))
    return out


def kind_of(typ):
    t = typ.replace(" ", "")
    if t in HANDLE_TYPES:
        return "handle"
    if t in ("constHPy*", "HPy[]"):
        return "array"
    if t in FIELD_TYPES:
        return "field"
    return "other"


def valid_value(member, typ, name):
    t = typ.replace(" ", "")
    if t == "HPy":
        if member.startswith("Err_") and name in ("h_type", "category", "exc", "base"):
            return "ctx->h_Exception"
        if name in ("type", "sub", "h_type"):
            return "ctx->h_BaseObjectType"
        if name in ("kwnames", "kw"):
            return "HPy_NULL"
        if name == "callable":
            return "ctx->h_TypeType"
        if member == "CallMethod" and name == "name":
            return "nm"
        return "ctx->h_None"
    if t in ("constHPy*", "HPy[]"):
        return "valid_arr"
    if t == "HPyListBuilder":
        return "lb"
    if t == "HPyTupleBuilder":
        return "tb"
    if t == "HPyTracker":
        return "tr"
    if t == "HPyField":
        return "dummy_field"
    if t == "HPyGlobal":
        return "dummy_global"
    return None


def garbage_value(typ):
    t = typ.replace(" ", "")
    if t == "HPy":
        return "g"
    if t in ("constHPy*", "HPy[]"):
        return "garr"
    if t == "HPyListBuilder":
        return "(HPyListBuilder){ (HPy_ssize_t)g._i }"
    if t == "HPyTupleBuilder":
        return "(HPyTupleBuilder){ (HPy_ssize_t)g._i }"
    if t == "HPyTracker":
        return "(HPyTracker){ (HPy_ssize_t)g._i }"
    if t == "HPyField":
        return "(HPyField){ (HPy_ssize_t)g._i }"
    if t == "HPyGlobal":
        return "(HPyGlobal){ (HPy_ssize_t)g._i }"
    raise AssertionError(typ)


def benign(typ, name, member):
    t = re.sub(r"\s+", " ", typ).strip()
    for k, v in BENIGN.items():
        if t.replace(" ", "") == k.replace(" ", ""):
            if name in ("nargs", "n") or (member in ("Call", "CallMethod", "Type_GenericNew", "Tuple_FromArray") and name in ("nargs", "n")):
                return "1"
            return v
    raise KeyError(f"{member}: no benign value for {typ!r} {name}")


def gen_cases(include_fields=False):
    """[(member, arg position, arg type)] and the C source of the extension."""
    cases = []
    bodies = []
    excluded = dict(EXCLUDED)
    for member, ret, args in parse_members():
        if member in EXCLUDED:
            continue
        kinds = [kind_of(t) for t, _ in args]
        wanted = {"handle", "array"} | ({"field"} if include_fields else set())
        positions = [i for i, k in enumerate(kinds) if k in wanted]
        if not positions:
            excluded.setdefault(member, "no handle argument")
            continue
        for pos in positions:
            vals = []
            for i, (t, n) in enumerate(args):
                if i == pos:
                    vals.append(garbage_value(t))
                elif kinds[i] in ("handle", "array", "field"):
                    vals.append(valid_value(member, t, n))
                else:
                    vals.append(benign(t, n, member))
            call = f"ctx->ctx_{member}(ctx{''.join(', ' + v for v in vals)})"
            r = ret.replace(" ", "")
            if r == "HPy":
                stmt = f"{{ HPy r = {call}; if (!HPy_IsNull(r)) HPy_Close(ctx, r); }}"
            elif r == "void":
                stmt = f"{call};"
            else:
                stmt = f"(void){call};"
            bodies.append(f"    case {len(cases)}: {stmt} break;  /* {member} arg {pos} ({args[pos][1]}) */")
            cases.append((member, pos, args[pos][0]))
    src = C_TEMPLATE.replace("/*CASES*/", "\n".join(bodies))
    return cases, src, excluded


C_TEMPLATE = r"""
#include "hpy.h"
#include <string.h>
static void *dummy_ptr; static HPy dummy_h; static HPy_ssize_t dummy_ss;
static HPyField dummy_field; static HPyGlobal dummy_global;
static HPy dummy_callfunc_impl(HPyContext *ctx, HPy callable, const HPy *args, size_t nargs, HPy kwnames) { return HPy_NULL; }
static HPyCallFunction dummy_callfunc = { .impl = dummy_callfunc_impl };
static HPyType_Spec dummy_spec = { .name = "fuzz.T" };

/* run(case, kind, value): kind 0 = the raw value; 1 = a stale handle (opened,
   closed, its slot reused); 2 = a closed builder/tracker handle. */
HPyDef_METH(run, "run", HPyFunc_VARARGS)
static HPy run_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    long which = HPyLong_AsLong(ctx, args[0]);
    long kind = HPyLong_AsLong(ctx, args[1]);
    long long raw = HPyLong_AsInt64_t(ctx, args[2]);
    if (HPyErr_Occurred(ctx)) return HPy_NULL;
    HPy g = { (HPy_ssize_t)raw };
    if (kind == 1) {
        HPy a = HPy_Dup(ctx, ctx->h_None);
        HPy_Close(ctx, a);
        g = a;
    }
    HPyListBuilder lb = HPyListBuilder_New(ctx, 1);
    HPyTupleBuilder tb = HPyTupleBuilder_New(ctx, 1);
    HPyTracker tr = HPyTracker_New(ctx, 1);
    if (kind == 2) {
        HPyListBuilder dead = HPyListBuilder_New(ctx, 0);
        HPyListBuilder_Cancel(ctx, dead);
        g._i = dead._lst;
    }
    HPy nm = HPyUnicode_FromString(ctx, "__repr__");
    HPy valid_arr[1] = { ctx->h_None };
    HPy garr[1] = { g };
    (void)valid_arr; (void)garr;
    switch (which) {
/*CASES*/
    default: break;
    }
    if (HPyErr_Occurred(ctx)) HPyErr_Clear(ctx);
    HPy_Close(ctx, nm);
    HPyListBuilder_Cancel(ctx, lb);
    HPyTupleBuilder_Cancel(ctx, tb);
    HPyTracker_Close(ctx, tr);
    return HPy_Dup(ctx, ctx->h_None);
}

static HPyDef *module_defines[] = { &run, NULL };
static HPyModuleDef moduledef = { .doc = "generated: garbage to every API", .defines = module_defines };
HPy_MODINIT(allapi, moduledef)
"""

DRIVER = r"""
import json, random, sys
import allapi
from hpydbg import _hpydbg
cases = json.loads(open("cases.json").read())
start, nrand = int(sys.argv[1]), int(sys.argv[2])
VALUES = [(0, 0x1230), (0, 0x7f00deadbeef), (0, 0x7ffffffe00000000), (0, -2), (1, 0), (2, 0)]
rng = random.Random(77)
_hpydbg.take_reports()
for idx in range(start, len(cases)):
    member, pos, typ = cases[idx]
    values = list(VALUES) + [(0, rng.getrandbits(64) - 2**63) for _ in range(nrand)]
    for kind, v in values:
        if kind == 0 and v % 2 == 0 and 0 < (v >> 32) < 2**20:
            v += 1          # keep random values away from live handles
        if kind == 2 and typ.replace(" ", "") not in ("HPyListBuilder", "HPyTupleBuilder", "HPyTracker"):
            continue
        sys.stdout.write(json.dumps({"start": idx, "kind": kind, "v": v}) + "\n"); sys.stdout.flush()
        try:
            allapi.run(idx, kind, v)
            exc = None
        except BaseException as e:
            exc = type(e).__name__
        rep = _hpydbg.take_reports()
        sys.stdout.write(json.dumps({"done": idx, "kind": kind, "v": v, "exc": exc,
                                     "classes": [r["class"] for r in rep],
                                     "apis": [r["api"] for r in rep]}) + "\n")
        sys.stdout.flush()
print(json.dumps({"finished": True}))
"""

# Classes a garbage *value* may get (a stale one: use-after-close/double-close).
OK_CLASSES = HANDLE_CLASSES


def run_all_cases(tmp_path, include_fields, nrand):
    from hpydbg.build import build_extension

    cases, src, excluded = gen_cases(include_fields)
    (tmp_path / "allapi.c").write_text(src)
    build_extension("allapi", [str(tmp_path / "allapi.c")], str(tmp_path))
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "driver.py").write_text(DRIVER)
    results, crashes, start = [], [], 0
    while start < len(cases):
        r, timed_out = run_script(DRIVER, tmp_path, {"HPY_DEBUG_POLICY": "log", "HPY_DEBUG_LOG": os.devnull},
                                  args=(start, nrand), timeout=300)
        last_start = None
        for line in r.stdout.splitlines():
            d = json.loads(line)
            if "done" in d:
                results.append(d)
            elif "start" in d:
                last_start = d
        if '{"finished": true}' in r.stdout and not timed_out:
            break
        # the process died (or hung) in case last_start: record, go on after it
        assert last_start is not None, r.stderr[-3000:]
        crashes.append({"case": cases[last_start["start"]], "kind": last_start["kind"], "v": last_start["v"],
                        "rc": r.returncode, "timeout": timed_out,
                        "stderr": "\n".join(r.stderr.strip().splitlines()[-6:])})
        start = last_start["start"] + 1
    return cases, results, crashes, excluded


def test_garbage_to_every_api_function(tmp_path):
    import hpydbg._hpydbg as m

    cases, results, crashes, excluded = run_all_cases(tmp_path, False, 8 if LONG else 2)
    members_tested = {c[0] for c in cases}
    # every member of the ABI table with a handle argument is covered
    api = dict(m._api_names())
    missing = set(api) - members_tested - set(excluded)
    silent = [(cases[d["done"]], d["kind"], hex(d["v"]), d["classes"]) for d in results
              if not (set(d["classes"]) & OK_CLASSES)]
    # Under the log policy a closed handle's object (None here) is forwarded,
    # so a type check may follow with a bad-argument report: not a double
    # report of the same misuse.  Two handle-class reports are.
    doubled = [(cases[d["done"]], d["kind"], d["classes"]) for d in results
               if len([c for c in d["classes"] if c != "bad-argument"]) > 1]
    summary = {"members": len(members_tested), "cases": len(cases), "calls": len(results) + len(crashes),
               "crashes": len(crashes), "silent": len(silent), "doubled": len(doubled),
               "excluded": excluded}
    print(json.dumps(summary, indent=1))
    for c in crashes:
        print("CRASH", c)
    for s in silent[:40]:
        print("NO REPORT", s)
    for s in doubled[:40]:
        print("SEVERAL REPORTS", s)
    assert not missing, missing
    assert crashes == [], crashes
    assert silent == [], silent[:20]
    assert doubled == [], doubled[:20]


def test_garbage_field_and_global(tmp_path):
    # HPyField / HPyGlobal values are not handles (in HPy's debug mode either:
    # there a garbage one crashes the universal context).  hpydbg checks them
    # against what its own HPyField_Store / HPyGlobal_Store wrote: a garbage
    # value is reported and the call refused, and the process survives.
    cases, results, crashes, _ = run_all_cases(tmp_path, True, 0)
    field_cases = {i for i, c in enumerate(cases) if c[2].replace(" ", "") in FIELD_TYPES}
    fr = [d for d in results if d["done"] in field_cases]
    fc = [c for c in crashes if c["case"][2].replace(" ", "") in FIELD_TYPES]
    silent = [(cases[d["done"]], d["kind"], hex(d["v"])) for d in fr if not d["classes"]]
    print("field/global cases:", [cases[i] for i in sorted(field_cases)])
    for c in fc:
        print("CRASH", c)
    assert fc == [] and silent == [], (fc, silent)
    assert {cases[i][0] for i in field_cases} == {"Field_Load", "Global_Load"}
    expected = {"Field_Load": "field-not-stored", "Global_Load": "global-not-stored"}
    api = {"Field_Load": "HPyField_Load", "Global_Load": "HPyGlobal_Load"}
    wrong = [(cases[d["done"]], hex(d["v"]), d["classes"], d["apis"]) for d in fr
             if d["classes"] != [expected[cases[d["done"]][0]]] or d["apis"] != [api[cases[d["done"]][0]]]]
    assert wrong == [], wrong
    assert len(fr) == 2 * 5, len(fr)   # 4 raw values and a stale handle each
