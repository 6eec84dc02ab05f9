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

NO_TRACES_HINT = ("(allocation sites are unknown: site recording is off (HPY_DEBUG_SITES=0), "
                  "or no frame of the extension's own code was found on the stack)")
WHAT_TO_DO = ("  what to do: close every handle you open with HPy_Close once you are done "
              "with it (or return it); HPyTracker helps on error paths.")

# A handle opened in the module's exec slot and still open: kept in a C
# global for the module's lifetime (issue 19).
MODULE_INIT_ADVICE = ("      what to do: opened in the module's exec slot (HPy_mod_exec) and kept open: "
                      "a handle must not outlive the call that opened it; keep the object in an "
                      "HPyGlobal (HPyGlobal_Store at init, HPyGlobal_Load where it is used), "
                      "and close this handle")

Frame = Dict[str, Any]


def _in_module_init(h: Any) -> bool:
    return bool(getattr(h, "opened_in_module_init", False))

# `function at file:line (object)` or `function (object)`, as rendered by
# src/base/stacktrace.rs (optionally prefixed by `#N `, and followed by
# ` [inlined]` for a frame the compiler inlined into the next one).
_FRAME_RE = re.compile(
    r"^(?:#\d+\s+)?(?P<function>.*?)(?: at (?P<file>.+):(?P<line>\d+))? \((?P<object>[^()]*)\)"
    r"(?P<inlined> \[inlined\])?$")


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


class _SiteMemo:
    """Per-site answers, worked out once per site id (handles opened by the
    same C call from the same Python line share one): a leak report of 10**6
    handles asks the Rust side a few thousand times, not millions."""

    def __init__(self) -> None:
        self._by_id: Dict[int, tuple] = {}

    def get(self, h: Any) -> tuple:
        """``(allocation site text or None, Python frame or None)``."""
        sid = getattr(h, "site_id", 0)
        if not sid:
            return (_site(h), python_site(h))
        v = self._by_id.get(sid)
        if v is None:
            v = self._by_id[sid] = (_site(h), python_site(h))
        return v


def _stack(h: Any) -> Optional[str]:
    return getattr(h, "allocation_stacktrace", None)


def _kind(h: Any) -> str:
    # "handle", or an open builder/tracker ("tuple builder", "list builder", "tracker").
    return getattr(h, "kind", "handle")


def group_by_site(handles: Iterable[Any], memo: "Optional[_SiteMemo]" = None) -> "OrderedDict[str, List[Any]]":
    """Group handles by allocation site (builders and trackers apart, by
    kind), biggest group first."""
    groups: "OrderedDict[str, List[Any]]" = OrderedDict()
    memo = memo or _SiteMemo()
    for h in handles:
        key = memo.get(h)[0] or "unknown site"
        if _kind(h) != "handle":
            key = f"{_kind(h)}: {key}"
        groups.setdefault(key, []).append(h)
    return OrderedDict(sorted(groups.items(), key=lambda kv: -len(kv[1])))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def format_groups(handles: Sequence[Any], groups: "Optional[OrderedDict[str, List[Any]]]" = None,
                  memo: "Optional[_SiteMemo]" = None, max_groups: Optional[int] = None) -> List[str]:
    """The body of a leak report: one block per allocation site (``groups``
    and ``memo``: those of ``handles``, when the caller has them); with
    ``max_groups``, the biggest that many, then one line for the rest."""
    memo = memo or _SiteMemo()
    groups = groups if groups is not None else group_by_site(handles, memo)
    lines: List[str] = []
    items = list(groups.items())
    if max_groups is not None and len(items) > max_groups:
        rest = items[max_groups:]
        items = items[:max_groups]
    else:
        rest = []
    for site, hs in items:
        kind = "" if _kind(hs[0]) == "handle" else _kind(hs[0]) + " "
        lines.append(f"  {len(hs)} x {kind}opened at {_site(hs[0]) or 'unknown site'}")
        lines.append(f"      e.g. {_safe_repr(hs[0])}")
        for c in python_callers(hs, 3, memo):
            lines.append(f"      from Python: {c['file']}:{c['line']} in {c['function']} "
                         f"({_plural(c['count'], 'handle')})")
        trace = _stack(hs[0])
        if trace:
            lines.append("      stack:")
            lines.extend("    " + l for l in trim_stack(trace.rstrip().splitlines()))
        if _in_module_init(hs[0]):
            lines.append(MODULE_INIT_ADVICE)
    if rest:
        n = sum(len(hs) for _, hs in rest)
        lines.append(f"  ... and {_plural(n, 'more leaked handle')} opened at {_plural(len(rest), 'more place')}")
    if list(groups) == ["unknown site"]:
        lines.append("  " + NO_TRACES_HINT)
    lines.append(WHAT_TO_DO)
    return lines


