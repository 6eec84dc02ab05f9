//! One API call in progress, as every wrapper of the function table makes
//! it: the context check (`enter!`), the unwrapping of handle arguments, the
//! opening of handle results, and what a skipped call returns.  The
//! [`Arg`] and [`Ret`] traits say which argument and result types the
//! generated wrappers (`generated`) can handle.

use std::os::raw::{c_char, c_void};

use crate::abi::*;
use crate::base::pyframe;
use crate::base::tlsword;
use crate::state::ctx::{self, SETTINGS, SITES, TABLE};
use crate::tables::handles::{CloseError, Lookup};
use crate::tables::sites::SiteMemo;
use crate::diag::report::{self, Outcome, Use};
use crate::base::stacktrace::Trace;

/// One API call in progress: the public API name, for reports, the
/// return address into the extension (`ctx::caller_ra`), for sites, and the
/// wrapper's site memo (`tables::sites::SiteMemo`).
pub struct Call {
    pub api: &'static str,
    pub ra: usize,
    pub memo: &'static SiteMemo,
}

/// The memo of calls that have none of their own.
pub static SHARED_MEMO: SiteMemo = SiteMemo::new();

/// Start an API call in a wrapper: check the context (inline fast path),
/// else run the slow path, which reports and, when the thread does not hold
/// the GIL, takes it and runs `$again` (the wrapper called anew), whose
/// result the wrapper then returns.  Then, unless `$api` may be called with
/// an exception pending (decided at compile time), check that none is.
#[macro_export]
macro_rules! enter {
    ($ctx:expr, $api:expr, $again:expr) => {{
        if !$crate::state::ctx::fast_ok($ctx) {
            #[allow(unused_unsafe)]
            if let Some(r) = $crate::func::call::enter_slow($ctx, $api, move || unsafe { $again }) {
                return r;
            }
        }
        const EXCEPTION_OK: bool = $crate::diag::errstate::allowed($api);
        if !EXCEPTION_OK && $crate::base::pyerr::maybe_pending() {
            if $crate::diag::errstate::call_with_exception_pending($api) == $crate::diag::report::Outcome::Skip {
                return $crate::func::call::skipped($api);
            }
        }
        $crate::func::call::Call { api: $api, ra: $crate::state::ctx::caller_ra(), memo: &$crate::func::call::SHARED_MEMO }
    }};
}

/// Run `body` (which may `?` a [`Skip`]) in a hand-written wrapper and turn
/// a skip into the function's error return; an error return's exception
/// origin is noted.
#[macro_export]
macro_rules! guarded {
    ($call:ident, $body:block) => {
        match (|| -> Result<_, $crate::func::call::Skip> { Ok($body) })() {
            Ok(r) => $crate::func::call::Ret::noted(r, &$call),
            Err($crate::func::call::Skip) => $crate::func::call::skipped($call.api),
        }
    };
}

/// The context check the fast path did not prove: report a wrong context or
/// a call outside Python execution (execution goes on by policy), and make
/// sure the GIL is held before any table is touched:
/// - a thread that left Python execution takes it back for the call (it has
///   a Python thread state, and nobody waits for it inside our call);
/// - any other thread without the GIL (one the extension started) does not
///   get the call made: its owner may well hold the GIL while waiting for
///   it, and CPython's state cannot be touched without it.  The function
///   returns its error value (with no exception: setting one needs the GIL).
#[cold]
#[inline(never)]
pub fn enter_slow<R: Ret>(ctx: *mut HPyContext, api: &'static str, again: impl FnOnce() -> R) -> Option<R> {
    let t = ctx::thread();
    if t.take_rerun(ctx) {
        return None;
    }
    let s = t.slow_check(ctx);
    let has_gil = unsafe { pyo3::ffi::PyGILState_Check() } != 0;
    let refuse = !has_gil && !s.outside_python;
    if s.wrong_context || refuse {
        let _ = report::wrong_context(api, ctx, refuse);
    }
    if s.outside_python {
        let _ = report::outside_python(api);
    }
    if has_gil {
        return None;
    }
    if refuse {
        return Some(R::error());
    }
    let g = unsafe { pyo3::ffi::PyGILState_Ensure() };
    t.set_rerun(ctx);
    let r = again();
    t.set_rerun(std::ptr::null());
    unsafe { pyo3::ffi::PyGILState_Release(g) };
    Some(r)
}

