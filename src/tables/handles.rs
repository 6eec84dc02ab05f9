//! The debug handle table.
//!
//! A debug handle is an even, non-zero `isize` that encodes a slot index and
//! the slot's generation: `(index << 32) | (generation << 2)`.  Slot 0 is
//! never used, so no handle is 0 (HPy_NULL) and the index needs no offset
//! (one instruction fewer on every check).
//! Reusing a slot bumps its generation, so an old handle value can never look
//! valid again however many handles were opened since; values that decode to
//! no slot (never opened, garbage, odd universal handles) are recognised
//! without dereferencing anything.
//!
//! Closed slots stay in a FIFO (default 1024, as HPy's debug mode) whose
//! oldest slot is reused first once the FIFO is full; slots pushed out of the
//! FIFO go to a free list.  Both lists are threaded through the slots
//! (`next`), so open and close allocate nothing and touch one or two slots.
//! Per-handle extras (stack traces, raw data) live in a side map that is only
//! looked at when a slot's `EXTRA` flag is set.
//!
//! Leak-detector *epochs* (`new_generation` in HPy's Python API) are a
//! different thing from slot generations: each open gets a serial number,
//! and an epoch is the serial number at which it started.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::base::rawdata::RawData;
use crate::base::stacktrace::Trace;

pub const DEFAULT_CLOSED_QUEUE_MAX: usize = 1024;
/// Address space kept for protected raw data of closed handles (each copy
/// has pages of its own); beyond it, copies are unmapped at close.
pub const RAW_MAPPED_MAX: usize = 64 * 1024 * 1024;
const GEN_MASK: u32 = 0x3fff_ffff;
const MAX_SLOTS: usize = 0x7fff_fff0;
const NIL: u32 = u32::MAX;

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum State {
    /// Never used since it was pushed out of the closed FIFO (or never opened).
    Free = 0,
    Open = 1,
    /// A context constant: open forever, closing it is an error.
    Immortal = 2,
    Closed = 3,
}

// Slot::meta layout: serial << 16 | flags << 8 | kind, where kind is
// M_FREE, M_USED (open or closed: the key's live bit tells) or M_IMMORTAL.
const F_EXTRA: u64 = 1 << 8;
const F_BORROWED: u64 = 2 << 8;
const KIND_MASK: u64 = 0xff;
const M_FREE: u64 = 0;
const M_USED: u64 = 1;
const M_IMMORTAL: u64 = 2;

/// `Slot::key` bits under the generation.
const KEY_LIVE: u32 = 1;
/// Live, and the extension may close it with the plain fast path: not an
/// argument, not immortal, no extras.
const KEY_OWNABLE: u32 = 2;

/// One slot: 32 bytes.
#[derive(Clone, Debug)]
struct Slot {
    /// Universal handle; kept after close (until the slot leaves the FIFO) so
    /// that a "log and continue" policy can still forward a closed handle.
    uh: isize,
    /// Open serial (48 bits; epochs are ranges of serials), flags, kind.
    meta: u64,
    /// `generation << 2 | ownable << 1 | live`.  A handle's low 32 bits are
    /// `generation << 2`, so one compare checks generation and state:
    /// `key & !KEY_OWNABLE == (h as u32) ^ 1` for any use of a live handle,
    /// `key == (h as u32) ^ 3` for HPy_Close's common case.  A value with
    /// either low bit set (an odd, universal, handle or garbage) never
    /// matches.
    key: u32,
    /// Next slot in the free list.
    next: u32,
    /// Where the current (or last) handle of this slot was opened and
    /// closed: ids of the site table (`tables::sites`), 0 unknown.
    opened: u32,
    closed: u32,
}

impl Slot {
    #[inline(always)]
    fn gen(&self) -> u32 {
        self.key >> 2
    }
    #[inline]
    fn state(&self) -> State {
        match self.meta & KIND_MASK {
            M_USED if self.key & KEY_LIVE != 0 => State::Open,
            M_USED => State::Closed,
            M_IMMORTAL => State::Immortal,
            _ => State::Free,
        }
    }
    /// Only for leaving the closed FIFO (the key is not live then).
    #[inline]
    fn set_free(&mut self) {
        debug_assert!(self.key & KEY_LIVE == 0);
        self.meta = (self.meta & !KIND_MASK) | M_FREE;
        self.uh = 0;
    }
    /// Not live any more (the handle's generation stays in the key).
    #[inline(always)]
    fn set_closed(&mut self) {
        self.key &= !(KEY_LIVE | KEY_OWNABLE);
    }
    #[inline]
    fn serial(&self) -> u64 {
        self.meta >> 16
    }
    #[inline]
    fn has(&self, f: u64) -> bool {
        self.meta & f != 0
    }
}

/// What a handle's owner may want to know about it, kept only when present.
#[derive(Default)]
pub struct Extra {
    pub opened_at: Option<Trace>,
    pub closed_at: Option<Trace>,
    /// Copies handed out for this handle (usually one).
    pub raw: Vec<RawData>,
    /// The raw data is protected and counted in the protected-bytes budget.
    pub raw_protected: bool,
}

/// Builder and tracker handles (`tables::builders`): `((index + 1) << 32) |
/// (generation << shift)`, with the `shift` bits under the generation 0
/// (the slot key keeps its state bits there).  Object handles have no
/// offset (`encode`).
#[inline]
pub(crate) fn pack(index: u32, gen: u32, shift: u32) -> isize {
    ((((index as u64) + 1) << 32) | ((gen as u64) << shift)) as isize
}

/// `(index, generation)` of a value with the shape `pack` gives.
#[inline]
pub(crate) fn unpack(h: isize, shift: u32) -> Option<(u32, u32)> {
    let v = h as u64;
    let hi = v >> 32;
    if v & ((1 << shift) - 1) != 0 || hi == 0 || hi > MAX_SLOTS as u64 {
        return None;
    }
    Some(((hi - 1) as u32, ((v & 0xffff_ffff) >> shift) as u32))
}

