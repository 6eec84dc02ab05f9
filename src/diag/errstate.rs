//! The C API's error protocol (docs/REPORTS.md, "Exception state"):
//!
//! - an API call made while an exception is pending is a misuse, unless the
//!   function is meant for that (the allow-list [`EXCEPTION_OK`], resolved at
//!   compile time per wrapper by [`allowed`]);
//! - an extension function that returns its error value (by
//!   `HPyFunc_Signature`, [`error_value`]) must have set an exception;
//! - one that returns a valid result must not leave one pending.
//!
//! For the first and the last, the report says where the exception came
//! from: the last API call that returned an error with an exception set
//! ([`note_error`], run on error paths only), when it is still the pending
//! one (same call of the extension, same exception type).

use std::cell::RefCell;
use std::os::raw::{c_int, c_void};

use crate::abi::{sig, HPy, HPyContext, HPy_ssize_t};
use crate::base::pyerr;
use crate::base::stacktrace::{self, Frame, Trace};
use crate::diag::describe;
use crate::diag::report::{self, Origin, Outcome, Report};
use crate::state::ctx::{self, TABLE};

/// API functions that may be called with an exception pending, and why.
/// Everything else is reported (`call-with-exception-pending`).  Sources:
/// CPython's rules (PyErr_* queries and setters, Py_XDECREF/Py_CLEAR and
/// Py_BEGIN_ALLOW_THREADS on error paths), CheckJNI's `kFlag_ExcepOkay`
/// (exception queries, clear, delete/release functions, FatalError), HPy's
/// docs (HPyErr_WriteUnraisable takes the pending exception).
pub const EXCEPTION_OK: &[(&str, &str)] = &[
    ("HPyErr_Occurred", "asks whether an exception is pending"),
    ("HPyErr_ExceptionMatches", "inspects the pending exception"),
    ("HPyErr_Clear", "clears the pending exception"),
    ("HPyErr_SetString", "replaces the pending exception (CPython allows PyErr_SetString then)"),
    ("HPyErr_SetObject", "replaces the pending exception"),
    ("HPyErr_SetFromErrnoWithFilename", "replaces the pending exception"),
    ("HPyErr_SetFromErrnoWithFilenameObjects", "replaces the pending exception"),
    ("HPyErr_NoMemory", "replaces the pending exception"),
    ("HPyErr_WriteUnraisable", "meant to be called with an exception pending: it reports and clears it"),
    ("HPy_FatalError", "ends the process; error paths call it"),
    ("HPy_Close", "cleanup on an error path, as Py_XDECREF (a __del__ it runs keeps the exception)"),
    ("HPyTracker_Close", "cleanup: closes the tracked handles"),
    ("HPyTracker_ForgetAll", "cleanup bookkeeping; runs no Python code"),
    ("HPyListBuilder_Cancel", "cleanup: drops a half-built list"),
    ("HPyTupleBuilder_Cancel", "cleanup: drops a half-built tuple"),
    ("HPyField_Store", "cleanup: clearing a field with HPy_NULL, as Py_CLEAR"),
    ("HPyGlobal_Store", "cleanup: clearing a global, as Py_CLEAR"),
    ("HPy_LeavePythonExecution", "releasing the GIL keeps the exception in the thread state (Py_BEGIN_ALLOW_THREADS)"),
    ("HPy_ReenterPythonExecution", "taking the GIL back (Py_END_ALLOW_THREADS)"),
    ("_HPy_Dump", "debugging aid; prints the object"),
    ("HPyLong_AsInt32_t", LONG_AS),
    ("HPyLong_AsUInt32_t", LONG_AS),
    ("HPyLong_AsUInt32_tMask", LONG_AS),
    ("HPyLong_AsInt64_t", LONG_AS),
    ("HPyLong_AsUInt64_t", LONG_AS),
    ("HPyLong_AsUInt64_tMask", LONG_AS),
    ("HPyLong_AsSize_t", LONG_AS),
    ("HPyLong_AsSsize_t", LONG_AS),
    ("HPyLong_AsVoidPtr", LONG_AS),
    ("HPyLong_AsDouble", LONG_AS),
];