impl Call {
    #[inline(always)]
    pub fn u(&self) -> &'static HPyContext {
        ctx::u()
    }

    #[inline(always)]
    pub fn uctx(&self) -> *mut HPyContext {
        ctx::uctx()
    }

    /// Validate a handle argument (null allowed) and return the universal
    /// handle; `Err` means: do not make the call (the policy said so, or
    /// nothing is left to forward).
    #[inline(always)]
    pub fn unwrap(&self, h: HPy, name: &'static str) -> Result<HPy, Skip> {
        self.unwrap_arg(h, name, false)
    }

    /// Like `unwrap`, but HPy_NULL is a misuse too.
    #[inline(always)]
    pub fn unwrap_obj(&self, h: HPy, name: &'static str) -> Result<HPy, Skip> {
        self.unwrap_arg(h, name, true)
    }

    /// The `Use` is built on the slow path only (building it first costs
    /// instructions on the common path).
    #[inline(always)]
    fn unwrap_arg(&self, h: HPy, name: &'static str, obj: bool) -> Result<HPy, Skip> {
        match open_uh(h) {
            Some(uh) => Ok(uh),
            None => unwrap_slow(Use::Arg { api: self.api, name }, h, obj),
        }
    }

    /// Open a debug handle for a universal handle the caller now owns;
    /// HPy_NULL is an error return (its exception's origin is noted).
    #[inline(always)]
    pub fn open(&self, uh: HPy) -> HPy {
        if uh.is_null() {
            crate::diag::errstate::note_error(self.api);
            return uh;
        }
        open_handle(uh, self.ra, self.memo)
    }

    /// Report a failed argument check; the caller returns its error value
    /// unless the policy says go on.
    pub fn bad_argument(&self, message: &str) -> Result<(), Skip> {
        match report::bad_argument(self.api, message) {
            Outcome::Continue => Ok(()),
            Outcome::Skip => Err(Skip),
        }
    }
}

/// The universal handle behind `h` if it is open: the one compare that the
/// common case of every handle argument costs.
#[inline(always)]
pub fn open_uh(h: HPy) -> Option<HPy> {
    TABLE.lock().get_open(h.raw()).map(HPy::from_raw)
}

/// A handle argument that is not an open handle: null (allowed, or a
/// misuse when `obj`), or invalid.
#[cold]
#[inline(never)]
fn unwrap_slow(u: Use, h: HPy, obj: bool) -> Result<HPy, Skip> {
    if h.is_null() {
        if obj {
            if let Use::Arg { api, name } = u {
                let _ = report::null_handle(api, name, true);
            }
            return Err(Skip);
        }
        return Ok(h);
    }
    unwrap_invalid(u, h)
}

/// The call is not made; the wrapper returns its error value (and, where the
/// function has one, with `hpydbg.HPyDebugError` set).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Skip;

/// Validate `h` for use `u`; on an invalid handle, report and (if the policy
/// goes on) return what it wrapped when still known.
#[inline]
pub fn unwrap_for(u: Use, h: HPy) -> Result<HPy, Skip> {
    match open_uh(h) {
        Some(uh) => Ok(uh),
        None => unwrap_slow(u, h, false),
    }
}

