//! The debug context: one root `HPyContext` handed to `hpy.universal`, plus
//! the per-call copies, and the state they share.
//!
//! Every call from CPython into the extension runs with a context at a new
//! address (`ctxpool`: a window of addresses over the same memory, moved to
//! a random slot of a reserved range after each turn); a context kept from
//! an earlier call (or used from another thread) is caught on first use
//! ("Wrong HPy Context").  Outside any call the root context is valid.
//!
//! Checking the context is on the path of every API call, so it is done in
//! two steps.  The thread's static-TLS word (`base::tlsword`) holds the
//! address of the context of its innermost call while it executes Python
//! (0 outside calls and between HPy_LeavePythonExecution and Reenter): one
//! load and one compare with the context's address prove the common case.
//! Everything else (the root context, real misuse) goes to the slow path,
//! which decides from the thread-local call stack.  A stale context passes
//! the fast check only if the pool handed its address to the current call
//! again: a chance of 1 in `MISS_ODDS` per use, at no distance certain.
//!
//! The fast path also proves that the thread holds the GIL (it is inside a
//! call from CPython and did not leave Python execution), which is what
//! protects the handle tables (see `sync`).  The slow path makes sure of
//! the GIL (`func::call::enter_slow`).

use std::cell::Cell;
use std::ffi::CStr;
use std::os::raw::c_void;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

use crate::abi::{HPyContext, HPy};
use crate::base::tlsword;
use crate::tables::builders::AuxTables;
use crate::tables::fields::FieldTable;
use crate::tables::handles::HandleTable;
use crate::tables::sites::SiteTable;
use crate::state::ctxpool;
use crate::state::settings::Settings;
use crate::base::sync::GilLock;

/// A context kept from an earlier call passes for the current one with a
/// chance of 1 in this, per use (`ctxpool`).
pub const MISS_ODDS: usize = ctxpool::ADDRESSES - ctxpool::PER_WINDOW;

pub static NAME: &CStr = c"HPy Debug Mode ABI (hpydbg 0.1.0, a Rust debug context)";

/// `_private` of our contexts: `root_tag()` for the root context (and
/// copies of it), `idle_tag()` for the per-call ones.  Not read on the fast
/// path.
static TAGS: [u8; 2] = [0, 0];

#[inline(always)]
fn root_tag() -> usize {
    &TAGS[0] as *const u8 as usize
}

#[inline(always)]
fn idle_tag() -> usize {
    &TAGS[1] as *const u8 as usize
}

/// `_private` of `ctx`.
#[inline(always)]
fn private(ctx: *const HPyContext) -> usize {
    unsafe { ptr::read_volatile(std::ptr::addr_of!((*ctx)._private)) as usize }
}

/// The fast context check: `ctx` is the current call's context on this
/// thread, and the thread is executing Python.  `false` means "ask
/// [`ThreadState::slow_check`]", not "wrong".  It does not read `ctx`.
#[inline(always)]
pub fn fast_ok(ctx: *const HPyContext) -> bool {
    tlsword::equals(ctx as usize)
}

/// Inside a call into the extension (`ThreadState::with_call_ctx`):
/// whether the thread left Python execution, as `is_outside_python` says,
/// from the static-TLS word (the call's context while inside Python, 0 once
/// it left): one load, where `thread()` costs a `__tls_get_addr` call.
#[inline(always)]
pub fn left_python_in_call() -> bool {
    tlsword::get() == 0
}

/// The universal context (hot paths read it from here).  Written once, in
/// `init`, before any of our contexts exists; read-only after.  A plain
/// static (not an atomic) so that one load serves both the function table
/// and the context argument.
static mut UCTX: *mut HPyContext = ptr::null_mut();

#[inline(always)]
pub fn uctx() -> *mut HPyContext {
    unsafe { *std::ptr::addr_of!(UCTX) }
}

#[inline(always)]
pub fn u() -> &'static HPyContext {
    // Set before any of our contexts exists, never changed after.
    unsafe { &*uctx() }
}

