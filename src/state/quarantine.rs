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

/// The common case, held without the walk and without counting its bytes:
/// an int of a few digits or a float (no references, no weakref, no
/// finalizer; at most this many bytes).  Measured: the walk costs ~70
/// instructions more per close of a dying int under `log`.
const SMALL_INT_DIGITS: isize = 4;
const MAX_SMALL_BYTES: usize = 64;
/// The byte bound the walked objects are counted against: the small ones
/// (uncounted) can only add `MAX_OBJECTS * MAX_SMALL_BYTES` to it.
const MAX_WALKED_BYTES: usize = MAX_BYTES - MAX_OBJECTS * MAX_SMALL_BYTES;

// The ring's index wraps with a mask.
const _: () = assert!(MAX_OBJECTS.is_power_of_two());

#[derive(Copy, Clone)]
struct Held {
    /// The closed debug handle, and its universal handle (our reference;
    /// 0: an empty entry).
    h: isize,
    uh: isize,
    /// The walked object's size (counted in `Quarantine::bytes`); 0 for a
    /// small one (sized only by `stats`).
    bytes: usize,
}

const EMPTY: Held = Held { h: 0, uh: 0, bytes: 0 };

/// A ring of `MAX_OBJECTS` entries, oldest first from `next`: a new object
/// takes the oldest entry, and the object there (if any) leaves.  Fixed
/// size, so the count bound costs nothing; the byte bound empties entries
/// ahead of `next` (`evict_bytes`), which the ring then refills.  The
/// counts `stats` gives are derived, not kept: admitted is `next`, held the
/// entries not empty, evicted the difference.
pub struct Quarantine {
    ring: [Held; MAX_OBJECTS],
    /// Objects ever admitted; the entry to fill is `next % MAX_OBJECTS`.
    next: u64,
    /// Bytes of the walked objects held.
    bytes: usize,
}

static Q: GilLock<Quarantine> = GilLock::new(Quarantine { ring: [EMPTY; MAX_OBJECTS], next: 0, bytes: 0 });

impl Quarantine {
    /// Put an object in the oldest entry; the one it held, if any, leaves
    /// (the caller releases it).
    #[inline(always)]
    fn push(&mut self, held: Held) -> Held {
        let i = self.next as usize & (MAX_OBJECTS - 1);
        self.next += 1;
        // 0 for a small one: no instruction on its (inline) path.
        self.bytes += held.bytes;
        let old = std::mem::replace(&mut self.ring[i], held);
        if old.uh != 0 {
            self.bytes -= old.bytes;
        }
        old
    }

    /// The oldest walked-or-small object, while the walked bytes exceed
    /// their bound (after admitting a walked one).
    fn evict_bytes(&mut self) -> Option<Held> {
        if self.bytes <= MAX_WALKED_BYTES {
            return None;
        }
        for k in 0..MAX_OBJECTS {
            let i = (self.next as usize + k) & (MAX_OBJECTS - 1);
            if self.ring[i].uh != 0 {
                let old = std::mem::replace(&mut self.ring[i], EMPTY);
                self.bytes -= old.bytes;
                return Some(old);
            }
        }
        None
    }
}

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

/// The size of CPython object `o` (and what it holds) if nothing could
/// observe a delay of its death; else `None`.
unsafe fn walked_size(o: *mut ffi::PyObject) -> Option<usize> {
    let mut w = Walk { visited: 0, bytes: 0, depth: 0, quiet: true };
    walk(o, &mut w);
    (w.quiet && w.bytes <= MAX_OBJECT_BYTES).then_some(w.bytes)
}

/// Whether `o` is the common case (`SMALL_INT_DIGITS`): the exact types,
/// a load and a compare each.
#[inline(always)]
unsafe fn small_number(o: *mut ffi::PyObject) -> bool {
    let t = ffi::Py_TYPE(o);
    if t == std::ptr::addr_of_mut!(ffi::PyLong_Type) {
        let n = (*(o as *mut ffi::PyVarObject)).ob_size;
        return (n + SMALL_INT_DIGITS) as usize <= 2 * SMALL_INT_DIGITS as usize;
    }
    t == std::ptr::addr_of_mut!(ffi::PyFloat_Type)
}

/// Closing debug handle `h` drops the last reference to the object of
/// universal handle `uh`: keep it (true: the caller does not close `uh`;
/// its record still names it), or not (false: the caller closes it and
/// makes the record forget it).  Evicts the oldest beyond the bounds.
pub fn hold(h: isize, uh: HPy) -> bool {
    if ctx::cpython_object(uh).is_none() {
        return false;
    }
    hold_cpython(h, uh)
}

