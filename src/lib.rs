//! hpydbg: a debug `HPyContext` that wraps any HPy universal context.
//!
//! The crate is built in layers; a module uses only modules of its own
//! layer or of layers below it, and no two modules refer to each other in a
//! cycle.  `tests/test_layers.py` reads the table below and checks every
//! `crate::` reference against it: this table is the one place the layers
//! are declared.
//!
//! | layer | modules | what it is |
//! |---|---|---|
//! | 0 abi | `abi` | HPy 0.9.0's ABI mirrored in Rust, nothing else |
//! | 1 base | `base::bug`, `base::sync`, `base::unwind`, `base::stacktrace`, `base::rawdata` | hpydbg's own failures; the GIL as lock; the fast (caching) stack walk; stack capture and symbolisation; protected raw-data copies |
//! | 2 tables | `tables::handles`, `tables::builders` | the handle table (slot + generation) and the builder/tracker table |
//! | 3 state | `state::settings`, `state::ctx` | settings; the contexts, the shared tables and per-thread call state |
//! | 4 diag | `diag::log`, `diag::report`, `diag::signals` | where reports go; what a report says and what the policy does; raw-data faults |
//! | 5 func | `func::call`, `func::generated`, `func::manual`, `func::trampoline`, `func::functable` | the context's functions: one call's checks, generated and hand-written wrappers, calls into the extension, the function table |
//! | 6 face | `face::exports`, `face::interpose`, `face::pymod` | what the outside sees: the C exports, the redirection of `hpy.universal`, the Python module |
#![recursion_limit = "512"]

pub mod abi;
pub mod base;
pub mod tables;
pub mod state;
pub mod diag;
pub mod func;
pub mod face;
