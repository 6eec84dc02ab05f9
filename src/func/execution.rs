//! Leaving and re-entering Python execution, checked as HPy's docs say a
//! debug mode "will, in the future" do: every `HPy_LeavePythonExecution`
//! must be followed, on the same thread and in the same call, by one
//! `HPy_ReenterPythonExecution` with the state it returned.
//!
//! Under the go-on policies each misuse is turned into the safe state that
//! the extension meant, so the process survives: a nested Leave hands back
//! the state in force (the GIL is already released; releasing it again
//! would kill the process), a Reenter without Leave or with another
//! thread's state is not made (the thread holds the GIL already, or would
//! take over another thread's state), and a function that returns to the
//! runtime while outside Python gets the GIL back before the runtime runs.
#![allow(non_snake_case)]

use std::sync::Mutex;

use crate::abi::*;
use crate::base::sync::lock;
use crate::diag::report;
use crate::state::ctx;

/// Thread states handed out by HPy_LeavePythonExecution and not re-entered
/// yet, with the thread that left (its thread pointer): tells "another
/// thread's state" from garbage.  Touched without the GIL, so a mutex.
static OUTSTANDING: Mutex<Vec<(isize, usize)>> = Mutex::new(Vec::new());

fn thread_id() -> usize {
    ctx::thread() as *const ctx::ThreadState as usize
}

fn forget(state: isize) {
    lock(&OUTSTANDING).retain(|&(s, _)| s != state);
}

pub unsafe extern "C" fn LeavePythonExecution(ctx: *mut HPyContext) -> HPyThreadState {
    let t = ctx::thread();
    if t.is_outside_python() {
        // Not `enter!`: it would take the GIL for the call.
        let (state, _) = t.left();
        let _ = report::lifetime(
            "nested-leave",
            "HPy_LeavePythonExecution",
            "Invalid usage: HPy_LeavePythonExecution while already outside Python execution",
            "HPy_LeavePythonExecution was called again before HPy_ReenterPythonExecution: the GIL is already released".into(),
            "pair every HPy_LeavePythonExecution with one HPy_ReenterPythonExecution before leaving again",
            Some("going on: the thread state of the first HPy_LeavePythonExecution is returned again".into()),
        );
        return HPyThreadState::from_raw(state);
    }
    let call = crate::enter!(ctx, "HPy_LeavePythonExecution", LeavePythonExecution(ctx));
    let state = (call.u().LeavePythonExecution.unwrap_unchecked())(call.uctx());
    lock(&OUTSTANDING).push((state.raw(), thread_id()));
    // From now on the fast context check fails on this thread: any call but
    // Reenter is reported (and made holding the GIL).
    t.left_python(ctx, state.raw());
    state
}

pub unsafe extern "C" fn ReenterPythonExecution(ctx: *mut HPyContext, state: HPyThreadState) {
    // Not `enter!`: this is the one call allowed outside Python, and the
    // slow path must not take the GIL that the universal context is about
    // to take back.  The context is checked once the GIL is held.
    let t = ctx::thread();
    const API: &str = "HPy_ReenterPythonExecution";
    if !t.is_outside_python() {
        let owner = lock(&OUTSTANDING).iter().find(|&&(s, _)| s == state.raw()).map(|&(_, th)| th);
        let (class, message, detail) = match owner {
            Some(_) => (
                "reenter-foreign-state",
                "Invalid usage: HPy_ReenterPythonExecution with the thread state of another thread",
                format!("state {:#x} was returned by HPy_LeavePythonExecution on another thread, which is still outside Python", state.raw()),
            ),
            None => (
                "reenter-without-leave",
                "Invalid usage: HPy_ReenterPythonExecution without HPy_LeavePythonExecution",
                "this thread is executing Python: no HPy_LeavePythonExecution is in force on it".to_string(),
            ),
        };
        let _ = report::lifetime(
            class,
            API,
            message,
            detail,
            "call HPy_ReenterPythonExecution once, on the thread that left, with the state its HPy_LeavePythonExecution returned",
            Some("going on: the call is not made".into()),
        );
        return;
    }
    let (saved, _) = t.left();
    forget(saved);
    t.reentered_python();
    (ctx::u().ReenterPythonExecution.unwrap_unchecked())(ctx::uctx(), HPyThreadState::from_raw(saved));
    if state.raw() != saved {
        // Reported holding the GIL again, with the thread's own state.
        let _ = report::lifetime(
            "reenter-foreign-state",
            API,
            "Invalid usage: HPy_ReenterPythonExecution with a thread state that is not the one HPy_LeavePythonExecution returned",
            format!("state {:#x} is not {:#x}, the state this thread's HPy_LeavePythonExecution returned", state.raw(), saved),
            "pass the value HPy_LeavePythonExecution returned, unchanged",
            Some("going on: the thread re-entered with its own state".into()),
        );
    }
    if !ctx::fast_ok(ctx) && t.slow_check(ctx).wrong_context {
        let _ = report::wrong_context(API, ctx, false);
    }
}

/// A call into the extension returned while its thread was outside Python
/// (`ctx::ThreadState::with_call_ctx`): re-take the GIL with the saved
/// state before anything else (the runtime needs it, and so does the
/// report), then report.
fn returned_outside(ctx: *const HPyContext) {
    let t = ctx::thread();
    let (saved, left_in) = t.left();
    forget(saved);
    t.reentered_python();
    unsafe { (ctx::u().ReenterPythonExecution.unwrap_unchecked())(ctx::uctx(), HPyThreadState::from_raw(saved)) };
    let inner = if left_in == ctx { "" } else { " (HPy_LeavePythonExecution was called in a call nested inside it)" };
    let _ = report::lifetime(
        "return-outside-python",
        "HPy_LeavePythonExecution",
        "Invalid usage: an extension function returned to Python while outside Python execution",
        format!("the function returned between HPy_LeavePythonExecution and HPy_ReenterPythonExecution{}", inner),
        "call HPy_ReenterPythonExecution on every path before returning (error paths too)",
        Some("hpydbg called HPy_ReenterPythonExecution for it, so the runtime has the GIL back".into()),
    );
}

/// Install the check at the return of every call into the extension.
pub fn install() {
    ctx::set_returned_outside_hook(returned_outside);
}