/// The index of a value with the shape `pack` gives, unchecked: values that
/// are no handle give an index past any table (0 and negative included).
#[inline(always)]
pub(crate) fn aux_index(h: isize) -> usize {
    ((h as u64) >> 32).wrapping_sub(1) as usize
}

/// Object handles: two state bits under the generation, and the index as
/// it is (slot 0 is reserved).
#[inline]
pub fn encode(index: u32, gen: u32) -> isize {
    debug_assert!(index != 0);
    (((index as u64) << 32) | (((gen & GEN_MASK) as u64) << 2)) as isize
}

/// The slot index of object handle `h`, unchecked: values that are no
/// handle give the reserved slot 0 or an index past any table (negative
/// values included).
#[inline(always)]
pub fn slot_index(h: isize) -> usize {
    ((h as u64) >> 32) as usize
}

/// `(index, generation)` if `h` has the shape of a debug handle.
#[inline]
pub fn decode(h: isize) -> Option<(u32, u32)> {
    let v = h as u64;
    let hi = v >> 32;
    if v & 3 != 0 || hi == 0 || hi >= MAX_SLOTS as u64 {
        return None;
    }
    Some((hi as u32, ((v & 0xffff_ffff) >> 2) as u32))
}

/// Result of looking a value up.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    Open { uh: isize, index: u32, gen: u32 },
    Immortal { uh: isize, index: u32, gen: u32 },
    /// Closed, and its slot not reused yet: `uh` is what it wrapped.
    Closed { uh: isize, index: u32, gen: u32 },
    /// Closed long ago: its slot left the closed FIFO or was reused
    /// (`now_gen` is the slot's generation today).
    Stale { index: u32, gen: u32, now_gen: u32, reused: bool },
    /// An odd value: a handle of the universal context, not ours.
    Universal,
    /// Not the shape of any handle we ever handed out.
    NotAHandle,
}

impl Lookup {
    /// The universal handle to forward when the policy says "go on".
    pub fn uh_or_null(self) -> isize {
        match self {
            Lookup::Open { uh, .. } | Lookup::Immortal { uh, .. } | Lookup::Closed { uh, .. } => uh,
            _ => 0,
        }
    }

}

/// Why closing failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CloseError {
    Invalid(Lookup),
    Immortal(Lookup),
    /// An argument handle, owned by the runtime.
    Borrowed(Lookup),
}

#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    pub open_now: usize,
    pub peak_open: usize,
    pub opened_total: u64,
    pub closed_total: u64,
}

/// The free list: a LIFO of slot indices threaded through `Slot::next`.
#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    len: usize,
}

impl List {
    const EMPTY: List = List { head: NIL, len: 0 };
}

/// The closed FIFO: slot indices in a ring whose size is a power of two.
struct Ring {
    buf: Vec<u32>,
    /// `buf.len() - 1`.
    mask: usize,
    head: usize,
    len: usize,
}

impl Ring {
    const EMPTY: Ring = Ring { buf: Vec::new(), mask: 0, head: 0, len: 0 };

    /// The caller checked that there is room.
    #[inline(always)]
    fn push(&mut self, i: u32) {
        debug_assert!(self.len < self.buf.len());
        let pos = (self.head + self.len) & self.mask;
        unsafe { *self.buf.get_unchecked_mut(pos) = i };
        self.len += 1;
    }

    /// The caller checked that it is not empty.
    #[inline(always)]
    fn front(&self) -> u32 {
        debug_assert!(self.len > 0);
        unsafe { *self.buf.get_unchecked(self.head) }
    }

    #[inline(always)]
    fn pop(&mut self) -> u32 {
        let i = self.front();
        self.head = (self.head + 1) & self.mask;
        self.len -= 1;
        i
    }

    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).map(move |k| self.buf[(self.head + k) & self.mask])
    }

    /// Make room for `n` entries (keeping the order); false when out of memory.
    fn reserve(&mut self, n: usize) -> bool {
        if n <= self.buf.len() {
            return true;
        }
        let Some(size) = n.checked_next_power_of_two() else { return false };
        let mut buf = Vec::new();
        if buf.try_reserve_exact(size).is_err() {
            return false;
        }
        buf.extend(self.iter());
        buf.resize(size, NIL);
        self.buf = buf;
        self.mask = size - 1;
        self.head = 0;
        true
    }
}

pub struct HandleTable {
    slots: Vec<Slot>,
    closed: Ring,
    /// `close_fast` may push while `closed.len` is below this: the queue
    /// maximum once the ring has room for it, else 0.
    closed_fast_limit: usize,
    /// Opening reuses the oldest closed slot once the FIFO holds this many:
    /// the queue maximum, at least 1.
    pop_at: usize,
    /// Free slots (LIFO through `next`; `tail` unused).
    free: List,
    extras: HashMap<u32, Extra, BuildHasherDefault<DefaultHasher>>,
    pub closed_queue_max: usize,
    pub raw_budget: usize,
    raw_protected_bytes: usize,
    raw_mapped_bytes: usize,
    next_serial: u64,
    /// `epoch_starts[e - 1]` is the first serial of epoch `e` (epoch 0 = start).
    epoch_starts: Vec<u64>,
    /// Counters: only these two are kept on the hot paths (the others
    /// follow from them and `next_serial`, see `counters`).
    peak_open: usize,
    /// Immortal opens plus closes.
    not_open: u64,
    immortals: u64,
    /// Stack traces are on (or a policy that goes on after reports): the
    /// fast paths of open and close are off, so that every open and close
    /// goes where traces are captured and last references checked.
    slow_paths: bool,
}

impl Default for HandleTable {
    fn default() -> Self {
        Self::new()
    }
}

/// A handle listed for the Python side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listed {
    pub index: u32,
    pub handle: isize,
    pub uh: isize,
    pub serial: u64,
    /// Where it was opened (site id, 0 unknown).
    pub site: u32,
}

