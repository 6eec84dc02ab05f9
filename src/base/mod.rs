//! Layer 1: what everything else stands on (see the crate docs).
pub mod bug;
pub mod rawdata;
pub mod stacktrace;
pub mod sync;
pub mod unwind;
