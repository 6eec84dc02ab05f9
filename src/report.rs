//! Diagnostics: the one place that decides what happens when the extension
//! misuses the API.
//!
//! Every report says what went wrong, in which API function, which handle
//! (value, slot, generation), where it was opened and closed when known, and
//! what to do.  The first line keeps HPy's own wording so that existing tests
//! and habits still match.  Then, by policy: the user's Python callback
//! (`set_on_invalid_handle` / `set_on_invalid_builder_handle`) is called and
//! execution goes on, or the process stops through the universal context's
//! `FatalError` (CPython prints the Python stack and aborts).

use std::fmt::Write as _;
use std::io::Write as _;

use pyo3::prelude::*;

use crate::builders::{AuxError, AuxKind};
use crate::ctx::{self, lock, SETTINGS, TABLE};
use crate::handles::{decode, Lookup};
use crate::stacktrace::Trace;

pub const CLOSED_HANDLE: &str = "Invalid usage of already closed handle";
pub const CLOSED_BUILDER: &str = "Invalid usage of already closed builder";
pub const WRONG_CONTEXT: &str = "Error: Wrong HPy Context!";

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

fn describe_use(u: Use) -> String {
    match u {
        Use::Arg { api, name } => format!("passed as argument '{}' of {}()", name, api),
        Use::Close { api } => format!("closed by {}()", api),
        Use::Return => "returned by an extension function to its caller".into(),
        Use::CallArg => "argument handle checked when the extension function returned".into(),
        Use::CloseArg { api } => format!("closed by {}()", api),
    }
}

fn trace_lines(out: &mut String, label: &str, t: Option<&Trace>) {
    match t {
        Some(t) => {
            let _ = writeln!(out, "  {}:", label);
            out.push_str(&t.render("    "));
        }
        None => {
            let _ = writeln!(
                out,
                "  {}: unknown (stack traces are off: hpy.debug.set_handle_stack_trace_limit(16) or HPY_DEBUG_TRACES=16 records them)",
                label
            );
        }
    }
}

/// Describe a handle value using what the table knows about it.
fn describe_handle(out: &mut String, h: isize, l: Lookup) {
    let _ = write!(out, "  handle: {:#x}", h);
    if let Some((index, gen)) = decode(h) {
        let _ = write!(out, " (slot {}, generation {})", index, gen);
    }
    out.push('\n');
    let t = lock(&TABLE);
    match l {
        Lookup::Closed { index, .. } => {
            let e = t.extra(index);
            trace_lines(out, "opened at", e.and_then(|e| e.opened_at.as_ref()));
            trace_lines(out, "closed at", e.and_then(|e| e.closed_at.as_ref()));
        }
        Lookup::Stale { reused, now_gen, .. } => {
            let _ = writeln!(
                out,
                "  it was closed long ago: {}",
                if reused {
                    format!("its slot has been reused since (now at generation {})", now_gen)
                } else {
                    "its record left the closed-handles queue".to_string()
                }
            );
        }
        Lookup::Open { index, .. } | Lookup::Immortal { index, .. } => {
            let e = t.extra(index);
            trace_lines(out, "opened at", e.and_then(|e| e.opened_at.as_ref()));
        }
        _ => {}
    }
}

/// An invalid object handle.
pub fn invalid_handle(u: Use, h: isize, l: Lookup) {
    let (first, why, todo) = match (l, u) {
        (_, Use::CloseArg { .. }) => (
            "Invalid usage: HPy_Close of an argument handle",
            "argument handles belong to the caller: the runtime closes them when the function returns",
            "remove this HPy_Close (or close an HPy_Dup of the argument instead); the handle was left open",
        ),
        _ => match l {
        Lookup::Closed { .. } | Lookup::Stale { .. } => match u {
            Use::Close { .. } => (CLOSED_HANDLE, "double close: this handle was already closed", "close each handle exactly once"),
            Use::Return => (
                CLOSED_HANDLE,
                "the function returned a handle that is closed (often an argument returned without HPy_Dup)",
                "return HPy_Dup(ctx, h) of a handle you do not own",
            ),
            Use::CallArg => (
                CLOSED_HANDLE,
                "an argument handle was closed by the extension function",
                "do not close argument handles: the caller owns them",
            ),
            Use::Arg { .. } | Use::CloseArg { .. } => (CLOSED_HANDLE, "use after close", "do not use a handle after HPy_Close; HPy_Dup it if you need it longer"),
        },
        Lookup::Immortal { .. } => match u {
            Use::Return => (
                CLOSED_HANDLE,
                "the function returned a context constant (ctx->h_...) without HPy_Dup",
                "return HPy_Dup(ctx, ctx->h_None) and the like",
            ),
            _ => (CLOSED_HANDLE, "a context constant (ctx->h_...) was closed", "never close ctx->h_* constants"),
        },
        Lookup::Universal => (
            "Invalid usage of a handle that does not belong to the debug context",
            "an odd value: a universal-mode handle, or a handle from another context",
            "only use handles you got from the ctx passed to this call",
        ),
        Lookup::NotAHandle => (
            "Invalid usage of a value that is not an HPy handle",
            "this value was never handed out as a handle (uninitialised variable? garbage?)",
            "check where this value comes from",
        ),
        Lookup::Open { .. } => ("Invalid usage of handle", "", ""),
    }};
    let mut out = String::new();
    let _ = writeln!(out, "{}", first);
    let _ = writeln!(out, "hpydbg: {}", why);
    let _ = writeln!(out, "  in: {}", describe_use(u));
    describe_handle(&mut out, h, l);
    let _ = writeln!(out, "  what to do: {}", todo);
    deliver(&out, first, Callback::Handle);
}