/// Our root context; set once by `hpy_debug_get_ctx`.  The universal
/// context is in `UCTX`, the per-call ones in `ctxpool`.
pub struct Contexts {
    pub root: *mut HPyContext,
}

// The root context is a leaked box, created once; the pointer is shared
// read-only between threads.
unsafe impl Send for Contexts {}
unsafe impl Sync for Contexts {}

static CONTEXTS: OnceLock<Contexts> = OnceLock::new();

/// Handle table, shared by all contexts and threads.
pub static TABLE: GilLock<HandleTable> = GilLock::new(HandleTable::new());
/// Builders and trackers.
pub static AUX: GilLock<AuxTables> = GilLock::new(AuxTables::new());
/// Where handles were opened and closed.
pub static SITES: GilLock<SiteTable> = GilLock::new(SiteTable::new());

/// Return address into the extension of the API call entered last: every
/// member of the function table is reached through a stub that stores it
/// here (`func::functable`).  A wrapper reads it on entry, before anything
/// can call back into the extension.  Written by threads without the GIL
/// too: a race only blurs a site, never memory.
pub static mut HPYDBG_CALLER_RA: usize = 0;

/// The caller's return address of the API call in progress (see above).
#[inline(always)]
pub fn caller_ra() -> usize {
    unsafe { std::ptr::addr_of!(HPYDBG_CALLER_RA).read_volatile() }
}

/// The universal context is CPython's, whose handles are `PyObject* + 1`:
/// the reference count can be read without a call.
static CPYTHON_HANDLES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether closing universal handle `uh` (not null) drops the object's
/// last reference (the caller is about to close it).  On CPython a load
/// and a compare, inline (the close fast path asks it).
#[inline(always)]
pub fn dies_on_close(uh: HPy) -> bool {
    if CPYTHON_HANDLES.load(Ordering::Relaxed) {
        return cpython_dies_on_close(uh);
    }
    last_reference_by_call(uh)
}

/// `dies_on_close` once `universal_is_cpython()` is known: the object's
/// reference count, read in place.
#[inline(always)]
pub fn cpython_dies_on_close(uh: HPy) -> bool {
    unsafe { *(cpython_ptr(uh) as *const isize) <= 1 }
}

/// CPython's universal handles are `PyObject* + 1` (HPy's `_h2py` and
/// `_py2h`, hpy/universal/src/handles.h); these two are the one place that
/// says so.  The object of CPython handle `uh`, not null, where the caller
/// knows the universal context is CPython's (no reference is added).
#[inline(always)]
pub fn cpython_ptr(uh: HPy) -> *mut pyo3::ffi::PyObject {
    (uh.raw() - 1) as *mut pyo3::ffi::PyObject
}

/// The CPython handle of object `o` (not null; the reference is not added).
#[inline(always)]
pub fn cpython_handle(o: *mut pyo3::ffi::PyObject) -> HPy {
    HPy::from_raw(o as isize + 1)
}

/// The `PyObject*` of universal handle `uh` when the universal context is
/// CPython's (no reference is added), else `None`.
#[inline]
pub fn cpython_object(uh: HPy) -> Option<*mut pyo3::ffi::PyObject> {
    (CPYTHON_HANDLES.load(Ordering::Relaxed) && !uh.is_null()).then(|| cpython_ptr(uh))
}

/// Whether the universal context is CPython's: its handles are
/// `PyObject* + 1`, and its builders the tuple or list being built (HPy's
/// ctx_tuplebuilder.c, ctx_listbuilder.c), whose items can be read in place
/// (`func::builders`).
#[inline(always)]
pub fn universal_is_cpython() -> bool {
    CPYTHON_HANDLES.load(Ordering::Relaxed)
}

/// `dies_on_close` for any handle (null: no object, nothing dies).
pub fn is_last_reference(uh: HPy) -> bool {
    !uh.is_null() && dies_on_close(uh)
}

