//! User-adjustable settings shared by all contexts.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

use pyo3::prelude::*;

/// What happens after a misuse was reported (see docs/REPORTS.md).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Policy {
    Abort = 0,
    Raise = 1,
    Log = 2,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Policy> {
        match s.trim().to_ascii_lowercase().as_str() {
            "abort" | "fatal" => Some(Policy::Abort),
            "raise" | "exception" => Some(Policy::Raise),
            "log" | "continue" | "warn" => Some(Policy::Log),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Policy::Abort => "abort",
            Policy::Raise => "raise",
            Policy::Log => "log",
        }
    }
}

const POLICY_UNSET: u8 = 255;

pub struct Settings {
    /// Frames captured per handle open/close; 0 = no stack traces.
    stack_trace_limit: AtomicUsize,
    policy: AtomicU8,
    /// A Python callback is installed (execution goes on after reports).
    has_callback: AtomicBool,
    /// Execution goes on after reports (a callback, or a policy other than
    /// abort): closes must then note objects that die.  Derived, kept for
    /// the close fast path (one load).
    go_on: AtomicBool,
    /// Where handles are opened and closed is recorded (`tables::sites`);
    /// on unless `HPY_DEBUG_SITES=0`.
    sites: AtomicBool,
    pub on_invalid_handle: Mutex<Option<Py<PyAny>>>,
    pub on_invalid_builder_handle: Mutex<Option<Py<PyAny>>>,
}

impl Settings {
    pub const fn new() -> Self {
        Settings {
            stack_trace_limit: AtomicUsize::new(0),
            policy: AtomicU8::new(POLICY_UNSET),
            has_callback: AtomicBool::new(false),
            go_on: AtomicBool::new(false),
            sites: AtomicBool::new(false),
            on_invalid_handle: Mutex::new(None),
            on_invalid_builder_handle: Mutex::new(None),
        }
    }

    #[inline]
    pub fn stack_trace_limit(&self) -> usize {
        self.stack_trace_limit.load(Ordering::Relaxed)
    }

    /// Setters are called through `ctx`, which also tells the handle table
    /// (see `ctx::settings_changed`).
    pub fn set_stack_trace_limit(&self, n: usize) {
        self.stack_trace_limit.store(n, Ordering::Relaxed);
    }

    pub fn set_has_callback(&self, v: bool) {
        self.has_callback.store(v, Ordering::Relaxed);
        self.update_go_on();
    }

    fn update_go_on(&self) {
        let p = self.policy.load(Ordering::Relaxed);
        let v = self.has_callback.load(Ordering::Relaxed) || (p != Policy::Abort as u8 && p != POLICY_UNSET);
        self.go_on.store(v, Ordering::Relaxed);
    }

    /// Whether the handle table must send every open and close to its slow
    /// paths: per-handle stack traces on.
    pub fn wants_slow_paths(&self) -> bool {
        self.stack_trace_limit.load(Ordering::Relaxed) != 0
    }

    /// A Python callback is installed for invalid handles or builders.
    #[inline]
    pub fn has_callback(&self) -> bool {
        self.has_callback.load(Ordering::Relaxed)
    }

    /// Whether execution may go on after a report (a callback, or a policy
    /// other than abort): closed handles' objects must then be tracked more
    /// carefully.  One load (the policy is resolved at init).
    #[inline(always)]
    pub fn go_on(&self) -> bool {
        self.go_on.load(Ordering::Relaxed)
    }

    /// Whether open and close sites are recorded (`HPY_DEBUG_SITES`, read
    /// at init).
    #[inline(always)]
    pub fn sites(&self) -> bool {
        self.sites.load(Ordering::Relaxed)
    }

    /// Read the settings the environment gives (at init, before any call).
    pub fn read_env(&self) {
        let _ = self.policy();
        let on = !matches!(std::env::var("HPY_DEBUG_SITES").as_deref().map(str::trim), Ok("0" | "off" | "no" | "false"));
        self.set_sites(on);
    }

    pub fn set_sites(&self, on: bool) {
        self.sites.store(on, Ordering::Relaxed);
    }

    /// The policy: `HPY_DEBUG_POLICY` until set from Python.
    pub fn policy(&self) -> Policy {
        match self.policy.load(Ordering::Relaxed) {
            0 => Policy::Abort,
            1 => Policy::Raise,
            2 => Policy::Log,
            _ => {
                let p = std::env::var("HPY_DEBUG_POLICY").ok().and_then(|v| Policy::parse(&v)).unwrap_or(Policy::Abort);
                self.set_policy(p);
                p
            }
        }
    }

    pub fn set_policy(&self, p: Policy) {
        self.policy.store(p as u8, Ordering::Relaxed);
        self.update_go_on();
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::new()
    }
}
