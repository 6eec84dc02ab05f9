//! Whether a Python exception is pending on this thread, in as few
//! instructions as the wrappers can afford (the test runs on every API call).
//!
//! `PyErr_Occurred()` reads one field of the current thread state: its
//! `curexc_type` (3.8 to 3.11) or `current_exception` (3.12+, one object
//! since the exception state became a single value).  We do the loads
//! inline; where the thread state lives is `base::pytstate`'s business:
//!
//! - 3.8 to 3.11: `SLOT` points at `_PyRuntime.gilstate.tstate_current`;
//!   unproven, at a fake thread state whose exception is always set.
//! - 3.12+: `TS_TLS` is the thread state's offset from the thread pointer;
//!   unproven, 0.
//!
//! Either way an unproven layout makes every test take the cold path, which
//! asks `PyErr_Occurred()`: slower, never wrong.  `init` proves the field
//! (with the GIL held) by raising a known exception and looking.
//!
//! The inline test may only run where the GIL is held (the fast context
//! check proves it), because the thread state is null without it.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::base::pytstate::{self, Place};

/// `offsetof(PyThreadState, curexc_type)` (3.8-3.11) or
/// `offsetof(PyThreadState, current_exception)` (3.12+).
pub const EXC_FIELD: usize = if cfg!(Py_3_13) {
    112
} else if cfg!(Py_3_11) {
    96
} else {
    88
};

/// The field's C name, for the layout test.
pub const EXC_FIELD_NAME: &str = if cfg!(Py_3_12) { "PyThreadState.current_exception" } else { "PyThreadState.curexc_type" };

#[cfg(not(Py_3_12))]
mod slot {
    use super::EXC_FIELD;

    /// A thread state whose exception is never null, and a slot pointing
    /// at it: "maybe pending, ask the cold path".
    static FAKE_TSTATE: [usize; EXC_FIELD / 8 + 2] = {
        let mut a = [0usize; EXC_FIELD / 8 + 2];
        a[EXC_FIELD / 8] = 1;
        a
    };
    static FAKE_SLOT: SyncPtr = SyncPtr(&FAKE_TSTATE as *const _ as *const u8);

    #[repr(transparent)]
    #[allow(dead_code)] // read through a pointer cast
    struct SyncPtr(*const u8);
    // A pointer to immutable statics.
    unsafe impl Sync for SyncPtr {}

    /// Where the current thread state pointer lives; written once in
    /// `init` under the GIL, before any of our contexts exists.
    static mut SLOT: *const *const u8 = &FAKE_SLOT as *const SyncPtr as *const *const u8;

    #[inline(always)]
    pub fn tstate() -> *const u8 {
        unsafe { *std::ptr::addr_of!(SLOT).read() }
    }

    pub fn set(slot: usize) {
        unsafe { *std::ptr::addr_of_mut!(SLOT) = slot as *const *const u8 };
    }
}

#[cfg(Py_3_12)]
mod slot {
    use std::sync::atomic::{AtomicIsize, Ordering};

    static TS_TLS: AtomicIsize = AtomicIsize::new(0);

    /// Null while unproven (the caller then asks the cold path).
    #[inline(always)]
    pub fn tstate() -> *const u8 {
        let off = TS_TLS.load(Ordering::Relaxed);
        if off == 0 {
            return std::ptr::null();
        }
        crate::base::pytstate::read_tls(off) as *const u8
    }

    pub fn set(off: isize) {
        TS_TLS.store(off, Ordering::Relaxed);
    }
}

static RAW: AtomicBool = AtomicBool::new(false);

/// Maybe pending (exact when the raw read is proven, else conservative).
#[inline(always)]
pub fn maybe_pending() -> bool {
    let ts = slot::tstate();
    if cfg!(Py_3_12) && ts.is_null() {
        return true;
    }
    unsafe { *(ts.add(EXC_FIELD) as *const usize) != 0 }
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

/// Take the pending exception out of the thread state (GIL held), to put it
/// back with `restore`: the one-object API from 3.12 on, the triple before.
pub struct Saved([*mut pyo3::ffi::PyObject; 3]);

impl Saved {
    /// The saved exception's type and value (null, null if none; the value
    /// may be unnormalised before 3.12).  Borrowed.
    pub fn type_and_value(&self) -> (*mut pyo3::ffi::PyObject, *mut pyo3::ffi::PyObject) {
        if cfg!(Py_3_12) {
            let e = self.0[0];
            if e.is_null() {
                return (e, e);
            }
            (unsafe { pyo3::ffi::Py_TYPE(e) } as *mut pyo3::ffi::PyObject, e)
        } else {
            (self.0[0], self.0[1])
        }
    }
}

pub fn save() -> Saved {
    unsafe {
        #[cfg(Py_3_12)]
        {
            Saved([pyo3::ffi::PyErr_GetRaisedException(), std::ptr::null_mut(), std::ptr::null_mut()])
        }
        #[cfg(not(Py_3_12))]
        {
            let (mut t, mut v, mut tb) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
            pyo3::ffi::PyErr_Fetch(&mut t, &mut v, &mut tb);
            Saved([t, v, tb])
        }
    }
}

/// Put back what `save` took (clearing any exception raised since).
pub fn restore(s: Saved) {
    unsafe {
        #[cfg(Py_3_12)]
        {
            pyo3::ffi::PyErr_SetRaisedException(s.0[0]);
        }
        #[cfg(not(Py_3_12))]
        {
            pyo3::ffi::PyErr_Restore(s.0[0], s.0[1], s.0[2]);
        }
    }
}

/// Prove the offsets on this interpreter (GIL held), and use the raw read
/// if they hold; otherwise say why.  Idempotent.
pub fn init() -> Result<(), String> {
    if RAW.load(Ordering::Relaxed) {
        return Ok(());
    }
    let place = pytstate::locate()?;
    let ts = unsafe { pyo3::ffi::PyThreadState_Get() } as *const u8;
    let ok = unsafe {
        // The exception field: set a known one, look, put back what was there.
        let saved = save();
        let empty = *(ts.add(EXC_FIELD) as *const usize) == 0;
        pyo3::ffi::PyErr_SetNone(pyo3::ffi::PyExc_KeyError);
        let v = *(ts.add(EXC_FIELD) as *const usize);
        // 3.12+ holds the (normalised) exception, before its type.
        let seen = if cfg!(Py_3_12) {
            v != 0 && pyo3::ffi::Py_TYPE(v as *mut pyo3::ffi::PyObject) as usize == pyo3::ffi::PyExc_KeyError as usize
        } else {
            v == pyo3::ffi::PyExc_KeyError as usize
        };
        pyo3::ffi::PyErr_Clear();
        let cleared = *(ts.add(EXC_FIELD) as *const usize) == 0;
        restore(saved);
        empty && seen && cleared
    };
    if !ok {
        return Err(format!("{} does not hold the raised exception", EXC_FIELD_NAME));
    }
    match place {
        #[cfg(not(Py_3_12))]
        Place::Global(a) => slot::set(a),
        #[cfg(Py_3_12)]
        Place::Tls(o) => slot::set(o),
        #[allow(unreachable_patterns)]
        _ => return Err("the thread state's place does not suit this build".into()),
    }
    RAW.store(true, Ordering::Relaxed);
    Ok(())
}

/// Whether the inline read is in use (for stats and tests).
pub fn raw() -> bool {
    RAW.load(Ordering::Relaxed)
}