def format_leaks(handles: Iterable[Any], when: str = "", max_groups: Optional[int] = None) -> str:
    """``hpydbg: N leaked handles<when>, opened at M places:`` and the groups;
    the empty string when there is nothing to report."""
    handles = list(handles)
    if not handles:
        return ""
    # One pass over the handles (10**6 of them at the end of a big run).
    memo = _SiteMemo()
    groups = group_by_site(handles, memo)
    head = (f"hpydbg: {_plural(len(handles), 'leaked handle')}{when}, "
            f"opened at {_plural(len(groups), 'place')}:")
    return "\n".join([head] + format_groups(handles, groups, memo, max_groups))


def python_site(h: Any) -> Optional[Frame]:
    """The innermost Python frame when the handle was opened
    (``DebugHandle.python_site``), or None where unknown."""
    ps = getattr(h, "python_site", None)
    if isinstance(ps, Mapping) and ps.get("file"):
        return {"file": ps.get("file"), "line": ps.get("line"), "function": ps.get("function")}
    return None


def python_callers(handles: Sequence[Any], limit: int = 5,
                   memo: "Optional[_SiteMemo]" = None) -> List[Dict[str, Any]]:
    """The Python frames that opened ``handles``, most frequent first:
    ``[{"file", "line", "function", "count"}]`` (empty where unknown)."""
    counts: Dict[tuple, int] = {}
    memo = memo or _SiteMemo()
    for h in handles:
        f = memo.get(h)[1]
        if f is not None:
            k = (f["file"], f["line"], f["function"])
            counts[k] = counts.get(k, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:limit]
    return [{"file": k[0], "line": k[1], "function": k[2], "count": n} for k, n in top]


def site_dict(h: Any) -> Optional[Frame]:
    """Where the handle was opened, ``{function, file, line, object}`` (and
    ``inlined_into`` where known): ``DebugHandle.site`` where the Rust side
    provides it, else parsed from ``allocation_site``."""
    site = getattr(h, "site", None)
    if isinstance(site, Mapping) and (site.get("function") or site.get("file")):
        return dict(site)
    text = _site(h)
    return parse_frame(text) if text else None


def type_name(h: Any) -> Optional[str]:
    try:
        return type(h.obj).__name__
    except Exception:  # noqa: BLE001
        return None


def leak_findings(handles: Iterable[Any], test: Optional[str] = None,
                  python_fallback: Optional[List[Dict[str, Any]]] = None) -> List[Dict[str, Any]]:
    """Leaked handles as findings (see ``hpydbg.suppressions``): one per
    allocation site and object type, biggest first; each keeps its
    ``handles`` (not serialisable: drop it before sending)."""
    from .logs import finding_key

    groups: "OrderedDict[tuple, List[Any]]" = OrderedDict()
    memo = _SiteMemo()
    for h in handles:
        groups.setdefault((memo.get(h)[0] or "", type_name(h)), []).append(h)
    out = []
    for (site, tname), hs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        callers = python_callers(hs) or list(python_fallback or [])
        f = {"class": "leak", "count": len(hs), "site": site_dict(hs[0]),
             "python": callers, "type": tname, "sample": _safe_repr(hs[0]),
             "test": test, "handles": hs}
        f["key"] = finding_key(f)
        out.append(f)
    return out


