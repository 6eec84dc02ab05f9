//! A fast stack capture for our own thread: framehop's caching DWARF
//! unwinder over the `.eh_frame_hdr`/`.eh_frame` of the loaded objects, read
//! in place from memory.  libgcc's unwinder (`backtrace::trace`) re-derives
//! every frame's rule from the CFI on every capture (~0.5 µs a frame);
//! framehop caches the rule per address, so a repeated call stack costs a
//! cache probe and a few stack reads per frame.
//!
//! Never crash, stop on any doubt: every memory read of the walk is bounded
//! to the part of this thread's stack above the capturing frame; a frame
//! whose address lies in no object with unwind information, a stack pointer
//! that does not grow, or any error from framehop ends the walk.  One doubt
//! framehop hides: in an object with unwind info, an address no FDE covers
//! (hand-written assembly without CFI) is unwound with frame pointers, where
//! libgcc stops; the reads stay bounded, the frames after it may be wrong.
//! Sections are read in place: an object unloaded by another thread during a
//! capture (dlclose; CPython never unloads extensions) is not guarded against.
//!
//! The state (module list, framehop's rule cache) is per thread, not behind
//! the GIL: a capture from a thread without the GIL (or from a signal handler
//! interrupting a capture, which finds the state borrowed and gives up) then
//! needs no lock and cannot race, and the thread-local needs no `Sync`
//! wrapper around framehop's non-`Sync` cache.  Python programs have few
//! threads; each pays one module scan and one ~20 KB cache.

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod imp {
    use std::cell::RefCell;
    use std::ops::{Deref, Range};

    use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
    use framehop::{ExplicitModuleSectionInfo, FrameAddress, Module, Unwinder};

    /// Section bytes of a loaded object, read in place.  Valid while the
    /// object stays loaded: the module list is rebuilt when `dlpi_subs` says
    /// an object was unloaded (checked at every capture).
    #[derive(Clone, Copy, Default)]
    pub(super) struct Mapped(&'static [u8]);

    impl Deref for Mapped {
        type Target = [u8];
        fn deref(&self) -> &[u8] {
            self.0
        }
    }

    const NO_SPAN: Span = Span { start: 0, end: 0, unwind: false };

    /// The executable range of one loaded object.
    #[derive(Clone, Copy, Debug)]
    struct Span {
        start: usize,
        end: usize,
        /// Whether framehop knows the object (it has an `.eh_frame_hdr`);
        /// without one framehop would guess with frame pointers: we stop.
        unwind: bool,
    }

    /// One loaded object found by `dl_iterate_phdr`.
    pub(super) struct Object {
        pub name: String,
        pub base: usize,
        pub text: Range<usize>,
        /// (svma, bytes) of `.eh_frame_hdr` and of the `.eh_frame` it points to.
        pub eh: Option<((u64, Mapped), (u64, Mapped))>,
    }

    struct State {
        unwinder: UnwinderX86_64<Mapped>,
        cache: CacheX86_64,
        /// Sorted by start; what `unwinder` was built from.
        spans: Vec<Span>,
        /// hpydbg's own text range (the object holding this code).
        own: Range<usize>,
        /// libc's text range: where glibc's signal trampoline is.
        libc: Range<usize>,
        /// The span of the last frame looked up, then the spans of the
        /// objects found last, checked before the binary search: a walk goes
        /// in and out of 6-8 objects (hpydbg, the extension, hpy.universal,
        /// libpython, the python binary, libc, ...), mostly a few frames
        /// in a row in each.
        last: Span,
        recent: [Span; 8],
        /// Where the next span found goes in `recent`.
        next_recent: usize,
        /// `dlpi_adds`, `dlpi_subs` when `spans` was built.
        counters: (u64, u64),
        /// This thread's stack.
        stack: Range<usize>,
    }

    thread_local! {
        /// None: not yet built, or this thread's stack is unknown (`failed`).
        static STATE: RefCell<Option<Box<State>>> = const { RefCell::new(None) };
        static FAILED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// `dlpi_adds`/`dlpi_subs`: objects loaded and unloaded since start.
    fn counters() -> (u64, u64) {
        unsafe extern "C" fn first(info: *mut libc::dl_phdr_info, size: usize, data: *mut libc::c_void) -> libc::c_int {
            let end = std::mem::offset_of!(libc::dl_phdr_info, dlpi_subs) + std::mem::size_of::<u64>();
            if size >= end {
                *(data as *mut (u64, u64)) = ((*info).dlpi_adds as u64, (*info).dlpi_subs as u64);
            }
            1
        }
        let mut c = (u64::MAX, u64::MAX);
        unsafe { libc::dl_iterate_phdr(Some(first), &mut c as *mut _ as *mut libc::c_void) };
        c
    }

    /// Decode the `eh_frame_ptr` of an `.eh_frame_hdr` at `hdr` (avma).
    unsafe fn eh_frame_ptr(hdr: usize, hdr_len: usize, base: usize) -> Option<usize> {
        if hdr_len < 8 || *(hdr as *const u8) != 1 {
            return None;
        }
        let enc = *((hdr + 1) as *const u8);
        let field = hdr + 4;
        let size = match enc & 0x0f {
            0x00 | 0x04 | 0x0c => 8,
            0x03 | 0x0b => 4,
            _ => return None,
        };
        if hdr_len < 4 + size {
            return None;
        }
        let value: i64 = match enc & 0x0f {
            0x03 => std::ptr::read_unaligned(field as *const u32) as i64,
            0x0b => std::ptr::read_unaligned(field as *const i32) as i64,
            _ => std::ptr::read_unaligned(field as *const i64),
        };
        let at = match enc & 0x70 {
            0x00 => (base as i64).wrapping_add(value), // an svma: not relocated
            0x10 => (field as i64).wrapping_add(value),
            0x30 => (hdr as i64).wrapping_add(value),
            _ => return None,
        };
        Some(at as usize)
    }

    /// Every loaded object, with its text range and unwind sections.
    pub(super) fn objects() -> Vec<Object> {
        unsafe extern "C" fn each(info: *mut libc::dl_phdr_info, _: usize, data: *mut libc::c_void) -> libc::c_int {
            let out = &mut *(data as *mut Vec<Object>);
            let info = &*info;
            let base = info.dlpi_addr as usize;
            let phdrs = std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize);
            let mut text = usize::MAX..0;
            let mut hdr = None;
            for ph in phdrs {
                if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0 {
                    let s = base + ph.p_vaddr as usize;
                    text.start = text.start.min(s);
                    text.end = text.end.max(s + ph.p_memsz as usize);
                } else if ph.p_type == libc::PT_GNU_EH_FRAME {
                    hdr = Some((ph.p_vaddr as usize, ph.p_memsz as usize));
                }
            }
            if text.start >= text.end {
                return 0;
            }
            // .eh_frame has no length in the header: it ends at the latest
            // with the loaded segment that holds it (FDEs carry their lengths).
            let eh = hdr.and_then(|(hv, hl)| {
                let ef = eh_frame_ptr(base + hv, hl, base)?;
                let ef_svma = ef.checked_sub(base)?;
                let seg = phdrs.iter().find(|ph| {
                    ph.p_type == libc::PT_LOAD
                        && (ph.p_vaddr as usize) <= ef_svma
                        && ef_svma < (ph.p_vaddr + ph.p_filesz) as usize
                })?;
                let ef_len = (seg.p_vaddr + seg.p_filesz) as usize - ef_svma;
                let h = std::slice::from_raw_parts((base + hv) as *const u8, hl);
                let e = std::slice::from_raw_parts(ef as *const u8, ef_len);
                Some(((hv as u64, Mapped(h)), (ef_svma as u64, Mapped(e))))
            });
            let name = if info.dlpi_name.is_null() {
                String::new()
            } else {
                std::ffi::CStr::from_ptr(info.dlpi_name).to_string_lossy().into_owned()
            };
            out.push(Object { name, base, text, eh });
            0
        }
        let mut out: Vec<Object> = Vec::new();
        unsafe { libc::dl_iterate_phdr(Some(each), &mut out as *mut _ as *mut libc::c_void) };
        out
    }

    /// This thread's stack, from `pthread_getattr_np` (glibc reads
    /// /proc/self/maps for the main thread: once per thread only).  All of
    /// it from the stack pointer up is mapped; below the range lie other
    /// mappings or unmapped memory.
    fn stack_range() -> Option<Range<usize>> {
        unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
                return None;
            }
            let mut addr: *mut libc::c_void = std::ptr::null_mut();
            let mut size = 0usize;
            let rc = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
            libc::pthread_attr_destroy(&mut attr);
            if rc != 0 || addr.is_null() {
                return None;
            }
            Some(addr as usize..addr as usize + size)
        }
    }

    impl State {
        fn new() -> Option<State> {
            let mut s = State {
                unwinder: UnwinderX86_64::new(),
                cache: CacheX86_64::new(),
                spans: Vec::new(),
                own: 0..0,
                libc: 0..0,
                last: NO_SPAN,
                recent: [NO_SPAN; 8],
                next_recent: 0,
                counters: (u64::MAX, u64::MAX),
                stack: stack_range()?,
            };
            s.rebuild();
            Some(s)
        }

        /// Read the module list again (a new unwinder: the cache entries of
        /// the old one are invalid from now on, framehop checks a generation).
        fn rebuild(&mut self) {
            // counters first: an object loaded meanwhile makes the next check differ
            self.counters = counters();
            let here = capture_impl as *const () as usize;
            let mut unwinder = UnwinderX86_64::new();
            let mut spans = Vec::new();
            for o in objects() {
                if o.text.contains(&here) {
                    self.own = o.text.clone();
                }
                if o.name.rsplit('/').next().is_some_and(|n| n.starts_with("libc.so")) {
                    self.libc = o.text.clone();
                }
                let unwind = o.eh.is_some();
                if let Some(((hdr_svma, hdr), (ef_svma, ef))) = o.eh {
                    let info = ExplicitModuleSectionInfo {
                        base_svma: 0,
                        eh_frame_hdr_svma: Some(hdr_svma..hdr_svma + hdr.len() as u64),
                        eh_frame_hdr: Some(hdr),
                        eh_frame_svma: Some(ef_svma..ef_svma + ef.len() as u64),
                        eh_frame: Some(ef),
                        ..Default::default()
                    };
                    unwinder.add_module(Module::new(o.name, o.text.start as u64..o.text.end as u64, o.base as u64, info));
                }
                spans.push(Span { start: o.text.start, end: o.text.end, unwind });
            }
            spans.sort_by_key(|s| s.start);
            self.unwinder = unwinder;
            self.spans = spans;
            self.last = NO_SPAN;
            self.recent = [NO_SPAN; 8];
        }

        fn span_of(&self, addr: usize) -> Option<Span> {
            let i = self.spans.partition_point(|s| s.start <= addr);
            let s = *self.spans.get(i.checked_sub(1)?)?;
            (addr < s.end).then_some(s)
        }

        /// Whether framehop may unwind a frame at `addr`: in an object with
        /// unwind info; an unknown address rereads the list once if objects
        /// were loaded since.
        #[inline]
        fn known(&mut self, addr: usize) -> bool {
            let l = self.last;
            if l.start <= addr && addr < l.end {
                return l.unwind;
            }
            match self.recent_span(addr) {
                Some(s) => {
                    self.last = s;
                    s.unwind
                }
                None => self.known_slow(addr),
            }
        }

        #[inline]
        fn recent_span(&self, addr: usize) -> Option<Span> {
            let l = self.last;
            if l.start <= addr && addr < l.end {
                return Some(l);
            }
            self.recent.iter().find(|s| s.start <= addr && addr < s.end).copied()
        }

        fn remember(&mut self, s: Span) {
            self.last = s;
            self.recent[self.next_recent] = s;
            self.next_recent = (self.next_recent + 1) % self.recent.len();
        }

        #[cold]
        fn known_slow(&mut self, addr: usize) -> bool {
            if let Some(s) = self.span_of(addr) {
                self.remember(s);
                return s.unwind;
            }
            if counters() == self.counters {
                return false;
            }
            self.rebuild();
            let s = self.span_of(addr);
            if let Some(s) = s {
                self.remember(s);
            }
            s.is_some_and(|s| s.unwind)
        }
    }

    /// See `super::capture`.
    pub(super) fn capture(buf: &mut [usize]) -> usize {
        capture_impl(buf, true)
    }

    /// Every frame, hpydbg's own included (tests).
    #[cfg(test)]
    pub(super) fn capture_all(buf: &mut [usize]) -> usize {
        capture_impl(buf, false)
    }

    #[inline(never)]
    fn capture_impl(buf: &mut [usize], skip_own: bool) -> usize {
        if buf.is_empty() {
            return 0;
        }
        let (pc, sp, bp): (u64, u64, u64);
        // The registers of this very frame: pc is inside this function, so
        // framehop applies this function's own CFI row to sp.
        unsafe {
            std::arch::asm!(
                "lea {pc}, [rip]",
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                pc = out(reg) pc, sp = out(reg) sp, bp = out(reg) bp,
                options(nomem, nostack, preserves_flags)
            );
        }
        if FAILED.try_with(|f| f.get()).unwrap_or(true) {
            return 0;
        }
        STATE
            .try_with(|cell| {
                let Ok(mut st) = cell.try_borrow_mut() else { return 0 };
                if st.is_none() {
                    match State::new() {
                        Some(s) => *st = Some(Box::new(s)),
                        None => {
                            FAILED.with(|f| f.set(true));
                            return 0;
                        }
                    }
                }
                let st = st.as_mut().unwrap();
                if counters().1 != st.counters.1 {
                    st.rebuild(); // an object was unloaded: its sections may be gone
                }
                walk(st, pc, sp, bp, buf, skip_own)
            })
            .unwrap_or(0)
    }

    /// framehop's rule-cache counters for this thread: (hits, misses on an
    /// empty slot, on another address, on an older module list).
    pub(super) fn cache_stats() -> Option<(u64, u64, u64, u64)> {
        STATE.try_with(|cell| {
            let st = cell.try_borrow().ok()?;
            let c = st.as_ref()?.cache.stats();
            Some((c.hit_count, c.miss_empty_slot_count, c.miss_wrong_address_count, c.miss_wrong_modules_count))
        }).ok().flatten()
    }

    /// A walk from made-up registers (tests: it must end, whatever they are).
    #[cfg(test)]
    pub(super) fn walk_from(pc: u64, sp: u64, bp: u64, buf: &mut [usize]) -> usize {
        STATE.with(|cell| {
            let mut st = cell.borrow_mut();
            if st.is_none() {
                *st = State::new().map(Box::new);
            }
            walk(st.as_mut().unwrap(), pc, sp, bp, buf, false)
        })
    }

    fn walk(st: &mut State, pc: u64, sp: u64, bp: u64, buf: &mut [usize], skip_own: bool) -> usize {
        if !st.stack.contains(&(sp as usize)) {
            return 0; // not on this thread's stack (an alternate signal stack, a coroutine)
        }
        // what lies between the capture and the stack's top is mapped, and
        // callers' frames are above the capture
        let (lo, hi) = (sp, st.stack.end as u64);
        let mut read = |a: u64| -> Result<u64, ()> {
            if a >= lo && a <= hi - 8 {
                Ok(unsafe { std::ptr::read_unaligned(a as *const u64) })
            } else {
                Err(())
            }
        };
        let mut regs = UnwindRegsX86_64::new(pc, sp, bp);
        let mut frame = FrameAddress::from_instruction_pointer(pc);
        let mut n = 0;
        // own frames do not count against the limit: bound the steps too
        let mut steps = buf.len() + 256;
        while n < buf.len() && steps > 0 {
            steps -= 1;
            if !st.known(frame.address_for_lookup() as usize) {
                break;
            }
            let before = regs.sp();
            let ra = match st.unwinder.unwind_frame(frame, &mut regs, &mut st.cache, &mut read) {
                Ok(Some(ra)) => ra,
                _ => break,
            };
            if regs.sp() <= before {
                break;
            }
            let Some(next) = FrameAddress::from_return_address(ra) else { break };
            frame = next;
            if !(skip_own && st.own.contains(&(ra as usize))) {
                buf[n] = ra as usize;
                n += 1;
            }
            if is_sigreturn(st, ra as usize) {
                // a signal handler's frame (hpydbg reports faults from one):
                // the interrupted registers are in the ucontext at sp
                // (framehop cannot unwind the kernel's frame; libgcc can)
                let uc = regs.sp();
                let (Ok(rip), Ok(rsp), Ok(rbp)) = (read(uc + UC_RIP), read(uc + UC_RSP), read(uc + UC_RBP)) else { break };
                if rsp <= uc || n >= buf.len() || !st.known(rip as usize) {
                    break;
                }
                regs = UnwindRegsX86_64::new(rip, rsp, rbp);
                frame = FrameAddress::from_instruction_pointer(rip);
                if !(skip_own && st.own.contains(&(rip as usize))) {
                    buf[n] = rip as usize; // the interrupted pc itself, as libgcc reports it
                    n += 1;
                }
            }
        }
        n
    }

    /// Offsets in the `ucontext_t` of a signal frame (x86-64 Linux):
    /// `uc_mcontext.gregs` starts at 40; REG_RBP 10, REG_RSP 15, REG_RIP 16.
    const UC_RBP: u64 = 40 + 8 * 10;
    const UC_RSP: u64 = 40 + 8 * 15;
    const UC_RIP: u64 = 40 + 8 * 16;

    /// Whether `ra` is glibc's signal return trampoline `__restore_rt`
    /// (`mov $15, %rax; syscall`, the bytes libgcc checks too), which
    /// sigaction installs for every handler: looked for in libc's text only
    /// (mapped, and one range compare for the other frames).
    #[inline]
    fn is_sigreturn(st: &State, ra: usize) -> bool {
        const CODE: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];
        st.libc.start <= ra
            && ra.checked_add(CODE.len()).is_some_and(|e| e <= st.libc.end)
            && unsafe { std::ptr::read_unaligned(ra as *const [u8; 9]) } == CODE
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod imp {
    pub(super) fn capture(_: &mut [usize]) -> usize {
        0
    }
    pub(super) fn cache_stats() -> Option<(u64, u64, u64, u64)> {
        None
    }
}