/// Why the integer conversions are allowed (they are listed one by one).
const LONG_AS: &str = "converts an int without running Python code (on an int); C code calls it with an error set to build its message, and HPy's own tests do (test_hpybuildvalue's with_msg)";

/// HPy's helper sources (compiled into the extension) that call the API
/// with an exception pending by design, and why.  Checked on the cold path
/// only: the innermost caller outside HPy's headers is in one of them.
pub const HELPERS_OK: &[(&str, &[&str], &str)] = &[(
    "/hpy/devel/src/runtime/buildvalue.c",
    // Its functions, for builds of the helpers without line information.
    &["HPy_BuildValue", "build_single", "build_tuple", "build_list", "build_dict"],
    "HPy_BuildValue takes HPy_NULL for 'O' after a failed call and propagates the pending exception, as Py_BuildValue",
)];

fn called_from_allowed_helper(t: &Trace) -> bool {
    for f in t.resolve() {
        if let Some(file) = f.file.as_deref() {
            if file.contains("/hpy/devel/include/") {
                continue;
            }
            return HELPERS_OK.iter().any(|(src, _, _)| file.ends_with(src));
        }
        let Some(name) = f.function.as_deref() else { continue };
        return HELPERS_OK.iter().any(|(_, fns, _)| fns.contains(&name));
    }
    false
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn listed(api: &str, list: &[&str]) -> bool {
    let mut i = 0;
    while i < list.len() {
        if same(api, list[i]) {
            return true;
        }
        i += 1;
    }
    false
}

/// Whether `api` may be called with an exception pending (compile time).
pub const fn allowed(api: &str) -> bool {
    let mut i = 0;
    while i < EXCEPTION_OK.len() {
        if same(api, EXCEPTION_OK[i].0) {
            return true;
        }
        i += 1;
    }
    false
}

/// Functions with no error return that set an exception: each call is an
/// origin.  (Those returning an error value are noted on that path.)
pub const fn sets_exception(api: &str) -> bool {
    listed(api, &["HPyErr_SetString", "HPyErr_SetObject", "HPyErr_SetFromErrnoWithFilenameObjects", "HPyErr_NoMemory"])
}

/// Functions after which no exception is pending.
pub const fn clears_exception(api: &str) -> bool {
    listed(api, &["HPyErr_Clear", "HPyErr_WriteUnraisable"])
}

// ~~~ where the pending exception came from ~~~

struct Noted {
    /// The extension call it happened in, and the exception's type: the
    /// record names the pending exception only while both are the same.
    ctx: *const HPyContext,
    exc_type: usize,
    api: &'static str,
    trace: Trace,
}

thread_local! {
    static NOTED: RefCell<Option<Noted>> = const { RefCell::new(None) };
}

/// Frames kept for an origin: enough to get past HPy's inline helpers to
/// the extension's line.
const ORIGIN_FRAMES: usize = 6;

/// `api` returned its error value (or set an exception): remember it as the
/// origin if an exception is now pending.  Error paths only.
#[cold]
#[inline(never)]
pub fn note_error(api: &'static str) {
    if !pyerr::pending() {
        return;
    }
    let rec = Noted { ctx: ctx::thread().current(), exc_type: pyerr::current_type(), api, trace: Trace::capture(ORIGIN_FRAMES) };
    NOTED.with(|n| *n.borrow_mut() = Some(rec));
}

/// The exception was cleared.
#[cold]
#[inline(never)]
pub fn forget() {
    NOTED.with(|n| *n.borrow_mut() = None);
}

/// The origin of the pending exception, if hpydbg saw it set in the
/// current call `ctx`.
fn origin(ctx: *const HPyContext) -> Option<Origin> {
    let ty = pyerr::current_type();
    NOTED.with(|n| {
        let n = n.borrow();
        let rec = n.as_ref()?;
        (rec.ctx == ctx && rec.exc_type == ty && ty != 0).then(|| Origin { api: rec.api, site: rec.trace.site() })
    })
}

// ~~~ 1. API call with an exception pending ~~~

/// `api` (not in the allow-list) is called and the fast test says an
/// exception may be pending: report if it is.
#[cold]
#[inline(never)]
pub fn call_with_exception_pending(api: &'static str) -> Outcome {
    if !pyerr::pending() {
        return Outcome::Continue;
    }
    let trace = Trace::capture(16);
    if called_from_allowed_helper(&trace) {
        return Outcome::Continue;
    }
    // hpydbg's own HPyDebugError (a call refused under `raise`) is not the
    // extension's exception: the refused call was reported.
    if report::debug_error_pending() {
        return Outcome::Continue;
    }
    let exc = describe::pending_exception();
    let mut r = Report::new(
        "call-with-exception-pending",
        Some(api),
        "Invalid HPy API call with an exception pending",
        format!("{}() was called while an exception is pending", api),
        "check the result of each call that can fail: return its error value, or HPyErr_Clear() the exception \
         before calling anything else (only HPyErr_*, HPy_Close and cleanup functions are allowed then)",
    );
    r.site = trace.site();
    r.exception = exc;
    r.origin = origin(ctx::thread().current());
    report::deliver_misuse(r, None)
}

// ~~~ 2. and 3.: what an extension function returned ~~~

/// An extension function's error value, by `HPyFunc_Signature`.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ErrorValue {
    /// `HPy_NULL` means an exception was raised.
    Null,
    /// `HPy_NULL` with no exception means "exhausted" (tp_iternext).
    NullOrStop,
    /// `-1` is also a valid result (tp_hash: CPython's slot wrapper takes
    /// -1 without an exception as a hash value): only the exception tells.
    MinusOneOrValue,
    /// `-1` means an exception was raised.
    MinusOne,
    /// No error return (void functions): no exception may be left.
    None,
}

