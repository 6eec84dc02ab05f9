//! What hpydbg knows about `HPyField` and `HPyGlobal` values.
//!
//! Their values are the universal context's own (a tagged object pointer
//! on CPython), and the runtime reads fields itself (traverse), so they
//! cannot be replaced by debug values as handles are.  Instead every value
//! that `HPyField_Store` / `HPyGlobal_Store` wrote is remembered with the
//! address it was written to (and, for fields, the object it was stored
//! through): a value to load is valid only if it is found there, so a
//! garbage value is recognised without being dereferenced.
//!
//! A field's record is replaced by the next store at that address; a
//! record whose object died stays until then (its address is found
//! holding another value, so it validates nothing).  Globals live as long
//! as their module.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Multiplicative hashing of addresses (SipHash is more than keys from our
/// own process need).
#[derive(Default)]
pub struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64 ^ (n as u64 >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_isize(&mut self, n: isize) {
        self.write_usize(n as usize)
    }
}

type Map<K, V> = HashMap<K, V, BuildHasherDefault<AddrHasher>>;

/// A field as `HPyField_Store` left it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FieldRec {
    /// The object it was stored through (its address).
    pub owner: usize,
    pub value: isize,
    /// An HPyField_Store of ours is writing it right now: what the memory
    /// holds is right (a finalizer the store triggers may load it).
    pub storing: bool,
}

impl FieldRec {
    /// Whether a field at this record's address holding `v` was written by
    /// our stores.
    pub fn vouches_for(&self, v: isize) -> bool {
        self.storing || self.value == v
    }
}

pub struct FieldTable {
    /// Field records by address: an index into `recs` (records are
    /// replaced, never removed), with the last address looked up cached in
    /// front of the map: a store, its load and the next store of one field
    /// (a loop) then cost a compare each instead of a hash lookup.
    index: Map<usize, u32>,
    recs: Vec<(usize, FieldRec)>,
    last: std::cell::Cell<(usize, u32)>,
    globals: Map<usize, isize>,
    /// Values held by globals, and by how many.
    global_values: Map<isize, u32>,
    /// (type, offset of the field in the object) whose `tp_traverse`
    /// contract was checked (`func::traverse`): once each.
    traverse_checked: Map<(usize, usize), ()>,
    /// The last pair asked about (a loop storing one field asks again and
    /// again): one compare instead of a hash lookup.
    last_checked: (usize, usize),
}

impl Default for FieldTable {
    fn default() -> Self {
        Self::new()
    }
}

impl FieldTable {
    pub const fn new() -> Self {
        FieldTable {
            index: HashMap::with_hasher(BuildHasherDefault::new()),
            recs: Vec::new(),
            last: std::cell::Cell::new((0, 0)),
            globals: HashMap::with_hasher(BuildHasherDefault::new()),
            global_values: HashMap::with_hasher(BuildHasherDefault::new()),
            traverse_checked: HashMap::with_hasher(BuildHasherDefault::new()),
            last_checked: (0, 0),
        }
    }

    /// The index of the record at `addr` (0 is never a field's address).
    #[inline]
    fn find(&self, addr: usize) -> Option<usize> {
        let (a, i) = self.last.get();
        if a == addr && addr != 0 {
            return Some(i as usize);
        }
        let i = *self.index.get(&addr)?;
        self.last.set((addr, i));
        Some(i as usize)
    }

    /// The record at `addr`, made if there is none (an empty field's).
    fn find_or_add(&mut self, addr: usize, owner: usize) -> usize {
        if let Some(i) = self.find(addr) {
            return i;
        }
        let i = self.recs.len();
        self.recs.push((addr, FieldRec { owner, value: 0, storing: false }));
        self.index.insert(addr, i as u32);
        self.last.set((addr, i as u32));
        i
    }

    pub fn field(&self, addr: usize) -> Option<FieldRec> {
        self.find(addr).map(|i| self.recs[i].1)
    }

    /// An `HPyField_Store` through `owner` is about to write at `addr`,
    /// which holds `old`: whether our stores wrote `old` there (an empty
    /// field is always right); the record is marked as being stored.
    pub fn storing_field(&mut self, addr: usize, owner: usize, old: isize) -> bool {
        let i = self.find_or_add(addr, owner);
        let r = &mut self.recs[i].1;
        let ok = old == 0 || r.vouches_for(old);
        *r = FieldRec { owner, value: r.value, storing: true };
        ok
    }

