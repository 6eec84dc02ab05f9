//! Sites: where handles are opened and closed, as a small number per slot.
//!
//! What identifies a site cheaply, on every open and close, is the return
//! address into the extension (the instruction after its call of the API
//! function) and the instruction the innermost Python frame is executing
//! (`py`: its address / 2, instructions being 2-byte units, as
//! `func::call::site_here` keeps it).
//! The pair is looked up first in the memo of the API wrapper making the
//! call (its last pair: two compares, no hashing), then in a direct-mapped
//! cache (two compares on a hit), then in a map; a pair seen for the first time becomes a new site, and
//! only then is the full stack captured and the Python line worked out.
//! Symbolising the stack (inlined frames included) waits until a report
//! needs it, and is done once per site.
//!
//! Id 0 is "no site" (attribution off, or the table is full).

use std::cell::Cell;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use pyo3::ffi;

use crate::base::pyframe::PyLocation;
use crate::base::stacktrace::{Site, Trace};

/// Direct-mapped cache entries (a power of two).
const CACHE_SIZE: usize = 4096;
/// Distinct sites remembered; beyond, new ones are "no site".
pub const MAX_SITES: usize = 1 << 20;


/// The last `(ra, py) -> id` pair an API wrapper recorded.  A loop that
/// calls one API from one place hits it every time, with no hashing and no
/// table; other calls fall back to the cache.  The pair -> id mapping is
/// global, so any memo may hold any pair: one per wrapper only makes hits
/// likely.  Starts as `(0, 0) -> 0`, which is right (`(0, 0)` has no site).
pub struct SiteMemo {
    ra: Cell<usize>,
    py: Cell<usize>,
    id: Cell<u32>,
}

// Read and written only by the thread holding the GIL: the wrappers' fast
// paths, after the context check proved it.
unsafe impl Sync for SiteMemo {}

impl Default for SiteMemo {
    fn default() -> Self {
        Self::new()
    }
}

impl SiteMemo {
    pub const fn new() -> Self {
        SiteMemo { ra: Cell::new(0), py: Cell::new(0), id: Cell::new(0) }
    }

    #[inline(always)]
    pub fn get(&self, ra: usize, py: usize) -> Option<u32> {
        if self.ra.get() != ra {
            return None;
        }
        // Read only once the first word matched (volatile: otherwise the
        // compiler loads both and merges the compares, two instructions
        // more on a hit).
        if unsafe { self.py.as_ptr().read_volatile() } != py {
            return None;
        }
        Some(self.id.get())
    }

    #[inline(always)]
    pub fn set(&self, ra: usize, py: usize, id: u32) {
        self.ra.set(ra);
        self.py.set(py);
        self.id.set(id);
    }
}

/// One site.
pub struct SiteInfo {
    /// Return address into the extension (0: unknown).
    pub ra: usize,
    /// The innermost Python frame (outside importlib and hpydbg), if any.
    pub python: Option<PyLocation>,
    /// The stack when the site was first seen (hpydbg's own frames left out).
    pub trace: Option<Trace>,
    /// `trace.site()`, worked out on first use.
    resolved: Option<Option<Site>>,
}

impl SiteInfo {
    /// Where the extension made the call (symbolised once).
    pub fn site(&mut self) -> Option<Site> {
        if self.resolved.is_none() {
            self.resolved = Some(self.trace.as_ref().and_then(|t| t.site()));
        }
        self.resolved.clone().flatten()
    }
}

pub struct SiteTable {
    /// The cache, as one array per field: entry `i` is `(ras[i], pys[i])
    /// -> ids[i]`, each reached with the index scaled in the address (no
    /// multiply, no pointer kept).
    ras: [usize; CACHE_SIZE],
    pys: [usize; CACHE_SIZE],
    ids: [u32; CACHE_SIZE],
    map: HashMap<(usize, usize), u32, BuildHasherDefault<DefaultHasher>>,
    /// `sites[id - 1]`.
    sites: Vec<SiteInfo>,
    /// Code objects of the Python locations, kept alive so that their
    /// instructions' addresses stay unique.
    codes: Vec<usize>,
}

impl Default for SiteTable {
    fn default() -> Self {
        Self::new()
    }
}