/// Another universal context: ask it for the object and read its count.
#[cold]
#[inline(never)]
fn last_reference_by_call(uh: HPy) -> bool {
    unsafe {
        let o = (u().AsPyObject.unwrap_unchecked())(uctx(), uh) as *mut pyo3::ffi::PyObject;
        if o.is_null() {
            return false;
        }
        // AsPyObject added one reference.
        let last = pyo3::ffi::Py_REFCNT(o) <= 2;
        pyo3::ffi::Py_DecRef(o);
        last
    }
}

/// The names of the context constants (`ctx->h_None`...) by slot index.
static CONSTANT_NAMES: OnceLock<Vec<(u32, &'static str)>> = OnceLock::new();

/// `h_None` for the slot of `ctx->h_None`.
pub fn constant_name(index: u32) -> Option<&'static str> {
    let v = CONSTANT_NAMES.get()?;
    v.iter().find(|(i, _)| *i == index).map(|(_, n)| *n)
}
/// What HPyField_Store / HPyGlobal_Store wrote.
pub static FIELDS: GilLock<FieldTable> = GilLock::new(FieldTable::new());
pub static SETTINGS: Settings = Settings::new();

/// Tell the handle table what the settings now ask of its fast paths (it
/// tests them through its own limits, one compare fewer per call).  Called
/// after every change of a setting, from Python or at init, holding the
/// GIL, with no table borrowed.
pub fn settings_changed() {
    TABLE.lock().set_slow_paths(SETTINGS.wants_slow_paths());
    let mode = if !SETTINGS.go_on() {
        GO_ON_NO
    } else if universal_is_cpython() {
        GO_ON_CPYTHON
    } else {
        GO_ON_OTHER
    };
    CLOSE_GO_ON.store(mode, Ordering::Relaxed);
    update_close_entry();
}

/// Where the stub of HPy_Close jumps (`func::functable`): an
/// implementation that reads the go-on byte below, or one for the byte's
/// present value that does not (no policy going on; going on, CPython's
/// universal context).  The function layer registers them
/// (`set_close_entries`), this layer picks one whenever the settings
/// change.  Read by the stub with the GIL held or not: a word, written whole.
pub static mut HPYDBG_CLOSE_ENTRY: usize = 0;
static CLOSE_ENTRIES: std::sync::OnceLock<CloseEntries> = std::sync::OnceLock::new();

/// HPy_Close's implementations, as addresses.
pub struct CloseEntries {
    pub reading: usize,
    pub stopping: usize,
    pub going_on_cpython: usize,
}

pub fn set_close_entries(e: CloseEntries) {
    let _ = CLOSE_ENTRIES.set(e);
    update_close_entry();
}

fn update_close_entry() {
    if let Some(e) = CLOSE_ENTRIES.get() {
        let a = match close_go_on() {
            GO_ON_NO => e.stopping,
            GO_ON_CPYTHON => e.going_on_cpython,
            _ => e.reading,
        };
        unsafe { std::ptr::addr_of_mut!(HPYDBG_CLOSE_ENTRY).write_volatile(a) };
    }
}

/// What HPy_Close's fast path does after closing (`func::manual::
/// close_owned`): `SETTINGS.go_on()` and `universal_is_cpython()` in one
/// load, kept by `settings_changed` (the second is fixed at init, before it
/// runs).
/// Values chosen so that one test of the byte tells all three apart (zero,
/// sign).
static CLOSE_GO_ON: std::sync::atomic::AtomicI8 = std::sync::atomic::AtomicI8::new(GO_ON_NO);
/// Not going on after reports: close.
pub const GO_ON_NO: i8 = 0;
/// Going on, CPython's universal context: read the reference count in place.
pub const GO_ON_CPYTHON: i8 = 1;
/// Going on, another universal context: ask it.
pub const GO_ON_OTHER: i8 = -1;

