"""hpydbg: a strict, helpful debug mode for HPy C extensions.

``enable()`` makes every HPy debug-mode load use hpydbg's context (written in
Rust) instead of HPy's own C debug mode; ``HPY_DEBUG=1`` in the environment
does it at start-up and puts every HPy universal module in debug mode.

(PYTEST_DONT_REWRITE: the package is often imported before pytest starts,
through hpydbg.pth; its pytest plugin needs no assertion rewriting.)
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional

from . import _hpydbg

if TYPE_CHECKING:  # loaded lazily: they import hpy.debug (and hpy.universal)
    from ._leaks import HPyDebugError, HPyLeakError, LeakDetector  # noqa: F401

if sys.version_info >= (3, 8):
    from typing import TypedDict
else:  # pragma: no cover
    TypedDict = dict

__all__ = [
    "enable", "enable_from_environment", "is_enabled", "context_name", "HPY_VERSION",
    "LeakDetector", "HPyLeakError", "HPyDebugError", "ActivationError", "UnsupportedError",
    "open_handles", "closed_handles", "take_reports", "stats",
    "set_stack_trace_limit", "get_stack_trace_limit",
    "set_closed_handles_queue_max_size", "get_closed_handles_queue_max_size",
    "set_protected_raw_data_max_size", "get_protected_raw_data_max_size",
    "set_policy", "get_policy", "POLICIES", "set_log",
]

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


def _reissue_warnings(caught, caller) -> None:
    import warnings
    for w in caught:
        filename, lineno = w.filename, w.lineno
        if os.path.abspath(filename) == os.path.abspath(__file__):
            filename, lineno = caller.f_code.co_filename, caller.f_lineno
        warnings.warn_explicit(w.message, w.category, filename, lineno,
                               module=caller.f_globals.get("__name__"),
                               registry=caller.f_globals.setdefault("__warningregistry__", {}))


def _call_warnings_at_caller(fn, *args, **kwargs):
    """Call ``fn``; a warning the extension's init raises from C names the
    innermost Python frame, which would be hpydbg's wrapper: re-issue such
    warnings at the wrapper's caller (the loader stub, or the harness's
    ``load`` line), where universal mode puts them."""
    import warnings
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            return fn(*args, **kwargs)
    finally:
        # Outside the recording block (else they are recorded again).
        _reissue_warnings(caught, sys._getframe(2))


def _install_bootstrap_hook(universal) -> None:
    """Loader stubs (``import mod``) call ``_load_bootstrap``, which reads
    the mode from the ``env`` mapping: ask for debug mode there."""
    original = universal._load_bootstrap
    if getattr(original, "_hpydbg_hook", False):
        return

    def _load_bootstrap(name, ext_name, package, file, loader, spec, env):
        if _wants_debug(name):
            env = _EnvWithDebug(env, name)
        return _call_warnings_at_caller(original, name, ext_name, package, file, loader, spec, env)

    _load_bootstrap._hpydbg_hook = True  # type: ignore[attr-defined]
    _load_bootstrap.__wrapped__ = original  # type: ignore[attr-defined]
    universal._load_bootstrap = _load_bootstrap


def _install_load_hook(universal) -> None:
    """Test harnesses (piconumpy's, ultrajson-hpy's) call
    ``hpy.universal.load(name, path, spec)`` without a mode, which HPy loads
    in universal mode: under ``HPY_DEBUG`` the selected modules get debug
    mode instead.  A ``mode=`` or ``debug=`` the caller passes is kept."""
    original = universal.load
    if getattr(original, "_hpydbg_hook", False):
        return

    def load(*args, **kwargs):
        if len(args) <= 3 and "mode" not in kwargs and "debug" not in kwargs:
            name = args[0] if args else kwargs.get("name")
            if isinstance(name, str) and _wants_debug(name):
                kwargs["mode"] = universal.MODE_DEBUG
        return _call_warnings_at_caller(original, *args, **kwargs)

    load._hpydbg_hook = True  # type: ignore[attr-defined]
    load.__wrapped__ = original  # type: ignore[attr-defined]
    load.__doc__ = original.__doc__
    universal.load = load


def enable(modules: "Optional[Iterable[str] | str]" = None) -> None:
    """Make HPy's debug mode use hpydbg's context.

    Works whether or not ``hpy.universal`` was already imported.  With
    ``modules="all"`` every HPy universal module loaded from now on is loaded
    in debug mode; with a list of names, those modules.  Modules loaded
    before this call keep the context they were loaded with.  With
    ``HPY_DEBUG_STUBS=1`` in the environment, HPy 0.9.0 loader stubs that
    import ``pkg_resources`` are loaded by hpydbg (without it) from now on.
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
    _install_load_hook(universal)
    if os.environ.get("HPY_DEBUG_STUBS", "").strip().lower() in ("1", "true", "yes", "on"):
        from . import _stubs
        _stubs.install_finder()
    _enabled = True


