//! The builtin shape of types, cached for `_HPy_AsStruct_*` (whose shape
//! check would otherwise cost three calls into the universal context:
//! HPy_Type, _HPyType_GetBuiltinShape, HPy_Close).
//!
//! CPython only (the object's type is read in place).  A type's shape is
//! fixed when it is created, so an entry stays right for as long as its type
//! lives; a weak reference to the type says that it does (a type that died
//! leaves its weak reference pointing at None, so a new type at the same
//! address is never taken for it), and keeps nothing alive.  Direct-mapped
//! by type address; entries are touched under the GIL only.

use pyo3::ffi;

use crate::abi::HPyType_BuiltinShape;
use crate::base::sync::GilLock;

const SIZE: usize = 16;

#[derive(Copy, Clone)]
struct Entry {
    ty: usize,
    /// A new reference to a weak reference to `ty` (0: empty entry).
    weak: usize,
    shape: HPyType_BuiltinShape,
}

pub struct ShapeCache {
    entries: [Entry; SIZE],
}

pub static SHAPES: GilLock<ShapeCache> = GilLock::new(ShapeCache { entries: [Entry { ty: 0, weak: 0, shape: 0 }; SIZE] });

#[inline(always)]
fn slot_of(ty: usize) -> usize {
    // Type objects are 16-byte aligned and hundreds of bytes apart.
    (ty >> 4) & (SIZE - 1)
}

/// `offsetof(PyWeakReference, wr_object)`: right after the object header
/// (the same from 3.8 to 3.13); None once the referent died.
const WR_OBJECT: usize = 16;

impl ShapeCache {
    /// The shape of type `ty` (a type's address, not 0: empty entries
    /// have 0) if cached and `ty` is still the type cached.
    #[inline(always)]
    pub fn get(&self, ty: usize) -> Option<HPyType_BuiltinShape> {
        let e = &self.entries[slot_of(ty)];
        // An entry with a type has its weak reference (`put`).
        if e.ty == ty && unsafe { *((e.weak + WR_OBJECT) as *const usize) } == ty {
            Some(e.shape)
        } else {
            None
        }
    }

    /// Remember `ty`'s shape; the caller holds the GIL and no exception is
    /// pending (making the weak reference may fail: then nothing is kept).
    pub fn put(&mut self, ty: usize, shape: HPyType_BuiltinShape) {
        let e = &mut self.entries[slot_of(ty)];
        let weak = unsafe { ffi::PyWeakref_NewRef(ty as *mut ffi::PyObject, std::ptr::null_mut()) } as usize;
        if weak == 0 {
            unsafe { ffi::PyErr_Clear() };
        }
        // No weak reference, no entry (`get` relies on it).
        let new = if weak == 0 { Entry { ty: 0, weak: 0, shape: 0 } } else { Entry { ty, weak, shape } };
        let old = std::mem::replace(e, new);
        if old.weak != 0 {
            // A weak reference has no finaliser that could run Python code.
            unsafe { ffi::Py_DecRef(old.weak as *mut ffi::PyObject) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_cache_knows_nothing() {
        let c = ShapeCache { entries: [Entry { ty: 0, weak: 0, shape: 0 }; SIZE] };
        assert_eq!(c.get(0x1000), None);
        assert_eq!(c.get(0x1010), None);
    }
}
