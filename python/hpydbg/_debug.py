"""Drop-in replacement for ``hpy.universal._debug`` backed by hpydbg.

Once hpydbg is enabled, ``hpy.universal._debug`` is this module, so
``hpy.debug.LeakDetector``, ``hpy.debug.set_handle_stack_trace_limit`` and
``hpy.debug.pytest`` work unchanged on hpydbg's handle table.

Two thin Python wrappers remember what the program already dealt with, so
that the pytest plugin does not report it a second time: the leaks a leak
detector was told about (``get_open_handles``), and whether an
invalid-handle callback was installed (``set_on_invalid_handle``).
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Set

from . import _hpydbg
from ._hpydbg import (  # noqa: F401
    DebugHandle,
    get_closed_handles,
    get_closed_handles_queue_max_size,
    get_protected_raw_data_max_size,
    new_generation,
    set_closed_handles_queue_max_size,
    set_handle_stack_trace_limit,
    set_protected_raw_data_max_size,
)

# Handle values (``DebugHandle.handle``) that a leak detector has reported.
_reported_leaks: Set[int] = set()
# Invalid-handle callbacks currently installed / installed since last reset.
_callbacks: "dict[str, Optional[Callable[[], Any]]]" = {"handle": None, "builder": None}
_callback_installed = False
# Only the pytest plugin needs the bookkeeping (it turns it on with
# _reset_tracking): elsewhere the set would grow with every listing.
_tracking = False


def get_open_handles(gen: int) -> List[DebugHandle]:
    """Open handles opened in epoch ``gen`` or later (HPy's API)."""
    leaks = _hpydbg.get_open_handles(gen)
    if _tracking:
        _reported_leaks.update(h.handle for h in leaks)
    return leaks


def set_on_invalid_handle(callback: Optional[Callable[[], Any]]) -> None:
    """Call ``callback()`` on each invalid handle instead of aborting (HPy's API)."""
    global _callback_installed
    _hpydbg.set_on_invalid_handle(callback)
    _callbacks["handle"] = callback
    _callback_installed = _callback_installed or callback is not None


def set_on_invalid_builder_handle(callback: Optional[Callable[[], Any]]) -> None:
    """Call ``callback()`` on each invalid builder instead of aborting (HPy's API)."""
    global _callback_installed
    _hpydbg.set_on_invalid_builder_handle(callback)
    _callbacks["builder"] = callback
    _callback_installed = _callback_installed or callback is not None


def _reset_tracking() -> None:
    """Forget reported leaks; remember only the callbacks installed now."""
    global _callback_installed, _tracking
    _tracking = True
    _reported_leaks.clear()
    _callback_installed = any(cb is not None for cb in _callbacks.values())