def _explicitly_disabled() -> bool:
    """``HPYDBG=0`` (or false/no/off) disables hpydbg entirely, even when
    ``HPY_DEBUG`` or ``HPY=debug`` is set: HPy's own C debug mode is then used."""
    return os.environ.get("HPYDBG", "").strip().lower() in ("0", "false", "no", "off")


def enable_from_environment() -> bool:
    """Enable according to the environment; True if enabled.

    ``HPY_DEBUG=1`` (or ``all``): every HPy universal module loads in debug
    mode on hpydbg's context; ``HPY_DEBUG=modA,modB``: those modules.
    ``HPYDBG=1``, or ``HPY`` naming debug mode: hpydbg provides the debug
    context, and HPy's own rules decide which modules use it.  ``HPYDBG=0``:
    never (HPy's own C debug mode serves ``HPY=debug``).
    """
    if _explicitly_disabled():
        return False
    sel = _parse_selection(os.environ.get("HPY_DEBUG", ""))
    hpy_env = os.environ.get("HPY", "").lower()
    if sel is None and "debug" not in hpy_env and _parse_selection(os.environ.get("HPYDBG", "")) is None:
        return False
    enable(sel if sel is not None else None)
    traces = os.environ.get("HPY_DEBUG_TRACES", "").strip()
    if traces:
        _hpydbg.set_handle_stack_trace_limit(int(traces) if traces.isdigit() else 16)
    if sel is not None and (os.environ.get("HPY_DEBUG_EXIT_REPORT", "1") != "0"
                            or os.environ.get("HPY_DEBUG_EXITCODE")):
        import atexit
        from ._report import print_exit_summary
        from .suppressions import SuppressionError, from_environment
        try:  # a broken file is reported now, not only at exit
            from_environment()
        except SuppressionError as e:
            sys.stderr.write(f"hpydbg: {e} (HPY_DEBUG_SUPPRESSIONS ignored)\n")
        atexit.register(print_exit_summary)
    return True


def is_enabled() -> bool:
    """Whether ``enable()`` has run in this process."""
    return _enabled


def context_name() -> str:
    """The name of the context that debug-mode loads get once enabled."""
    return _hpydbg.context_name()


def __getattr__(name: str) -> Any:
    if name in ("LeakDetector", "HPyLeakError"):
        from . import _leaks
        return getattr(_leaks, name)
    if name == "HPyDebugError":
        # The Rust side raises its own under the "raise" policy when it has one.
        err = getattr(_hpydbg, "HPyDebugError", None)
        if err is None:
            from ._leaks import HPyDebugError as err
        return err
    raise AttributeError(f"module 'hpydbg' has no attribute {name!r}")


# -- handles ---------------------------------------------------------------

def open_handles(epoch: Optional[int] = None) -> List["_hpydbg.DebugHandle"]:
    """Handles open now, oldest first; with ``epoch``, only those opened in
    that leak-detector epoch (see ``LeakDetector.generation``) or later."""
    return list(_hpydbg.get_open_handles(0 if epoch is None else int(epoch)))


def closed_handles() -> List["_hpydbg.DebugHandle"]:
    """Closed handles still remembered (the closed-handles queue), oldest first."""
    return list(_hpydbg.get_closed_handles(0))