fn unwrap_invalid(u: Use, h: HPy) -> Result<HPy, Skip> {
    let l = TABLE.lock().lookup(h.raw());
    match l {
        Lookup::Open { uh, .. } | Lookup::Immortal { uh, .. } => Ok(HPy::from_raw(uh)),
        _ => match report::invalid_handle(u, h.raw(), l) {
            Outcome::Continue if l.uh_or_null() != 0 => Ok(HPy::from_raw(l.uh_or_null())),
            _ => Err(Skip),
        },
    }
}

/// The site of the API call in progress, whose return address into the
/// extension is `ra` (see `tables::sites`): two compares when seen before.
/// The Python instruction is read once per call into the extension (the
/// innermost frame is the caller's, suspended in the call, for as long as
/// the call runs: Python code the extension runs has returned when it
/// makes its next API call) and kept, halved, in a static-TLS word: 0
/// outside calls, 1 in a call until read.  Sites off: the word stays 1.
#[inline(always)]
pub fn site_here(ra: usize) -> u32 {
    match site_cached(ra, &SHARED_MEMO) {
        Some(id) => id,
        None => site_missed(ra, &SHARED_MEMO),
    }
}

/// `site_here` without its miss: `None` when the pair is neither the
/// memo's nor in the cache (then `site_missed`).  Hot paths tail-call a
/// cold path on `None`, so that they make no call of their own and save no
/// registers.  The memo is checked before the word is: it never holds a
/// pair with the marks 0 or 1.
#[inline(always)]
pub fn site_cached(ra: usize, memo: &SiteMemo) -> Option<u32> {
    let mut py = tlsword::call_instr::get();
    if let Some(id) = memo.get(ra, py) {
        return Some(id);
    }
    if py <= 1 {
        py = call_instr_first(py);
        if py == 0 {
            return Some(0);
        }
        if let Some(id) = memo.get(ra, py) {
            return Some(id);
        }
    }
    let id = SITES.lock().cached(ra, py)?;
    memo.set(ra, py, id);
    Some(id)
}

/// The miss of `site_cached` (the word was read by it already).
#[cold]
#[inline(never)]
pub fn site_missed(ra: usize, memo: &SiteMemo) -> u32 {
    let py = tlsword::call_instr::get();
    let py = if py <= 1 { call_instr_first(py) } else { py };
    if py == 0 {
        return 0;
    }
    let id = new_site(ra, py);
    memo.set(ra, py, id);
    id
}

/// The first site of a call (word 1: keep the instruction for the call's
/// other sites), or one outside any call (word 0: read it every time).
/// 0: sites are off.  Inline: most calls into the extension record one site.
#[inline(always)]
fn call_instr_first(word: usize) -> usize {
    if !SETTINGS.sites() {
        return 0;
    }
    // Halved (2-byte instructions), at least 2 so that 0 and 1 stay marks.
    let py = (pyframe::current_instr() >> 1).max(2);
    if word == 1 {
        tlsword::call_instr::set(py);
    }
    py
}

/// Frames kept of the stack of each new site.
const SITE_FRAMES: usize = 32;

/// A pair not in the cache: in the map, or a site seen for the first time
/// (its stack is captured now, once).
#[cold]
#[inline(never)]
fn new_site(ra: usize, py: usize) -> u32 {
    if let Some(id) = SITES.lock().cached(ra, py) {
        return id;
    }
    if let Some(id) = SITES.lock().find(ra, py) {
        return id;
    }
    let trace = Trace::capture(SITE_FRAMES);
    let (python, code) = match pyframe::locate(pyframe::is_tooling_file) {
        Some((loc, code)) => (Some(loc), code),
        None => (None, std::ptr::null_mut()),
    };
    SITES.lock().insert(ra, py, python, code, Some(trace))
}

/// Open a debug handle (null stays null) for the call whose return address
/// into the extension is `ra`.
#[inline(always)]
pub fn open_handle(uh: HPy, ra: usize, memo: &'static SiteMemo) -> HPy {
    // The table's fast path is off while per-handle stack traces are on.
    if !uh.is_null() {
        let Some(site) = site_cached(ra, memo) else { return open_new_site(uh, ra, memo) };
        let mut t = TABLE.lock();
        if let Some(h) = t.open_fast::<false>(uh.raw(), site) {
            return HPy::from_raw(h);
        }
        drop(t);
        return open_slow(uh, site);
    }
    uh
}

