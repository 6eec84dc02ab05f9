//! Tuple/list builders and trackers: auxiliary handles with the same
//! index + generation encoding as object handles (one state bit under the
//! generation instead of two), so a builder used after `Build`/`Cancel` or a
//! tracker used after `Close` is recognised at any distance, and garbage is
//! never dereferenced.  Like handles, each records the leak-detector epoch
//! and (with stack traces on) the site where it was opened, so that one
//! left open is listed as a leak of its own kind.

use crate::base::stacktrace::Trace;
use crate::tables::handles::{aux_index, pack, unpack};

/// Builder and tracker handles; the slot key is `generation << 1 | open`.
fn encode(index: u32, gen: u32) -> isize {
    pack(index, gen & 0x7fff_ffff, 1)
}

fn decode(h: isize) -> Option<(u32, u32)> {
    unpack(h, 1)
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AuxKind {
    TupleBuilder,
    ListBuilder,
    Tracker,
}

impl AuxKind {
    /// Index in `AuxTables::last` (builders only).
    #[inline(always)]
    fn builder_index(self) -> Option<usize> {
        match self {
            AuxKind::TupleBuilder => Some(0),
            AuxKind::ListBuilder => Some(1),
            AuxKind::Tracker => None,
        }
    }

    pub fn what(self) -> &'static str {
        match self {
            AuxKind::TupleBuilder => "HPyTupleBuilder",
            AuxKind::ListBuilder => "HPyListBuilder",
            AuxKind::Tracker => "HPyTracker",
        }
    }

    /// The `kind` of a leak listing (`open_handles()`, LeakDetector).
    pub fn leak_kind(self) -> &'static str {
        match self {
            AuxKind::TupleBuilder => "tuple builder",
            AuxKind::ListBuilder => "list builder",
            AuxKind::Tracker => "tracker",
        }
    }
}

/// An open builder or tracker, as listed for leak detection.
#[derive(Clone, Debug)]
pub struct AuxListed {
    pub index: u32,
    pub handle: isize,
    pub kind: AuxKind,
}

struct AuxSlot {
    /// `generation << 1 | open`, as `handles::Slot::key`.
    key: u32,
    kind: AuxKind,
    /// The universal builder (builders only).
    ub: isize,
    /// Debug handles added to a tracker; kept allocated for reuse.
    tracked: Vec<isize>,
    /// Leak-detector epoch at `open`, and where it was opened.
    epoch: i64,
    opened_at: Option<Trace>,
    /// Where it was opened: an id of the site table (0 unknown).
    site: u32,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AuxError {
    /// It was valid once, and has been built, cancelled or closed since.
    Closed,
    /// A live value of another kind (e.g. a tracker passed as a builder).
    WrongKind(AuxKind),
    NotAHandle,
}

#[derive(Default)]
pub struct AuxTables {
    slots: Vec<AuxSlot>,
    free: Vec<u32>,
    pub closed_total: u64,
    /// The last live builder of each kind (handle, universal builder):
    /// `Set` is called once per item on the same builder, and a handle
    /// value is never handed out twice, so one compare validates it.
    /// Cleared to `(0, 0)` when that builder is closed: the null builder,
    /// which stands for a failed `New` and maps to the universal null one
    /// on the full path too.
    last: [(isize, isize); 2],
}

const NO_BUILDER: isize = 0;

impl AuxTables {
    pub const fn new() -> Self {
        AuxTables { slots: Vec::new(), free: Vec::new(), closed_total: 0, last: [(NO_BUILDER, 0); 2] }
    }

    /// Open a builder (universal builder `ub`) or tracker in leak-detector
    /// `epoch`, opened at `trace` when stack traces are on.
    pub fn open(&mut self, kind: AuxKind, ub: isize, epoch: i64, trace: Option<Trace>) -> isize {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(AuxSlot { key: (u32::MAX >> 1) << 1, kind, ub: 0, tracked: Vec::new(), epoch: 0, opened_at: None, site: 0 });
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[index as usize];
        // Not open here: the key is even; the next generation, open.
        s.key = s.key.wrapping_add(2) | 1;
        s.kind = kind;
        s.ub = ub;
        s.tracked.clear();
        s.epoch = epoch;
        s.opened_at = trace;
        s.site = 0;
        let h = encode(index, s.key >> 1);
        if let Some(k) = kind.builder_index() {
            self.last[k] = (h, ub);
        }
        h
    }