impl HandleTable {
    pub const fn new() -> Self {
        HandleTable {
            slots: Vec::new(),
            closed: Ring::EMPTY,
            closed_fast_limit: 0,
            pop_at: DEFAULT_CLOSED_QUEUE_MAX,
            free: List::EMPTY,
            extras: HashMap::with_hasher(BuildHasherDefault::new()),
            closed_queue_max: DEFAULT_CLOSED_QUEUE_MAX,
            raw_budget: 10 * 1024 * 1024,
            raw_protected_bytes: 0,
            raw_mapped_bytes: 0,
            next_serial: 0,
            epoch_starts: Vec::new(),
            peak_open: 0,
            not_open: 0,
            immortals: 0,
            slow_paths: false,
        }
    }

    #[inline(always)]
    fn pop_closed(&mut self) -> u32 {
        self.closed.pop()
    }

    /// Push onto the closed FIFO, growing it if needed (out of memory: the
    /// slot goes to the free list at once, so it is only forgotten sooner).
    #[inline]
    fn push_closed(&mut self, i: u32) {
        if self.closed.len >= self.closed.buf.len() && !self.grow_closed(self.closed.len + 1) {
            self.push_free(i);
            return;
        }
        self.closed.push(i);
    }

    #[cold]
    fn grow_closed(&mut self, n: usize) -> bool {
        let ok = self.closed.reserve(n.max(self.closed_queue_max.saturating_add(1)));
        self.update_fast_limit();
        ok
    }

    fn update_fast_limit(&mut self) {
        let ready = self.closed.buf.len() > self.closed_queue_max && !self.slow_paths;
        self.closed_fast_limit = if ready { self.closed_queue_max } else { 0 };
        self.pop_at = if self.slow_paths { usize::MAX } else { self.closed_queue_max.max(1) };
    }

    /// Turn the fast paths of open and close off (stack traces on, or a
    /// policy that goes on after reports) or back on.
    pub fn set_slow_paths(&mut self, on: bool) {
        self.slow_paths = on;
        self.update_fast_limit();
    }

    /// A slot leaves the closed FIFO (or could not enter it): it is free.
    #[inline(always)]
    fn push_free(&mut self, i: u32) {
        let head = self.free.head;
        let s = self.slot_mut(i);
        s.set_free();
        s.next = head;
        self.free.head = i;
        self.free.len += 1;
    }

    /// The caller checked that the free list is not empty.
    #[inline(always)]
    fn pop_free(&mut self) -> u32 {
        let i = self.free.head;
        self.free.head = self.slot(i).next;
        self.free.len -= 1;
        i
    }

    /// Wrap universal handle `uh` (not null) in a fresh debug handle; 0 if
    /// the table cannot grow (out of memory).
    #[inline]
    pub fn open(&mut self, uh: isize, immortal: bool) -> isize {
        self.open_slot(uh, if immortal { State::Immortal } else { State::Open }, 0, 0)
    }

    /// The common case of `open`, inlined into the API wrappers: a slot
    /// from the lists with nothing to release, opened at `site` (`None`:
    /// nothing was changed, call `open_at`); `ARG`: an argument handle
    /// (`open_arg`).  Written for the compiler: the
    /// table's fields are read and written before the slot's, which it
    /// cannot prove apart from them.
    #[inline(always)]
    pub fn open_fast<const ARG: bool>(&mut self, uh: isize, site: u32) -> Option<isize> {
        let (index, slot) = self.take_slot_fast()?;
        let serial = self.next_serial;
        self.next_serial = serial + 1;
        let now = (serial + 1 - self.not_open) as usize;
        if now > self.peak_open {
            self.peak_open = now;
        }
        // The slot, by the pointer `take_slot_fast` computed (no second
        // multiply, no reload of the slot array).
        let slot = unsafe { &mut *slot };
        // Not live, so the key's low bits are 0: + 4 is the next generation,
        // and the handle's low 32 bits.
        debug_assert!(slot.key & 3 == 0);
        let low = slot.key.wrapping_add(4);
        slot.key = low | if ARG { KEY_LIVE } else { KEY_LIVE | KEY_OWNABLE };
        slot.uh = uh;
        slot.opened = site;
        // `closed` is left: `sites_of` ignores it while the handle is open.
        slot.meta = (serial << 16) | if ARG { F_BORROWED | M_USED } else { M_USED };
        // = encode(index, low >> 2).
        Some((((index as u64) << 32) | low as u64) as isize)
    }

    /// Take a slot from the lists with nothing to release: its index and
    /// where it is.
    #[inline(always)]
    fn take_slot_fast(&mut self) -> Option<(u32, *mut Slot)> {
        let base = self.slots.as_mut_ptr();
        if self.closed.len >= self.pop_at {
            let i = self.closed.front();
            // From our own lists: in bounds.
            let slot = unsafe { base.add(i as usize) };
            if unsafe { (*slot).has(F_EXTRA) } {
                return None;
            }
            self.closed.pop();
            Some((i, slot))
        } else if self.free.head != NIL && !self.slow_paths {
            let i = self.free.head;
            let slot = unsafe { base.add(i as usize) };
            self.free.head = unsafe { (*slot).next };
            self.free.len -= 1;
            Some((i, slot))
        } else {
            None
        }
    }

    /// `open` of a handle the extension owns, at `site`.
    #[inline]
    pub fn open_at(&mut self, uh: isize, site: u32) -> isize {
        self.open_slot(uh, State::Open, 0, site)
    }

    /// A handle for an argument the runtime passes to an extension function.
    #[inline(always)]
    pub fn open_arg(&mut self, uh: isize) -> isize {
        match self.open_fast::<true>(uh, 0) {
            Some(h) => h,
            None => self.open_slot(uh, State::Open, F_BORROWED, 0),
        }
    }

