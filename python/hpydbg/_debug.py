"""Drop-in replacement for ``hpy.universal._debug`` backed by hpydbg.

Once hpydbg is enabled, ``hpy.universal._debug`` is this module, so
``hpy.debug.LeakDetector``, ``hpy.debug.set_handle_stack_trace_limit`` and
``hpy.debug.pytest`` work unchanged on hpydbg's handle table.
"""
from ._hpydbg import (  # noqa: F401
    DebugHandle,
    get_closed_handles,
    get_closed_handles_queue_max_size,
    get_open_handles,
    get_protected_raw_data_max_size,
    new_generation,
    set_closed_handles_queue_max_size,
    set_handle_stack_trace_limit,
    set_on_invalid_builder_handle,
    set_on_invalid_handle,
    set_protected_raw_data_max_size,
)
