//! Whether a Python exception is pending on this thread, in as few
//! instructions as the wrappers can afford (the test runs on every API call).
//!
//! On CPython 3.11, `PyErr_Occurred()` is `_PyRuntime.gilstate.tstate_current
//! ->curexc_type`: two loads behind a call.  We do the two loads inline,
//! through `SLOT`, which points at `tstate_current`.  The offsets are those
//! of 3.11 and are proven at `init` (with the GIL held) against the
//! interpreter itself; if they do not hold (another CPython), `SLOT` points
//! at a fake thread state whose exception is always set, so every test takes
//! the cold path, which asks `PyErr_Occurred()`: slower, never wrong.
//!
//! The inline test may only run where the GIL is held (the fast context
//! check proves it), because `tstate_current` is null without it.

use std::sync::atomic::{AtomicBool, Ordering};

/// `offsetof(_PyRuntimeState, gilstate.tstate_current)` on CPython 3.11.
const TSTATE_CURRENT: usize = 576;
/// `offsetof(PyThreadState, curexc_type)` (and `curexc_value` after it).
const CUREXC_TYPE: usize = 96;

/// A thread state whose `curexc_type` is never null, and a slot pointing at
/// it: "maybe pending, ask the cold path".
static FAKE_TSTATE: [usize; CUREXC_TYPE / 8 + 2] = {
    let mut a = [0usize; CUREXC_TYPE / 8 + 2];
    a[CUREXC_TYPE / 8] = 1;
    a
};
static FAKE_SLOT: SyncPtr = SyncPtr(&FAKE_TSTATE as *const _ as *const u8);

#[repr(transparent)]
#[allow(dead_code)] // read through a pointer cast
struct SyncPtr(*const u8);
// A pointer to immutable statics.
unsafe impl Sync for SyncPtr {}

/// Where the current thread state pointer lives; written once in `init`
/// under the GIL, before any of our contexts exists.
static mut SLOT: *const *const u8 = &FAKE_SLOT as *const SyncPtr as *const *const u8;
static RAW: AtomicBool = AtomicBool::new(false);

/// Maybe pending (exact when the raw read is proven, else conservative).
#[inline(always)]
pub fn maybe_pending() -> bool {
    unsafe {
        let ts = *std::ptr::addr_of!(SLOT).read();
        *(ts.add(CUREXC_TYPE) as *const usize) != 0
    }
}

/// Exactly: an exception is pending (needs the GIL).
#[inline(always)]
pub fn pending() -> bool {
    maybe_pending() && confirm()
}

#[cold]
#[inline(never)]
fn confirm() -> bool {
    RAW.load(Ordering::Relaxed) || unsafe { !pyo3::ffi::PyErr_Occurred().is_null() }
}

/// The pending exception's type object, or 0 (needs the GIL): identifies
/// "the same exception" between two moments, cheaply.
pub fn current_type() -> usize {
    unsafe { pyo3::ffi::PyErr_Occurred() as usize }
}

/// Prove the offsets on this interpreter (GIL held), and use the raw read
/// if they hold.  Idempotent.
pub fn init() {
    if RAW.load(Ordering::Relaxed) {
        return;
    }
    unsafe {
        if !crate::base::pyframe::runtime_version().starts_with("3.11.") {
            return;
        }
        let rt = libc::dlsym(libc::RTLD_DEFAULT, c"_PyRuntime".as_ptr()) as *const u8;
        if rt.is_null() {
            return;
        }
        let slot = rt.add(TSTATE_CURRENT) as *const *const u8;
        let ts = pyo3::ffi::PyThreadState_Get() as *const u8;
        if ts.is_null() || *slot != ts {
            return;
        }
        // The exception fields: set a known one, look, put back what was there.
        let (mut t, mut v, mut tb) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
        pyo3::ffi::PyErr_Fetch(&mut t, &mut v, &mut tb);
        let empty = *(ts.add(CUREXC_TYPE) as *const usize) == 0;
        pyo3::ffi::PyErr_SetNone(pyo3::ffi::PyExc_KeyError);
        let seen = *(ts.add(CUREXC_TYPE) as *const usize) == pyo3::ffi::PyExc_KeyError as usize;
        pyo3::ffi::PyErr_Clear();
        pyo3::ffi::PyErr_Restore(t, v, tb);
        if empty && seen {
            *std::ptr::addr_of_mut!(SLOT) = slot;
            RAW.store(true, Ordering::Relaxed);
        }
    }
}

/// Whether the inline read is in use (for stats and tests).
pub fn raw() -> bool {
    RAW.load(Ordering::Relaxed)
}
