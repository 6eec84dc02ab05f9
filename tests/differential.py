"""The differential harness (tests/test_differential.py): run the same
programs under universal mode and under hpydbg with HPY_DEBUG_POLICY=log and
compare what they do.

- The misuse matrix (tools/gen_misuse_matrix.py): each API function that
  takes a handle x each bad kind, one cell each.  Cells run many to a
  process; a process that crashes is restarted after the crashing cell, so
  that only the crashing cells pay for a process each.
- The leak-case corpus (leak_cases/cases): each case's call, one process
  each.

This file is also the worker (`python differential.py worker MODULE_DIR
CELLS_JSON`): it prints `BEGIN i` before cell i and `END i <json>` after.
"""
import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent

# The environment both modes share: hash randomisation off (hashes and
# reprs compared), no HPy variables from outside.
BASE_ENV = {"PYTHONHASHSEED": "0", "PYTHONFAULTHANDLER": ""}
DROP = ("HPY", "HPY_DEBUG", "HPYDBG", "HPY_LOG", "HPY_DEBUG_POLICY", "HPY_DEBUG_LOG", "HPY_DEBUG_LOG_FORMAT", "PYTHONFAULTHANDLER")


def env_for(mode, log=None):
    env = {k: v for k, v in os.environ.items() if k not in DROP}
    env.update(BASE_ENV)
    env.pop("PYTHONFAULTHANDLER", None)
    if mode == "log":
        env.update({"HPY_DEBUG": "1", "HPY_DEBUG_POLICY": "log", "HPY_DEBUG_LOG_FORMAT": "json"})
        env["HPY_DEBUG_LOG"] = str(log) if log else os.devnull
    return env


def norm(x):
    """A value as text that is the same in two processes (no addresses)."""
    if isinstance(x, (bool, int, float, str, bytes, type(None))):
        return repr(x)
    if isinstance(x, (tuple, list)):
        return type(x).__name__ + "[" + ", ".join(norm(i) for i in x) + "]"
    if isinstance(x, dict):
        return "dict{" + ", ".join(f"{norm(k)}: {norm(v)}" for k, v in sorted(x.items(), key=lambda kv: repr(kv[0]))) + "}"
    if isinstance(x, type):
        return "type " + x.__name__
    return "<" + type(x).__name__ + ">"


# ~~~ the worker ~~~

def worker(module_dir, cells_path):
    sys.path.insert(0, module_dir)
    import contextvars
    import datetime  # noqa: F401  (its capsule)
    import misuse_matrix as m

    class Box:
        pass

    ns = {"Box": Box, "CAPSULE": datetime.datetime_CAPI, "CVAR": contextvars.ContextVar("cv"),
          "contextvars": contextvars}
    try:
        import hpydbg
        take = hpydbg.take_reports if os.environ.get("HPY_DEBUG") else None
    except ImportError:
        take = None
    cells = json.loads(Path(cells_path).read_text())
    out = sys.stdout
    for i, c in cells:
        out.write(f"BEGIN {i}\n")
        out.flush()
        f = getattr(m, "m_" + c["member"])
        good = [None if g == "NULL" else eval(g, ns) for g in c["good"]]
        array = [eval(a, ns) for a in c["array"]]
        wrong, factory = eval(c["wrong"], ns), eval(c["factory"], ns)
        res = {}
        try:
            res["ret"] = norm(f(c["kind"], wrong, factory, *good, *array))
            res["exc"] = None
        except BaseException as e:
            res["ret"] = None
            res["exc"] = type(e).__name__
        res["last"] = m.last()
        if take:
            reps = take()
            res["reports"] = [r["class"] for r in reps]
            res["pending_named"] = [r.get("exception") for r in reps if r.get("exception")]
        out.write(f"END {i} {json.dumps(res)}\n")
        out.flush()
    if take:
        import hpydbg
        s = hpydbg.stats()
        rss = [int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")][0]
        out.write("STATS " + json.dumps({k: s.get(k) for k in ("quarantine_objects", "quarantine_bytes",
                                                              "quarantine_admitted", "quarantine_evicted")}
                                        | {"vm_hwm_kb": rss}) + "\n")


# ~~~ running cells, restarting after crashes ~~~

def run_batch(mode, module_dir, cells, tmp, tag, timeout=300):
    """Run `cells` [(i, cell)] in as few processes as crashes allow;
    returns ({i: outcome}, stats)."""
    results, stats = {}, {}
    todo = list(cells)
    n = 0
    while todo:
        n += 1
        path = Path(tmp) / f"cells-{mode}-{tag}-{n}.json"
        path.write_text(json.dumps(todo))
        try:
            r = subprocess.run([sys.executable, str(HERE), "worker", str(module_dir), str(path)],
                               env=env_for(mode), cwd=str(tmp), capture_output=True, text=True, timeout=timeout)
            stdout, rc = r.stdout, r.returncode
        except subprocess.TimeoutExpired as e:
            stdout, rc = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), "timeout"
        begun = None
        for line in stdout.splitlines():
            if line.startswith("BEGIN "):
                begun = int(line.split()[1])
            elif line.startswith("END "):
                _, i, js = line.split(" ", 2)
                results[int(i)] = json.loads(js)
                begun = None
            elif line.startswith("STATS "):
                stats = json.loads(line[6:])
        if begun is None:
            if rc not in (0,) and not results:
                raise RuntimeError(f"worker failed ({mode}): {rc}\n{r.stderr[-3000:]}")
            break
        results[begun] = {"crash": rc if rc != "timeout" else "timeout"}
        todo = [(i, c) for i, c in todo if i not in results]
    return results, stats


def run_matrix(module_dir, spec, tmp, workers=2, only=None):
    """Every cell under both modes: {(api, kind): {"universal": ..., "log": ...}}, stats."""
    cells = []
    for f in spec["functions"]:
        for k, kind in enumerate(spec["kinds"]):
            if only and (f["api"], kind) not in only:
                continue
            cells.append((len(cells), dict(f, kind=k, kind_name=kind)))
    out, stats = {}, {}
    lock = threading.Lock()

    def job(mode, part, tag):
        res, st = run_batch(mode, module_dir, part, tmp, tag)
        with lock:
            for i, o in res.items():
                c = cells[i][1]
                out.setdefault((c["api"], c["kind_name"]), {})[mode] = o
            if st:
                stats[f"{mode}-{tag}"] = st

    jobs = []
    with ThreadPoolExecutor(workers) as ex:
        for mode in ("universal", "log"):
            for w in range(workers):
                jobs.append(ex.submit(job, mode, cells[w::workers], str(w)))
        for j in jobs:
            j.result()
    return out, stats


def rerun_alone(module_dir, spec, tmp, api, kind):
    """One cell in a process of its own, universal mode (to tell a
    difference from the aftermath of an earlier cell's corruption)."""
    f = next(f for f in spec["functions"] if f["api"] == api)
    k = spec["kinds"].index(kind)
    res, _ = run_batch("universal", module_dir, [(0, dict(f, kind=k, kind_name=kind))], tmp, f"alone-{api}-{kind}")
    return res[0]


def compare(u, d):
    """'same' (universal survived; hpydbg gave its result), 'safer'
    (universal crashed, hpydbg did not), 'differs', or 'crash' (hpydbg
    crashed: a bug)."""
    if "crash" in d:
        return "crash"
    if "crash" in u:
        return "safer"
    if (u["ret"], u["exc"], u["last"]) == (d["ret"], d["exc"], d["last"]):
        return "same"
    return "differs"


if __name__ == "__main__":
    if sys.argv[1] == "worker":
        worker(sys.argv[2], sys.argv[3])
