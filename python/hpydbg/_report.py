"""Leak reports a person can act on: leaked handles grouped by the source
line that opened them, with a count, a sample object and the stack."""
from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Iterable, List

NO_TRACES_HINT = ("(allocation sites are unknown: run with HPY_DEBUG_TRACES=16, or call "
                  "hpy.debug.set_handle_stack_trace_limit(16), to record where handles are opened)")


def _safe_repr(h) -> str:
    try:
        r = repr(h.obj)
    except Exception as e:  # noqa: BLE001 - a broken __repr__ must not hide the leak
        r = f"<repr failed: {type(e).__name__}>"
    return r if len(r) <= 80 else r[:77] + "..."


def group_by_site(handles: Iterable) -> "OrderedDict[str, List]":
    groups: "OrderedDict[str, List]" = OrderedDict()
    for h in handles:
        site = h.allocation_site or "unknown site"
        groups.setdefault(site, []).append(h)
    return OrderedDict(sorted(groups.items(), key=lambda kv: -len(kv[1])))


def format_leaks(handles, when: str = "") -> str:
    handles = list(handles)
    if not handles:
        return ""
    groups = group_by_site(handles)
    n = len(handles)
    lines = [f"hpydbg: {n} leaked handle{'s' if n != 1 else ''}{when}, "
             f"opened at {len(groups)} place{'s' if len(groups) != 1 else ''}:"]
    for site, hs in groups.items():
        lines.append(f"  {len(hs)} x opened at {site}")
        lines.append(f"      e.g. {_safe_repr(hs[0])}")
        trace = hs[0].allocation_stacktrace
        if trace:
            lines.append("      stack:")
            lines.extend("    " + l for l in trace.rstrip().splitlines())
    if all(h.allocation_site is None for h in handles):
        lines.append("  " + NO_TRACES_HINT)
    lines.append("  what to do: close every handle you open with HPy_Close once you are done "
                 "with it (or return it); HPyTracker helps on error paths.")
    return "\n".join(lines)


def print_exit_summary() -> None:
    """atexit hook: every handle still open now was leaked (no call is running)."""
    from . import _hpydbg

    if not _hpydbg.context_created():
        return
    text = format_leaks(_hpydbg.get_open_handles(0), " (open when the program exited)")
    if text:
        sys.stdout.flush()
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