# -- settings --------------------------------------------------------------

POLICIES = ("abort", "raise", "log")


class UnsupportedError(RuntimeError):
    """This build of ``hpydbg._hpydbg`` lacks a function the call needs."""


def _rust(name: str) -> Any:
    fn = getattr(_hpydbg, name, None)
    if fn is None:
        raise UnsupportedError(
            f"this build of hpydbg's Rust module ({_hpydbg.__file__}) has no {name}(); "
            f"reinstall hpydbg from a checkout that provides it")
    return fn


def set_stack_trace_limit(limit: Optional[int]) -> None:
    """Record up to ``limit`` frames where handles are opened and closed
    (``None`` or 0: off).  Needed to know where leaked handles were opened."""
    _hpydbg.set_handle_stack_trace_limit(limit if limit else None)


def get_stack_trace_limit() -> int:
    """Frames recorded per handle operation (0: off)."""
    return int(_hpydbg.get_handle_stack_trace_limit())


def set_closed_handles_queue_max_size(size: int) -> None:
    """How many closed handles are remembered (and their slots kept from reuse)."""
    _hpydbg.set_closed_handles_queue_max_size(int(size))


def get_closed_handles_queue_max_size() -> int:
    return int(_hpydbg.get_closed_handles_queue_max_size())


def set_protected_raw_data_max_size(size: int) -> None:
    """Memory budget in bytes for protected copies of raw data
    (``HPyUnicode_AsUTF8AndSize`` & co.)."""
    _hpydbg.set_protected_raw_data_max_size(int(size))


def get_protected_raw_data_max_size() -> int:
    return int(_hpydbg.get_protected_raw_data_max_size())


def set_policy(name: str) -> None:
    """What happens on a misuse: ``"abort"`` (default: report, then stop the
    process), ``"raise"`` (report, then raise ``hpydbg.HPyDebugError`` where the
    API has an error return) or ``"log"`` (report and go on)."""
    if name not in POLICIES:
        raise ValueError(f"unknown hpydbg policy {name!r}: expected one of {', '.join(POLICIES)}")
    _rust("set_policy")(name)


def get_policy() -> str:
    """The current misuse policy (see :func:`set_policy`)."""
    return str(_rust("get_policy")())


def set_log(path: Optional[str] = None, format: Optional[str] = None) -> None:
    """Send reports and leak summaries to ``path`` (appended; None: stderr),
    as ``"text"`` or ``"json"`` (JSON lines; None: keep the current format).
    Overrides ``HPY_DEBUG_LOG`` / ``HPY_DEBUG_LOG_FORMAT``."""
    if format not in (None, "text", "json"):
        raise ValueError(f"unknown log format {format!r}: expected 'text' or 'json'")
    from ._report import set_log as _set_report_log
    rust_set_log = getattr(_hpydbg, "set_log", None)
    if rust_set_log is not None:
        rust_set_log(path, format)
    _set_report_log(path, format)


def take_reports() -> List[Dict[str, Any]]:
    """The structured misuse reports (schema of docs/REPORTS.md) made since
    the previous call, oldest first."""
    return [dict(r) for r in _rust("take_reports")()]


# -- counters --------------------------------------------------------------

class Stats(TypedDict, total=False):
    open_now: int
    peak_open: int
    opened_total: int
    closed_total: int
    closed_queue: int
    protected_raw_bytes: int
    open_builders_and_trackers: int
    reports: Dict[str, int]


def stats() -> Stats:
    """Counters of hpydbg's handle table: ``open_now``, ``peak_open``,
    ``opened_total``, ``closed_total`` (plus queue and raw-data sizes), and
    ``reports``: misuse reports made so far by class (``{}`` if none, or if
    this build does not count them)."""
    d: Dict[str, Any] = dict(_hpydbg.stats())
    reports = d.get("reports")
    d["reports"] = {str(k): int(v) for k, v in dict(reports).items()} if reports else {}
    return d  # type: ignore[return-value]
