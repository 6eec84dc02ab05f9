//! Layer 4: diagnostics (reports, logs, fault handling).
pub mod log;
pub mod report;
pub mod signals;