/// Open a builder or tracker in the current leak-detector epoch, in the
/// API call whose return address into the extension is `ra`: its site is
/// recorded as a handle's is (and its stack when stack traces are on).
pub fn open_aux(kind: crate::tables::builders::AuxKind, ub: isize, ra: usize) -> isize {
    let limit = SETTINGS.stack_trace_limit();
    let trace = if limit != 0 { Some(crate::base::stacktrace::Trace::capture(limit)) } else { None };
    let site = site_here(ra);
    let epoch = TABLE.lock().current_epoch();
    let mut aux = ctx::AUX.lock();
    let h = aux.open(kind, ub, epoch, trace);
    aux.set_site(h, site);
    h
}

/// A site the cache does not hold (one cold call: the fast path saves no
/// registers).
#[cold]
#[inline(never)]
fn open_new_site(uh: HPy, ra: usize, memo: &'static SiteMemo) -> HPy {
    open_slow(uh, site_missed(ra, memo))
}

/// Stack traces on, or no room left.
#[cold]
#[inline(never)]
fn open_slow(uh: HPy, site: u32) -> HPy {
    let limit = SETTINGS.stack_trace_limit();
    if limit != 0 {
        return open_traced(uh, limit, site);
    }
    match TABLE.lock().open_at(uh.raw(), site) {
        0 => out_of_memory(uh),
        h => HPy::from_raw(h),
    }
}

/// No room for one more handle: give the object back, MemoryError.
#[cold]
fn out_of_memory(uh: HPy) -> HPy {
    let u = ctx::u();
    unsafe {
        (u.Close.unwrap_unchecked())(ctx::uctx(), uh);
        (u.Err_NoMemory.unwrap_unchecked())(ctx::uctx());
    }
    HPy::NULL
}

#[cold]
fn open_traced(uh: HPy, limit: usize, site: u32) -> HPy {
    let trace = Trace::capture(limit);
    let mut t = TABLE.lock();
    let h = t.open_at(uh.raw(), site);
    if h == 0 {
        drop(t);
        return out_of_memory(uh);
    }
    let (index, _) = crate::tables::handles::decode(h).unwrap();
    let e = t.extra_mut(index);
    e.opened_at = Some(trace);
    e.closed_at = None;
    HPy::from_raw(h)
}

/// Close the debug handle only (the universal one is owned elsewhere);
/// returns the universal handle, or reports.
pub fn close_debug_only(u: Use, h: HPy) -> Option<HPy> {
    if h.is_null() {
        return None;
    }
    let r = TABLE.lock().close_arg(h.raw());
    match r {
        Ok(uh) => {
            record_close_trace(h);
            Some(HPy::from_raw(uh))
        }
        Err(CloseError::Invalid(l) | CloseError::Immortal(l) | CloseError::Borrowed(l)) => {
            let _ = report::invalid_handle(u, h.raw(), l);
            None
        }
    }
}

/// Remember where `h` was closed, when stack traces are on.
#[inline]
pub fn record_close_trace(h: HPy) {
    if SETTINGS.stack_trace_limit() != 0 {
        record_close_trace_slow(h);
    }
}

#[cold]
fn record_close_trace_slow(h: HPy) {
    let limit = SETTINGS.stack_trace_limit();
    if limit == 0 {
        return;
    }
    let trace = Trace::capture(limit);
    let mut t = TABLE.lock();
    if let Some((index, _)) = crate::tables::handles::decode(h.raw()) {
        t.extra_mut(index).closed_at = Some(trace);
    }
}

