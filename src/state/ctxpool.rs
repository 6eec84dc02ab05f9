//! Addresses for the per-call contexts: 2^20 of them, so that a context kept
//! from a call is told from the current one unless exactly a multiple of
//! 2^20 calls ran in between.
//!
//! The fast context check compares the context's *address* with the one the
//! thread's current call got (`base::tlsword`), and never reads the
//! context, so every copy may have the same contents.  One memfd holds
//! `PER_WINDOW` copies; it is mapped (shared) at up to `WINDOWS` consecutive
//! windows of one reserved range, so the same ~1.1 MB of memory appears at
//! `PER_WINDOW * WINDOWS` addresses.  A window is mapped when the rotation
//! first reaches it: a short program maps one, a program of 2^20 calls or
//! more maps `WINDOWS` (2048 of the default 65530 of `vm.max_map_count`),
//! and nothing more is ever allocated, whatever the number of calls.  If a
//! mapping fails (map count exhausted) the rotation wraps at the windows it
//! has, and says so once.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::abi::HPyContext;

pub const PER_WINDOW: usize = 512;
pub const WINDOWS: usize = 2048;
/// Distinct per-call context addresses when every window could be mapped.
pub const ADDRESSES: usize = PER_WINDOW * WINDOWS;

/// Distance between two contexts of a window (cache-line aligned).
const STRIDE: usize = (std::mem::size_of::<HPyContext>() + 63) & !63;
const PAGE: usize = 4096;
/// Bytes of one window (and of the memfd).
const WINDOW_BYTES: usize = (PER_WINDOW * STRIDE + PAGE - 1) & !(PAGE - 1);

/// The next address to hand out, and the end of the current window's
/// contexts.  Only changed under the GIL (calls from CPython hold it).
static CURSOR: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);
/// Start of the reserved range, windows mapped so far, usable windows.
static BASE: AtomicUsize = AtomicUsize::new(0);
static MAPPED: AtomicUsize = AtomicUsize::new(0);
static USABLE: AtomicUsize = AtomicUsize::new(WINDOWS);
static FD: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The context for the next call.
#[inline(always)]
pub fn next() -> *mut HPyContext {
    let mut a = CURSOR.load(Ordering::Relaxed);
    if a == END.load(Ordering::Relaxed) {
        a = next_window();
    }
    CURSOR.store(a + STRIDE, Ordering::Relaxed);
    a as *mut HPyContext
}

/// Move to the next window (mapping it if needed) and return its first
/// context.
#[cold]
#[inline(never)]
fn next_window() -> usize {
    let base = BASE.load(Ordering::Relaxed);
    let cur = CURSOR.load(Ordering::Relaxed);
    let mut w = if cur == 0 { 0 } else { (cur - base - 1) / WINDOW_BYTES + 1 };
    if w >= USABLE.load(Ordering::Relaxed) {
        w = 0;
    }
    if w >= MAPPED.load(Ordering::Relaxed) {
        if map_window(base, w) {
            MAPPED.store(w + 1, Ordering::Relaxed);
        } else {
            USABLE.store(w.max(1), Ordering::Relaxed);
            tracing::warn!(
                "hpydbg: cannot map more per-call context windows ({}); contexts now recur every {} calls",
                std::io::Error::last_os_error(),
                w.max(1) * PER_WINDOW
            );
            w = 0;
        }
    }
    let start = base + w * WINDOW_BYTES;
    END.store(start + PER_WINDOW * STRIDE, Ordering::Relaxed);
    start
}

fn map_window(base: usize, w: usize) -> bool {
    let fd = FD.load(Ordering::Relaxed) as i32;
    let at = (base + w * WINDOW_BYTES) as *mut libc::c_void;
    let p = unsafe {
        libc::mmap(at, WINDOW_BYTES, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_FIXED, fd, 0)
    };
    p == at
}