    /// The store `storing_field` announced is not made (refused by policy).
    pub fn store_abandoned(&mut self, addr: usize) {
        if let Some(i) = self.find(addr) {
            self.recs[i].1.storing = false;
        }
    }

    /// `HPyField_Store` wrote `value` at `addr` through `owner`.
    pub fn stored_field(&mut self, addr: usize, owner: usize, value: isize) {
        let i = self.find_or_add(addr, owner);
        self.recs[i].1 = FieldRec { owner, value, storing: false };
    }

    /// Records holding `value` (the slow path of a failed load).
    pub fn fields_holding(&self, value: isize) -> Vec<(usize, FieldRec)> {
        self.recs.iter().filter(|(_, r)| r.value == value).copied().collect()
    }

    pub fn global(&self, addr: usize) -> Option<isize> {
        self.globals.get(&addr).copied()
    }

    /// Whether some global holds `value` (as `HPyGlobal_Store` left it).
    pub fn global_holds(&self, value: isize) -> bool {
        value != 0 && self.global_values.contains_key(&value)
    }

    /// `HPyGlobal_Store` wrote `value` at `addr`.
    pub fn stored_global(&mut self, addr: usize, value: isize) {
        if let Some(old) = self.globals.insert(addr, value) {
            if let Some(n) = self.global_values.get_mut(&old) {
                *n -= 1;
                if *n == 0 {
                    self.global_values.remove(&old);
                }
            }
        }
        if value != 0 {
            *self.global_values.entry(value).or_insert(0) += 1;
        }
    }

    /// Whether this is the first store into the field at `offset` of an
    /// object of type `tp` (the caller then checks the traverse contract).
    /// The (type, offset) pair `first_traverse_check` saw last.
    #[inline(always)]
    pub fn last_traverse_check(&self) -> (usize, usize) {
        self.last_checked
    }

    #[inline]
    pub fn first_traverse_check(&mut self, tp: usize, offset: usize) -> bool {
        if self.last_checked == (tp, offset) {
            return false;
        }
        self.last_checked = (tp, offset);
        self.traverse_checked.insert((tp, offset), ()).is_none()
    }

    pub fn counts(&self) -> (usize, usize) {
        (self.recs.len(), self.globals.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globals_count_their_values() {
        let mut t = FieldTable::new();
        assert!(!t.global_holds(0x101));
        t.stored_global(0x1000, 0x101);
        t.stored_global(0x2000, 0x101);
        assert!(t.global_holds(0x101));
        t.stored_global(0x1000, 0x201);
        assert!(t.global_holds(0x101), "one global still holds it");
        t.stored_global(0x2000, 0);
        assert!(!t.global_holds(0x101));
        assert!(t.global_holds(0x201));
        assert!(!t.global_holds(0), "an empty global holds nothing");
        assert_eq!(t.global(0x2000), Some(0));
        assert_eq!(t.global(0x3000), None);
    }

    #[test]
    fn fields_by_address_and_value() {
        let mut t = FieldTable::new();
        t.stored_field(0x5010, 0x5000, 0x701);
        t.stored_field(0x6010, 0x6000, 0x701);
        assert_eq!(t.field(0x5010), Some(FieldRec { owner: 0x5000, value: 0x701, storing: false }));
        let mut h = t.fields_holding(0x701);
        h.sort_by_key(|&(a, _)| a);
        assert_eq!(h, vec![(0x5010, FieldRec { owner: 0x5000, value: 0x701, storing: false }), (0x6010, FieldRec { owner: 0x6000, value: 0x701, storing: false })]);
        t.stored_field(0x5010, 0x5000, 0x801);
        assert_eq!(t.fields_holding(0x701).len(), 1);
        assert!(t.storing_field(0x5010, 0x5000, 0x801), "our store wrote it");
        let r = t.field(0x5010).unwrap();
        assert!(r.vouches_for(0x999) && r.vouches_for(0x801), "during the store, memory is right");
        t.stored_field(0x5010, 0x5000, 0x901);
        let r = t.field(0x5010).unwrap();
        assert!(r.vouches_for(0x901) && !r.vouches_for(0x801));
        assert_eq!(t.field(0x7010), None);
        assert!(!t.storing_field(0x7010, 0x7000, 0x123), "garbage in a field never stored");
        assert!(t.storing_field(0x8010, 0x8000, 0), "an empty field");
        t.stored_field(0x5010, 0x5000, 0xa01);
        assert!(!t.storing_field(0x5010, 0x5000, 0xb01), "not what our store wrote");
    }
}
