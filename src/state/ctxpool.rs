//! Addresses for the per-call contexts: a new one for every call, drawn so
//! that a context kept from an earlier call is told from the current one at
//! any distance, except with a chance of 1 in `ADDRESSES - PER_WINDOW`
//! (about 2^-17.9) per use, and with memory and page tables that stay those
//! of one window.
//!
//! The fast context check compares the context's *address* with the one the
//! thread's current call got (`base::tlsword`), and never reads the
//! context, so every copy may have the same contents.  One memfd of
//! `WINDOW_BYTES` holds `PER_WINDOW` copies.  A reserved range of `SLOTS`
//! slots maps that memfd at every slot, lazily: only one slot, the *window*,
//! has its pages present.  Calls take the window's addresses in turn from a
//! random start (so no address repeats within a window's turn), then the
//! window moves to another slot drawn at random: `mremap(MREMAP_DONTUNMAP)`
//! moves its page table there (one entry: a slot is 2 MB, what one page
//! table maps) and leaves the old slot mapped with no page present.  A
//! context kept from an earlier call still reads the same contents (its
//! page faults in again, with up to 64 KB of fault-around), and its
//! address is the current one only if the window came back to its slot
//! *and* the turn reached its offset: 1 / ((SLOTS - 1) * PER_WINDOW) per
//! call, with no distance at which it is certain.
//!
//! What `ps` shows: RSS grows by the window (2 MB) plus the pages stale
//! contexts touch (until the window lands on their slot again), not with
//! the number of calls; VSZ by the reserved range (`SLOTS * 2 MB`, address
//! space only).  A move costs one system call (~2 us) per `PER_WINDOW`
//! calls.  Kernels without `MREMAP_DONTUNMAP` for shared mappings (before
//! 5.13): the new slot is populated with `MAP_POPULATE` and the old one
//! emptied with `MADV_DONTNEED` (same memory, more system time per move);
//! without a memfd: one private window, whose addresses recur every
//! `PER_WINDOW` calls (with a warning).

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};

use crate::abi::HPyContext;

/// Bytes of one slot (and of the memfd): what one page table maps on
/// x86-64, so that moving the window moves one page-table entry.
pub const WINDOW_BYTES: usize = 2 << 20;
/// Distance between two contexts of a window (cache-line aligned).
const STRIDE: usize = (std::mem::size_of::<HPyContext>() + 63) & !63;
/// Contexts in one window.
pub const PER_WINDOW: usize = WINDOW_BYTES / STRIDE;
/// Slots of the reserved range.
pub const SLOTS: usize = 256;
/// Distinct per-call context addresses.
pub const ADDRESSES: usize = PER_WINDOW * SLOTS;

/// How the window moves (see the module docs).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `mremap(MREMAP_DONTUNMAP)`: the page table moves.
    Remap = 0,
    /// `MAP_POPULATE` the new slot, `MADV_DONTNEED` the old one.
    Populate = 1,
    /// One private window that does not move.
    Fixed = 2,
}

impl Scheme {
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Remap => "remap",
            Scheme::Populate => "populate",
            Scheme::Fixed => "fixed",
        }
    }
}

/// The next address to hand out, and where the current run of it ends.
/// Only changed under the GIL (calls from CPython hold it).
static CURSOR: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);
/// The window: the slot whose pages are present (its start address), the
/// index its turn started at, and whether the turn has wrapped to index 0.
static WINDOW: AtomicUsize = AtomicUsize::new(0);
static START: AtomicUsize = AtomicUsize::new(0);
static WRAPPED: AtomicU8 = AtomicU8::new(0);
/// Start of the slots, how many there are (SLOTS, or 1 without a memfd).
static BASE: AtomicUsize = AtomicUsize::new(0);
static NSLOTS: AtomicUsize = AtomicUsize::new(0);
static FD: AtomicUsize = AtomicUsize::new(usize::MAX);
static SCHEME: AtomicU8 = AtomicU8::new(Scheme::Fixed as u8);
static MOVES: AtomicU64 = AtomicU64::new(0);
/// splitmix64 state (a cheap generator: it only has to be independent of
/// what the extension does).
static RNG: AtomicU64 = AtomicU64::new(0);

