"""A static HTML report of merged findings (``hpydbg report --html DIR``).

``index.html``: every finding, by count, with its class, C function and line
(linked to its source page), samples, Python callers and tests.  One page
per C source file involved: the file with line numbers, each line with
findings marked (``tr.hit``) and followed by what was found there (count,
class, sample objects, Python callers, the stack); the line of the caller a
site was inlined into is marked too (``tr.caller``: the call where the
finding starts), as are the use sites of a kept context.  Plain string
templates; every value is escaped.
"""
from __future__ import annotations

import os
import re
from html import escape
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .logs import site_text

CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 2px 8px; vertical-align: top; }
table.sites td, table.sites th { border-bottom: 1px solid #ddd; }
td.count, td.n { text-align: right; font-variant-numeric: tabular-nums; }
table.source { font-family: monospace; white-space: pre; }
table.source td.n { color: #888; }
tr.hit { background: #fdd; }
tr.caller { background: #ffe8c0; }
tr.note td { font-family: sans-serif; white-space: normal; background: #fff4f4; }
.cls { font-weight: bold; }
pre.stack { margin: 0.2em 0; font-size: 90%; }
"""


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head>\n"
            f"<body>\n<h1>{escape(title)}</h1>\n{body}\n</body></html>\n")


def _frame(f: Mapping[str, Any]) -> str:
    return site_text(f)


def _callers(g: Mapping[str, Any], limit: int = 3) -> str:
    return "<br>".join(escape(f"{c['file']}:{c['line']} in {c['function']} ({c['count']})")
                       for c in list(g.get("python") or [])[:limit])


def _lines(g: Mapping[str, Any]) -> List[tuple]:
    """``(file, line, kind)`` a finding marks: its site and the use sites
    (``"hit"``), the line of the caller it was inlined into (``"caller"``)."""
    out = []
    site = g.get("site") or {}
    sites = [u.get("site") or {} for u in g.get("uses") or []] or [site]
    for s in sites:
        if s.get("file") and s.get("line") is not None:
            out.append((s["file"], int(s["line"]), "hit"))
        into = s.get("inlined_into") or {}
        if into.get("file") and into.get("line") is not None:
            out.append((into["file"], int(into["line"]), "caller"))
    return out


def _source_pages(groups: Sequence[Mapping[str, Any]]) -> Dict[str, str]:
    """C source path -> page file name, in order of first appearance."""
    pages: Dict[str, str] = {}
    for g in groups:
        for f, _, _ in _lines(g):
            if f not in pages:
                pages[f] = f"src-{len(pages) + 1}-{re.sub(r'[^A-Za-z0-9_-]', '_', os.path.basename(f))}.html"
    return pages


def index_html(groups: Sequence[Mapping[str, Any]], pages: Mapping[str, str], title: str) -> str:
    total = sum(int(g["count"]) for g in groups)
    rows = []
    for i, g in enumerate(groups, 1):
        site = g.get("site") or {}
        where = escape(site_text(site))
        f = site.get("file")
        if f in pages and site.get("line") is not None:
            where = f'<a href="{pages[f]}#L{int(site["line"])}">{where}</a>'
        uses = g.get("uses") or []
        for u in uses[:5]:
            where += "<br>" + escape(f"used at {site_text(u.get('site'))} ({u.get('count')})")
        if len(uses) > 5:
            where += "<br>" + escape(f"and {len(uses) - 5} more use sites")
        tests = g.get("tests") or []
        rows.append(
            f'<tr class="site" id="site-{i}"><td class="count">{int(g["count"])}</td>'
            f'<td class="cls">{escape(str(g["class"]))}</td><td class="where">{where}</td>'
            f'<td class="sample">{escape(", ".join(g.get("samples") or []))}</td>'
            f'<td class="python">{_callers(g)}</td>'
            f'<td class="tests">{escape(", ".join(tests[:3]))}'
            f'{escape(f" and {len(tests) - 3} more") if len(tests) > 3 else ""}</td></tr>')
    files = "".join(f'<li><a href="{p}">{escape(f)}</a></li>' for f, p in pages.items())
    body = (f'<p id="total">{total} findings at {len(groups)} sites</p>\n'
            '<table class="sites"><thead><tr><th>count</th><th>class</th><th>site</th>'
            '<th>e.g.</th><th>from Python</th><th>tests</th></tr></thead><tbody>\n'
            + "\n".join(rows) + "\n</tbody></table>\n"
            f"<h2>Source files</h2><ul class=\"files\">{files}</ul>")
    return _page(title, body)


def source_html(path: str, groups: Sequence[Mapping[str, Any]]) -> str:
    by_line: Dict[int, List[Mapping[str, Any]]] = {}
    callers: Dict[int, List[Mapping[str, Any]]] = {}
    for g in groups:
        for f, line, kind in _lines(g):
            if f == path:
                d = by_line if kind == "hit" else callers
                if g not in d.setdefault(line, []):
                    d[line].append(g)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        lines = []
        missing: Optional[str] = f"source not available here ({e.strerror})"
    else:
        missing = None
    n_lines = max([len(lines)] + list(by_line) + list(callers))
    rows = []
    for n in range(1, n_lines + 1):
        code = lines[n - 1] if n <= len(lines) else ""
        hits = by_line.get(n, [])
        count = sum(_count_at(g, path, n) for g in hits)
        cls = ' class="hit"' if hits else ' class="caller"' if n in callers else ""
        rows.append(f'<tr id="L{n}"{cls}><td class="n">{n}</td>'
                    f'<td class="count">{count if hits else ""}</td>'
                    f'<td class="code">{escape(code)}</td></tr>')
        for g in callers.get(n, []) if not hits else []:
            site = g.get("site") or {}
            note = (f'<span class="cls">{escape(str(g["class"]))}</span>: {int(g["count"])} x '
                    + escape(f'in {site.get("function") or "?"}, inlined here: {site_text(site)}'))
            rows.append(f'<tr class="note inlined" data-line="{n}"><td></td><td></td><td>{note}</td></tr>')
        for g in hits:
            note = [f'<span class="cls">{escape(str(g["class"]))}</span>: {int(g["count"])} x',
                    escape(f'in {g["site"].get("function") or "?"}')]
            if g.get("apis"):
                note.append(escape(f"({', '.join(g['apis'])})"))
            if g.get("samples"):
                note.append("e.g. " + escape(", ".join(g["samples"])))
            if g.get("python"):
                note.append("<br>from Python: " + _callers(g, 5))
            if g.get("tests"):
                note.append("<br>tests: " + escape(", ".join(g["tests"][:5])))
            if g.get("stack"):
                stack = "\n".join(f"#{i} {_frame(fr)}" for i, fr in enumerate(g["stack"]))
                note.append(f'<details><summary>stack</summary><pre class="stack">{escape(stack)}'
                            "</pre></details>")
            rows.append(f'<tr class="note" data-line="{n}"><td></td><td></td><td>{" ".join(note)}</td></tr>')
    head = f"<p class=\"missing\">{escape(missing)}</p>" if missing else ""
    body = (f'{head}<p><a href="index.html">index</a></p>\n<table class="source">\n'
            + "\n".join(rows) + "\n</table>")
    return _page(path, body)


def _count_at(g: Mapping[str, Any], path: str, line: int) -> int:
    """A finding's count at one of its lines (a kept context's use site
    counts its uses)."""
    uses = g.get("uses") or []
    if uses:
        return sum(int(u.get("count") or 0) for u in uses
                   if (u.get("site") or {}).get("file") == path and (u.get("site") or {}).get("line") == line)
    return int(g["count"])


def write_html(groups: Sequence[Mapping[str, Any]], outdir: str, title: str = "hpydbg report") -> str:
    """Write the report into ``outdir``; return the path of index.html."""
    os.makedirs(outdir, exist_ok=True)
    pages = _source_pages(groups)
    for path, page in pages.items():
        with open(os.path.join(outdir, page), "w", encoding="utf-8") as f:
            f.write(source_html(path, groups))
    index = os.path.join(outdir, "index.html")
    with open(index, "w", encoding="utf-8") as f:
        f.write(index_html(groups, pages, title))
    return index
