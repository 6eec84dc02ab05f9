//! Layer 3: settings and the state shared by all contexts.
pub mod ctx;
pub mod ctxpool;
pub mod settings;
pub mod quarantine;
