"""Leak reports a person can act on: leaked handles grouped by the source
line that opened them, with a count, a sample object and the stack; the same
groups as JSON-lines records (``event: "leak"``, see docs/REPORTS.md); and a
text rendering of the structured misuse reports that the Rust side queues.

Where records go follows the Rust side's rules: ``HPY_DEBUG_LOG=path``
appends to that file (default: stderr), ``HPY_DEBUG_LOG_FORMAT=text|json``.
"""
from __future__ import annotations

import json
import os
import re
import sys
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

NO_TRACES_HINT = ("(allocation sites are unknown: run with HPY_DEBUG_TRACES=16, or call "
                  "hpy.debug.set_handle_stack_trace_limit(16), to record where handles are opened)")
WHAT_TO_DO = ("  what to do: close every handle you open with HPy_Close once you are done "
              "with it (or return it); HPyTracker helps on error paths.")

Frame = Dict[str, Any]

# `function at file:line (object)` or `function (object)`, as rendered by
# src/stacktrace.rs (optionally prefixed by `#N `).
_FRAME_RE = re.compile(
    r"^(?:#\d+\s+)?(?P<function>.*?)(?: at (?P<file>.+):(?P<line>\d+))? \((?P<object>[^()]*)\)$")


def parse_frame(text: Optional[str]) -> Optional[Frame]:
    """Parse one rendered frame into ``{function, file, line, object}``
    (``file``/``line`` are None when unknown); None if it does not parse."""
    if not text:
        return None
    m = _FRAME_RE.match(text.strip())
    if m is None:
        return None
    line = m.group("line")
    return {"function": m.group("function") or None, "file": m.group("file"),
            "line": int(line) if line is not None else None, "object": m.group("object")}


def parse_stack(text: Optional[str]) -> List[Frame]:
    """Parse a rendered stack trace (one ``#N ...`` line per frame)."""
    frames: List[Frame] = []
    for line in (text or "").splitlines():
        f = parse_frame(line)
        if f is not None:
            frames.append(f)
    return frames


def _is_interpreter(obj: Optional[str]) -> bool:
    return bool(obj) and (obj.startswith("libpython") or obj.startswith("python"))


def trim_stack(lines: Sequence[str]) -> List[str]:
    """Rendered frames up to the first one in the Python interpreter (what
    follows is CPython calling the extension), plus a line saying how many
    were left out."""
    out: List[str] = []
    for i, line in enumerate(lines):
        f = parse_frame(line)
        if f is not None and _is_interpreter(f.get("object")) and out:
            rest = len(lines) - i
            indent = line[:len(line) - len(line.lstrip())]
            out.append(f"{indent}... {rest} more frame{'s' if rest != 1 else ''} in the interpreter")
            break
        out.append(line)
    return out


def _safe_repr(h: Any) -> str:
    try:
        r = repr(h.obj)
    except Exception as e:  # noqa: BLE001 - a broken __repr__ must not hide the leak
        r = f"<repr failed: {type(e).__name__}>"
    return r if len(r) <= 80 else r[:77] + "..."


def _site(h: Any) -> Optional[str]:
    # HPy's own DebugHandle has no allocation_site: treat it as unknown.
    return getattr(h, "allocation_site", None)


def _stack(h: Any) -> Optional[str]:
    return getattr(h, "allocation_stacktrace", None)


def _kind(h: Any) -> str:
    # "handle", or an open builder/tracker ("tuple builder", "list builder", "tracker").
    return getattr(h, "kind", "handle")


def group_by_site(handles: Iterable[Any]) -> "OrderedDict[str, List[Any]]":
    """Group handles by allocation site (builders and trackers apart, by
    kind), biggest group first."""
    groups: "OrderedDict[str, List[Any]]" = OrderedDict()
    for h in handles:
        key = _site(h) or "unknown site"
        if _kind(h) != "handle":
            key = f"{_kind(h)}: {key}"
        groups.setdefault(key, []).append(h)
    return OrderedDict(sorted(groups.items(), key=lambda kv: -len(kv[1])))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def format_groups(handles: Sequence[Any]) -> List[str]:
    """The body of a leak report: one block per allocation site."""
    groups = group_by_site(handles)
    lines: List[str] = []
    for site, hs in groups.items():
        kind = "" if _kind(hs[0]) == "handle" else _kind(hs[0]) + " "
        lines.append(f"  {len(hs)} x {kind}opened at {_site(hs[0]) or 'unknown site'}")
        lines.append(f"      e.g. {_safe_repr(hs[0])}")
        trace = _stack(hs[0])
        if trace:
            lines.append("      stack:")
            lines.extend("    " + l for l in trim_stack(trace.rstrip().splitlines()))
    if all(_site(h) is None for h in handles):
        lines.append("  " + NO_TRACES_HINT)
    lines.append(WHAT_TO_DO)
    return lines


def format_leaks(handles: Iterable[Any], when: str = "") -> str:
    """``hpydbg: N leaked handles<when>, opened at M places:`` and the groups;
    the empty string when there is nothing to report."""
    handles = list(handles)
    if not handles:
        return ""
    ngroups = len(group_by_site(handles))
    head = (f"hpydbg: {_plural(len(handles), 'leaked handle')}{when}, "
            f"opened at {_plural(ngroups, 'place')}:")
    return "\n".join([head] + format_groups(handles))


