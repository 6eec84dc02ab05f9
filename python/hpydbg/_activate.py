"""Imported at start-up by ``hpydbg.pth`` when HPY_DEBUG (or HPY=...debug...)
is set.  A failure must not break the interpreter: it says why and goes on
without hpydbg."""
import sys

try:
    import hpydbg

    hpydbg.enable_from_environment()
except Exception as e:  # noqa: BLE001
    sys.stderr.write(f"hpydbg: not enabled: {e}\n")
