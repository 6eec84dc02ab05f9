//! Layer 1: what everything else stands on (see the crate docs).
pub mod bug;
pub mod pyframe;
pub mod pyerr;
pub mod pytstate;
pub mod rawdata;
pub mod saferead;
pub mod stacktrace;
pub mod sync;
pub mod tlsword;
pub mod unwind;