/// The context for the next call.
#[inline(always)]
pub fn next() -> *mut HPyContext {
    let mut a = CURSOR.load(Ordering::Relaxed);
    if a == END.load(Ordering::Relaxed) {
        a = next_run();
    }
    CURSOR.store(a + STRIDE, Ordering::Relaxed);
    a as *mut HPyContext
}

fn random() -> u64 {
    let s = RNG.load(Ordering::Relaxed).wrapping_add(0x9e37_79b9_7f4a_7c15);
    RNG.store(s, Ordering::Relaxed);
    let mut z = s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform draw in `0..n` (n small: the bias of `%` is below 2^-50).
fn below(n: usize) -> usize {
    (random() % n as u64) as usize
}

/// The current run of addresses is used up: wrap the window's turn to its
/// index 0, or move the window.  Returns the first address of the new run.
#[cold]
#[inline(never)]
fn next_run() -> usize {
    let w = WINDOW.load(Ordering::Relaxed);
    let start = START.load(Ordering::Relaxed);
    if WRAPPED.load(Ordering::Relaxed) == 0 && start > 0 {
        WRAPPED.store(1, Ordering::Relaxed);
        END.store(w + start * STRIDE, Ordering::Relaxed);
        return w;
    }
    let w = move_window(w);
    begin_turn(w)
}

/// Start the window's turn at a random index.
fn begin_turn(w: usize) -> usize {
    let start = below(PER_WINDOW);
    WINDOW.store(w, Ordering::Relaxed);
    START.store(start, Ordering::Relaxed);
    WRAPPED.store((start == 0) as u8, Ordering::Relaxed);
    END.store(w + PER_WINDOW * STRIDE, Ordering::Relaxed);
    w + start * STRIDE
}

/// Move the window from `w` to another slot drawn at random; returns where
/// it is now (`w` when it cannot move).
fn move_window(w: usize) -> usize {
    let n = NSLOTS.load(Ordering::Relaxed);
    if n < 2 || SCHEME.load(Ordering::Relaxed) == Scheme::Fixed as u8 {
        return w;
    }
    let base = BASE.load(Ordering::Relaxed);
    let here = (w - base) / WINDOW_BYTES;
    let mut y = below(n - 1);
    if y >= here {
        y += 1;
    }
    let dst = base + y * WINDOW_BYTES;
    if move_to(w, dst) {
        MOVES.fetch_add(1, Ordering::Relaxed);
        return dst;
    }
    SCHEME.store(Scheme::Fixed as u8, Ordering::Relaxed);
    tracing::warn!(
        "hpydbg: cannot move the per-call context window ({}); contexts now recur every {} calls",
        std::io::Error::last_os_error(),
        PER_WINDOW
    );
    w
}

/// Make `dst` the slot with the pages present instead of `w`; both keep
/// mapping the memfd.  Falls back from `Remap` to `Populate` once.
fn move_to(w: usize, dst: usize) -> bool {
    if SCHEME.load(Ordering::Relaxed) == Scheme::Remap as u8 {
        if remap(w, dst) {
            return true;
        }
        SCHEME.store(Scheme::Populate as u8, Ordering::Relaxed);
        tracing::info!(
            "hpydbg: mremap(MREMAP_DONTUNMAP) of the context window failed ({}); moving it by MAP_POPULATE and MADV_DONTNEED",
            std::io::Error::last_os_error()
        );
    }
    populate(w, dst)
}

fn remap(w: usize, dst: usize) -> bool {
    let p = unsafe {
        libc::mremap(
            w as *mut libc::c_void,
            WINDOW_BYTES,
            WINDOW_BYTES,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED | libc::MREMAP_DONTUNMAP,
            dst as *mut libc::c_void,
        )
    };
    p as usize == dst
}

fn populate(w: usize, dst: usize) -> bool {
    if !map_slot(dst, libc::MAP_POPULATE) {
        return false;
    }
    unsafe {
        libc::madvise(w as *mut libc::c_void, WINDOW_BYTES, libc::MADV_DONTNEED);
    }
    true
}

/// Map the memfd at `at` (replacing what is there).
fn map_slot(at: usize, flags: libc::c_int) -> bool {
    let fd = FD.load(Ordering::Relaxed) as i32;
    let p = unsafe {
        libc::mmap(
            at as *mut libc::c_void,
            WINDOW_BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED | flags,
            fd,
            0,
        )
    };
    p as usize == at
}

fn seed() -> u64 {
    let mut s: u64 = 0;
    let got = unsafe { libc::getrandom(&mut s as *mut u64 as *mut libc::c_void, 8, libc::GRND_NONBLOCK) };
    if got != 8 {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        s = t ^ ((std::process::id() as u64) << 32) ^ (&s as *const u64 as u64);
    }
    s
}

/// Create the memfd, reserve and map the slots, fill the window with copies
/// of `template`.  Called once, before any call into the extension.
pub fn init(template: &HPyContext) -> Result<(), String> {
    RNG.store(seed(), Ordering::Relaxed);
    unsafe {
        let fd = libc::memfd_create(c"hpydbg-contexts".as_ptr(), libc::MFD_CLOEXEC);
        if fd < 0 || libc::ftruncate(fd, WINDOW_BYTES as libc::off_t) != 0 {
            return init_one_window(template, "memfd");
        }
        // Address space only (PROT_NONE, no reserve), one slot more for the
        // alignment.
        let span = WINDOW_BYTES * (SLOTS + 1);
        let raw = libc::mmap(std::ptr::null_mut(), span, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE, -1, 0);
        if raw == libc::MAP_FAILED {
            libc::close(fd);
            return init_one_window(template, "reserving address space");
        }
        let raw = raw as usize;
        let base = (raw + WINDOW_BYTES - 1) & !(WINDOW_BYTES - 1);
        if base > raw {
            libc::munmap(raw as *mut libc::c_void, base - raw);
        }
        let end = base + SLOTS * WINDOW_BYTES;
        if raw + span > end {
            libc::munmap(end as *mut libc::c_void, raw + span - end);
        }
        FD.store(fd as usize, Ordering::Relaxed);
        let first = base + below(SLOTS) * WINDOW_BYTES;
        for k in 0..SLOTS {
            let at = base + k * WINDOW_BYTES;
            let flags = if at == first { libc::MAP_POPULATE } else { 0 };
            if !map_slot(at, flags) {
                libc::munmap(base as *mut libc::c_void, SLOTS * WINDOW_BYTES);
                libc::close(fd);
                FD.store(usize::MAX, Ordering::Relaxed);
                return init_one_window(template, "mapping the memfd");
            }
        }
        fill(first, template);
        BASE.store(base, Ordering::Relaxed);
        NSLOTS.store(SLOTS, Ordering::Relaxed);
        SCHEME.store(Scheme::Remap as u8, Ordering::Relaxed);
        let a = begin_turn(first);
        CURSOR.store(a, Ordering::Relaxed);
    }
    Ok(())
}

/// Without a memfd: one private window, so the addresses recur every
/// PER_WINDOW calls.
unsafe fn init_one_window(template: &HPyContext, what: &str) -> Result<(), String> {
    let err = std::io::Error::last_os_error();
    let p = libc::mmap(std::ptr::null_mut(), WINDOW_BYTES, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
    if p == libc::MAP_FAILED {
        return Err(format!("cannot allocate the per-call contexts: {}", std::io::Error::last_os_error()));
    }
    tracing::warn!("hpydbg: {} failed ({}); per-call contexts recur every {} calls", what, err, PER_WINDOW);
    fill(p as usize, template);
    BASE.store(p as usize, Ordering::Relaxed);
    NSLOTS.store(1, Ordering::Relaxed);
    SCHEME.store(Scheme::Fixed as u8, Ordering::Relaxed);
    let a = begin_turn(p as usize);
    CURSOR.store(a, Ordering::Relaxed);
    Ok(())
}

unsafe fn fill(window: usize, template: &HPyContext) {
    for i in 0..PER_WINDOW {
        std::ptr::write((window + i * STRIDE) as *mut HPyContext, std::ptr::read(template));
    }
}

/// Whether `ctx` is one of the per-call context addresses (all of them are
/// mapped, in every slot).
pub fn contains(ctx: *const HPyContext) -> bool {
    let a = ctx as usize;
    let base = BASE.load(Ordering::Relaxed);
    if base == 0 || a < base || a >= base + NSLOTS.load(Ordering::Relaxed) * WINDOW_BYTES {
        return false;
    }
    let off = (a - base) % WINDOW_BYTES;
    off < PER_WINDOW * STRIDE && off % STRIDE == 0
}

/// The pool's state, for `_hpydbg.stats()`.
pub struct Stats {
    pub slots: usize,
    /// Distinct addresses a call can get.
    pub addresses: usize,
    /// Window moves so far.
    pub moves: u64,
    pub scheme: Scheme,
}

pub fn stats() -> Stats {
    let slots = NSLOTS.load(Ordering::Relaxed);
    let scheme = match SCHEME.load(Ordering::Relaxed) {
        0 => Scheme::Remap,
        1 => Scheme::Populate,
        _ => Scheme::Fixed,
    };
    let addresses = if scheme == Scheme::Fixed { PER_WINDOW } else { slots * PER_WINDOW };
    Stats { slots, addresses, moves: MOVES.load(Ordering::Relaxed), scheme }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rss() -> usize {
        let s = std::fs::read_to_string("/proc/self/statm").unwrap();
        s.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() * 4096
    }

    #[test]
    fn addresses_move_show_the_same_contents_and_memory_stays_one_window() {
        let mut template: HPyContext = unsafe { std::mem::zeroed() };
        template.abi_version = 0x5a5a;
        init(&template).unwrap();
        assert_eq!(stats().scheme, Scheme::Remap, "this kernel has MREMAP_DONTUNMAP for shared mappings");
        let first = next() as usize;
        // One turn: every address of the window once.
        let mut turn: Vec<usize> = vec![first];
        turn.extend((1..PER_WINDOW).map(|_| next() as usize));
        let mut sorted = turn.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), PER_WINDOW, "no address twice within a turn");
        assert_eq!(sorted[PER_WINDOW - 1] - sorted[0], (PER_WINDOW - 1) * STRIDE, "one window");
        assert_eq!(stats().moves, 0);
        // Many turns, the window moves each time, and the memory is still
        // the window's (its page table moved, the old slots hold no page).
        let r0 = rss();
        for _ in 0..PER_WINDOW * 1000 {
            std::hint::black_box(next());
        }
        assert_eq!(stats().moves, 1000);
        let grown = rss().saturating_sub(r0);
        assert!(grown < (1 << 20), "RSS grew by {} bytes over 1000 moves", grown);
        // Every address ever handed out still reads the template (a stale
        // page faults in again, with 64 KB of fault-around at most).
        let mut seen = std::collections::HashSet::new();
        let mut windows = std::collections::HashSet::new();
        for _ in 0..PER_WINDOW * 300 {
            let a = next() as usize;
            assert!(contains(a as *const HPyContext));
            seen.insert(a);
            windows.insert((a - BASE.load(Ordering::Relaxed)) / WINDOW_BYTES);
        }
        assert_eq!(stats().moves, 1300);
        assert!(windows.len() > 150, "random slots: {} of {}", windows.len(), SLOTS);
        assert_eq!(seen.len(), windows.len() * PER_WINDOW, "each turn is a whole window");
        let r1 = rss();
        for &a in turn.iter().take(50) {
            assert_eq!(unsafe { (*(a as *const HPyContext)).abi_version }, 0x5a5a);
        }
        let grown = rss().saturating_sub(r1);
        assert!(grown <= 50 * 65536, "50 stale reads: RSS grew by {} bytes", grown);
        for &a in seen.iter() {
            assert_eq!(unsafe { (*(a as *const HPyContext)).abi_version }, 0x5a5a);
        }
        assert!(!contains((turn[0] + 8) as *const HPyContext), "inside a context, not one");
        assert!(!contains(&template as *const HPyContext));
        // One copy's memory is that of its offset in every slot.
        unsafe { (*(turn[0] as *mut HPyContext)).abi_version = 7 };
        let base = BASE.load(Ordering::Relaxed);
        let same = WINDOW.load(Ordering::Relaxed) + (turn[0] - base) % WINDOW_BYTES;
        assert_eq!(unsafe { (*(same as *const HPyContext)).abi_version }, 7);
        unsafe { (*(turn[0] as *mut HPyContext)).abi_version = 0x5a5a };
        // The fallback of older kernels moves the window too.
        SCHEME.store(Scheme::Populate as u8, Ordering::Relaxed);
        let moves = stats().moves;
        for _ in 0..PER_WINDOW * 4 {
            let a = next() as usize;
            assert_eq!(unsafe { (*(a as *const HPyContext)).abi_version }, 0x5a5a);
        }
        assert_eq!(stats().moves, moves + 4);
        assert_eq!(stats().scheme, Scheme::Populate);
    }
}
