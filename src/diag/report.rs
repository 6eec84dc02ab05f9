//! Diagnostics: the one place that decides what happens when the extension
//! misuses the API (classes and policy: docs/REPORTS.md).
//!
//! Every report says what went wrong (class and HPy's first-line wording),
//! in which API function, which handle (value, slot, generation), where the
//! faulty call was made, where the handle was opened and closed when known,
//! and what to do.  It is written through `log` (text or JSON lines), kept
//! for `take_reports()`, and then: the user's Python callback runs, or the
//! policy decides (abort, raise, log).

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Mutex;

use pyo3::prelude::*;

use crate::tables::builders::{AuxError, AuxKind};
use crate::base::sync::lock;
use crate::state::ctx::{self, SETTINGS, TABLE};
use crate::tables::handles::{decode, Lookup};
use crate::diag::log::{self, json_str};
use crate::state::settings::Policy;
use crate::base::stacktrace::{Frame, Trace};

pyo3::create_exception!(hpydbg, HPyDebugError, pyo3::exceptions::PyException, "A misuse of the HPy API found by hpydbg.");

pub const CLOSED_HANDLE: &str = "Invalid usage of already closed handle";
pub const CLOSED_BUILDER: &str = "Invalid usage of already closed builder";
pub const CLOSED_TRACKER: &str = "Invalid usage of already closed tracker";
pub const WRONG_CONTEXT: &str = "Error: Wrong HPy Context!";

/// What the caller must do after a report.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[must_use]
pub enum Outcome {
    /// Go on with the call (forwarding what is still known).
    Continue,
    /// Do not make the call: return the function's error value.
    Skip,
}

/// How the value was used, for the report.
#[derive(Copy, Clone)]
pub enum Use<'a> {
    /// Passed as argument `name` of API function `api`.
    Arg { api: &'a str, name: &'a str },
    /// Closed with `HPy_Close` (or by a tracker).
    Close { api: &'a str },
    /// Returned to the runtime by an extension function.
    Return,
    /// An argument handle the runtime closes after the call.
    CallArg,
    /// `HPy_Close` of an argument handle (the runtime owns it).
    CloseArg { api: &'a str },
}

impl Use<'_> {
    fn api(&self) -> Option<&str> {
        match *self {
            Use::Arg { api, .. } | Use::Close { api } | Use::CloseArg { api } => Some(api),
            Use::Return | Use::CallArg => None,
        }
    }

    fn describe(&self) -> String {
        match *self {
            Use::Arg { api, name } => format!("passed as argument '{}' of {}()", name, api),
            Use::Close { api } | Use::CloseArg { api } => format!("closed by {}()", api),
            Use::Return => "returned by an extension function to its caller".into(),
            Use::CallArg => "argument handle checked when the extension function returned".into(),
        }
    }
}

/// One finding.
#[derive(Clone, Debug)]
pub struct Report {
    pub class: &'static str,
    pub api: Option<String>,
    /// First line, HPy's wording where HPy has one.
    pub message: String,
    pub detail: String,
    pub todo: String,
    pub usage: Option<String>,
    pub handle: Option<isize>,
    /// Frame of the extension where the faulty call was made.
    pub site: Option<Frame>,
    pub opened_at: Option<Trace>,
    pub closed_at: Option<Trace>,
    pub note: Option<String>,
    /// A user callback handled it (set_on_invalid_handle & co.).
    pub callback: bool,
}

impl Report {
    fn new(class: &'static str, api: Option<&str>, message: &str, detail: String, todo: &str) -> Report {
        Report {
            class,
            api: api.map(|s| s.to_string()),
            message: message.to_string(),
            detail,
            todo: todo.to_string(),
            usage: None,
            handle: None,
            site: None,
            opened_at: None,
            closed_at: None,
            note: None,
            callback: false,
        }
    }

    /// Record where the faulty call happened (the current stack).
    fn here(mut self) -> Self {
        self.site = Trace::capture(48).site();
        self
    }