#[inline(always)]
pub fn close_go_on() -> i8 {
    CLOSE_GO_ON.load(Ordering::Relaxed)
}

/// The extension function that `ctx_CallRealFunctionFromTrampoline` is about
/// to have the universal context call through our shim.  Set and taken under
/// the GIL with nothing in between that could release it (the universal
/// context only converts the arguments), so one global is enough.
static PENDING: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

#[inline]
pub fn set_pending(func: *const c_void) {
    PENDING.store(func as *mut c_void, Ordering::Relaxed);
}

#[inline]
pub fn take_pending() -> *const c_void {
    let f = PENDING.load(Ordering::Relaxed);
    PENDING.store(ptr::null_mut(), Ordering::Relaxed);
    f
}

/// Per-thread state: in static TLS (`tlsword::block`) on x86_64 Linux,
/// where all zeros is its initial value; a `thread_local!` elsewhere.
#[repr(C)]
pub struct ThreadState {
    /// The per-call context of the innermost call on this thread, or null
    /// outside any call.
    current: Cell<*const HPyContext>,
    /// Between HPy_LeavePythonExecution and HPy_ReenterPythonExecution.
    outside_python: Cell<bool>,
    /// The thread state HPy_LeavePythonExecution returned, and the call
    /// context that left, while `outside_python`.
    left: Cell<(isize, *const HPyContext)>,
    /// The slow path took the GIL and is running the call again.
    rerun: Cell<*const HPyContext>,
    /// `left` of outer calls that were outside Python when a call into the
    /// extension came in on this thread (C code that took the GIL itself).
    /// Made on first use and never freed: a type with a destructor would
    /// make every access to this thread-local check its registration.
    outer_left: Cell<*mut Vec<(isize, *const HPyContext)>>,
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
const _: () = assert!(
    std::mem::size_of::<ThreadState>() <= tlsword::BLOCK_BYTES && std::mem::align_of::<ThreadState>() <= 8,
    "ThreadState must fit the static-TLS block"
);

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
thread_local! {
    static THREAD: ThreadState = const {
        ThreadState {
            current: Cell::new(ptr::null()),
            outside_python: Cell::new(false),
            left: Cell::new((0, ptr::null())),
            rerun: Cell::new(ptr::null()),
            outer_left: Cell::new(ptr::null_mut()),
        }
    };
}

/// This thread's state (valid for the thread's lifetime; do not send it).
#[inline]
pub fn thread() -> &'static ThreadState {
    // Zero bytes are a valid ThreadState (null pointers, false, 0), the
    // block's start value; it lives as long as the thread.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    return unsafe { &*(tlsword::block() as *const ThreadState) };
    // The thread-local outlives every call made on this thread.
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    THREAD.with(|t| unsafe { &*(t as *const ThreadState) })
}

/// What the slow path found.
pub struct SlowCheck {
    pub wrong_context: bool,
    pub outside_python: bool,
}

/// Called (from `with_call_ctx`) when a call into the extension returns
/// while its thread is outside Python execution; set by the layer that
/// reports (`func::execution`).  It must leave the thread inside Python.
static RETURNED_OUTSIDE: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

pub fn set_returned_outside_hook(f: fn(*const HPyContext)) {
    RETURNED_OUTSIDE.store(f as *mut c_void, Ordering::Relaxed);
}

impl ThreadState {
    /// HPy_LeavePythonExecution succeeded in call context `ctx`, returning
    /// `state`: from now on the fast context check fails on this thread.
    pub fn left_python(&self, ctx: *const HPyContext, state: isize) {
        self.outside_python.set(true);
        self.left.set((state, ctx));
        tlsword::set(0);
    }

    /// Back inside Python (HPy_ReenterPythonExecution, or hpydbg restored it).
    pub fn reentered_python(&self) {
        self.outside_python.set(false);
        self.left.set((0, ptr::null()));
        tlsword::set(self.current.get() as usize);
    }

    pub fn is_outside_python(&self) -> bool {
        self.outside_python.get()
    }