/// Argument conversion for generated wrappers.
pub trait Arg: Copy {
    /// The common case, no report: `None` sends the call to the full path.
    fn fast(self) -> Option<Self>;
    fn to_u(self, call: &Call, name: &'static str) -> Result<Self, Skip>;
}

impl Arg for HPy {
    #[inline(always)]
    fn fast(self) -> Option<Self> {
        open_uh(self)
    }

    #[inline(always)]
    fn to_u(self, call: &Call, name: &'static str) -> Result<Self, Skip> {
        match open_uh(self) {
            Some(uh) => Ok(uh),
            None => arg_slow(call.api, name, self),
        }
    }
}

/// A generated wrapper's handle argument that is not an open handle.
#[cold]
#[inline(never)]
fn arg_slow(api: &'static str, name: &'static str, h: HPy) -> Result<HPy, Skip> {
    if h.is_null() && !may_be_null(api, name) {
        let crashes = !null_survives(api);
        return match report::null_handle(api, name, crashes) {
            Outcome::Continue if !crashes => Ok(h),
            _ => Err(Skip),
        };
    }
    unwrap_slow(Use::Arg { api, name }, h, false)
}

/// Handle arguments for which HPy_NULL is a documented value (and harmless
/// in universal mode).  `HPy_Dup` and `HPy_Close`: HPy defines both on
/// HPy_NULL ("HPy_Dup should silently not dup HPy_NULL, for symmetry with
/// HPy_Close", docs/leysin-2020-design-decisions.md); `HPy_AsPyObject`
/// gives NULL as Py_XNewRef does.
fn may_be_null(api: &str, arg: &str) -> bool {
    matches!(
        arg,
        "kw" | "kwnames" | "default_value" | "dict" | "base" | "args" | "filename1" | "filename2" | "h_value" | "locals" | "globals" | "h3"
    ) || matches!(
        api,
        "HPyField_Store" | "HPyGlobal_Store" | "_HPy_Dump" | "HPyErr_WriteUnraisable" | "HPy_Close" | "HPy_Dup" | "HPy_AsPyObject"
    ) || (matches!(api, "HPy_SetAttr" | "HPy_SetAttr_s") && arg == "value")
}

/// Functions the universal context survives with HPy_NULL for a handle
/// argument (CPython raises SystemError or TypeError, or returns a defined
/// value: `HPyNumber_Check` 0, `HPy_Repr` "<NULL>"...): under the go-on
/// policies the call is forwarded.  Every other function dereferences it
/// (`HPy_Add`, `HPyBytes_Size`, the `*_Check` functions but
/// `HPyNumber_Check`/`HPyCallable_Check`, ...): the call is refused and
/// returns its safe value.  Measured, not guessed: the differential harness
/// (tests/test_differential.py, docs/DIFFERENTIAL.md) runs every function
/// with HPy_NULL in universal mode and fails if hpydbg crashes where it
/// crashes, or differs where it survives.
fn null_survives(api: &str) -> bool {
    matches!(
        api,
        "HPyCallable_Check" | "HPyNumber_Check" | "HPyCapsule_Get" | "HPyCapsule_IsValid" | "HPyCapsule_Set"
            | "HPyContextVar_New" | "HPyDict_Copy" | "HPyDict_Keys" | "HPyErr_ExceptionMatches" | "HPyErr_NewException"
            | "HPyErr_NewExceptionWithDoc" | "HPyErr_SetObject" | "HPyErr_SetString" | "HPyErr_WarnEx"
            | "HPyFloat_AsDouble" | "HPyLong_AsDouble" | "HPyLong_AsInt32_t" | "HPyLong_AsInt64_t" | "HPyLong_AsSize_t"
            | "HPyLong_AsSsize_t" | "HPyLong_AsUInt32_t" | "HPyLong_AsUInt32_tMask" | "HPyLong_AsUInt64_t"
            | "HPyLong_AsUInt64_tMask" | "HPyUnicode_FromEncodedObject" | "HPy_ASCII" | "HPy_Absolute" | "HPy_Bytes"
            | "HPy_DelItem" | "HPy_DelItem_i" | "HPy_DelItem_s" | "HPy_Float" | "HPy_GetItem" | "HPy_GetItem_i"
            | "HPy_GetItem_s" | "HPy_Index" | "HPy_Invert" | "HPy_Is" | "HPy_Length" | "HPy_Long" | "HPy_Negative"
            | "HPy_Positive" | "HPy_Repr" | "HPy_RichCompare" | "HPy_RichCompareBool" | "HPy_SetItem" | "HPy_SetItem_i"
            | "HPy_SetItem_s" | "HPy_Str" | "HPy_Type"
    )
}

macro_rules! pass_through_args {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            #[inline(always)]
            fn to_u(self, _: &Call, _: &'static str) -> Result<Self, Skip> { Ok(self) }
            #[inline(always)]
            fn fast(self) -> Option<Self> { Some(self) }
        }
    )*};
}

