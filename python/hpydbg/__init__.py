"""hpydbg: a strict, helpful debug mode for HPy C extensions.

``enable()`` makes every HPy debug-mode load use hpydbg's context (written in
Rust) instead of HPy's own C debug mode; ``HPY_DEBUG=1`` in the environment
does it at start-up and puts every HPy universal module in debug mode.
"""
from __future__ import annotations

import os
import sys
from typing import Iterable, Optional

from . import _hpydbg

__all__ = ["enable", "is_enabled", "context_name", "stats", "HPY_VERSION"]

HPY_VERSION = "0.9.0"

_enabled = False
# None: only modules HPy itself puts in debug mode (HPY=..., mode=MODE_DEBUG);
# "all": every universal module; or a set of module names.
_debug_modules: "Optional[object]" = None


class ActivationError(RuntimeError):
    """hpydbg could not take over HPy's debug mode."""


def _check_hpy_version() -> None:
    try:
        from importlib.metadata import version
        v = version("hpy")
    except Exception:  # pragma: no cover - metadata missing
        return
    if v != HPY_VERSION:
        raise ActivationError(
            f"hpydbg implements the HPy {HPY_VERSION} ABI but hpy {v} is installed: "
            f"run `pip install hpy=={HPY_VERSION}`")


def _parse_selection(value: str):
    v = value.strip()
    if v.lower() in ("", "0", "false", "no", "off"):
        return None
    if v.lower() in ("1", "true", "yes", "on", "all", "*"):
        return "all"
    return {name.strip() for name in v.split(",") if name.strip()}


class _EnvWithDebug:
    """A read-only mapping over the environment that asks for debug mode.

    Deliberately not a dict: hpy 0.9.0's ``_load_bootstrap`` mishandles
    references it gets from a real dict.
    """

    def __init__(self, env, name: str):
        self._env = env
        self._name = name

    def __getitem__(self, key):
        if key == "HPY":
            return "debug"
        return self._env[key]

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key):
        return key == "HPY" or key in self._env


def _wants_debug(name: str) -> bool:
    sel = _debug_modules
    if sel is None:
        return False
    if sel == "all":
        return True
    return name in sel or name.rsplit(".", 1)[-1] in sel


def _install_bootstrap_hook(universal) -> None:
    original = universal._load_bootstrap
    if getattr(original, "_hpydbg_hook", False):
        return

    def _load_bootstrap(name, ext_name, package, file, loader, spec, env):
        if _wants_debug(name):
            env = _EnvWithDebug(env, name)
        return original(name, ext_name, package, file, loader, spec, env)

    _load_bootstrap._hpydbg_hook = True  # type: ignore[attr-defined]
    _load_bootstrap.__wrapped__ = original  # type: ignore[attr-defined]
    universal._load_bootstrap = _load_bootstrap


def enable(modules: "Optional[Iterable[str] | str]" = None) -> None:
    """Make HPy's debug mode use hpydbg's context.

    Works whether or not ``hpy.universal`` was already imported.  With
    ``modules="all"`` every HPy universal module loaded from now on is loaded
    in debug mode; with a list of names, those modules.  Modules loaded
    before this call keep the context they were loaded with.
    """
    global _enabled, _debug_modules
    if modules is not None:
        _debug_modules = modules if modules == "all" else set(modules)
    if _enabled:
        return
    _check_hpy_version()
    import hpy.universal as universal
    from . import _debug

    n = _hpydbg._rebind_universal(universal.__file__)
    if n == 0:
        raise ActivationError(
            "hpy.universal does not call hpy_debug_get_ctx through its GOT "
            f"({universal.__file__}); hpydbg cannot redirect its debug mode. "
            f"Is this the hpy {HPY_VERSION} wheel for CPython?")
    universal._debug = _debug
    ld = sys.modules.get("hpy.debug.leakdetector")
    if ld is not None:
        ld._debug = _debug
    _install_bootstrap_hook(universal)
    _enabled = True


def enable_from_environment() -> bool:
    """Enable according to the environment; True if enabled.

    ``HPY_DEBUG=1`` (or ``all``): every HPy universal module loads in debug
    mode on hpydbg's context; ``HPY_DEBUG=modA,modB``: those modules.
    ``HPYDBG=1``, or ``HPY`` naming debug mode: hpydbg provides the debug
    context, and HPy's own rules decide which modules use it.
    """
    sel = _parse_selection(os.environ.get("HPY_DEBUG", ""))
    hpy_env = os.environ.get("HPY", "").lower()
    if sel is None and "debug" not in hpy_env and _parse_selection(os.environ.get("HPYDBG", "")) is None:
        return False
    enable(sel if sel is not None else None)
    traces = os.environ.get("HPY_DEBUG_TRACES", "").strip()
    if traces:
        _hpydbg.set_handle_stack_trace_limit(int(traces) if traces.isdigit() else 16)
    if sel is not None and os.environ.get("HPY_DEBUG_EXIT_REPORT", "1") != "0":
        import atexit
        from ._report import print_exit_summary
        atexit.register(print_exit_summary)
    return True


def is_enabled() -> bool:
    return _enabled


def context_name() -> str:
    """The name of the context that debug-mode loads get once enabled."""
    return _hpydbg.context_name()


def stats() -> dict:
    """Counters of hpydbg's handle table."""
    return dict(_hpydbg.stats())