impl SiteTable {
    pub const fn new() -> Self {
        SiteTable { ras: [0; CACHE_SIZE], pys: [0; CACHE_SIZE], ids: [0; CACHE_SIZE], map: HashMap::with_hasher(BuildHasherDefault::new()), sites: Vec::new(), codes: Vec::new() }
    }
}

#[inline(always)]
fn slot_of(ra: usize, py: usize) -> usize {
    // Call sites in the extension differ in their low bits, and so do
    // Python instructions: their low bits are enough.
    (ra ^ py) & (CACHE_SIZE - 1)
}

impl SiteTable {
    /// The site of `(ra, py)` if the cache holds it (an empty entry
    /// matches only `(0, 0)`, whose site is "none" anyway).
    #[inline(always)]
    pub fn cached(&self, ra: usize, py: usize) -> Option<u32> {
        // In bounds: `slot_of` masks with CACHE_SIZE - 1.
        let i = slot_of(ra, py);
        unsafe {
            if *self.ras.get_unchecked(i) == ra && *self.pys.get_unchecked(i) == py {
                return Some(*self.ids.get_unchecked(i));
            }
        }
        None
    }

    /// The site of `(ra, py)` if it exists (and cache it).
    pub fn find(&mut self, ra: usize, py: usize) -> Option<u32> {
        let id = *self.map.get(&(ra, py))?;
        self.remember(ra, py, id);
        Some(id)
    }

    fn remember(&mut self, ra: usize, py: usize, id: u32) {
        let i = slot_of(ra, py);
        self.ras[i] = ra;
        self.pys[i] = py;
        self.ids[i] = id;
    }

    /// Add a new site; `code` is a new reference to the Python location's
    /// code object (kept).  0 when the table is full.
    pub fn insert(&mut self, ra: usize, py: usize, python: Option<PyLocation>, code: *mut ffi::PyObject, trace: Option<Trace>) -> u32 {
        if self.sites.len() >= MAX_SITES {
            if !code.is_null() {
                unsafe { ffi::Py_DecRef(code) };
            }
            return 0;
        }
        if !code.is_null() {
            self.codes.push(code as usize);
        }
        self.sites.push(SiteInfo { ra, python, trace, resolved: None });
        let id = self.sites.len() as u32;
        self.map.insert((ra, py), id);
        self.remember(ra, py, id);
        id
    }

    pub fn get(&self, id: u32) -> Option<&SiteInfo> {
        self.sites.get((id as usize).checked_sub(1)?)
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut SiteInfo> {
        self.sites.get_mut((id as usize).checked_sub(1)?)
    }

    pub fn len(&self) -> usize {
        self.sites.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// Bytes held (for the memory figures).
    pub fn heap_bytes(&self) -> usize {
        CACHE_SIZE * (8 + 8 + 4)
            + self.map.capacity() * 24
            + self.sites.capacity() * std::mem::size_of::<SiteInfo>()
            + self.sites.iter().map(|s| s.trace.as_ref().map_or(0, |t| t.ips().len() * 8)).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_interned_once_and_cached() {
        let mut t = SiteTable::new();
        assert_eq!(t.cached(10, 20), None);
        assert_eq!(t.find(10, 20), None);
        let a = t.insert(10, 20, None, std::ptr::null_mut(), None);
        let b = t.insert(10, 22, None, std::ptr::null_mut(), None);
        assert!(a != 0 && b != 0 && a != b);
        assert_eq!(t.cached(10, 20), Some(a));
        assert_eq!(t.find(10, 22), Some(b));
        // Colliding pairs evict each other from the cache, not from the map.
        for i in 0..10_000usize {
            t.insert(1000 + i, i, None, std::ptr::null_mut(), None);
        }
        assert_eq!(t.find(10, 20), Some(a));
        assert_eq!(t.get(a).unwrap().ra, 10);
        assert!(t.get(0).is_none());
    }

    #[test]
    fn memo_holds_one_pair() {
        let m = SiteMemo::new();
        assert_eq!(m.get(0, 0), Some(0), "the empty memo is (0, 0) -> no site");
        assert_eq!(m.get(10, 20), None);
        m.set(10, 20, 7);
        assert_eq!(m.get(10, 20), Some(7));
        assert_eq!(m.get(10, 22), None, "another Python instruction");
        assert_eq!(m.get(11, 20), None, "another call site");
        m.set(11, 20, 8);
        assert_eq!(m.get(10, 20), None);
        assert_eq!(m.get(11, 20), Some(8));
    }
}