    #[inline(never)]
    fn open_slot(&mut self, uh: isize, state: State, flags: u64, site: u32) -> isize {
        debug_assert!(uh != 0);
        // Steady state: reuse the oldest closed slot once the FIFO is full,
        // else a free one; growing and releasing extras are out of line.
        let index = if self.closed.len >= self.closed_queue_max.max(1) {
            let i = self.pop_closed();
            if self.slot(i).has(F_EXTRA) {
                self.release_extra(i);
            }
            i
        } else if self.free.head != NIL {
            self.pop_free()
        } else {
            match self.new_slot() {
                Some(i) => i,
                None => return 0,
            }
        };
        self.fill_slot(index, uh, state, flags, site)
    }

    #[inline(always)]
    fn fill_slot(&mut self, index: u32, uh: isize, state: State, flags: u64, site: u32) -> isize {
        let serial = self.next_serial;
        self.next_serial += 1;
        debug_assert!(state == State::Open || state == State::Immortal);
        let slot = self.slot_mut(index);
        // Not live here, so the low key bits are 0: + 4 is the next
        // generation, then the state bits.
        debug_assert!(slot.key & 3 == 0);
        let ownable = state == State::Open && flags == 0;
        let key = slot.key.wrapping_add(4 + if ownable { KEY_LIVE | KEY_OWNABLE } else { KEY_LIVE });
        slot.key = key;
        slot.uh = uh;
        slot.opened = site;
        slot.closed = 0;
        slot.meta = (serial << 16) | flags | if state == State::Immortal { M_IMMORTAL } else { M_USED };
        if state == State::Immortal {
            self.immortals += 1;
            self.not_open += 1;
        } else {
            let now = (serial + 1 - self.not_open) as usize;
            if now > self.peak_open {
                self.peak_open = now;
            }
        }
        encode(index, key >> 2)
    }

    /// A slot whose index came from our own lists.
    #[inline(always)]
    fn slot(&self, i: u32) -> &Slot {
        debug_assert!((i as usize) < self.slots.len());
        unsafe { self.slots.get_unchecked(i as usize) }
    }

    #[inline(always)]
    fn slot_mut(&mut self, i: u32) -> &mut Slot {
        debug_assert!((i as usize) < self.slots.len());
        unsafe { self.slots.get_unchecked_mut(i as usize) }
    }

    #[cold]
    fn new_slot(&mut self) -> Option<u32> {
        // Out of memory (or of slot numbers) is the caller's MemoryError,
        // not an abort.
        if self.slots.len() >= MAX_SLOTS || self.slots.try_reserve(2).is_err() {
            return None;
        }
        if self.slots.is_empty() {
            // Slot 0, never used: no handle encodes index 0.
            self.slots.push(Slot { uh: 0, meta: M_FREE, key: 0, next: NIL, opened: 0, closed: 0 });
        }
        // Generation GEN_MASK, so that the first open wraps it to 0.
        self.slots.push(Slot { uh: 0, meta: 0, key: GEN_MASK << 2, next: NIL, opened: 0, closed: 0 });
        Some((self.slots.len() - 1) as u32)
    }

    #[inline]
    pub fn lookup(&self, h: isize) -> Lookup {
        if h & 1 != 0 {
            return Lookup::Universal;
        }
        let Some((index, gen)) = decode(h) else { return Lookup::NotAHandle };
        let Some(slot) = self.slots.get(index as usize) else { return Lookup::NotAHandle };
        if slot.gen() != gen {
            // A generation this slot never had is garbage, not a stale handle.
            return if gen < slot.gen() {
                Lookup::Stale { index, gen, now_gen: slot.gen(), reused: true }
            } else {
                Lookup::NotAHandle
            };
        }
        match slot.state() {
            State::Open => Lookup::Open { uh: slot.uh, index, gen },
            State::Immortal => Lookup::Immortal { uh: slot.uh, index, gen },
            State::Closed => Lookup::Closed { uh: slot.uh, index, gen },
            State::Free => Lookup::Stale { index, gen, now_gen: gen, reused: false },
        }
    }

    /// The universal handle of an open (or immortal) handle, if it is one.
    #[inline(always)]
    pub fn get_open(&self, h: isize) -> Option<isize> {
        let slot = self.slots.get(slot_index(h))?;
        if slot.key & !KEY_OWNABLE == (h as u32) ^ KEY_LIVE {
            Some(slot.uh)
        } else {
            None
        }
    }

    /// Close an open handle the extension owns; returns the universal handle
    /// it wrapped.
    #[inline]
    pub fn close(&mut self, h: isize) -> Result<isize, CloseError> {
        self.close_checked(h, false)
    }

    /// Close an argument handle after the call (or any open handle).
    #[inline]
    pub fn close_arg(&mut self, h: isize) -> Result<isize, CloseError> {
        self.close_checked(h, true)
    }

    #[inline]
    fn close_checked(&mut self, h: isize, allow_borrowed: bool) -> Result<isize, CloseError> {
        match self.try_close(h, allow_borrowed, 0) {
            0 => Err(self.close_error(h)),
            uh => Ok(uh),
        }
    }

    /// The common case of `try_close(h, ARG)`, inlined into the API
    /// wrappers and trampolines: an open handle with no extras, and the
    /// closed FIFO ready (when it is full, its oldest slot goes to the free
    /// list first, unless it has extras).  `None` means "call `try_close`"
    /// (nothing was changed).
    #[inline(always)]
    pub fn close_fast<const ARG: bool>(&mut self, h: isize, site: u32) -> Option<isize> {
        let index = slot_index(h);
        let Some(slot) = self.slots.get(index) else { return None };
        let ok = if ARG {
            // Argument handles are not ownable; immortal and extras go slow.
            slot.key & !KEY_OWNABLE == (h as u32) ^ KEY_LIVE && slot.meta & (M_IMMORTAL | F_EXTRA) == 0
        } else {
            slot.key == (h as u32) ^ (KEY_LIVE | KEY_OWNABLE)
        };
        if !ok {
            return None;
        }
        if self.closed.len >= self.closed_fast_limit {
            if self.closed_fast_limit == 0 {
                return None;
            }
            let oldest = self.closed.front();
            if self.slot(oldest).has(F_EXTRA) {
                return None;
            }
            self.closed.pop();
            self.push_free(oldest);
        }
        // In bounds (checked above); taken before the FIFO's store, which
        // the compiler cannot prove apart from the slot array's pointer.
        let slot = unsafe { self.slots.as_mut_ptr().add(index) };
        // The FIFO first: its fields are still in registers (a store into
        // a slot could alias them, as far as the compiler knows).
        self.closed.push(index as u32);
        self.not_open += 1;
        let slot = unsafe { &mut *slot };
        // Not live: the generation only (the low bits of `h` are 0).
        slot.key = h as u32;
        slot.closed = site;
        let uh = slot.uh;
        Some(uh)
    }