    /// Attach what the table knows about handle `h`.
    fn with_handle(mut self, h: isize, l: Lookup) -> Self {
        self.handle = Some(h);
        let t = TABLE.lock();
        match l {
            Lookup::Closed { index, .. } | Lookup::Open { index, .. } | Lookup::Immortal { index, .. } => {
                if let Some(e) = t.extra(index) {
                    self.opened_at = e.opened_at.clone();
                    self.closed_at = e.closed_at.clone();
                }
            }
            Lookup::Stale { reused, now_gen, .. } => {
                self.note = Some(if reused {
                    format!("it was closed long ago: its slot has been reused since (now at generation {})", now_gen)
                } else {
                    "it was closed long ago: its record left the closed-handles queue".to_string()
                });
            }
            _ => {}
        }
        self
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.message);
        let _ = writeln!(out, "hpydbg: {} [{}]", self.detail, self.class);
        if let Some(u) = &self.usage {
            let _ = writeln!(out, "  in: {}", u);
        } else if let Some(api) = &self.api {
            let _ = writeln!(out, "  in: {}()", api);
        }
        if let Some(site) = &self.site {
            let _ = writeln!(out, "  at: {}", site.text());
        }
        if let Some(h) = self.handle {
            let _ = write!(out, "  handle: {:#x}", h);
            if let Some((index, gen)) = decode(h) {
                let _ = write!(out, " (slot {}, generation {})", index, gen);
            }
            out.push('\n');
            if let Some(n) = &self.note {
                let _ = writeln!(out, "  {}", n);
            }
            trace_lines(&mut out, "opened at", self.opened_at.as_ref(), true);
            if self.closed_at.is_some() || matches!(self.class, "use-after-close" | "double-close" | "return-closed" | "argument-closed") {
                trace_lines(&mut out, "closed at", self.closed_at.as_ref(), self.note.is_none());
            }
        }
        if let (None, Some(n)) = (self.handle, &self.note) {
            let _ = writeln!(out, "  note: {}", n);
        }
        let _ = writeln!(out, "  what to do: {}", self.todo);
        out
    }

    pub fn json(&self) -> String {
        let opt = |s: &Option<String>| s.as_deref().map(json_str).unwrap_or_else(|| "null".into());
        format!(
            "{{\"event\": \"misuse\", \"class\": {}, \"api\": {}, \"message\": {}, \"detail\": {}, \"what_to_do\": {}, \
             \"handle\": {}, \"note\": {}, \"site\": {}, \"opened_at\": {}, \"closed_at\": {}, \"callback\": {}, \"pid\": {}}}",
            json_str(self.class),
            opt(&self.api),
            json_str(&self.message),
            json_str(&self.detail),
            json_str(&self.todo),
            self.handle.map(|h| json_str(&format!("{:#x}", h))).unwrap_or_else(|| "null".into()),
            opt(&self.note),
            self.site.as_ref().map(frame_json).unwrap_or_else(|| "null".into()),
            trace_json(self.opened_at.as_ref()),
            trace_json(self.closed_at.as_ref()),
            self.callback,
            std::process::id()
        )
    }
}

pub fn frame_json(f: &Frame) -> String {
    format!(
        "{{\"function\": {}, \"file\": {}, \"line\": {}, \"object\": {}}}",
        f.function.as_deref().map(json_str).unwrap_or_else(|| "null".into()),
        f.file.as_deref().map(json_str).unwrap_or_else(|| "null".into()),
        f.line.map(|l| l.to_string()).unwrap_or_else(|| "null".into()),
        json_str(&f.object)
    )
}

pub fn trace_json(t: Option<&Trace>) -> String {
    match t {
        None => "null".into(),
        Some(t) => format!("[{}]", t.resolve().iter().map(frame_json).collect::<Vec<_>>().join(", ")),
    }
}