pass_through_args!(i32, u32, i64, u64, usize, isize, f64, bool, HPyField, HPyGlobal, HPyThreadState);

/// Pointer arguments: NULL goes to the full path, where it is a misuse
/// unless `func::pointers` lists it as defined (the rule and its
/// exceptions are there).
macro_rules! pointer_args {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            #[inline(always)]
            fn to_u(self, call: &Call, name: &'static str) -> Result<Self, Skip> {
                if self.is_null() {
                    null_pointer_arg(call.api, name)?;
                }
                Ok(self)
            }
            #[inline(always)]
            fn fast(self) -> Option<Self> {
                if self.is_null() { None } else { Some(self) }
            }
        }
    )*};
}

pointer_args!(
    *const c_char, *mut c_void, *mut *mut c_void, *const wchar_t, *mut HPyField, *mut HPyGlobal,
    *mut HPyCapsule_Destructor, *mut HPy_ssize_t, *mut HPyCallFunction
);

/// A NULL pointer argument: fine where defined, else reported and the
/// call is not made (CPython would dereference it), whatever the policy.
#[cold]
#[inline(never)]
fn null_pointer_arg(api: &'static str, name: &'static str) -> Result<(), Skip> {
    if crate::func::pointers::null_defined(api, name) {
        return Ok(());
    }
    let _ = report::null_pointer(api, name);
    Err(Skip)
}

/// Result conversion for generated wrappers.
pub trait Ret: Copy {
    /// Whether the function reports errors through its return value.
    const HAS_ERROR: bool = true;
    fn from_u(self, call: &Call) -> Self;
    fn error() -> Self;
    /// What a refused call of `api` returns under the go-on policies: a
    /// value of the return type the extension can use as it is, with no
    /// exception set (docs/REPORTS.md, "Refused calls").  By default the
    /// error value (builders and trackers: the universal context takes
    /// their NULL value without crashing).
    fn safe(_api: &'static str) -> Self {
        Self::error()
    }
    /// A result computed by a hand-written wrapper: note an error return's
    /// exception origin (handles are noted by `Call::open`).
    #[inline(always)]
    fn noted(self, _: &Call) -> Self {
        self
    }
}

impl Ret for HPy {
    #[inline]
    fn from_u(self, call: &Call) -> Self {
        call.open(self)
    }
    fn error() -> Self {
        HPy::NULL
    }
    /// A new handle to `None`: a live object the extension may use and
    /// close (HPy_NULL without an exception would make CPython raise
    /// SystemError where the extension passes it on).
    fn safe(_api: &'static str) -> Self {
        let u = ctx::u();
        let none = unsafe { (u.Dup.unwrap_unchecked())(ctx::uctx(), u.h_None) };
        open_handle(none, ctx::caller_ra(), &SHARED_MEMO)
    }
}