pub const fn error_value(s: c_int) -> ErrorValue {
    use sig::*;
    match s {
        VARARGS | KEYWORDS | NOARGS | O | UNARYFUNC | BINARYFUNC | TERNARYFUNC | SSIZEARGFUNC | SSIZESSIZEARGFUNC
        | GETATTRFUNC | GETATTROFUNC | REPRFUNC | RICHCMPFUNC | GETITERFUNC | DESCRGETFUNC | NEWFUNC | GETTER
        | MOD_CREATE => ErrorValue::Null,
        ITERNEXTFUNC => ErrorValue::NullOrStop,
        GETBUFFERPROC | INQUIRY | LENFUNC | SSIZEOBJARGPROC | SSIZESSIZEOBJARGPROC | OBJOBJARGPROC | SETATTRFUNC
        | SETATTROFUNC | DESCRSETFUNC | INITPROC | SETTER | OBJOBJPROC => ErrorValue::MinusOne,
        HASHFUNC => ErrorValue::MinusOneOrValue,
        _ => ErrorValue::None,
    }
}

/// A value an extension function returns through a shim.
pub trait Returned: Copy {
    fn is_error_value(self) -> bool;
    /// The returned handle, for the report.
    fn handle(self) -> Option<HPy> {
        None
    }
}

impl Returned for HPy {
    #[inline(always)]
    fn is_error_value(self) -> bool {
        self.is_null()
    }
    fn handle(self) -> Option<HPy> {
        Some(self)
    }
}

impl Returned for c_int {
    #[inline(always)]
    fn is_error_value(self) -> bool {
        self == -1
    }
}

impl Returned for HPy_ssize_t {
    #[inline(always)]
    fn is_error_value(self) -> bool {
        self == -1
    }
}

impl Returned for () {
    #[inline(always)]
    fn is_error_value(self) -> bool {
        false
    }
}

/// Before calling a function of signature `S`: whether an exception is
/// already pending.  Only functions without an error return can be called
/// so by CPython (releasebuffer, free, finalizers); for the others it is
/// not tested, and a result with an exception set is reported as CPython
/// itself reports it (`_Py_CheckFunctionResult`).
#[inline(always)]
pub fn inherited<const S: c_int>() -> bool {
    matches!(error_value(S), ErrorValue::None) && pyerr::pending()
}