/// Reserve the range, create the memfd, map the first window and fill it
/// with copies of `template`.  Called once, before any call into the
/// extension.
pub fn init(template: &HPyContext) -> Result<(), String> {
    unsafe {
        let fd = libc::memfd_create(c"hpydbg-contexts".as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 || libc::ftruncate(fd, WINDOW_BYTES as libc::off_t) != 0 {
            return init_one_window(template, "memfd");
        }
        // PROT_NONE and no reserve: address space only, never memory.
        let base = libc::mmap(
            std::ptr::null_mut(),
            WINDOW_BYTES * WINDOWS,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        );
        if base == libc::MAP_FAILED {
            libc::close(fd);
            return init_one_window(template, "reserving address space");
        }
        FD.store(fd as usize, Ordering::Relaxed);
        if !map_window(base as usize, 0) {
            libc::munmap(base, WINDOW_BYTES * WINDOWS);
            libc::close(fd);
            return init_one_window(template, "mapping the memfd");
        }
        fill(base as usize, template, 1);
    }
    Ok(())
}

/// Without a memfd: one private window, so the rotation has PER_WINDOW
/// addresses only.
unsafe fn init_one_window(template: &HPyContext, what: &str) -> Result<(), String> {
    let err = std::io::Error::last_os_error();
    let p = libc::mmap(
        std::ptr::null_mut(),
        WINDOW_BYTES,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        -1,
        0,
    );
    if p == libc::MAP_FAILED {
        return Err(format!("cannot allocate the per-call contexts: {}", std::io::Error::last_os_error()));
    }
    tracing::warn!("hpydbg: {} failed ({}); per-call contexts recur every {} calls", what, err, PER_WINDOW);
    fill(p as usize, template, 1);
    USABLE.store(1, Ordering::Relaxed);
    Ok(())
}

unsafe fn fill(base: usize, template: &HPyContext, mapped: usize) {
    for i in 0..PER_WINDOW {
        std::ptr::write((base + i * STRIDE) as *mut HPyContext, std::ptr::read(template));
    }
    BASE.store(base, Ordering::Relaxed);
    MAPPED.store(mapped, Ordering::Relaxed);
    CURSOR.store(base, Ordering::Relaxed);
    END.store(base + PER_WINDOW * STRIDE, Ordering::Relaxed);
}

/// Whether `ctx` is one of the per-call context addresses.
pub fn contains(ctx: *const HPyContext) -> bool {
    let a = ctx as usize;
    let base = BASE.load(Ordering::Relaxed);
    if base == 0 || a < base || a >= base + MAPPED.load(Ordering::Relaxed) * WINDOW_BYTES {
        return false;
    }
    let off = (a - base) % WINDOW_BYTES;
    off < PER_WINDOW * STRIDE && off % STRIDE == 0
}

/// (windows mapped, distinct addresses in the rotation now).
pub fn stats() -> (usize, usize) {
    let m = MAPPED.load(Ordering::Relaxed);
    let usable = USABLE.load(Ordering::Relaxed);
    (m, usable.min(WINDOWS) * PER_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_and_show_the_same_contents() {
        let mut template: HPyContext = unsafe { std::mem::zeroed() };
        template.abi_version = 0x5a5a;
        init(&template).unwrap();
        let n = PER_WINDOW * 3 + 5;
        let addrs: Vec<usize> = (0..n).map(|_| next() as usize).collect();
        let mut sorted = addrs.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), n, "no address twice within 2^20 calls");
        assert_eq!(stats(), (4, ADDRESSES), "windows are mapped as the rotation reaches them");
        for &a in &addrs {
            assert!(contains(a as *const HPyContext));
            assert_eq!(unsafe { (*(a as *const HPyContext)).abi_version }, 0x5a5a);
        }
        assert!(!contains((addrs[0] + 8) as *const HPyContext), "inside a context, not one");
        assert!(!contains(&template as *const HPyContext));
        // One window's memory is every window's.
        unsafe { (*(addrs[0] as *mut HPyContext)).abi_version = 7 };
        assert_eq!(unsafe { (*(addrs[PER_WINDOW] as *const HPyContext)).abi_version }, 7);
    }
}