fn trace_lines(out: &mut String, label: &str, t: Option<&Trace>, hint: bool) {
    match t {
        Some(t) => {
            let _ = writeln!(out, "  {}:", label);
            out.push_str(&t.render("    "));
        }
        None if hint => {
            let _ = writeln!(
                out,
                "  {}: unknown (stack traces are off: HPY_DEBUG_TRACES=16 or hpy.debug.set_handle_stack_trace_limit(16) records them)",
                label
            );
        }
        None => {}
    }
}

/// Reports kept for `take_reports()` (bounded) and counts by class.
struct Kept {
    recent: VecDeque<Report>,
    counts: HashMap<&'static str, u64>,
    dropped: u64,
}

static KEPT: Mutex<Option<Kept>> = Mutex::new(None);
/// Reports kept for `take_reports()`; older ones are counted as dropped
/// (`stats()["reports_dropped"]`) but were written to the log.
const KEEP_MAX: usize = 100_000;

fn keep(r: &Report) {
    let mut g = lock(&KEPT);
    let k = g.get_or_insert_with(|| Kept { recent: VecDeque::new(), counts: HashMap::new(), dropped: 0 });
    *k.counts.entry(r.class).or_insert(0) += 1;
    if k.recent.len() >= KEEP_MAX {
        k.recent.pop_front();
        k.dropped += 1;
    }
    k.recent.push_back(r.clone());
}

/// Reports since the last call, oldest first.
pub fn take_reports() -> Vec<Report> {
    let mut g = lock(&KEPT);
    g.as_mut().map(|k| k.recent.drain(..).collect()).unwrap_or_default()
}

/// Reports no longer held for `take_reports()`.
pub fn dropped() -> u64 {
    lock(&KEPT).as_ref().map(|k| k.dropped).unwrap_or(0)
}