/// After extension function `f` (signature `S`) returned `r` in call `dctx`.
#[inline(always)]
pub fn check_return<const S: c_int, R: Returned>(r: R, f: *const c_void, dctx: *const HPyContext, inherited: bool) {
    // A function that returned outside Python execution holds no GIL: the
    // thread state may not be read (that misuse is reported on the way out).
    if ctx::left_python_in_call() {
        return;
    }
    let e = error_value(S);
    if r.is_error_value() && e != ErrorValue::None {
        if !matches!(e, ErrorValue::NullOrStop | ErrorValue::MinusOneOrValue) {
            error_returned(S, f);
        }
    } else if !inherited && pyerr::maybe_pending() {
        result_returned(S, f, dctx, r.handle());
    }
}

/// The function, named by symbolising its address (as return-time reports
/// name it).
fn function_frame(f: *const c_void) -> Frame {
    report::Callee { func: f as usize, sig: 0 }.frame()
}

/// Where a return-time report points: the line of the last HPy API call
/// `f` made before returning, when the last call entered (its return
/// address, `ctx::caller_ra`) was made by `f` itself (inlined helpers
/// included); else `f`'s entry.  The `return` statement itself leaves no
/// trace once the function has returned.
fn return_site(f: *const c_void, fr: &Frame) -> (stacktrace::Site, &'static str) {
    let ra = ctx::caller_ra();
    if ra != 0 && fr.function.is_some() {
        let frames = stacktrace::resolve(ra);
        if let Some(i) = frames.iter().position(|x| x.function == fr.function && !x.inlined && x.line.is_some()) {
            // The extension's innermost frame at that call (an inlined
            // helper of its own), within `f`.
            let site = stacktrace::site_of(&frames[..=i]).unwrap_or(stacktrace::Site { frame: frames[i].clone(), inlined_into: None });
            return (site, "last-api-call");
        }
    }
    let _ = f;
    (stacktrace::Site { frame: fr.clone(), inlined_into: None }, "function-entry")
}

fn function_name(fr: &Frame, f: *const c_void) -> String {
    fr.function.clone().unwrap_or_else(|| format!("{:p}", f))
}

#[cold]
#[inline(never)]
fn error_returned(s: c_int, f: *const c_void) {
    if pyerr::pending() {
        return;
    }
    let fr = function_frame(f);
    let name = function_name(&fr, f);
    let what = if error_value(s) == ErrorValue::MinusOne { "-1" } else { "HPy_NULL" };
    let mut r = Report::new(
        "error-without-exception",
        None,
        "Error return without an exception set",
        format!("{}() returned {} (its error value) but no exception is set", name, what),
        "set an exception (HPyErr_SetString & co.) before returning the error value, or pass on the error value \
         of a call that failed (it set one)",
    );
    r.usage = Some(format!("returned by {}()", name));
    r.function = Some(report::Function { frame: fr.clone(), kind: report::Callee { func: f as usize, sig: s }.kind() });
    let (site, what) = return_site(f, &fr);
    r.site = Some(site);
    r.site_is = Some(what);
    r.note = Some("CPython will raise SystemError for it".into());
    // Going on: universal mode's behaviour (CPython's SystemError).
    let _ = report::deliver_misuse(r, Some(f as usize));
}

#[cold]
#[inline(never)]
fn result_returned(s: c_int, f: *const c_void, dctx: *const HPyContext, h: Option<HPy>) {
    if !pyerr::pending() || report::debug_error_pending() {
        return;
    }
    let fr = function_frame(f);
    let name = function_name(&fr, f);
    let mut r = Report::new(
        "result-with-exception-pending",
        None,
        "Result returned with an exception set",
        format!("{}() returned a valid result while an exception is pending", name),
        "a call that failed set this exception: return the error value (HPy_NULL, -1) to propagate it, \
         or HPyErr_Clear() it if the failure is handled",
    );
    r.usage = Some(format!("returned by {}()", name));
    r.function = Some(report::Function { frame: fr.clone(), kind: report::Callee { func: f as usize, sig: s }.kind() });
    let (site, what) = return_site(f, &fr);
    r.site = Some(site);
    r.site_is = Some(what);
    r.exception = describe::pending_exception();
    r.origin = origin(dctx);
    if let Some(h) = h {
        let uh = TABLE.lock().get_open(h.raw());
        r.object = uh.and_then(describe::universal_handle);
    }
    let _ = report::deliver_misuse(r, Some(f as usize));
}
