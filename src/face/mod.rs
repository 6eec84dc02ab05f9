//! Layer 6: what the outside sees.
pub mod exports;
pub mod interpose;
pub mod pymod;