/// Fill `buf` with the return addresses of the current call stack, innermost
/// first, leaving out hpydbg's own frames; returns how many were written.
/// 0 means the fast unwinder could not start here (unsupported platform, a
/// stack it does not know, a reentrant call): use `backtrace::trace` then.
/// A walk that meets a frame it cannot unwind for sure stops there.
#[inline(always)]
pub fn capture(buf: &mut [usize]) -> usize {
    imp::capture(buf)
}

/// The calling thread's rule-cache counters (hits, misses on an empty slot,
/// on a slot holding another address, on an older module list); None before
/// its first capture.  A miss that repeats on every capture is a frame whose
/// rule framehop cannot cache, or two addresses sharing a slot.
pub fn cache_stats() -> Option<(u64, u64, u64, u64)> {
    imp::cache_stats()
}

// ---------------------------------------------------------------------------
// Cross-check against another unwinder (tests): `Trace::capture` reports
// both results here while checking is on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static CHECKING: AtomicBool = AtomicBool::new(false);

/// (captures compared, mismatches, first mismatch as (fast, reference)).
type CheckLog = (u64, u64, Option<(Vec<usize>, Vec<usize>)>);
static CHECKS: Mutex<CheckLog> = Mutex::new((0, 0, None));

pub fn set_checking(on: bool) {
    *crate::base::sync::lock(&CHECKS) = (0, 0, None);
    CHECKING.store(on, Ordering::Relaxed);
}