    /// (thread state, call context) of the HPy_LeavePythonExecution in force.
    pub fn left(&self) -> (isize, *const HPyContext) {
        self.left.get()
    }

    /// The full check, for calls the fast path did not prove.
    pub fn slow_check(&self, ctx: *const HPyContext) -> SlowCheck {
        let cur = self.current.get();
        let ok = if cur.is_null() {
            // Outside any call: the root context (or a caller-made copy).
            is_root(ctx)
        } else {
            ctx == cur
        };
        SlowCheck { wrong_context: !ok, outside_python: self.outside_python.get() }
    }

    /// Whether this is the slow path's re-run of a call on `ctx` (with the
    /// GIL taken; it reported already).  Consumes the mark.
    pub fn take_rerun(&self, ctx: *const HPyContext) -> bool {
        if !ctx.is_null() && self.rerun.get() == ctx {
            self.rerun.set(ptr::null());
            return true;
        }
        false
    }

    pub fn set_rerun(&self, ctx: *const HPyContext) {
        self.rerun.set(ctx)
    }

    /// The per-call context of the innermost call (null outside calls).
    pub fn current(&self) -> *const HPyContext {
        self.current.get()
    }

    /// Run `f` with a fresh per-call context made current.  Inlined into
    /// each trampoline: out of line, it costs a second frame (six saved
    /// registers) and the closure's captures passed through memory.
    #[inline(always)]
    pub fn with_call_ctx<R>(&self, f: impl FnOnce(*mut HPyContext) -> R) -> R {
        let next = ctxpool::next();
        let prev = self.current.replace(next);
        // The outer call left Python and C code took the GIL back itself:
        // this call is inside Python; the outer one is outside again after.
        let from_outside = self.outside_python.get();
        if from_outside {
            self.enter_from_outside();
        }
        // The context check's word, and the call's Python instruction: not
        // read yet (`func::call::site_here`).
        let prev_instr = tlsword::enter_call(next as usize);
        let r = f(next);
        if self.outside_python.get() {
            // `current` is `next` again (inner calls restore it): read, it
            // keeps `next` out of a register saved across the call.
            self.returned_outside(self.current.get());
        }
        self.current.set(prev);
        tlsword::leave_call(prev as usize, prev_instr);
        if from_outside {
            self.back_outside();
        }
        r
    }

    #[cold]
    #[inline(never)]
    fn enter_from_outside(&self) {
        if self.outer_left.get().is_null() {
            self.outer_left.set(Box::into_raw(Box::default()));
        }
        // Only this thread touches it, and not re-entrantly.
        let v = unsafe { &mut *self.outer_left.get() };
        v.push(self.left.replace((0, ptr::null())));
        self.outside_python.set(false);
    }

    #[cold]
    #[inline(never)]
    fn back_outside(&self) {
        let outer = self.outer_left.get();
        let left = if outer.is_null() { None } else { unsafe { (*outer).pop() } };
        self.left.set(left.unwrap_or((0, ptr::null())));
        self.outside_python.set(true);
        tlsword::set(0);
    }

    #[cold]
    #[inline(never)]
    fn returned_outside(&self, ctx: *const HPyContext) {
        let f = RETURNED_OUTSIDE.load(Ordering::Relaxed);
        if !f.is_null() {
            let f: fn(*const HPyContext) = unsafe { std::mem::transmute(f) };
            f(ctx);
        }
    }
}

pub fn contexts() -> Option<&'static Contexts> {
    CONTEXTS.get()
}

/// Any context made by hpydbg (or a copy of the root context).
pub fn is_ours(ctx: *const HPyContext) -> bool {
    // Before `init` the pool has no window, so nothing is in it.
    is_root(ctx) || ctxpool::contains(ctx)
}

/// A root context (valid outside calls), or a copy of one.
pub fn is_root(ctx: *const HPyContext) -> bool {
    !ctx.is_null() && private(ctx) == root_tag()
}