    fn slot(&mut self, h: isize, kind: AuxKind) -> Result<&mut AuxSlot, AuxError> {
        let (index, gen) = decode(h).ok_or(AuxError::NotAHandle)?;
        let s = self.slots.get_mut(index as usize).ok_or(AuxError::NotAHandle)?;
        if gen > s.key >> 1 {
            return Err(AuxError::NotAHandle);
        }
        if s.key != (gen << 1) | 1 {
            return Err(AuxError::Closed);
        }
        if s.kind != kind {
            return Err(AuxError::WrongKind(s.kind));
        }
        Ok(s)
    }

    /// The universal builder behind a live builder handle of `kind`, in one
    /// compare (`None`: ask `builder` why not).
    #[inline(always)]
    pub fn builder_fast(&self, h: isize, kind: AuxKind) -> Option<isize> {
        if let Some(k) = kind.builder_index() {
            let (lh, lub) = self.last[k];
            if h == lh {
                return Some(lub);
            }
        }
        let s = self.slots.get(aux_index(h))?;
        if s.key == (h as u32) ^ 1 && s.kind == kind {
            Some(s.ub)
        } else {
            None
        }
    }

    /// The universal builder behind a live builder handle.
    pub fn builder(&mut self, h: isize, kind: AuxKind) -> Result<isize, AuxError> {
        self.slot(h, kind).map(|s| s.ub)
    }

    /// Close a builder (after Build/Cancel) or tracker; returns the universal
    /// builder and, for trackers, the handles it held.
    pub fn close(&mut self, h: isize, kind: AuxKind, tracked_out: &mut Vec<isize>) -> Result<isize, AuxError> {
        if let Some(k) = kind.builder_index() {
            if self.last[k].0 == h {
                self.last[k] = (NO_BUILDER, 0);
            }
        }
        let s = self.slot(h, kind)?;
        s.key &= !1;
        let ub = s.ub;
        if !s.tracked.is_empty() {
            tracked_out.extend(s.tracked.drain(..));
        }
        // `slot` succeeded, so `h` decodes.
        self.free.push(aux_index(h) as u32);
        self.closed_total += 1;
        Ok(ub)
    }

    pub fn track(&mut self, h: isize, item: isize) -> Result<(), AuxError> {
        self.slot(h, AuxKind::Tracker)?.tracked.push(item);
        Ok(())
    }

    pub fn forget_all(&mut self, h: isize) -> Result<(), AuxError> {
        self.slot(h, AuxKind::Tracker)?.tracked.clear();
        Ok(())
    }

    pub fn open_count(&self) -> usize {
        self.slots.iter().filter(|s| s.key & 1 != 0).count()
    }

