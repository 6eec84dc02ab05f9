//! Layer 4: diagnostics (reports, logs, fault handling).
pub mod log;
pub mod repeats;
pub mod report;
pub mod signals;