/// Number of reports by class since start.
pub fn counts() -> Vec<(&'static str, u64)> {
    let g = lock(&KEPT);
    let mut v: Vec<_> = g.as_ref().map(|k| k.counts.iter().map(|(a, b)| (*a, *b)).collect()).unwrap_or_default();
    v.sort();
    v
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum Callback {
    None,
    Handle,
    Builder,
}

/// Write, keep, then callback or policy.
fn deliver(mut r: Report, cb: Callback) -> Outcome {
    let slot = match cb {
        Callback::Handle => Some(&SETTINGS.on_invalid_handle),
        Callback::Builder => Some(&SETTINGS.on_invalid_builder_handle),
        Callback::None => None,
    };
    let callback = slot.and_then(|slot| Python::attach(|py| lock(slot).as_ref().map(|c| c.clone_ref(py))));
    r.callback = callback.is_some();
    log::emit(r.class, &r.text(), &r.json());
    keep(&r);
    {
        if let Some(callback) = callback {
            Python::attach(|py| {
                // An exception may be pending (the extension is returning an
                // error): keep it across the callback.
                let pending = PyErr::take(py);
                if let Err(e) = callback.call0(py) {
                    eprintln!("Error when executing the on_invalid_(builder_)handle callback");
                    e.print(py);
                }
                if let Some(e) = pending {
                    e.restore(py);
                }
            });
            return Outcome::Continue;
        }
    }
    match SETTINGS.policy() {
        Policy::Abort => fatal(&r.message),
        Policy::Raise => Outcome::Skip,
        Policy::Log => Outcome::Continue,
    }
}

/// An invalid object handle.
pub fn invalid_handle(u: Use, h: isize, l: Lookup) -> Outcome {
    let (class, first, why, todo): (&'static str, &str, &str, &str) = match (l, u) {
        (_, Use::CloseArg { .. }) => (
            "close-argument",
            "Invalid usage: HPy_Close of an argument handle",
            "argument handles belong to the caller: the runtime closes them when the function returns",
            "remove this HPy_Close (or close an HPy_Dup of the argument instead); the handle was left open",
        ),
        (Lookup::Closed { .. } | Lookup::Stale { .. }, Use::Close { .. }) => {
            ("double-close", CLOSED_HANDLE, "double close: this handle was already closed", "close each handle exactly once")
        }
        (Lookup::Closed { .. } | Lookup::Stale { .. }, Use::Return) => (
            "return-closed",
            CLOSED_HANDLE,
            "the function returned a handle that is closed (often an argument returned without HPy_Dup)",
            "return HPy_Dup(ctx, h) of a handle you do not own",
        ),
        (Lookup::Closed { .. } | Lookup::Stale { .. }, Use::CallArg) => (
            "argument-closed",
            CLOSED_HANDLE,
            "an argument handle was closed by the extension function",
            "do not close argument handles: the caller owns them",
        ),
        (Lookup::Closed { .. } | Lookup::Stale { .. }, Use::Arg { .. }) => (
            "use-after-close",
            CLOSED_HANDLE,
            "use after close",
            "do not use a handle after HPy_Close; HPy_Dup it if you need it longer",
        ),
        (Lookup::Immortal { .. }, Use::Return) => (
            "return-constant",
            CLOSED_HANDLE,
            "the function returned a context constant (ctx->h_...) without HPy_Dup",
            "return HPy_Dup(ctx, ctx->h_None) and the like",
        ),
        (Lookup::Immortal { .. }, _) => {
            ("close-constant", CLOSED_HANDLE, "a context constant (ctx->h_...) was closed", "never close ctx->h_* constants")
        }
        (Lookup::Universal, _) => (
            "foreign-handle",
            "Invalid usage of a handle that does not belong to the debug context",
            "an odd value: a universal-mode handle, or a handle from another context",
            "only use handles you got from the ctx passed to this call",
        ),
        (Lookup::NotAHandle, _) => (
            "not-a-handle",
            "Invalid usage of a value that is not an HPy handle",
            "this value was never handed out as a handle (uninitialised variable? garbage?)",
            "check where this value comes from",
        ),
        (Lookup::Open { .. }, _) => ("use-after-close", CLOSED_HANDLE, "invalid use of an open handle", ""),
    };
    let mut r = Report::new(class, u.api(), first, why.to_string(), todo).here().with_handle(h, l);
    r.usage = Some(u.describe());
    deliver(r, Callback::Handle)
}

/// An invalid builder or tracker.
pub fn invalid_aux(api: &str, kind: AuxKind, h: isize, e: AuxError) -> Outcome {
    let (class, first, cb) = if kind == AuxKind::Tracker {
        ("tracker-after-close", CLOSED_TRACKER, Callback::Handle)
    } else {
        ("builder-after-close", CLOSED_BUILDER, Callback::Builder)
    };
    let why = match e {
        AuxError::Closed => format!("this {} was already built, cancelled or closed", kind.what()),
        AuxError::WrongKind(k) => format!("expected a {}, got a live {}", kind.what(), k.what()),
        AuxError::NotAHandle => format!("this value ({:#x}) was never a {}", h, kind.what()),
    };
    let r = Report::new(class, Some(api), first, why, "use a builder until its Build or Cancel call, and a tracker until its Close").here();
    deliver(r, cb)
}

/// HPy_NULL passed where the API needs an object.  HPy defines most API
/// functions to raise SystemError on HPy_NULL (and HPy's own tests rely on
/// it), so unless the universal context would crash (`crashes`), the default
/// policy reports and goes on.
pub fn null_handle(api: &str, name: &str, crashes: bool) -> Outcome {
    let mut r = Report::new(
        "null-handle",
        Some(api),
        "Invalid usage of HPy_NULL",
        format!("argument '{}' of {}() is HPy_NULL", name, api),
        "check the result of the call that produced it: HPy_NULL means an exception was raised",
    )
    .here();
    r.usage = Some(format!("passed as argument '{}' of {}()", name, api));
    if !crashes && SETTINGS.policy() == Policy::Abort {
        log::emit(r.class, &r.text(), &r.json());
        keep(&r);
        return Outcome::Continue;
    }
    deliver(r, Callback::Handle)
}

/// An argument check failed (HPy's message first).
pub fn bad_argument(api: &str, message: &str) -> Outcome {
    let r = Report::new("bad-argument", Some(api), message, message.to_string(), "see the HPy documentation of this function").here();
    deliver(r, Callback::None)
}

/// An API call between HPy_LeavePythonExecution and HPy_ReenterPythonExecution.
pub fn outside_python(api: &str) -> Outcome {
    let r = Report::new(
        "outside-python",
        Some(api),
        "Invalid HPy API call while outside Python execution",
        format!("{}() was called after HPy_LeavePythonExecution and before HPy_ReenterPythonExecution", api),
        "only plain C code may run between HPy_LeavePythonExecution and HPy_ReenterPythonExecution",
    )
    .here();
    deliver(r, Callback::None)
}

/// A context that is not current was used; `refused`: by a thread without
/// the GIL, so the call is not made.
pub fn wrong_context(api: &str, ctx: *const crate::abi::HPyContext, refused: bool) -> Outcome {
    let mut r = Report::new(
        "wrong-context",
        Some(api),
        WRONG_CONTEXT,
        format!(
            "{}() was called with context {:p}, which is not the context of the current call: a context is valid \
             only during the call it was passed to, on that thread",
            api, ctx
        ),
        "pass down the ctx your function received; do not keep it in a global or use it from another thread",
    )
    .here();
    if refused {
        r.note = Some(format!(
            "this thread does not hold the GIL, so {}() was not called: it returns its error value, with no exception set",
            api
        ));
    }
    deliver(r, Callback::None)
}

/// A fault in protected raw data (called from the SIGSEGV handler).
pub fn raw_data_fault(api: &str, h: isize, write: bool, closed: bool) {
    let (class, first, why, todo) = if write {
        (
            "raw-data-write",
            "Invalid write to read-only raw data",
            format!("the extension wrote to memory returned by {}(), which is read-only", api),
            "copy the data if you need to modify it",
        )
    } else {
        (
            "raw-data-after-close",
            "Invalid read of raw data after its handle was closed",
            format!("the extension read memory returned by {}() after the handle it belongs to was {}", api, if closed { "closed" } else { "released" }),
            "copy the data, or keep the handle open while you use the pointer",
        )
    };
    let l = TABLE.lock().lookup(h);
    let mut r = Report::new(class, Some(api), first, why, todo).here().with_handle(h, l);
    r.usage = Some(format!("pointer returned by {}()", api));
    log::emit(r.class, &r.text(), &r.json());
    keep(&r);
}

/// Stop the process: through the universal context when there is one.
pub fn fatal(message: &str) -> ! {
    let _ = std::io::stderr().flush();
    if ctx::contexts().is_some() {
        let msg = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
        if let Some(f) = ctx::u().FatalError {
            unsafe { f(ctx::uctx(), msg.as_ptr()) };
        }
    }
    std::process::abort()
}

/// A misuse that cannot be survived (e.g. a debug context given where a
/// universal one is needed): message, then stop.
pub fn fatal_api(message: &str) -> ! {
    eprintln!("{}", message);
    fatal(message)
}

/// Set `hpydbg.HPyDebugError` (the caller returns its error value).
pub fn set_debug_error(message: &str) {
    Python::attach(|py| HPyDebugError::new_err(message.to_string()).restore(py));
}

// ~~~ lifetime classes (contexts, fields and globals, Leave/Reenter) ~~~

/// A misuse of one of the lifetime classes of docs/REPORTS.md whose report
/// is made by `func::execution` or `func::fields`: no handle, the site is
/// the current stack; then the policy (no user callback, as for
/// `outside-python`).
pub fn lifetime(class: &'static str, api: &str, message: &str, detail: String, todo: &str, note: Option<String>) -> Outcome {
    let mut r = Report::new(class, Some(api), message, detail, todo).here();
    r.note = note;
    deliver(r, Callback::None)
}