/// An invalid builder or tracker.
pub fn invalid_aux(api: &str, kind: AuxKind, h: isize, e: AuxError) {
    let first = CLOSED_BUILDER;
    let mut out = String::new();
    let _ = writeln!(out, "{}", first);
    let why = match e {
        AuxError::Closed => format!("this {} was already built, cancelled or closed", kind.what()),
        AuxError::WrongKind(k) => format!("expected a {}, got a live {}", kind.what(), k.what()),
        AuxError::NotAHandle => format!("this value was never a {}", kind.what()),
    };
    let _ = writeln!(out, "hpydbg: {}", why);
    let _ = writeln!(out, "  in: {}()\n  value: {:#x}", api, h);
    let _ = writeln!(out, "  what to do: use a builder until its Build or Cancel call, and a tracker until its Close");
    let cb = if kind == AuxKind::Tracker { Callback::Handle } else { Callback::Builder };
    deliver(&out, first, cb);
}

#[derive(Copy, Clone)]
enum Callback {
    Handle,
    Builder,
}

fn deliver(report: &str, first: &str, cb: Callback) {
    let slot = match cb {
        Callback::Handle => &SETTINGS.on_invalid_handle,
        Callback::Builder => &SETTINGS.on_invalid_builder_handle,
    };
    let callback = Python::attach(|py| lock(slot).as_ref().map(|c| c.clone_ref(py)));
    match callback {
        Some(callback) => {
            eprint!("{}", report);
            Python::attach(|py| {
                if let Err(e) = callback.call0(py) {
                    eprintln!("Error when executing the on_invalid_(builder_)handle callback");
                    e.print(py);
                }
            });
        }
        None => {
            eprint!("{}", report);
            fatal(first);
        }
    }
}

/// A misuse that HPy's debug mode treats as fatal (argument checks).
pub fn fatal_api(message: &str) -> ! {
    eprintln!("{}", message);
    fatal(message)
}

/// A context that is not current was used.
pub fn wrong_context(api: &str, ctx: *const crate::abi::HPyContext) -> ! {
    let mut out = String::new();
    let _ = writeln!(out, "{}", WRONG_CONTEXT);
    let _ = writeln!(
        out,
        "hpydbg: {}() was called with context {:p}, which is not the context of the current call.\n  \
         A context is valid only during the call it was passed to: do not store it in a global or \
         use it from another thread.\n  what to do: pass down the ctx your function received.",
        api, ctx
    );
    out.push_str("  called from:\n");
    out.push_str(&Trace::capture(16).render("    "));
    eprint!("{}", out);
    let _ = std::io::stderr().flush();
    std::process::abort()
}

/// Stop the process: through the universal context when there is one.
pub fn fatal(message: &str) -> ! {
    let _ = std::io::stderr().flush();
    if let Some(c) = ctx::contexts() {
        let msg = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
        if let Some(f) = c.u().FatalError {
            unsafe { f(c.uctx, msg.as_ptr()) };
        }
    }
    std::process::abort()
}

/// A bug or impossible state inside hpydbg itself.
pub fn fatal_internal(message: &str) -> ! {
    eprintln!("hpydbg internal error: {}", message);
    let _ = std::io::stderr().flush();
    std::process::abort()
}