    /// Builders and trackers open now that were opened in `epoch` or later.
    pub fn open_list(&self, epoch: i64) -> Vec<AuxListed> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.key & 1 != 0 && s.epoch >= epoch)
            .map(|(i, s)| AuxListed { index: i as u32, handle: encode(i as u32, s.key >> 1), kind: s.kind })
            .collect()
    }

    /// Whether the builder or tracker listed as `handle` is still open.
    pub fn is_open(&self, handle: isize) -> bool {
        let Some((index, gen)) = decode(handle) else { return false };
        self.slots.get(index as usize).is_some_and(|s| s.key == (gen << 1) | 1)
    }

    /// Record the site (see `tables::sites`) where `h`, just opened, was.
    pub fn set_site(&mut self, h: isize, site: u32) {
        if let Some((index, _)) = decode(h) {
            if let Some(s) = self.slots.get_mut(index as usize) {
                s.site = site;
            }
        }
    }

    /// The site id where slot `index` was opened (0 unknown).
    pub fn site_of(&self, index: u32) -> u32 {
        self.slots.get(index as usize).map_or(0, |s| s.site)
    }

    /// (epoch, where it was opened, handles it tracks) of slot `index`.
    pub fn origin(&self, index: u32) -> Option<(i64, Option<Trace>, usize)> {
        self.slots.get(index as usize).map(|s| (s.epoch, s.opened_at.clone(), s.tracked.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_after_build_is_closed_even_after_reuse() {
        let mut t = AuxTables::default();
        let mut out = Vec::new();
        let b = t.open(AuxKind::TupleBuilder, 77, 0, None);
        assert_eq!(t.builder(b, AuxKind::TupleBuilder), Ok(77));
        assert_eq!(t.close(b, AuxKind::TupleBuilder, &mut out), Ok(77));
        let b2 = t.open(AuxKind::TupleBuilder, 78, 0, None); // same slot, next generation
        assert_ne!(b, b2);
        assert_eq!(t.builder(b, AuxKind::TupleBuilder), Err(AuxError::Closed));
        assert_eq!(t.builder(b2, AuxKind::TupleBuilder), Ok(78));
        assert_eq!(t.builder(b2, AuxKind::ListBuilder), Err(AuxError::WrongKind(AuxKind::TupleBuilder)));
        assert_eq!(t.builder(12345, AuxKind::ListBuilder), Err(AuxError::NotAHandle));
    }

    #[test]
    fn builder_cache_never_validates_a_closed_or_other_builder() {
        let mut t = AuxTables::default();
        let mut out = Vec::new();
        let a = t.open(AuxKind::TupleBuilder, 10, 0, None);
        let b = t.open(AuxKind::TupleBuilder, 11, 0, None); // now the cached one
        assert_eq!(t.builder_fast(b, AuxKind::TupleBuilder), Some(11));
        assert_eq!(t.builder_fast(a, AuxKind::TupleBuilder), Some(10), "uncached, still live");
        assert_eq!(t.builder_fast(b, AuxKind::ListBuilder), None, "the cache is per kind");
        t.close(b, AuxKind::TupleBuilder, &mut out).unwrap();
        assert_eq!(t.builder_fast(b, AuxKind::TupleBuilder), None, "closed: not from the cache");
        assert_eq!(t.builder(b, AuxKind::TupleBuilder), Err(AuxError::Closed));
        let c = t.open(AuxKind::TupleBuilder, 12, 0, None); // reuses b's slot
        assert_ne!(c, b);
        assert_eq!(t.builder_fast(b, AuxKind::TupleBuilder), None);
        assert_eq!(t.builder_fast(c, AuxKind::TupleBuilder), Some(12));
        // The null builder (a failed New) is the universal null one either way.
        assert!(matches!(t.builder_fast(0, AuxKind::TupleBuilder), None | Some(0)));
        t.close(c, AuxKind::TupleBuilder, &mut out).unwrap();
        assert_eq!(t.builder_fast(0, AuxKind::TupleBuilder), Some(0));
        assert_eq!(t.builder_fast(c, AuxKind::TupleBuilder), None);
        assert_eq!(t.builder_fast(1, AuxKind::TupleBuilder), None);
    }

    #[test]
    fn tracker_hands_back_its_handles() {
        let mut t = AuxTables::default();
        let tr = t.open(AuxKind::Tracker, 0, 0, None);
        t.track(tr, 10).unwrap();
        t.track(tr, 12).unwrap();
        let mut out = Vec::new();
        t.close(tr, AuxKind::Tracker, &mut out).unwrap();
        assert_eq!(out, vec![10, 12]);
        assert_eq!(t.track(tr, 14), Err(AuxError::Closed));
        let tr2 = t.open(AuxKind::Tracker, 0, 0, None);
        t.track(tr2, 1).unwrap();
        t.forget_all(tr2).unwrap();
        out.clear();
        t.close(tr2, AuxKind::Tracker, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn open_builders_and_trackers_are_listed_by_epoch() {
        let mut t = AuxTables::default();
        let mut out = Vec::new();
        let a = t.open(AuxKind::TupleBuilder, 5, 0, None);
        let b = t.open(AuxKind::ListBuilder, 6, 1, None);
        let c = t.open(AuxKind::Tracker, 0, 2, None);
        let kinds = |l: Vec<AuxListed>| l.into_iter().map(|x| (x.handle, x.kind)).collect::<Vec<_>>();
        assert_eq!(kinds(t.open_list(0)), vec![(a, AuxKind::TupleBuilder), (b, AuxKind::ListBuilder), (c, AuxKind::Tracker)]);
        assert_eq!(kinds(t.open_list(2)), vec![(c, AuxKind::Tracker)]);
        t.close(b, AuxKind::ListBuilder, &mut out).unwrap();
        assert!(!t.is_open(b) && t.is_open(a));
        assert_eq!(kinds(t.open_list(1)), vec![(c, AuxKind::Tracker)]);
        let d = t.open(AuxKind::TupleBuilder, 7, 3, None); // reuses b's slot
        assert!(!t.is_open(b), "a listing of the old builder does not see the new one");
        assert_eq!(t.origin(1).map(|o| o.0), Some(3));
        assert_eq!(kinds(t.open_list(3)), vec![(d, AuxKind::TupleBuilder)]);
    }
}
