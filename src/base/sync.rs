//! The lock of the handle tables: the GIL.
//!
//! HPy requires every API call to hold the GIL, and the tables are touched
//! only from API calls, from the runtime's calls into the extension and from
//! Python functions, all of which hold it.  An API call that cannot be
//! proven to hold it (see `ctx::fast_ok`) takes it in the slow path before it
//! touches a table.  So the tables need no lock of their own: `lock()` costs
//! nothing in release builds.  Debug builds (the Rust unit tests) keep a
//! flag that catches a nested borrow, which would be a bug in hpydbg.
//!
//! Rules for callers, as for any lock: keep the guard short, and never call
//! into Python or the universal context while holding it.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};
#[cfg(debug_assertions)]
use std::sync::atomic::{AtomicBool, Ordering};

/// Lock a mutex; a panic elsewhere must not turn every later call into one.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct GilLock<T> {
    #[cfg(debug_assertions)]
    busy: AtomicBool,
    value: UnsafeCell<T>,
}

// Access to `value` is serialised by the GIL (see above).
unsafe impl<T: Send> Sync for GilLock<T> {}
unsafe impl<T: Send> Send for GilLock<T> {}

pub struct GilGuard<'a, T> {
    lock: &'a GilLock<T>,
}

impl<T> GilLock<T> {
    pub const fn new(value: T) -> Self {
        GilLock {
            #[cfg(debug_assertions)]
            busy: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Borrow the table; the caller holds the GIL.
    #[inline(always)]
    pub fn lock(&self) -> GilGuard<'_, T> {
        #[cfg(debug_assertions)]
        if self.busy.swap(true, Ordering::Acquire) {
            crate::base::bug::fatal_internal("a handle table was borrowed twice (nested borrow or a call without the GIL)");
        }
        GilGuard { lock: self }
    }

    /// Read without borrowing, for the fault handler (which must not wait
    /// and cannot report a nested borrow).
    pub fn peek(&self) -> &T {
        unsafe { &*self.value.get() }
    }
}

impl<T> Deref for GilGuard<'_, T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for GilGuard<'_, T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut T {
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for GilGuard<'_, T> {
    #[inline(always)]
    fn drop(&mut self) {
        #[cfg(debug_assertions)]
        self.lock.busy.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::GilLock;

    #[test]
    fn guard_gives_the_value_and_releases() {
        let l = GilLock::new(1u64);
        *l.lock() += 1;
        *l.lock() += 1;
        assert_eq!(*l.lock(), 3);
    }
}
