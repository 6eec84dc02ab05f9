//! hpydbg: a debug `HPyContext` that wraps any HPy universal context.
//!
//! Layout: `abi` mirrors HPy's ABI; `handles`, `builders`, `rawdata`,
//! `stacktrace` are the data structures; `ctx` owns the contexts and shared
//! state; `api` (generated wrappers) and `manual` (hand-written ones) fill
//! the function table; `trampoline` handles calls from the runtime into the
//! extension; `report` decides what happens on misuse; `exports` is the C
//! API (`include/hpydbg.h`); `interpose` redirects `hpy.universal` to us;
//! `pymod` is the Python module.
#![recursion_limit = "512"]

pub mod abi;
pub mod api;
pub mod builders;
pub mod ctx;
pub mod exports;
pub mod handles;
pub mod interpose;
pub mod log;
pub mod manual;
pub mod pymod;
pub mod rawdata;
pub mod report;
pub mod settings;
pub mod signals;
pub mod stacktrace;
pub mod sync;
pub mod trampoline;