#[inline]
pub fn checking() -> bool {
    CHECKING.load(Ordering::Relaxed)
}

/// Record one comparison of the fast capture with a reference capture.
pub fn record_check(fast: &[usize], reference: &[usize]) {
    let mut c = crate::base::sync::lock(&CHECKS);
    c.0 += 1;
    if fast != reference {
        c.1 += 1;
        if c.2.is_none() {
            c.2 = Some((fast.to_vec(), reference.to_vec()));
        }
    }
}

pub fn check_results() -> CheckLog {
    crate::base::sync::lock(&CHECKS).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both unwinders at the same point; only the innermost frame (the
    /// call sites of the two captures) may differ.
    #[inline(never)]
    fn both(depth: usize, out: &mut (Vec<usize>, Vec<usize>)) {
        if depth > 0 {
            both(depth - 1, out);
            std::hint::black_box(&out);
            return;
        }
        let mut buf = [0usize; 64];
        let n = imp_raw(&mut buf);
        out.0 = buf[..n].to_vec();
        backtrace::trace(|f| {
            if !f.ip().is_null() {
                out.1.push(f.ip() as usize); // libgcc ends with a 0 return address
            }
            out.1.len() < 80
        });
    }

    /// The fast capture without leaving out the own object (in a test
    /// binary every Rust frame is "own").
    fn imp_raw(buf: &mut [usize]) -> usize {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            imp::capture_all(buf)
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        {
            let _ = buf;
            0
        }
    }

    /// The shared tail of the two captures: from the first fast frame that
    /// libgcc's trace also has (the frames returning into `both` differ:
    /// two call sites) to the end of both.
    fn shared<'a>(fast: &'a [usize], slow: &'a [usize]) -> (usize, &'a [usize], &'a [usize]) {
        for (i, ip) in fast.iter().enumerate() {
            if let Some(k) = slow.iter().position(|s| s == ip) {
                return (i, &fast[i..], &slow[k..]);
            }
        }
        panic!("no frame in common:\nfast {:x?}\nslow {:x?}", fast, slow);
    }

    #[test]
    fn fast_equals_libgcc() {
        for depth in [0, 3, 20] {
            let mut out = (Vec::new(), Vec::new());
            both(depth, &mut out);
            let (fast, slow) = out;
            let (i, f, s) = shared(&fast, &slow);
            assert!(i <= 3, "first shared frame {} at depth {}:\nfast {:x?}\nslow {:x?}", i, depth, fast, slow);
            // the walk ends where libgcc's does (thread start), not before
            assert_eq!(f, s, "depth {}", depth);
            assert!(f.len() > depth + 2, "only {} shared frames at depth {}", f.len(), depth);
        }
    }

    #[test]
    fn other_thread_and_small_buffers() {
        let h = std::thread::spawn(|| {
            let mut out = (Vec::new(), Vec::new());
            both(5, &mut out);
            out
        });
        let (fast, slow) = h.join().unwrap();
        let (i, f, s) = shared(&fast, &slow);
        assert!(i <= 3);
        assert_eq!(f, s);
        assert!(f.len() > 7);
        let mut one = [0usize; 1];
        assert_eq!(imp_raw(&mut one), 1);
        assert_eq!(imp_raw(&mut []), 0);
    }

    /// Wrong registers (a pc that does not belong to the sp, garbage rbp)
    /// give wrong frames, but the walk ends and reads only the stack.
    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fn made_up_registers_do_not_crash() {
        let sp: u64;
        unsafe { std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
        let pcs = [fast_equals_libgcc as *const () as usize as u64 + 7, libc::malloc as *const () as usize as u64 + 3, 0x1000, u64::MAX];
        let mut buf = [0usize; 32];
        for (i, &pc) in pcs.iter().enumerate() {
            for k in 0..400u64 {
                let bp = [0, sp + 8 * ((k * 7 + i as u64) % 500), u64::MAX - 7, 0xdead_beef][(k % 4) as usize];
                let n = imp::walk_from(pc, sp + 8 * k + (k % 3), bp, &mut buf);
                assert!(n <= buf.len());
            }
        }
        // a stack pointer outside this thread's stack: no walk at all
        assert_eq!(imp::walk_from(pcs[0], 0x1000, 0, &mut buf), 0);
        assert_eq!(imp::walk_from(pcs[0], u64::MAX - 8, 0, &mut buf), 0);
    }

    /// A capture inside a signal handler (hpydbg's raw-data fault reports
    /// capture there): through the kernel's signal frame to the interrupted
    /// code, as libgcc does.
    #[test]
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    fn through_a_signal_frame() {
        use std::sync::Mutex;
        static OUT: Mutex<Option<(Vec<usize>, Vec<usize>)>> = Mutex::new(None);
        extern "C" fn handler(_: libc::c_int) {
            let mut out = (Vec::new(), Vec::new());
            both(2, &mut out);
            *OUT.lock().unwrap() = Some(out);
        }
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as *const () as usize;
            libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut());
            libc::raise(libc::SIGUSR2);
        }
        let (fast, slow) = OUT.lock().unwrap().take().expect("handler ran");
        let (i, f, s) = shared(&fast, &slow);
        assert!(i <= 3);
        assert_eq!(f, s);
        // handler frames, the trampoline, the interrupted frames, the test's callers
        assert!(f.len() > 8, "{:x?}", f);
    }

    #[test]
    fn objects_have_unwind_sections() {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            let objs = imp::objects();
            let here = fast_equals_libgcc as *const () as usize;
            let me = objs.iter().find(|o| o.text.contains(&here)).expect("own object listed");
            let ((_, hdr), (_, ef)) = me.eh.as_ref().expect("own object has .eh_frame_hdr");
            assert_eq!(hdr[0], 1, "eh_frame_hdr version");
            assert!(ef.len() > 1000);
            assert!(objs.iter().any(|o| o.name.contains("libc.so")));
        }
    }
}
