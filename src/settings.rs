//! User-adjustable settings shared by all contexts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use pyo3::prelude::*;

pub struct Settings {
    /// Frames captured per handle open/close; 0 = no stack traces.
    stack_trace_limit: AtomicUsize,
    pub on_invalid_handle: Mutex<Option<Py<PyAny>>>,
    pub on_invalid_builder_handle: Mutex<Option<Py<PyAny>>>,
}

impl Settings {
    pub const fn new() -> Self {
        Settings {
            stack_trace_limit: AtomicUsize::new(0),
            on_invalid_handle: Mutex::new(None),
            on_invalid_builder_handle: Mutex::new(None),
        }
    }

    #[inline]
    pub fn stack_trace_limit(&self) -> usize {
        self.stack_trace_limit.load(Ordering::Relaxed)
    }

    pub fn set_stack_trace_limit(&self, n: usize) {
        self.stack_trace_limit.store(n, Ordering::Relaxed)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::new()
    }
}