    /// The fast path of closing: the universal handle, or 0 if `h` cannot be
    /// closed (then `close_error` says why).
    #[inline(always)]
    pub fn try_close(&mut self, h: isize, allow_borrowed: bool, site: u32) -> isize {
        let index = slot_index(h);
        let Some(slot) = self.slots.get_mut(index) else { return 0 };
        let refuse = if allow_borrowed { M_IMMORTAL } else { M_IMMORTAL | F_BORROWED };
        if slot.key & !KEY_OWNABLE != (h as u32) ^ KEY_LIVE || slot.meta & refuse != 0 {
            return 0;
        }
        // Open -> Closed.
        slot.set_closed();
        slot.closed = site;
        let uh = slot.uh;
        let extra = slot.has(F_EXTRA);
        self.not_open += 1;
        if extra {
            self.protect_raw_on_close(index as u32);
        }
        self.push_closed(index as u32);
        // One out per one in, as HPy's debug mode: after the maximum is
        // lowered the queue shrinks as new handles reuse its slots.
        if self.closed.len > self.closed_queue_max {
            self.evict_oldest_closed();
        }
        uh
    }

    #[cold]
    fn evict_oldest_closed(&mut self) {
        let oldest = self.pop_closed();
        if self.slot(oldest).has(F_EXTRA) {
            self.release_extra(oldest);
        }
        self.push_free(oldest);
    }

    /// Forget what a closed handle wrapped (its object is gone): going on
    /// after a use-after-close must then not forward it.  `h` is a handle
    /// this table closed.  One compare: a closed handle's key is its low 32 bits (generation,
    /// not live); a free slot's too, whose `uh` is 0 already; any other
    /// value (reused, live, immortal, or no handle) differs.
    #[inline(always)]
    pub fn forget_closed_uh(&mut self, h: isize) {
        if let Some(s) = self.slots.get_mut(slot_index(h)) {
            if s.key == h as u32 {
                s.uh = 0;
            }
        }
    }

    /// Why `h` cannot be closed.
    #[cold]
    pub fn close_error(&self, h: isize) -> CloseError {
        let l = self.lookup(h);
        match l {
            Lookup::Immortal { .. } => CloseError::Immortal(l),
            Lookup::Open { .. } => CloseError::Borrowed(l),
            _ => CloseError::Invalid(l),
        }
    }

    #[cold]
    fn protect_raw_on_close(&mut self, index: u32) {
        let Some(extra) = self.extras.get_mut(&index) else { return };
        if extra.raw.is_empty() {
            return;
        }
        // The budget counts data bytes (as HPy's debug mode does); the mapped
        // pages are bounded separately.
        let size: usize = extra.raw.iter().map(|r| r.len()).sum();
        let mapped: usize = extra.raw.iter().map(|r| r.map_len()).sum();
        if self.raw_protected_bytes + size > self.raw_budget || self.raw_mapped_bytes + mapped > RAW_MAPPED_MAX {
            // Over budget: unmap it now (a read after close may still fault),
            // and drop the record if nothing else is in it.
            if extra.opened_at.is_none() && extra.closed_at.is_none() {
                self.extras.remove(&index);
                self.slots[index as usize].meta &= !F_EXTRA;
            } else {
                extra.raw = Vec::new();
            }
        } else {
            for r in extra.raw.iter_mut() {
                r.protect_no_access();
            }
            extra.raw_protected = true;
            self.raw_protected_bytes += size;
            self.raw_mapped_bytes += mapped;
        }
    }

    #[cold]
    fn release_extra(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        slot.meta &= !F_EXTRA;
        if let Some(extra) = self.extras.remove(&index) {
            if extra.raw_protected {
                self.raw_protected_bytes -= extra.raw.iter().map(|r| r.len()).sum::<usize>();
                self.raw_mapped_bytes -= extra.raw.iter().map(|r| r.map_len()).sum::<usize>();
            }
        }
    }

    /// The handle whose raw data contains `addr`: (handle value, API that
    /// handed the data out, whether the handle is closed).  Used on a fault.
    pub fn find_raw(&self, addr: usize) -> Option<(isize, &'static str, bool)> {
        for (&index, e) in self.extras.iter() {
            if let Some(r) = e.raw.iter().find(|r| r.contains(addr)) {
                let s = &self.slots[index as usize];
                return Some((encode(index, s.gen()), r.api(), s.state() != State::Open));
            }
        }
        None
    }

    /// Extras of an open or closed slot, created on demand.
    pub fn extra_mut(&mut self, index: u32) -> &mut Extra {
        let s = &mut self.slots[index as usize];
        s.meta |= F_EXTRA;
        // Closing it must go where the extras are looked after.
        s.key &= !KEY_OWNABLE;
        self.extras.entry(index).or_default()
    }

    pub fn extra(&self, index: u32) -> Option<&Extra> {
        if self.slots.get(index as usize)?.has(F_EXTRA) {
            self.extras.get(&index)
        } else {
            None
        }
    }

    /// The epoch in force (what an object opened now belongs to).
    pub fn current_epoch(&self) -> i64 {
        self.epoch_starts.len() as i64
    }

    /// Start a new leak-detector epoch and return its number (1, 2, ...).
    pub fn new_epoch(&mut self) -> i64 {
        self.epoch_starts.push(self.next_serial);
        self.epoch_starts.len() as i64
    }

