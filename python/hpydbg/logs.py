"""Reading and merging hpydbg's JSON-lines logs (``HPY_DEBUG_LOG_FORMAT=json``,
one file per process with ``HPY_DEBUG_LOG=log-%p.jsonl``).

``read_logs(paths)`` yields the records of many files (lines that are not
JSON objects, e.g. text reports in the same file, are counted and skipped);
``merge(records)`` groups them into findings (``finding_key``: one per
bug, whatever the Python line; the shape ``hpydbg.suppressions`` matches)
with counts that add up:

- a leak record counts ``count`` handles; the records of a process add up;
- a misuse finding is printed in full the first few times in a process,
  then only counted; its end-of-run ``repeat`` record has the process's
  total, its Python callers, tests and use sites with their counts.  A
  process counts that total (or its number of full reports, where the
  process ended before writing it); processes add up.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

Record = Dict[str, Any]


class LogStats:
    def __init__(self) -> None:
        self.files = 0
        self.records = 0
        self.skipped = 0
        self.pids: set = set()


def read_logs(paths: Sequence[str], stats: Optional[LogStats] = None) -> Iterator[Record]:
    """The JSON records of ``paths``, file after file."""
    stats = stats if stats is not None else LogStats()
    for path in paths:
        stats.files += 1
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    stats.skipped += 1
                    continue
                if not isinstance(rec, dict) or "class" not in rec:
                    stats.skipped += 1
                    continue
                stats.records += 1
                if rec.get("pid") is not None:
                    stats.pids.add(rec["pid"])
                yield rec


def _frame_id(f: Any) -> str:
    if not isinstance(f, Mapping):
        return "?"
    line = f.get("line")
    return f"{f.get('function') or '?'}@{f.get('file') or '?'}:{'?' if line is None else line}"


def chain_of(f: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The inline chain beyond the site (``chain``; leak records, which do
    not carry it, have their site's ``inlined_into``)."""
    chain = f.get("chain")
    if isinstance(chain, list):
        return [c for c in chain if isinstance(c, Mapping)]
    site = f.get("site")
    into = site.get("inlined_into") if isinstance(site, Mapping) else None
    return [into] if isinstance(into, Mapping) else []


def finding_key(f: Mapping[str, Any]) -> str:
    """What makes two records (of any process) one finding: the class and
    the extension's C site with its inline chain, not the Python line; for
    a kept context (``wrong-context``), the function holding the uses (each
    use site is listed under it).  Without a site, the extension function
    (return-time reports) or the API function.  The Rust side groups a
    process's reports by the same rule (``Report::symbol``).  Used for every
    count: ``hpydbg report``, its HTML, the pytest plugin's summary and
    baselines."""
    cls = f.get("class") or "misuse"
    site = f.get("site")
    if isinstance(site, Mapping) and (site.get("function") or site.get("file")):
        obj = site.get("object") or "?"
        if cls == "wrong-context":
            chain = chain_of(f)
            holder = chain[-1] if chain else site
            return f"{cls}|{obj}|{holder.get('function') or '?'}@{holder.get('file') or '?'}"
        return "<".join([f"{cls}|{obj}|{_frame_id(site)}"] + [_frame_id(c) for c in chain_of(f)])
    fn = f.get("function")
    name = fn.get("name") if isinstance(fn, Mapping) else fn
    return f"{cls}|?|{name or f.get('api') or ''}"


def site_text(site: Any) -> str:
    """``function at file:line (object)``, as the text reports write a site
    (with ``, inlined into g at file:line`` where it was inlined)."""
    if not isinstance(site, Mapping):
        return "unknown site"
    name = site.get("function") or "?"
    if site.get("file") and site.get("line") is not None:
        text = f"{name} at {site['file']}:{site['line']} ({site.get('object') or '?'})"
    else:
        text = f"{name} ({site.get('object') or '?'})"
    into = site.get("inlined_into")
    if isinstance(into, Mapping) and into.get("function"):
        text += f", inlined into {into['function']}"
        if into.get("file") and into.get("line") is not None:
            text += f" at {into['file']}:{into['line']}"
    return text