/// Whether `hold_small` takes CPython handle `uh`'s object (the universal
/// context is known to be CPython's: the close fast path asks).
#[inline(always)]
pub fn is_small(uh: HPy) -> bool {
    unsafe { small_number(ctx::cpython_ptr(uh)) }
}

/// `hold` of an object `is_small` took: no walk, no call (but the
/// release of the object it evicts).
#[inline(always)]
pub fn hold_small(h: isize, uh: HPy) {
    let old = Q.lock().push(Held { h, uh: uh.raw(), bytes: 0 });
    if old.uh != 0 {
        release(old);
    }
}

fn hold_cpython(h: isize, uh: HPy) -> bool {
    let o = ctx::cpython_ptr(uh);
    if unsafe { small_number(o) } {
        hold_small(h, uh);
        return true;
    }
    let Some(bytes) = (unsafe { walked_size(o) }) else { return false };
    let mut old = Q.lock().push(Held { h, uh: uh.raw(), bytes });
    // One at a time, outside the lock: releasing runs the object's
    // deallocation (a quiet object: no Python code).
    loop {
        if old.uh != 0 {
            release(old);
        }
        match Q.lock().evict_bytes() {
            Some(next) => old = next,
            None => return true,
        }
    }
}

/// An object leaves: its handle's record forgets it, then the universal
/// context closes the handle the extension had closed (as every close is
/// forwarded; on CPython's a `Py_XDECREF`, a few instructions more than
/// doing it here).  A quiet object: no Python code runs.
#[inline(always)]
fn release(old: Held) {
    TABLE.lock().forget_closed_uh(old.h);
    let u = crate::state::ctx::u();
    unsafe { (u.Close.unwrap_unchecked())(crate::state::ctx::uctx(), HPy::from_raw(old.uh)) };
}

/// (objects held, bytes held, ever admitted, evicted) for `stats()`.  The
/// small objects' bytes are not kept: they are sized here, alive.
pub fn stats() -> (usize, usize, u64, u64) {
    let q = Q.lock();
    let mut bytes = q.bytes;
    let held = q.ring.iter().filter(|e| e.uh != 0).count();
    for e in q.ring.iter().filter(|e| e.uh != 0 && e.bytes == 0) {
        let o = ctx::cpython_ptr(HPy::from_raw(e.uh));
        unsafe {
            let t = ffi::Py_TYPE(o);
            let n = if (*t).tp_itemsize != 0 { (*(o as *mut ffi::PyVarObject)).ob_size.unsigned_abs() } else { 0 };
            bytes += (*t).tp_basicsize as usize + n * (*t).tp_itemsize as usize;
        }
    }
    (held, bytes, q.next, q.next - held as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(k: usize, bytes: usize) -> Held {
        Held { h: (k as isize + 1) << 32, uh: 2 * k as isize + 1, bytes }
    }

    #[test]
    fn ring_is_fifo_and_bounds_walked_bytes() {
        let mut q = Quarantine { ring: [EMPTY; MAX_OBJECTS], next: 0, bytes: 0 };
        for k in 0..MAX_OBJECTS {
            assert_eq!(q.push(held(k, 0)).uh, 0);
        }
        // Full: each push gives back the oldest.
        assert_eq!(q.push(held(MAX_OBJECTS, 100)).uh, held(0, 0).uh);
        assert_eq!(q.bytes, 100);
        assert!(q.evict_bytes().is_none());
        // Over the walked bound: the oldest go first, small or walked.
        q.bytes = MAX_WALKED_BYTES + 1;
        assert_eq!(q.evict_bytes().map(|e| e.uh), Some(held(1, 0).uh));
        assert_eq!(q.evict_bytes().map(|e| e.uh), Some(held(2, 0).uh));
        q.bytes = 100;
        assert!(q.evict_bytes().is_none());
        // The emptied entries are refilled without an eviction.
        assert_eq!(q.push(held(MAX_OBJECTS + 1, 0)).uh, 0);
        assert_eq!(q.push(held(MAX_OBJECTS + 2, 0)).uh, 0);
        assert_eq!(q.push(held(MAX_OBJECTS + 3, 0)).uh, held(3, 0).uh);
        assert_eq!(q.next, MAX_OBJECTS as u64 + 4);
    }
}
