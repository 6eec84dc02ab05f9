//! Layer 4: diagnostics (reports, logs, fault handling).
pub mod describe;
pub mod errstate;
pub mod log;
pub mod repeats;
pub mod report;
pub mod signals;