/// Create (once) the debug contexts wrapping `uctx`; `fill_functions` points
/// the function members at their implementations (which sit above this
/// module).
pub fn init(uctx: *mut HPyContext, fill_functions: fn(&mut HPyContext)) -> &'static Contexts {
    CONTEXTS.get_or_init(|| unsafe {
        *std::ptr::addr_of_mut!(UCTX) = uctx;
        let uname = if (*uctx).name.is_null() { "" } else { CStr::from_ptr((*uctx).name).to_str().unwrap_or("") };
        CPYTHON_HANDLES.store(uname.contains("CPython"), Ordering::Relaxed);
        check_interpreter();
        // Resolve HPY_DEBUG_POLICY & co. now, so that the fast paths know it.
        SETTINGS.read_env();
        settings_changed();
        let mut root: Box<HPyContext> = Box::new(std::mem::zeroed());
        root.name = NAME.as_ptr();
        root._private = root_tag() as *mut c_void;
        root.abi_version = (*uctx).abi_version;
        fill_functions(&mut root);
        fill_constants(&mut root, &*uctx);
        let mut template = ptr::read(&*root);
        template._private = idle_tag() as *mut c_void;
        if let Err(e) = ctxpool::init(&template) {
            crate::base::bug::fatal_internal(&e);
        }
        let root = Box::into_raw(root);
        Contexts { root }
    })
}

/// Prove the interpreter's layouts that hpydbg reads (the Python frames,
/// the pending-exception field) and say once, on stderr, what this Python
/// lacks: never run silently with less.
fn check_interpreter() {
    use crate::base::{pyerr, pyframe, pytstate};
    let v = pytstate::version_number();
    let minor: u32 = v.split('.').nth(1).and_then(|m| m.parse().ok()).unwrap_or(0);
    if minor >= 13 {
        eprintln!("hpydbg: CPython {}: HPy 0.9.0 does not support this Python (HPy's own tests crash on it); hpydbg checks what runs", v);
    }
    let mut missing = Vec::new();
    // Both proofs need the GIL (and pyframe's a Python caller).
    if unsafe { pyo3::ffi::PyGILState_Check() } != 0 {
        if let Err(e) = pyframe::init() {
            missing.push(format!("reports name no Python line (cannot read the frames: {})", e));
        }
        if let Err(e) = pyerr::init() {
            missing.push(format!("the pending-exception test calls PyErr_Occurred() ({})", e));
        }
    } else {
        missing.push("reports name no Python line and the pending-exception test calls PyErr_Occurred() (started without the GIL, nothing proven)".into());
    }
    if !missing.is_empty() {
        eprintln!("hpydbg: CPython {}: {}", v, missing.join("; "));
    }
}

/// Context constants become immortal debug handles.
unsafe fn fill_constants(d: &mut HPyContext, u: &HPyContext) {
    let mut t = TABLE.lock();
    let mut names = Vec::new();
    macro_rules! constants {
        ($( $kind:tt $name:ident $( $pub:literal ( $($an:ident : $at:ty),* ) -> $ret:ty )? ; )*) => {
            $( constants!(@one $kind $name); )*
        };
        (@one const $name:ident) => {
            d.$name = if u.$name.is_null() {
                HPy::NULL
            } else {
                match t.open(u.$name.raw(), true) {
                    0 => crate::base::bug::fatal_internal("out of memory creating the debug context"),
                    h => {
                        if let Some((index, _)) = crate::tables::handles::decode(h) {
                            names.push((index, stringify!($name)));
                        }
                        HPy::from_raw(h)
                    }
                }
            };
        };
        (@one fn $name:ident) => {};
    }
    crate::hpy_context_members!(constants);
    let _ = CONSTANT_NAMES.set(names);
}

/// The name of the context that debug-mode loads get.
pub fn context_name() -> &'static str {
    NAME.to_str().unwrap_or("HPy Debug Mode ABI")
}