    fn epoch_threshold(&self, epoch: i64) -> u64 {
        if epoch <= 0 {
            0
        } else if epoch as usize > self.epoch_starts.len() {
            u64::MAX
        } else {
            self.epoch_starts[epoch as usize - 1]
        }
    }

    /// Epoch in which the slot's current handle was opened.
    pub fn epoch_of(&self, index: u32) -> i64 {
        let serial = self.slots[index as usize].serial();
        self.epoch_starts.partition_point(|&s| s <= serial) as i64
    }

    /// Open (non-immortal) handles opened in `epoch` or later, oldest first.
    pub fn open_handles(&self, epoch: i64) -> Vec<Listed> {
        let threshold = self.epoch_threshold(epoch);
        let mut v: Vec<Listed> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state() == State::Open && s.serial() >= threshold)
            .map(|(i, s)| Listed { index: i as u32, handle: encode(i as u32, s.gen()), uh: s.uh, serial: s.serial(), site: s.opened })
            .collect();
        v.sort_unstable_by_key(|l| l.serial);
        v
    }

    /// Closed handles still in the FIFO, oldest first.
    pub fn closed_handles(&self, epoch: i64) -> Vec<Listed> {
        let threshold = self.epoch_threshold(epoch);
        let mut v = Vec::with_capacity(self.closed.len);
        for i in self.closed.iter() {
            let s = &self.slots[i as usize];
            if s.serial() >= threshold {
                v.push(Listed { index: i, handle: encode(i, s.gen()), uh: s.uh, serial: s.serial(), site: s.opened });
            }
        }
        v
    }

    /// Sites where the slot's handle was opened and closed (0 unknown).
    pub fn sites_of(&self, index: u32) -> (u32, u32) {
        self.slots.get(index as usize).map_or((0, 0), |s| (s.opened, if s.state() == State::Open { 0 } else { s.closed }))
    }

    /// `forget_closed_uh` of the slot `close_fast` just closed (one store).
    #[inline(always)]
    pub fn forget_closed_in(&mut self, index: u32) {
        self.slot_mut(index).uh = 0;
    }

    /// Whether the slot's handle is an argument handle (the runtime's).
    pub fn is_argument(&self, index: u32) -> bool {
        self.slots.get(index as usize).is_some_and(|s| s.has(F_BORROWED))
    }

    /// State, current handle value and universal handle of a slot.
    pub fn slot_info(&self, index: u32) -> Option<(State, isize, isize)> {
        let s = self.slots.get(index as usize)?;
        Some((s.state(), encode(index, s.gen()), s.uh))
    }

    pub fn counters(&self) -> Counters {
        Counters {
            open_now: (self.next_serial - self.not_open) as usize,
            peak_open: self.peak_open,
            opened_total: self.next_serial - self.immortals,
            closed_total: self.not_open - self.immortals,
        }
    }

    pub fn closed_len(&self) -> usize {
        self.closed.len
    }

    pub fn raw_protected_bytes(&self) -> usize {
        self.raw_protected_bytes
    }

    /// As HPy's debug mode, lowering the maximum evicts nothing now: the
    /// queue shrinks as new handles reuse its oldest slots.
    pub fn set_closed_queue_max(&mut self, n: usize) {
        self.closed_queue_max = n;
        // Best effort: without room, `close_fast` stays off until a push
        // finds memory.
        let _ = self.closed.reserve(n.saturating_add(1).max(self.closed.len + 1));
        self.update_fast_limit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_a_closed_handles_object_touches_its_slot_only() {
        let mut t = HandleTable::new();
        let a = t.open(0x1001, false);
        let b = t.open(0x2001, false);
        assert_eq!(t.close(b), Ok(0x2001));
        t.forget_closed_uh(b);
        assert_eq!(t.lookup(b).uh_or_null(), 0, "b's record forgot its object");
        assert_eq!(t.lookup(a), Lookup::Open { uh: 0x1001, index: decode(a).unwrap().0, gen: decode(a).unwrap().1 });
        t.forget_closed_uh(a);
        assert_eq!(t.lookup(a).uh_or_null(), 0x1001, "an open handle is not forgotten");
    }

    #[test]
    fn encode_decode_roundtrip_and_shape() {
        for &(i, g) in &[(1u32, 0u32), (1, 1), (12345, 0x3fff_fffe), (0x7fff_ffe0, 7)] {
            let h = encode(i, g);
            assert_ne!(h, 0);
            assert_eq!(h & 1, 0, "debug handles are even");
            assert_eq!(decode(h), Some((i, g)));
        }
        assert_eq!(decode(0), None);
        assert_eq!(decode(4), None, "index 0 is reserved");
        assert_eq!(decode(43), None, "odd values are universal handles");
        assert_eq!(decode(42), None, "small integers are no handle");
        assert_eq!(decode(encode(3, 5) | 2), None, "the two low bits of a handle are 0");
    }

    #[test]
    fn open_close_lookup() {
        let mut t = HandleTable::new();
        let h = t.open(101, false);
        assert!(matches!(t.lookup(h), Lookup::Open { uh: 101, .. }));
        assert_eq!(t.close(h), Ok(101));
        assert!(matches!(t.lookup(h), Lookup::Closed { uh: 101, .. }));
        assert!(matches!(t.close(h), Err(CloseError::Invalid(Lookup::Closed { .. }))));
        assert_eq!(t.counters().open_now, 0);
        assert_eq!(t.counters().closed_total, 1);
    }

    #[test]
    fn generations_catch_use_after_close_at_any_distance() {
        let mut t = HandleTable::new();
        t.set_closed_queue_max(4);
        let victim = t.open(7, false);
        t.close(victim).unwrap();
        // 100_000 open/close cycles reuse the victim's slot many times.
        for i in 0..100_000 {
            let h = t.open(1000 + 2 * i + 1, false);
            t.close(h).unwrap();
        }
        match t.lookup(victim) {
            Lookup::Stale { reused: true, .. } => {}
            other => panic!("expected stale, got {:?}", other),
        }
        assert!(t.close(victim).is_err());
        // The table did not grow: slots were recycled.
        assert!(t.slots.len() <= 7, "{} slots (slot 0 reserved)", t.slots.len());
    }

    #[test]
    fn fifo_reuses_oldest_closed_slot_when_full() {
        let mut t = HandleTable::new();
        let hs: Vec<isize> = (0..5).map(|i| t.open(2 * i + 1, false)).collect();
        for &h in &hs {
            t.close(h).unwrap();
        }
        let closed: Vec<u32> = t.closed_handles(0).iter().map(|l| l.index).collect();
        assert_eq!(closed.len(), 5);
        t.set_closed_queue_max(1);
        // Queue is "full": the next opens take the oldest closed slots, in order.
        let a = t.open(99, false);
        let b = t.open(97, false);
        assert_eq!(decode(a).unwrap().0, closed[0]);
        assert_eq!(decode(b).unwrap().0, closed[1]);
        // Closing pushes one in and, over the maximum, one out.
        t.close(a).unwrap();
        assert_eq!(t.closed_len(), 3);
        assert_eq!(t.closed_handles(0).last().unwrap().index, decode(a).unwrap().0);
    }

    #[test]
    fn closed_queue_has_max_size() {
        let mut t = HandleTable::new();
        t.set_closed_queue_max(3);
        for i in 0..10 {
            let h = t.open(2 * i + 1, false);
            t.close(h).unwrap();
        }
        assert_eq!(t.closed_len(), 3);
        // zero-size queue: never panics, closed handles are still caught.
        let mut t = HandleTable::new();
        t.set_closed_queue_max(0);
        let h = t.open(5, false);
        t.close(h).unwrap();
        assert_eq!(t.closed_len(), 0);
        assert!(matches!(t.lookup(h), Lookup::Stale { reused: false, .. }));
    }

    #[test]
    fn epochs_select_open_handles() {
        let mut t = HandleTable::new();
        let _before = t.open(1, false);
        let e1 = t.new_epoch();
        let a = t.open(3, false);
        let b = t.open(5, false);
        let e2 = t.new_epoch();
        let c = t.open(7, false);
        t.close(b).unwrap();
        assert_eq!((e1, e2), (1, 2));
        let l1: Vec<isize> = t.open_handles(e1).iter().map(|l| l.handle).collect();
        let l2: Vec<isize> = t.open_handles(e2).iter().map(|l| l.handle).collect();
        assert_eq!(l1, vec![a, c]);
        assert_eq!(l2, vec![c]);
        assert_eq!(t.open_handles(0).len(), 3);
        assert_eq!(t.open_handles(99).len(), 0);
        assert_eq!(t.epoch_of(decode(c).unwrap().0), 2);
    }

    #[test]
    fn open_handles_keep_open_order_across_slot_reuse() {
        let mut t = HandleTable::new();
        t.set_closed_queue_max(0);
        let x = t.open(1, false);
        let y = t.open(3, false);
        t.close(x).unwrap(); // slot 0 free
        let z = t.open(5, false); // reuses slot 0 but opened last
        let order: Vec<isize> = t.open_handles(0).iter().map(|l| l.handle).collect();
        assert_eq!(order, vec![y, z]);
    }

    #[test]
    fn immortals_cannot_be_closed_and_are_not_leaks() {
        let mut t = HandleTable::new();
        let none = t.open(11, true);
        let e = t.new_epoch();
        assert!(matches!(t.close(none), Err(CloseError::Immortal(_))));
        assert!(matches!(t.lookup(none), Lookup::Immortal { uh: 11, .. }));
        assert!(t.open_handles(0).is_empty());
        assert!(t.open_handles(e).is_empty());
    }

    #[test]
    fn garbage_values_are_diagnosed_not_dereferenced() {
        let mut t = HandleTable::new();
        let h = t.open(9, false);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = x as isize;
            if v == h {
                continue;
            }
            let l = t.lookup(v);
            assert!(
                matches!(l, Lookup::NotAHandle | Lookup::Universal),
                "{:#x} -> {:?}",
                v,
                l
            );
        }
        // A generation the slot never had is garbage too.
        let (i, g) = decode(h).unwrap();
        assert_eq!(t.lookup(encode(i, g + 5)), Lookup::NotAHandle);
        assert_eq!(t.lookup(encode(i + 1, 0)), Lookup::NotAHandle);
    }

    #[test]
    fn counters_track_peak() {
        let mut t = HandleTable::new();
        let hs: Vec<isize> = (0..10).map(|i| t.open(2 * i + 1, false)).collect();
        for h in hs {
            t.close(h).unwrap();
        }
        let c = t.counters();
        assert_eq!((c.open_now, c.peak_open, c.opened_total, c.closed_total), (0, 10, 10, 10));
    }

    #[test]
    fn argument_handles_are_closed_by_the_runtime_only() {
        let mut t = HandleTable::new();
        let a = t.open_arg(21);
        assert!(matches!(t.close(a), Err(CloseError::Borrowed(_))));
        assert!(matches!(t.lookup(a), Lookup::Open { .. }), "still open after the refused close");
        assert_eq!(t.close_arg(a), Ok(21));
    }

    #[test]
    fn raw_data_is_protected_within_budget_and_released_on_reuse() {
        let mut t = HandleTable::new();
        t.raw_budget = 10;
        t.set_closed_queue_max(1);
        let data = b"0123456789abcdef";
        let open_with_raw = |t: &mut HandleTable, n: usize| {
            let h = t.open(1, false);
            let r = unsafe { RawData::copy_read_only(data.as_ptr(), n, "test") }.unwrap();
            t.extra_mut(decode(h).unwrap().0).raw.push(r);
            h
        };
        let small = open_with_raw(&mut t, 6);
        t.close(small).unwrap();
        assert_eq!(t.raw_protected_bytes(), 6);
        let big = open_with_raw(&mut t, 16); // reuses small's slot: frees its data
        assert_eq!(t.raw_protected_bytes(), 0);
        t.close(big).unwrap(); // over budget: dropped, not counted
        assert_eq!(t.raw_protected_bytes(), 0);
        // ... and its record is gone, as nothing else was in it.
        assert!(t.extra(decode(big).unwrap().0).is_none());
    }

    /// Model-based test: random sequences of open / open-argument / close /
    /// close-argument / lookup of live, closed and garbage values / new epoch /
    /// queue resizing, checked against a plain model after every step.
    #[test]
    fn random_operations_agree_with_a_simple_model() {
        use std::collections::HashMap as Map;
        struct Rng(u64);
        impl Rng {
            fn next(&mut self) -> u64 {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                self.0
            }
            fn below(&mut self, n: u64) -> u64 {
                self.next() % n
            }
        }
        #[derive(Clone, Copy, PartialEq, Debug)]
        enum M {
            Open { uh: isize, epoch: i64, serial: u64, arg: bool },
            Closed,
        }
        for seed in [1u64, 7, 42, 1234, 99991] {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
            let mut t = HandleTable::new();
            let mut model: Map<isize, M> = Map::new();
            let mut epoch = 0i64;
            let mut serial = 0u64;
            let mut next_uh = 1isize;
            let mut max_queue_seen = t.closed_queue_max;
            let mut keys: Vec<isize> = Vec::new();
            for step in 0..20_000 {
                match rng.below(100) {
                    0..=34 => {
                        let arg = rng.below(4) == 0;
                        // The inline fast path (as the API wrappers use it)
                        // or the general one.
                        let fast = if !arg && rng.below(2) == 0 { t.open_fast::<false>(next_uh, 0) } else { None };
                        let h = match fast {
                            Some(h) => h,
                            None if arg => t.open_arg(next_uh),
                            None => t.open(next_uh, false),
                        };
                        assert!(h != 0 && h & 1 == 0);
                        assert!(!matches!(model.get(&h), Some(M::Open { .. })), "step {}: live handle handed out twice", step);
                        if model.insert(h, M::Open { uh: next_uh, epoch, serial, arg }).is_none() {
                            keys.push(h);
                        }
                        serial += 1;
                        next_uh += 2;
                    }
                    35..=69 => {
                        // close a random known handle (open or closed)
                        if keys.is_empty() {
                            continue;
                        }
                        let h = keys[rng.below(keys.len() as u64) as usize];
                        let as_arg = rng.below(2) == 0;
                        // The fast path first half of the time: when it
                        // declines, nothing changed and the general path
                        // decides.
                        let fast = match rng.below(2) {
                            0 if as_arg => t.close_fast::<true>(h, 0),
                            0 => t.close_fast::<false>(h, 0),
                            _ => None,
                        };
                        let r = match fast {
                            Some(uh) => Ok(uh),
                            None if as_arg => t.close_arg(h),
                            None => t.close(h),
                        };
                        match model[&h] {
                            M::Open { uh, arg, .. } if as_arg || !arg => {
                                assert_eq!(r, Ok(uh), "step {}", step);
                                model.insert(h, M::Closed);
                            }
                            M::Open { .. } => assert!(matches!(r, Err(CloseError::Borrowed(_))), "step {}: {:?}", step, r),
                            M::Closed => assert!(matches!(r, Err(CloseError::Invalid(_))), "step {}: {:?}", step, r),
                        }
                    }
                    70..=84 => {
                        // lookup: a known handle, or a random value
                        let v = if !keys.is_empty() && rng.below(2) == 0 {
                            keys[rng.below(keys.len() as u64) as usize]
                        } else {
                            rng.next() as isize
                        };
                        let l = t.lookup(v);
                        match model.get(&v) {
                            Some(M::Open { uh, .. }) => assert!(matches!(l, Lookup::Open { uh: u, .. } if u == *uh), "step {}", step),
                            Some(M::Closed) => assert!(matches!(l, Lookup::Closed { .. } | Lookup::Stale { .. }), "step {}: {:?}", step, l),
                            None => assert!(!matches!(l, Lookup::Open { .. } | Lookup::Immortal { .. }), "step {}: garbage {:#x} found open", step, v),
                        }
                        assert_eq!(t.get_open(v).is_some(), matches!(model.get(&v), Some(M::Open { .. })));
                    }
                    85..=90 => {
                        epoch = t.new_epoch();
                    }
                    91..=92 => {
                        // Stack traces / a going-on policy switch the fast
                        // paths off and on.
                        t.set_slow_paths(rng.below(2) == 0);
                    }
                    _ => {
                        let n = [0usize, 1, 3, 16, 1024][rng.below(5) as usize];
                        t.set_closed_queue_max(n);
                        max_queue_seen = max_queue_seen.max(n);
                    }
                }
                // invariants, checked every few steps (listing is O(table))
                if step % 97 == 0 || step < 200 {
                    let open_now = model.values().filter(|m| matches!(m, M::Open { .. })).count();
                    assert_eq!(t.counters().open_now, open_now, "step {}", step);
                    let mut open: Vec<(isize, i64, u64)> = model
                        .iter()
                        .filter_map(|(h, m)| match m {
                            M::Open { epoch, serial, .. } => Some((*h, *epoch, *serial)),
                            M::Closed => None,
                        })
                        .collect();
                    open.sort_by_key(|x| x.2);
                    for e in [0, epoch / 2, epoch.saturating_sub(1), epoch, epoch + 1] {
                        let want: Vec<isize> = open.iter().filter(|x| x.1 >= e).map(|x| x.0).collect();
                        let got: Vec<isize> = t.open_handles(e).iter().map(|l| l.handle).collect();
                        assert_eq!(got, want, "step {}, epoch {}", step, e);
                    }
                    assert!(t.closed_len() <= max_queue_seen, "step {}", step);
                    for l in t.closed_handles(0) {
                        assert_eq!(model.get(&l.handle), Some(&M::Closed), "step {}", step);
                    }
                }
            }
        }
    }

    #[test]
    fn slot_is_small() {
        assert!(std::mem::size_of::<Slot>() <= 32);
    }
}