def _callers_of(r: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    """The Python callers a record lists (``callers``, ``python_callers``)
    or its one ``python`` frame."""
    for k in ("callers", "python_callers"):
        if isinstance(r.get(k), list):
            return [c for c in r[k] if isinstance(c, Mapping)]
    py = r.get("python")
    if isinstance(py, list):
        return [c for c in py if isinstance(c, Mapping)]
    return [py] if isinstance(py, Mapping) else []


def _add(d: Dict[Any, int], k: Any, n: int) -> None:
    d[k] = d.get(k, 0) + n


class _Part:
    """What one process logged of one misuse finding."""

    def __init__(self) -> None:
        self.records = 0          # full reports (event "misuse")
        self.total = 0            # the highest running total they carry
        self.repeat: Optional[Mapping[str, Any]] = None   # its end-of-run summary
        self.python: Dict[Tuple[Any, ...], int] = {}
        self.tests: Dict[str, int] = {}
        self.uses: Dict[str, Tuple[Any, int]] = {}

    def count(self) -> int:
        n = max(self.records, self.total)
        if self.repeat is not None:
            n = max(n, int(self.repeat.get("count") or 0))
        return n


def merge(records: Iterable[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Group records into findings (``finding_key``), with counts that add
    up: a leak record counts its ``count`` handles; a process counts a
    misuse finding as the total of its end-of-run ``repeat`` record, else
    as its number of full reports.  The Python callers, tests, use sites and
    processes of the parts add up the same way.  Biggest count first."""
    groups: Dict[str, Dict[str, Any]] = {}
    parts: Dict[Tuple[str, Any], _Part] = {}
    for r in records:
        cls = r.get("class") or "misuse"
        key = finding_key(r)
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"key": key, "class": cls, "site": r.get("site"), "chain": chain_of(r),
                               "caller": r.get("caller"), "count": 0, "python": {}, "tests": {},
                               "pids": set(), "samples": [], "apis": set(), "uses": {},
                               "type": r.get("type"), "stack": None, "message": r.get("message"),
                               "detail": r.get("detail")}
        elif not g["caller"] and r.get("caller"):
            g["caller"] = r.get("caller")
        pid = r.get("pid")
        g["pids"].add(pid)
        if r.get("api"):
            g["apis"].add(r["api"])
        sample = r.get("sample") if r.get("sample") is not None else r.get("repr")
        if sample is not None and sample not in g["samples"] and len(g["samples"]) < 3:
            g["samples"].append(sample)
        stack = r.get("opened_at") if cls == "leak" else (r.get("opened_at") or r.get("closed_at"))
        if g["stack"] is None and stack:
            g["stack"] = stack
        if cls == "leak":
            n = int(r.get("count") or 1)
            g["count"] += n
            callers = _callers_of(r)
            for c in callers:
                if c.get("file"):
                    _add(g["python"], (c.get("file"), c.get("line"), c.get("function")), int(c.get("count") or n))
            if r.get("test"):
                _add(g["tests"], r["test"], n)
            continue
        p = parts.setdefault((key, pid), _Part())
        if r.get("event") == "repeat":
            if p.repeat is None or int(r.get("count") or 0) >= int(p.repeat.get("count") or 0):
                p.repeat = r
            continue
        p.records += 1
        if isinstance(r.get("total"), int):
            p.total = max(p.total, r["total"])
        for c in _callers_of(r)[:1]:
            if c.get("file"):
                _add(p.python, (c.get("file"), c.get("line"), c.get("function")), 1)
        if r.get("test"):
            _add(p.tests, r["test"], 1)
        if cls == "wrong-context" and isinstance(r.get("site"), Mapping):
            k = _frame_id(r["site"])
            p.uses[k] = (r["site"], p.uses.get(k, (None, 0))[1] + 1)
    for (key, pid), p in parts.items():
        g = groups[key]
        n = p.count()
        g["count"] += n
        rep = p.repeat
        if rep is not None and isinstance(rep.get("callers"), list):
            for c in rep["callers"]:
                if isinstance(c, Mapping) and c.get("file"):
                    _add(g["python"], (c.get("file"), c.get("line"), c.get("function")), int(c.get("count") or 0))
        else:
            for k, m in p.python.items():
                _add(g["python"], k, m)
        if rep is not None and isinstance(rep.get("tests"), list):
            for t in rep["tests"]:
                if isinstance(t, Mapping) and t.get("test"):
                    _add(g["tests"], t["test"], int(t.get("count") or 0))
        else:
            for t, m in p.tests.items():
                _add(g["tests"], t, m)
        uses = p.uses
        if rep is not None and isinstance(rep.get("uses"), list):
            uses = {}
            for u in rep["uses"]:
                if isinstance(u, Mapping) and isinstance(u.get("site"), Mapping):
                    uses[_frame_id(u["site"])] = (u["site"], int(u.get("count") or 0))
        for k, (site, m) in uses.items():
            old = g["uses"].get(k)
            g["uses"][k] = (site, (old[1] if old else 0) + m)
    out = []
    for g in groups.values():
        g["python"] = [{"file": k[0], "line": k[1], "function": k[2], "count": n}
                       for k, n in sorted(g["python"].items(), key=lambda kv: (-kv[1], str(kv[0])))]
        g["test_counts"] = dict(sorted(g["tests"].items()))
        g["tests"] = sorted(g["tests"])
        g["pids"] = sorted(p for p in g["pids"] if p is not None)
        g["apis"] = sorted(g["apis"])
        g["uses"] = [dict(site=s, count=n) for s, n in
                     sorted(g["uses"].values(), key=lambda sn: (-sn[1], str(_frame_id(sn[0]))))]
        g["test"] = g["tests"][0] if len(g["tests"]) == 1 else None
        out.append(g)
    out.sort(key=lambda g: (-g["count"], g["class"], g["key"]))
    return out


def format_summary(groups: Sequence[Mapping[str, Any]], head: str) -> str:
    """The text summary of merged groups."""
    lines = [head]
    for g in groups:
        api = f" in {', '.join(g['apis'])}()" if g.get("apis") else ""
        lines.append(f"  {g['count']} x {g['class']}{api} at {site_text(g['site'])}")
        if g.get("samples"):
            t = f" ({g['type']})" if g.get("type") else ""
            lines.append(f"      e.g. {g['samples'][0]}{t}")
        for u in list(g.get("uses") or [])[:5]:
            lines.append(f"      used at: {site_text(u['site'])} ({u['count']})")
        if len(g.get("uses") or []) > 5:
            lines.append(f"      ... and {len(g['uses']) - 5} more use sites")
        callers = list(g.get("python") or [])
        for c in callers[:3]:
            lines.append(f"      from Python: {c['file']}:{c['line']} in {c['function']} ({c['count']})")
        if len(callers) > 3:
            rest = sum(int(c["count"]) for c in callers[3:])
            lines.append(f"      ... and {len(callers) - 3} more Python callers ({rest})")
        tests = g.get("tests") or []
        if tests:
            more = f" and {len(tests) - 3} more" if len(tests) > 3 else ""
            lines.append(f"      tests: {', '.join(tests[:3])}{more}")
        lines.append(f"      processes: {len(g.get('pids') or [])}")
    return "\n".join(lines)
