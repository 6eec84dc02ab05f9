//! The debug context: one root `HPyContext` handed to `hpy.universal`, plus a
//! pool of per-call copies, and the state they share.
//!
//! Every call from CPython into the extension runs with the next copy of the
//! pool; a thread-local records which context is current, so a context kept
//! from an earlier call (or another thread's call) is caught on first use
//! ("Wrong HPy Context").  Outside any call the root contexts are valid.

use std::cell::Cell;
use std::ffi::CStr;
use std::os::raw::c_void;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::abi::{HPyContext, HPy};
use crate::builders::AuxTables;
use crate::handles::HandleTable;
use crate::settings::Settings;
use crate::sync::SpinLock;

/// Pool size of per-call contexts (HPy's C debug mode uses 16 as well).
pub const POOL_SIZE: usize = 16;

pub static NAME: &CStr = c"HPy Debug Mode ABI (hpydbg 0.1.0, a Rust debug context)";

/// `_private` of our root contexts points at `TAGS[0]`, of per-call
/// contexts at `TAGS[1]`: how we recognise ours, and which are valid
/// outside a call.
static TAGS: [u8; 2] = [0, 0];
pub fn tag() -> *mut c_void {
    &TAGS[0] as *const u8 as *mut c_void
}
fn call_tag() -> *mut c_void {
    &TAGS[1] as *const u8 as *mut c_void
}

/// The universal context and our contexts; set once by `hpy_debug_get_ctx`.
pub struct Contexts {
    pub uctx: *mut HPyContext,
    pub root: *mut HPyContext,
    pool: [*mut HPyContext; POOL_SIZE],
    next: AtomicUsize,
}

// The contexts are immutable after init (leaked boxes); the pointers are
// shared read-only between threads.
unsafe impl Send for Contexts {}
unsafe impl Sync for Contexts {}

static CONTEXTS: OnceLock<Contexts> = OnceLock::new();

/// Handle table, shared by all contexts and threads.
pub static TABLE: SpinLock<HandleTable> = SpinLock::new(HandleTable::new());
/// Builders and trackers.
pub static AUX: SpinLock<AuxTables> = SpinLock::new(AuxTables::new());
pub static SETTINGS: Settings = Settings::new();

/// Lock a table; a panic elsewhere must not turn every later call into one.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Per-thread state, in one thread-local so that the hot paths pay for one
/// thread-local access.
pub struct ThreadState {
    /// The per-call context of the innermost call on this thread, or null
    /// outside any call.
    current: Cell<*const HPyContext>,
    /// The extension function that `ctx_CallRealFunctionFromTrampoline` is
    /// about to have the universal context call through our shim.
    pending: Cell<*const c_void>,
    /// Between HPy_LeavePythonExecution and HPy_ReenterPythonExecution.
    outside_python: Cell<bool>,
}

thread_local! {
    static THREAD: ThreadState = const {
        ThreadState { current: Cell::new(ptr::null()), pending: Cell::new(ptr::null()), outside_python: Cell::new(false) }
    };
}

/// This thread's state (valid for the thread's lifetime; do not send it).
#[inline]
pub fn thread() -> &'static ThreadState {
    // The thread-local outlives every call made on this thread.
    THREAD.with(|t| unsafe { &*(t as *const ThreadState) })
}

impl ThreadState {
    #[inline]
    pub fn outside_python(&self) -> bool {
        self.outside_python.get()
    }

    pub fn set_outside_python(&self, v: bool) {
        self.outside_python.set(v)
    }

    pub fn set_pending(&self, func: *const c_void) {
        self.pending.set(func);
    }

    pub fn take_pending(&self) -> *const c_void {
        self.pending.replace(ptr::null())
    }

    /// Is `ctx` valid for a call made now on this thread?
    #[inline]
    pub fn ctx_is_current(&self, c: &Contexts, ctx: *const HPyContext) -> bool {
        let cur = self.current.get();
        if cur.is_null() {
            // Outside any call: the root context (or a caller-initialised copy).
            ctx == c.root as *const _ || c.is_root(ctx)
        } else {
            ctx == cur
        }
    }

    /// Run `f` with a fresh per-call context made current.
    #[inline]
    pub fn with_call_ctx<R>(&self, c: &Contexts, f: impl FnOnce(*mut HPyContext) -> R) -> R {
        let next = c.next_call_ctx();
        let prev = self.current.replace(next);
        let r = f(next);
        self.current.set(prev);
        r
    }
}

pub fn contexts() -> Option<&'static Contexts> {
    CONTEXTS.get()
}

/// The contexts, for code that only runs once they exist (API calls).
#[inline]
pub fn ctxs() -> &'static Contexts {
    match CONTEXTS.get() {
        Some(c) => c,
        None => crate::report::fatal_internal("an HPy debug context function was called before hpy_debug_get_ctx"),
    }
}

impl Contexts {
    #[inline]
    pub fn u(&self) -> &'static HPyContext {
        unsafe { &*self.uctx }
    }

    /// Take the next per-call context of the pool.
    #[inline]
    pub fn next_call_ctx(&self) -> *mut HPyContext {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % POOL_SIZE;
        self.pool[i]
    }

    /// Any context made by hpydbg.
    pub fn is_ours(&self, ctx: *const HPyContext) -> bool {
        !ctx.is_null() && (unsafe { (*ctx)._private } == tag() || unsafe { (*ctx)._private } == call_tag())
    }

    /// A root context (valid outside calls).
    pub fn is_root(&self, ctx: *const HPyContext) -> bool {
        !ctx.is_null() && unsafe { (*ctx)._private } == tag()
    }
}

/// Create (once) the debug contexts wrapping `uctx`.
pub fn init(uctx: *mut HPyContext) -> &'static Contexts {
    CONTEXTS.get_or_init(|| unsafe {
        let mut root: Box<HPyContext> = Box::new(std::mem::zeroed());
        root.name = NAME.as_ptr();
        root._private = tag();
        root.abi_version = (*uctx).abi_version;
        crate::api::fill_functions(&mut root);
        fill_constants(&mut root, &*uctx);
        let root = Box::into_raw(root);
        let mut pool = [ptr::null_mut(); POOL_SIZE];
        for p in pool.iter_mut() {
            let mut copy = Box::new(ptr::read(root));
            copy._private = call_tag();
            *p = Box::into_raw(copy);
        }
        Contexts { uctx, root, pool, next: AtomicUsize::new(0) }
    })
}

/// Context constants become immortal debug handles.
unsafe fn fill_constants(d: &mut HPyContext, u: &HPyContext) {
    let mut t = TABLE.lock();
    macro_rules! constants {
        ($( $kind:tt $name:ident $( $pub:literal ( $($an:ident : $at:ty),* ) -> $ret:ty )? ; )*) => {
            $( constants!(@one $kind $name); )*
        };
        (@one const $name:ident) => {
            d.$name = if u.$name.is_null() {
                HPy::NULL
            } else {
                match t.open(u.$name.raw(), true) {
                    0 => crate::report::fatal_internal("out of memory creating the debug context"),
                    h => HPy::from_raw(h),
                }
            };
        };
        (@one fn $name:ident) => {};
    }
    crate::hpy_context_members!(constants);
}

/// The name of the context that debug-mode loads get.
pub fn context_name() -> &'static str {
    NAME.to_str().unwrap_or("HPy Debug Mode ABI")
}
