"""``hpydbg.LeakDetector`` and ``hpydbg.HPyLeakError``: HPy's leak detector
with a report grouped by allocation site.

Kept apart from ``hpydbg/__init__.py`` because it imports ``hpy.debug``
(which imports ``hpy.universal``); ``hpydbg`` loads it on first use.
"""
from __future__ import annotations

from types import TracebackType
from typing import Any, List, Optional, Sequence, Type

import hpy.debug

from ._report import format_groups, group_by_site

__all__ = ["HPyDebugError", "HPyLeakError", "LeakDetector"]

HPyDebugError = hpy.debug.HPyDebugError


class HPyLeakError(hpy.debug.HPyLeakError):
    """Handles left open, grouped by where they were opened.

    A subclass of ``hpy.debug.HPyLeakError``: ``except HPyLeakError`` clauses
    written for HPy's detector catch it, and ``.leaks`` is the list of
    ``DebugHandle`` objects.  The first line of the message is HPy's
    (``N unclosed handles:``); then one block per allocation site.
    """

    leaks: List[Any]

    def __init__(self, leaks: Sequence[Any], when: str = "") -> None:
        super().__init__(list(leaks))
        self.when = when

    @property
    def sites(self) -> "dict[str, List[Any]]":
        """Leaked handles by allocation site (``"unknown site"`` without traces)."""
        return dict(group_by_site(self.leaks))

    def __str__(self) -> str:
        n = len(self.leaks)
        head = f"{n} unclosed handle{'s' if n != 1 else ''}{self.when}:"
        return "\n".join([head] + format_groups(self.leaks))


def _debug_module() -> Any:
    # Once hpydbg is enabled this is hpydbg._debug; before, HPy's own.
    import hpy.universal
    return hpy.universal._debug


class LeakDetector:
    """Detect handles opened and not closed between ``start()`` and ``stop()``.

    Same interface as ``hpy.debug.LeakDetector`` (``start``, ``stop``, use as a
    context manager, ``generation``), but ``stop()`` raises
    :class:`hpydbg.HPyLeakError` whose message groups the leaks by the source
    line that opened them (turn stack traces on to know it:
    ``hpydbg.set_stack_trace_limit(16)``).
    """

    def __init__(self) -> None:
        self.generation: Optional[int] = None

    def start(self) -> None:
        """Start a new leak-detector epoch."""
        if self.generation is not None:
            raise ValueError("LeakDetector already started")
        self.generation = _debug_module().new_generation()

    def stop(self) -> None:
        """Raise :class:`HPyLeakError` if handles opened since ``start()`` are open."""
        if self.generation is None:
            raise ValueError("LeakDetector not started yet")
        leaks = _debug_module().get_open_handles(self.generation)
        if leaks:
            raise HPyLeakError(leaks)

    def __enter__(self) -> "LeakDetector":
        self.start()
        return self

    def __exit__(self, etype: Optional[Type[BaseException]], evalue: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()
