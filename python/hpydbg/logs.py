"""Reading and merging hpydbg's JSON-lines logs (``HPY_DEBUG_LOG_FORMAT=json``,
one file per process with ``HPY_DEBUG_LOG=log-%p.jsonl``).

``read_logs(paths)`` yields the records of many files (lines that are not
JSON objects, e.g. text reports in the same file, are counted and skipped);
``merge(records)`` groups them by site into findings (the shape
``hpydbg.suppressions`` matches) with counts that add up:

- a leak record counts ``count`` handles; the records of a process add up;
- a misuse record carries ``count``, how many times the same report (class,
  API function, site) was seen so far in its process (after the first few
  only the count goes on): a process counts the highest ``count`` it logged
  for that report, or the number of its records where ``count`` is absent.
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


def _site_key(site: Any) -> Tuple[Any, ...]:
    if not isinstance(site, Mapping):
        return (None, None, None, None)
    return (site.get("function"), site.get("file"), site.get("line"), site.get("object"))


def site_text(site: Any) -> str:
    """``function at file:line (object)``, as the text reports write a site."""
    if not isinstance(site, Mapping):
        return "unknown site"
    name = site.get("function") or "?"
    if site.get("file") and site.get("line") is not None:
        return f"{name} at {site['file']}:{site['line']} ({site.get('object') or '?'})"
    return f"{name} ({site.get('object') or '?'})"


def merge(records: Iterable[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Group records by (class, site); biggest count first, then by site."""
    groups: Dict[Tuple[Any, ...], Dict[str, Any]] = {}
    misuse_counts: Dict[Tuple[Any, ...], Dict[str, Any]] = {}
    for r in records:
        cls = r.get("class") or "misuse"
        key = (cls,) + _site_key(r.get("site"))
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"class": cls, "site": r.get("site"), "count": 0, "python": {},
                               "tests": set(), "pids": set(), "samples": [], "apis": set(),
                               "type": r.get("type"), "stack": None, "message": r.get("message"),
                               "detail": r.get("detail")}
        pid = r.get("pid")
        g["pids"].add(pid)
        if r.get("test"):
            g["tests"].add(r["test"])
        if r.get("api"):
            g["apis"].add(r["api"])
        sample = r.get("sample") if r.get("sample") is not None else r.get("repr")
        if sample is not None and sample not in g["samples"] and len(g["samples"]) < 3:
            g["samples"].append(sample)
        stack = r.get("opened_at") if cls == "leak" else (r.get("opened_at") or r.get("closed_at"))
        if g["stack"] is None and stack:
            g["stack"] = stack
        py = r.get("python_callers") or r.get("python")
        callers = py if isinstance(py, list) else [py] if isinstance(py, Mapping) else []
        if cls == "leak":
            n = int(r.get("count") or 1)
            g["count"] += n
        else:
            # Per process and report: the highest running count.
            mk = key + (pid, r.get("api"))
            m = misuse_counts.setdefault(mk, {"group": key, "records": 0, "max": 0})
            m["records"] += 1
            if isinstance(r.get("count"), int):
                m["max"] = max(m["max"], r["count"])
            n = 1
        for c in callers:
            if isinstance(c, Mapping) and c.get("file"):
                ck = (c.get("file"), c.get("line"), c.get("function"))
                g["python"][ck] = g["python"].get(ck, 0) + int(c.get("count") or n)
    for m in misuse_counts.values():
        groups[m["group"]]["count"] += max(m["max"], m["records"])
    out = []
    for g in groups.values():
        g["python"] = [{"file": k[0], "line": k[1], "function": k[2], "count": n}
                       for k, n in sorted(g["python"].items(), key=lambda kv: (-kv[1], str(kv[0])))]
        g["tests"] = sorted(g["tests"])
        g["pids"] = sorted(p for p in g["pids"] if p is not None)
        g["apis"] = sorted(g["apis"])
        g["test"] = g["tests"][0] if len(g["tests"]) == 1 else None
        out.append(g)
    out.sort(key=lambda g: (-g["count"], g["class"], str(_site_key(g["site"]))))
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
        for c in list(g.get("python") or [])[:3]:
            lines.append(f"      from Python: {c['file']}:{c['line']} in {c['function']} ({c['count']})")
        tests = g.get("tests") or []
        if tests:
            more = f" and {len(tests) - 3} more" if len(tests) > 3 else ""
            lines.append(f"      tests: {', '.join(tests[:3])}{more}")
        lines.append(f"      processes: {len(g.get('pids') or [])}")
    return "\n".join(lines)
