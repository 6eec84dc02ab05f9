//! The quarantine of closed handles' objects, under the go-on policies.
//!
//! When closing a handle drops its object's last reference, a later use of
//! the handle (use after close) would reach freed memory: universal mode
//! then usually goes on reading what is left there, and hpydbg must not do
//! worse.  So, as valgrind and ASan keep freed blocks in a quarantine, the
//! close keeps the object alive for a while instead, and a use after close
//! is forwarded to it: the extension gets the result universal mode gives
//! while the memory is intact.  Bounded by count and bytes, oldest out first
//! (an object leaving the quarantine is released then, and its handle's
//! record forgets it: a later use is refused, `func::call::skipped`).
//!
//! Only objects whose later death nobody can observe are held: instances
//! of built-in types without a finalizer and without a weak reference
//! attached, holding (transitively, 64 objects at most) only such objects
//! (`int`, `str`, `bytes`, a list of ints, a dict of strs...).  Delaying the
//! death of anything else (an instance of a Python class or of an HPy type,
//! an object with a `__del__` or a weakref callback, or holding one) would
//! move destructors, weakref callbacks and HPy `tp_destroy` calls, which
//! tests observe; those objects are released at close, as in universal
//! mode (docs/REPORTS.md, "Use after close").

use std::collections::VecDeque;

use pyo3::ffi;

use crate::abi::HPy;
use crate::base::sync::GilLock;
use crate::state::ctx::{self, TABLE};

/// Objects held at most: the closed-handle FIFO's default length, beyond
/// which a closed handle's record is gone anyway.
pub const MAX_OBJECTS: usize = crate::tables::handles::DEFAULT_CLOSED_QUEUE_MAX;
/// Bytes held at most (sum of the objects' sizes).
pub const MAX_BYTES: usize = 8 << 20;
/// Larger objects are not held.
pub const MAX_OBJECT_BYTES: usize = 64 << 10;

struct Held {
    /// The closed debug handle, and its universal handle (our reference).
    h: isize,
    uh: isize,
    bytes: usize,
}

pub struct Quarantine {
    held: VecDeque<Held>,
    bytes: usize,
    /// Objects ever held, and released by eviction.
    pub admitted: u64,
    pub evicted: u64,
}

static Q: GilLock<Quarantine> = GilLock::new(Quarantine { held: VecDeque::new(), bytes: 0, admitted: 0, evicted: 0 });

/// Objects looked at (the object and what it refers to, transitively) to
/// decide that its death is quiet; beyond, it is not held.
const MAX_VISITED: usize = 64;
const MAX_DEPTH: usize = 3;

struct Walk {
    visited: usize,
    bytes: usize,
    depth: usize,
    quiet: bool,
}

/// A type whose instances die without running code of anyone's: built in
/// (not a heap type: no Python class with `__del__`, no HPy type with
/// `tp_destroy`), no finalizer.
unsafe fn quiet_type(t: *mut ffi::PyTypeObject) -> bool {
    (*t).tp_flags & ffi::Py_TPFLAGS_HEAPTYPE == 0 && (*t).tp_finalize.is_none() && (*t).tp_del.is_none()
}

/// Whether `o`, and everything it holds (through `tp_traverse`, within
/// the bounds), dies quietly: quiet types, no weak reference attached.
unsafe fn walk(o: *mut ffi::PyObject, w: &mut Walk) {
    let t = ffi::Py_TYPE(o);
    w.visited += 1;
    if !quiet_type(t) || w.visited > MAX_VISITED {
        w.quiet = false;
        return;
    }
    let wl = (*t).tp_weaklistoffset;
    if wl > 0 && !(*((o as *mut u8).offset(wl) as *mut *mut ffi::PyObject)).is_null() {
        w.quiet = false;
        return;
    }
    let mut size = (*t).tp_basicsize as usize;
    if (*t).tp_itemsize != 0 {
        let n = (*(o as *mut ffi::PyVarObject)).ob_size.unsigned_abs();
        size = size.saturating_add(n.saturating_mul((*t).tp_itemsize as usize));
    } else if ffi::PyUnicode_Check(o) != 0 {
        // At most 4 bytes a character, and the UTF-8 copy if made.
        size = size.saturating_add((ffi::PyUnicode_GetLength(o).max(0) as usize).saturating_mul(5));
    } else if ffi::PyList_Check(o) != 0 {
        size = size.saturating_add((ffi::PyList_Size(o).max(0) as usize) * 8);
    } else if ffi::PyDict_Check(o) != 0 {
        size = size.saturating_add((ffi::PyDict_Size(o).max(0) as usize) * 24);
    }
    w.bytes = w.bytes.saturating_add(size);
    if (*t).tp_flags & ffi::Py_TPFLAGS_HAVE_GC == 0 {
        return;
    }
    let Some(traverse) = (*t).tp_traverse else { return };
    if w.depth >= MAX_DEPTH {
        w.quiet = false;
        return;
    }
    w.depth += 1;
    traverse(o, visit, w as *mut Walk as *mut std::os::raw::c_void);
    w.depth -= 1;
}

unsafe extern "C" fn visit(o: *mut ffi::PyObject, arg: *mut std::os::raw::c_void) -> std::os::raw::c_int {
    let w = &mut *(arg as *mut Walk);
    if !o.is_null() && w.quiet {
        walk(o, w);
    }
    // Stop at the first loud one.
    if w.quiet {
        0
    } else {
        1
    }
}

/// The size of the object behind CPython handle `uh` (and what it holds)
/// if nothing could observe a delay of its death; else `None`.
fn quiet_size(uh: HPy) -> Option<usize> {
    let o = ctx::cpython_object(uh)?;
    let mut w = Walk { visited: 0, bytes: 0, depth: 0, quiet: true };
    unsafe { walk(o, &mut w) };
    (w.quiet && w.bytes <= MAX_OBJECT_BYTES).then_some(w.bytes)
}

/// Closing debug handle `h` drops the last reference to the object of
/// universal handle `uh`: keep it (true: the caller does not close `uh`;
/// its record still names it), or not (false: the caller closes it and
/// makes the record forget it).  Evicts the oldest beyond the bounds.
pub fn hold(h: isize, uh: HPy) -> bool {
    let Some(bytes) = quiet_size(uh) else { return false };
    // Once full, one object leaves as one enters: it is released without
    // a list (an allocation per close); more leave only after large ones.
    let mut first = None;
    let mut more = Vec::new();
    {
        let mut q = Q.lock();
        q.held.push_back(Held { h, uh: uh.raw(), bytes });
        q.bytes += bytes;
        q.admitted += 1;
        while q.held.len() > MAX_OBJECTS || q.bytes > MAX_BYTES {
            let Some(old) = q.held.pop_front() else { break };
            q.bytes -= old.bytes;
            q.evicted += 1;
            if first.is_none() {
                first = Some(old);
            } else {
                more.push(old);
            }
        }
    }
    if let Some(old) = first {
        release(old);
    }
    for old in more {
        release(old);
    }
    true
}

/// An object leaves: its handle's record forgets it, then our reference
/// goes (a quiet object: no Python code runs).
fn release(old: Held) {
    TABLE.lock().forget_closed_uh(old.h);
    unsafe { (ctx::u().Close.unwrap_unchecked())(ctx::uctx(), HPy::from_raw(old.uh)) };
}

/// (objects held, bytes held, ever admitted, evicted) for `stats()`.
pub fn stats() -> (usize, usize, u64, u64) {
    let q = Q.lock();
    (q.held.len(), q.bytes, q.admitted, q.evicted)
}