macro_rules! pass_through_rets {
    ($($t:ty => $err:expr, $safe:expr),*) => {$(
        impl Ret for $t {
            #[inline(always)]
            fn from_u(self, call: &Call) -> Self { self.noted(call) }
            fn error() -> Self { $err }
            #[allow(clippy::redundant_closure_call)]
            fn safe(api: &'static str) -> Self { ($safe)(api) }
            #[inline(always)]
            fn noted(self, call: &Call) -> Self {
                if self == $err {
                    crate::diag::errstate::note_error(call.api);
                }
                self
            }
        }
    )*};
}

// Numbers: 0 (false for the checks, success for the setters, an empty
// length); pointers: see `safe_pointer`, `""` for strings.
pass_through_rets!(
    i32 => -1, |_| 0, u32 => u32::MAX, |_| 0, i64 => -1, |_| 0, u64 => u64::MAX, |_| 0, usize => usize::MAX, |_| 0,
    isize => -1, |_| 0, f64 => -1.0, |_| 0.0,
    *mut c_void => std::ptr::null_mut(), safe_pointer, *const c_char => std::ptr::null(), |_| safe_block() as *const c_char,
    HPyThreadState => HPyThreadState::NULL, |_| HPyThreadState::NULL,
    HPyTupleBuilder => HPyTupleBuilder::NULL, |_| HPyTupleBuilder::NULL,
    HPyListBuilder => HPyListBuilder::NULL, |_| HPyListBuilder::NULL, HPyTracker => HPyTracker::NULL, |_| HPyTracker::NULL
);

/// Zeroed memory handed out by refused calls that return a pointer to an
/// object's data (`_HPy_AsStruct_*`, capsule pointers) or a C string: the
/// extension reads zeros (an empty string) instead of faulting.  It may
/// write there: it is zeroed again at each hand-out (under the GIL), and is
/// large enough for the structs extensions keep in objects.
#[repr(C, align(64))]
struct SafeBlock([u8; SAFE_BLOCK_SIZE]);
const SAFE_BLOCK_SIZE: usize = 64 * 1024;
static mut SAFE_BLOCK: SafeBlock = SafeBlock([0; SAFE_BLOCK_SIZE]);

fn safe_block() -> *mut u8 {
    unsafe {
        let p = std::ptr::addr_of_mut!(SAFE_BLOCK) as *mut u8;
        std::ptr::write_bytes(p, 0, SAFE_BLOCK_SIZE);
        p
    }
}

/// Pointers to an object's data get the zeroed block; other pointers
/// (`HPy_AsPyObject`, `HPyLong_AsVoidPtr`, ...) NULL, which they return
/// for HPy_NULL in universal mode.
fn safe_pointer(api: &'static str) -> *mut c_void {
    if api.starts_with("_HPy_AsStruct") || api.starts_with("HPyCapsule_Get") {
        safe_block() as *mut c_void
    } else {
        std::ptr::null_mut()
    }
}

impl Ret for () {
    const HAS_ERROR: bool = false;
    fn from_u(self, _: &Call) -> Self {}
    fn error() -> Self {}
}

/// What a refused call returns.  Under `raise`: its error value, with
/// `hpydbg.HPyDebugError` set where the function has an error return (by
/// design: the exception is hpydbg's).  Under the go-on policies (`log`, a
/// callback): the safe value of its return type ([`Ret::safe`]), with no
/// exception set, so that nothing hpydbg did is later taken for the
/// extension's fault.
#[cold]
#[inline(never)]
pub fn skipped<R: Ret>(api: &'static str) -> R {
    if !report::refusal_raises() {
        return R::safe(api);
    }
    if R::HAS_ERROR {
        report::set_debug_error(&format!("hpydbg: {}() was not called because of an invalid argument (see the report above)", api));
    }
    // `_HPy_AsStruct_*` cannot fail in HPy (callers do not test it): the
    // exception is set, and the extension reads zeros meanwhile.
    if api.starts_with("_HPy_AsStruct") {
        return R::safe(api);
    }
    R::error()
}
