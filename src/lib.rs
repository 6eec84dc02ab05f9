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
//! | 1 base | `base::bug`, `base::sync`, `base::unwind`, `base::stacktrace`, `base::pytstate`, `base::pyframe`, `base::pyerr`, `base::rawdata`, `base::tlsword`, `base::saferead` | hpydbg's own failures; the GIL as lock; the fast (caching) stack walk; stack capture and symbolisation (inlined frames, demangling); where the running thread's state lives; the innermost Python frame; the pending-exception test; protected raw-data copies; static-TLS words read or compared in one instruction (the context check, the call's Python instruction); reading memory that may be garbage |
//! | 2 tables | `tables::handles`, `tables::builders`, `tables::sites`, `tables::init_sites`, `tables::fields`, `tables::shapes` | the handle table (slot + generation), the builder/tracker table, the table of open/close sites, the sites first seen during a module's exec slot, what field and global stores wrote, the builtin shapes of types (cached for `_HPy_AsStruct_*`) |
//! | 3 state | `state::settings`, `state::ctx`, `state::ctxpool`, `state::quarantine` | settings; the contexts, the shared tables and per-thread call state; the per-call context addresses (one window of them present, moved at random); closed handles' objects kept alive under go-on policies |
//! | 4 diag | `diag::log`, `diag::repeats`, `diag::describe`, `diag::report`, `diag::errstate`, `diag::signals` | where reports go; counting repeated reports; safe descriptions of objects and exceptions; what a report says and what the policy does; the error protocol (exception state); raw-data faults |
//! | 5 func | `func::call`, `func::generated`, `func::manual`, `func::builders`, `func::pointers`, `func::execution`, `func::fields`, `func::trampoline`, `func::traverse`, `func::functable` | the context's functions: one call's checks, generated and hand-written wrappers, builders and the contract on their items, which pointer arguments may be NULL, leaving/re-entering Python, fields and globals, calls into the extension, the tp_traverse contract, the function table |
//! | 6 face | `face::exports`, `face::interpose`, `face::pymod` | what the outside sees: the C exports, the redirection of `hpy.universal`, the Python module |
#![recursion_limit = "512"]

pub mod abi;
pub mod base;
pub mod tables;
pub mod state;
pub mod diag;
pub mod func;
pub mod face;