def leak_records(handles: Iterable[Any], **extra: Any) -> List[Dict[str, Any]]:
    """One ``{"event": "leak", ...}`` record per allocation site (the JSON
    lines schema of docs/REPORTS.md); ``extra`` keys are added to each."""
    records = []
    pid = os.getpid()
    for site, hs in group_by_site(list(handles)).items():
        h = hs[0]
        rec: Dict[str, Any] = {
            "event": "leak", "class": "leak", "kind": _kind(h), "count": len(hs), "sample": _safe_repr(h),
            "site": parse_frame(_site(h)) if _site(h) else None,
        }
        trace = _stack(h)
        if trace:
            rec["opened_at"] = parse_stack(trace)
        rec["pid"] = pid
        rec.update(extra)
        records.append(rec)
    return records


# -- where records go -----------------------------------------------------

# Set by hpydbg.set_log(); None: follow the environment.
_log_override: Dict[str, Optional[str]] = {}


def set_log(path: Optional[str] = None, format: Optional[str] = None) -> None:
    """Send leak records to ``path`` (None: stderr) as ``"text"`` or ``"json"``
    (None: keep the current format)."""
    _log_override["path"] = path
    if format is not None:
        _log_override["format"] = format


def log_format(env: Mapping[str, str] = os.environ) -> str:
    """``"json"`` or ``"text"``, from ``HPY_DEBUG_LOG_FORMAT``."""
    if _log_override.get("format"):
        return str(_log_override["format"])
    return "json" if env.get("HPY_DEBUG_LOG_FORMAT", "").strip().lower() in ("json", "jsonl") else "text"


def log_path(env: Mapping[str, str] = os.environ) -> Optional[str]:
    """The file named by ``HPY_DEBUG_LOG`` (None: stderr)."""
    if "path" in _log_override:
        return _log_override["path"]
    p = env.get("HPY_DEBUG_LOG", "").strip()
    return None if p in ("", "-", "stderr") else p


def write_log(text: str) -> None:
    """Append ``text`` (newline-terminated) to the log destination; fall back
    to stderr if the file cannot be written."""
    path = log_path()
    if path is not None:
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(text)
            return
        except OSError as e:
            sys.stderr.write(f"hpydbg: cannot write to {path!r} ({e}), reporting to stderr\n")
    sys.stdout.flush()
    sys.stderr.write(text)
    sys.stderr.flush()


def emit_leaks(handles: Iterable[Any], when: str = "", **extra: Any) -> int:
    """Write the leak summary of ``handles`` to the log (text or JSON lines);
    return the number of leaked handles (0: nothing written)."""
    handles = list(handles)
    if not handles:
        return 0
    if log_format() == "json":
        write_log("".join(json.dumps(r) + "\n" for r in leak_records(handles, **extra)))
    else:
        write_log(format_leaks(handles, when) + "\n")
    return len(handles)


def print_exit_summary() -> None:
    """atexit hook: every handle still open now was leaked (no call is running)."""
    from . import _hpydbg

    if not _hpydbg.context_created():
        return
    emit_leaks(_hpydbg.get_open_handles(0), " (open when the program exited)")


# -- misuse reports (from _hpydbg.take_reports()) ---------------------------

def _frame_text(f: Any) -> str:
    if isinstance(f, Mapping):
        name = f.get("function") or "?"
        if f.get("file") and f.get("line") is not None:
            return f"{name} at {f['file']}:{f['line']} ({f.get('object', '?')})"
        return f"{name} ({f.get('object', '?')})"
    return str(f)


def format_report(r: Mapping[str, Any]) -> str:
    """Text for one structured misuse report (schema of docs/REPORTS.md).
    A report that carries its own rendering (``text``) is used as is."""
    if isinstance(r.get("text"), str) and r["text"].strip():
        return r["text"].rstrip()
    lines = [str(r.get("message") or "hpydbg report")]
    lines.append(f"hpydbg: {r.get('detail') or r.get('class', 'misuse')} [{r.get('class', 'misuse')}]")
    if r.get("api"):
        lines.append(f"  in: {r['api']}()")
    if r.get("site"):
        lines.append(f"  at: {_frame_text(r['site'])}")
    if r.get("handle") is not None:
        lines.append(f"  handle: {r['handle']}")
    for key, label in (("opened_at", "opened at"), ("closed_at", "closed at")):
        frames = r.get(key)
        if frames:
            lines.append(f"  {label}:")
            lines.extend(trim_stack([f"    #{i} {_frame_text(f)}" for i, f in enumerate(frames)]))
    if r.get("what_to_do"):
        lines.append(f"  what to do: {r['what_to_do']}")
    return "\n".join(lines)


def format_reports(reports: Sequence[Mapping[str, Any]], when: str = "") -> str:
    """``hpydbg: N invalid HPy API use(s)<when>:`` and each report."""
    if not reports:
        return ""
    n = len(reports)
    head = f"hpydbg: {n} invalid HPy API use{'s' if n != 1 else ''}{when}:"
    body = "\n\n".join(format_report(r) for r in reports)
    return head + "\n" + body