def leak_records(handles: Iterable[Any], **extra: Any) -> List[Dict[str, Any]]:
    """One ``{"event": "leak", ...}`` record per allocation site (the JSON
    lines schema of docs/REPORTS.md); ``extra`` keys are added to each
    (``python_fallback``: the callers to name where handles do not know)."""
    records = []
    pid = os.getpid()
    fallback = extra.pop("python_fallback", None)
    for site, hs in group_by_site(list(handles)).items():
        h = hs[0]
        rec: Dict[str, Any] = {
            "event": "leak", "class": "leak", "kind": _kind(h), "count": len(hs), "sample": _safe_repr(h),
            "type": type_name(h),
            "site": site_dict(h),
            "test": None,
        }
        # `python`: the most frequent Python caller, as misuse records have
        # it; `python_callers`: the top few, with their counts.
        callers = python_callers(hs) or list(fallback or [])
        rec["python"] = {k: callers[0][k] for k in ("file", "line", "function")} if callers else None
        rec["python_callers"] = callers
        trace = _stack(h)
        if trace:
            rec["opened_at"] = parse_stack(trace)
        if _in_module_init(h):
            rec["opened_in_module_init"] = True
            rec["what_to_do"] = MODULE_INIT_ADVICE.split("what to do: ", 1)[1]
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


def expand_log_path(path: str, pid: Optional[int] = None) -> str:
    """``%p`` -> the process id, ``%%`` -> ``%`` (as src/log.rs does)."""
    pid = os.getpid() if pid is None else pid
    return re.sub(r"%(.)", lambda m: str(pid) if m.group(1) == "p" else
                  "%" if m.group(1) == "%" else m.group(0), path)


def log_path(env: Mapping[str, str] = os.environ) -> Optional[str]:
    """The file named by ``HPY_DEBUG_LOG`` (None: stderr), placeholders expanded."""
    if "path" in _log_override:
        p = _log_override["path"]
        return None if p is None else expand_log_path(p)
    p = env.get("HPY_DEBUG_LOG", "").strip()
    return None if p in ("", "-", "stderr") else expand_log_path(p)


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


def exit_code_on_findings(env: Mapping[str, str] = os.environ) -> Optional[int]:
    """``HPY_DEBUG_EXITCODE=N``: the exit status of a process with findings."""
    v = env.get("HPY_DEBUG_EXITCODE", "").strip()
    if not v:
        return None
    try:
        return int(v)
    except ValueError:
        sys.stderr.write(f"hpydbg: HPY_DEBUG_EXITCODE={v!r} is not a number, ignored\n")
        return None


