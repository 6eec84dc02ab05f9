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
    fields: Map<usize, FieldRec>,
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
            fields: HashMap::with_hasher(BuildHasherDefault::new()),
            globals: HashMap::with_hasher(BuildHasherDefault::new()),
            global_values: HashMap::with_hasher(BuildHasherDefault::new()),
            traverse_checked: HashMap::with_hasher(BuildHasherDefault::new()),
            last_checked: (0, 0),
        }
    }

    pub fn field(&self, addr: usize) -> Option<FieldRec> {
        self.fields.get(&addr).copied()
    }

    /// An `HPyField_Store` through `owner` is about to write at `addr`.
    pub fn storing_field(&mut self, addr: usize, owner: usize) {
        let value = self.fields.get(&addr).map_or(0, |r| r.value);
        self.fields.insert(addr, FieldRec { owner, value, storing: true });
    }

    /// `HPyField_Store` wrote `value` at `addr` through `owner`.
    pub fn stored_field(&mut self, addr: usize, owner: usize, value: isize) {
        self.fields.insert(addr, FieldRec { owner, value, storing: false });
    }

    /// Records holding `value` (the slow path of a failed load).
    pub fn fields_holding(&self, value: isize) -> Vec<(usize, FieldRec)> {
        self.fields.iter().filter(|(_, r)| r.value == value).map(|(&a, &r)| (a, r)).collect()
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
        (self.fields.len(), self.globals.len())
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
        t.storing_field(0x5010, 0x5000);
        let r = t.field(0x5010).unwrap();
        assert!(r.vouches_for(0x999) && r.vouches_for(0x801), "during the store, memory is right");
        t.stored_field(0x5010, 0x5000, 0x901);
        let r = t.field(0x5010).unwrap();
        assert!(r.vouches_for(0x901) && !r.vouches_for(0x801));
        assert_eq!(t.field(0x7010), None);
    }
}