def misuse_findings(reports: Iterable[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Misuse reports (``take_reports()``: one per finding of the window,
    with its count and Python callers) as findings (``hpydbg.suppressions``)."""
    from .logs import finding_key

    out = []
    for r in reports:
        if r.get("event", "misuse") == "leak":
            continue
        py = r.get("python")
        fn = r.get("function")
        site = r.get("site")
        if not site and isinstance(fn, Mapping) and fn.get("name"):
            # a return-time report: the extension function it concerns
            site = {"function": fn["name"], "file": None, "line": None, "object": None}
        callers = [dict(c) for c in r.get("callers") or [] if isinstance(c, Mapping) and c.get("file")]
        if not callers and isinstance(py, Mapping):
            callers = [dict(py, count=int(r.get("count") or 1))]
        f = {"class": r.get("class") or "misuse", "count": int(r.get("count") or 1), "site": site,
             "chain": r.get("chain") or [], "caller": r.get("caller"), "python": callers,
             "type": r.get("type"), "test": r.get("test"), "api": r.get("api"),
             "uses": r.get("uses"), "report": dict(r)}
        f["key"] = finding_key(dict(f, function=fn))
        out.append(f)
    return out


def report_at_end(handles: Sequence[Any], when: str, quiet: bool = False) -> "tuple[int, int]":
    """The end of a program: the leaks among ``handles`` and the misuse
    reports not taken yet, less what ``HPY_DEBUG_SUPPRESSIONS`` covers; the
    leaks are written (unless ``quiet``), then the suppressions used.
    Returns the numbers of leaked handles and of misuse reports left."""
    from . import _hpydbg, suppressions

    try:
        supp = suppressions.from_environment()
    except suppressions.SuppressionError as e:
        sys.stderr.write(f"hpydbg: {e} (HPY_DEBUG_SUPPRESSIONS ignored)\n")
        supp = None
    take = getattr(_hpydbg, "take_reports", None)
    reports = [dict(r) for r in take()] if take is not None else []
    misuses, _ = suppressions.split(supp, misuse_findings(r for r in reports if not r.get("callback")))
    kept, _ = suppressions.split(supp, leak_findings(handles))
    left = [h for f in kept for h in f["handles"]]
    leaked = len(left) if quiet else emit_leaks(left, when)
    if supp is not None and not quiet:
        lines = supp.summary_lines()
        if lines:
            if log_format() == "text":
                write_log("\n".join(lines) + "\n")
            else:
                sys.stderr.write("\n".join(lines) + "\n")
    return leaked, len(misuses)


def exit_if_findings(findings: int) -> None:
    """``HPY_DEBUG_EXITCODE=N`` and findings: end the process with status N."""
    code = exit_code_on_findings()
    if code is not None and findings:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def print_exit_summary() -> None:
    """atexit hook: every handle still open now was leaked (no call is running).
    Leaks and misuse reports covered by ``HPY_DEBUG_SUPPRESSIONS`` are left
    out (the suppressions used are listed); with ``HPY_DEBUG_EXITCODE=N``, a
    process with findings left exits with status N."""
    from . import _hpydbg

    if not _hpydbg.context_created():
        return
    # Cyclic garbage dies now, so that what its destructors report comes
    # before the summary (what dies later, as the interpreter shuts down,
    # is marked and summarised again at the very end: emit_repeats).
    import gc
    gc.collect()
    sys.stdout.flush()
    sys.stderr.flush()
    quiet = os.environ.get("HPY_DEBUG_EXIT_REPORT", "1") == "0"
    found = sum(report_at_end(_hpydbg.get_open_handles(0),
                              " (open when the program exited)", quiet))
    # Reports printed once and then only counted: their totals (before the
    # exit status is decided, which may end the process).
    emit_repeats = getattr(_hpydbg, "emit_repeats", None)
    if emit_repeats is not None and not quiet:
        emit_repeats()
    exit_if_findings(found)


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
    py = r.get("python")
    if isinstance(py, Mapping) and py.get("file"):
        lines.append(f"  from Python: {py['file']}:{py.get('line')} in {py.get('function')}")
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


def _site_line(r: Mapping[str, Any]) -> str:
    from .logs import site_text

    api = f" in {r['api']}()" if r.get("api") else ""
    return f"{r.get('class', 'misuse')}{api} at {site_text(r.get('site'))}"


def format_reports(reports: Sequence[Mapping[str, Any]], when: str = "",
                   max_full: Optional[int] = None, max_lines: Optional[int] = None) -> str:
    """``hpydbg: N invalid HPy API use(s)<when>:`` (N: the occurrences, the
    reports' counts added up) and each report once, with its count and
    Python callers where it happened more than once.  With ``max_full``,
    only that many in full, then one line each up to ``max_lines``, then
    one line for the rest."""
    if not reports:
        return ""
    n = sum(int(r.get("count") or 1) for r in reports)
    head = f"hpydbg: {n} invalid HPy API use{'s' if n != 1 else ''}{when}:"
    blocks: List[str] = []
    short: List[str] = []
    rest = [0, 0]
    for i, r in enumerate(reports):
        count = int(r.get("count") or 1)
        if max_full is None or i < max_full:
            text = format_report(r)
            callers = [c for c in r.get("callers") or [] if isinstance(c, Mapping) and c.get("file")]
            if count > 1 or len(callers) > 1:
                where = ", ".join(f"{os.path.basename(str(c['file']))}:{c.get('line')} ({c.get('count')})"
                                  for c in callers[:5])
                more = f" and {len(callers) - 5} more" if len(callers) > 5 else ""
                text += f"\n  here: {count} time{'s' if count != 1 else ''}" + (
                    f", from Python: {where}{more}" if where else "")
            blocks.append(text)
        elif max_lines is None or len(short) < max_lines:
            short.append(f"  {count} x {_site_line(r)}")
        else:
            rest[0] += 1
            rest[1] += count
    body = "\n\n".join(blocks)
    if short:
        body += "\n\nhpydbg: and these, one line each:\n" + "\n".join(short)
    if rest[0]:
        body += f"\n  ... and {rest[0]} more finding{'s' if rest[0] != 1 else ''} ({rest[1]} uses)"
    return head + "\n" + body
