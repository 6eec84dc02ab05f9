//! `HPyField_Store/Load` and `HPyGlobal_Store/Load`, checked against what
//! hpydbg's own stores wrote (`tables::fields`):
//! - a field belongs to the object whose memory holds it: a Store through
//!   another object, or a Load through an object that does not hold the
//!   value in one of its stored fields, is `field-wrong-owner`;
//! - a field or global value that no Store of ours wrote (never stored,
//!   garbage, HPyField_NULL) is `field-not-stored` / `global-not-stored`,
//!   and the Load is refused: the universal context would dereference it;
//! - a Store into memory that holds such a value first clears it (the
//!   universal context releases the old value).
//! A handle argument that is not open is reported and the call refused
//! (going on with what it wrapped could load through the wrong object).
#![allow(non_snake_case)]

use crate::abi::*;
use crate::base::saferead::read_word;
use crate::diag::report::{self, Outcome};
use crate::func::call::{open_uh, skipped, Call, Skip};
use crate::state::ctx::{self, FIELDS};
use crate::tables::fields::FieldRec;

const FIELD_WRONG_OWNER: &str = "Invalid usage of an HPyField through an object that does not own it";
const FIELD_NOT_STORED: &str = "Invalid usage of an HPyField value that HPyField_Store did not write";
const GLOBAL_NOT_STORED: &str = "Invalid usage of an HPyGlobal value that HPyGlobal_Store did not write";

/// An open handle argument, else report it (if it is not a valid null)
/// and refuse the call.
fn strict(call: &Call, h: HPy, name: &'static str, null_ok: bool) -> Result<HPy, Skip> {
    if null_ok && h.is_null() {
        return Ok(h);
    }
    match open_uh(h) {
        Some(uh) => Ok(uh),
        None => {
            let _ = if null_ok { call.unwrap(h, name) } else { call.unwrap_obj(h, name) };
            Err(Skip)
        }
    }
}

/// Address and size in bytes of the object behind universal handle `uh`.
unsafe fn object_span(uh: HPy) -> (usize, usize) {
    // On CPython the handle is the object's address (no call, no reference).
    let (o, added) = match ctx::cpython_object(uh) {
        Some(o) => (o, false),
        None => ((ctx::u().AsPyObject.unwrap_unchecked())(ctx::uctx(), uh) as *mut pyo3::ffi::PyObject, true),
    };
    if o.is_null() {
        return (0, 0);
    }
    let tp = pyo3::ffi::Py_TYPE(o);
    let mut size = (*tp).tp_basicsize.max(0) as usize;
    if (*tp).tp_itemsize != 0 {
        size += (pyo3::ffi::Py_SIZE(o).unsigned_abs()) * ((*tp).tp_itemsize.unsigned_abs());
    }
    // AsPyObject added a reference; the handle keeps the object alive.
    if added {
        pyo3::ffi::Py_DecRef(o);
    }
    (o as usize, size)
}

fn lifetime(call: &Call, class: &'static str, first: &str, why: String, todo: &str, note: Option<String>) -> Outcome {
    report::lifetime(class, call.api, first, why, todo, note)
}

fn go_on(o: Outcome) -> Result<(), Skip> {
    match o {
        Outcome::Continue => Ok(()),
        Outcome::Skip => Err(Skip),
    }
}

macro_rules! guarded {
    ($call:ident, $body:block) => {
        match (|| -> Result<_, Skip> { Ok($body) })() {
            Ok(r) => r,
            Err(Skip) => skipped($call.api),
        }
    };
}

pub unsafe extern "C" fn Field_Store(ctx: *mut HPyContext, target_object: HPy, target_field: *mut HPyField, h: HPy) {
    let call = crate::enter!(ctx, "HPyField_Store", Field_Store(ctx, target_object, target_field, h));
    guarded!(call, {
        let ut = strict(&call, target_object, "target_object", false)?;
        let uv = strict(&call, h, "h", true)?;
        if target_field.is_null() {
            call.bad_argument("HPyField_Store: 'target_field' is NULL")?;
            return Err(Skip);
        }
        let addr = target_field as usize;
        let (obj, size) = object_span(ut);
        let inside = addr >= obj && addr + std::mem::size_of::<HPyField>() <= obj + size;
        let old = if inside { (*target_field)._i } else { read_word(addr).map(|v| v as isize).ok_or(Skip).or_else(|_| {
            call.bad_argument(&format!("HPyField_Store: 'target_field' ({:#x}) is not readable memory", addr))?;
            Err(Skip)
        })? };
        if !inside {
            let rec = FIELDS.lock().field(addr);
            let owner = match rec {
                Some(r) => format!(", which was stored through the object at {:#x}", r.owner),
                None => String::new(),
            };
            go_on(lifetime(
                &call,
                "field-wrong-owner",
                FIELD_WRONG_OWNER,
                format!("the field at {:#x} is not inside the target object (at {:#x}, {} bytes){}", addr, obj, size, owner),
                "pass the object whose struct holds the field: HPyField_Store(ctx, self, &data->field, value)",
                None,
            ))?;
        }
        // The universal store may run a finalizer (releasing the old value)
        // that loads this very field: the record says "being stored".
        if !FIELDS.lock().storing_field(addr, obj, old) {
            let o = lifetime(
                &call,
                "field-not-stored",
                FIELD_NOT_STORED,
                format!("the field at {:#x} holds {:#x}, which HPyField_Store did not write (uninitialised memory, or a field copied by assignment?)", addr, old),
                "initialise fields with HPyField_NULL (HPy_New zeroes them) and change them only with HPyField_Store",
                Some("going on: the old value is not released (it is cleared first)".into()),
            );
            if o == Outcome::Skip {
                FIELDS.lock().store_abandoned(addr);
            }
            go_on(o)?;
            (*target_field)._i = 0;
        }
        (call.u().Field_Store.unwrap_unchecked())(call.uctx(), ut, target_field, uv);
        FIELDS.lock().stored_field(addr, obj, (*target_field)._i);
        if inside && !uv.is_null() {
            crate::func::traverse::after_store(call.api, ut, obj, size, addr);
        }
    })
}

/// Whether `v` is the value of a stored field inside the object of `us`.
unsafe fn held_by(us: HPy, v: isize) -> bool {
    if v == 0 {
        return false;
    }
    let (obj, size) = object_span(us);
    let t = FIELDS.lock();
    let mut p = (obj + 7) & !7;
    while p + 8 <= obj + size {
        if *(p as *const isize) == v && t.field(p).is_some_and(|r| r.vouches_for(v)) {
            return true;
        }
        p += 8;
    }
    false
}

pub unsafe extern "C" fn Field_Load(ctx: *mut HPyContext, source_object: HPy, source_field: HPyField) -> HPy {
    let call = crate::enter!(ctx, "HPyField_Load", Field_Load(ctx, source_object, source_field));
    guarded!(call, {
        let us = strict(&call, source_object, "source_object", false)?;
        let v = source_field._i;
        if !held_by(us, v) {
            load_failed(&call, us, v)?;
        }
        call.open((call.u().Field_Load.unwrap_unchecked())(call.uctx(), us, source_field))
    })
}

/// `v` is not a stored field of the source object: through another owner
/// (the load may go on: a live field holds the value), or not a stored
/// value at all (refused).
#[cold]
unsafe fn load_failed(call: &Call, us: HPy, v: isize) -> Result<(), Skip> {
    let (obj, _) = object_span(us);
    let live: Vec<(usize, FieldRec)> = if v == 0 {
        Vec::new()
    } else {
        let holders = FIELDS.lock().fields_holding(v);
        holders.into_iter().filter(|&(a, _)| read_word(a) == Some(v as usize)).collect()
    };
    if let Some(&(addr, rec)) = live.first() {
        return go_on(lifetime(
            call,
            "field-wrong-owner",
            FIELD_WRONG_OWNER,
            format!(
                "HPyField_Load through the object at {:#x}, which does not hold this field: it was stored at {:#x} through the object at {:#x}",
                obj, addr, rec.owner
            ),
            "load a field through the object that owns it: HPyField_Load(ctx, self, data->field)",
            None,
        ));
    }
    let why = if v == 0 {
        "the field is empty (HPyField_NULL): it was never stored, or was cleared".to_string()
    } else {
        format!("{:#x} was never written by HPyField_Store (garbage, an uninitialised field, or the field of an object that died)", v)
    };
    let _ = lifetime(
        call,
        "field-not-stored",
        FIELD_NOT_STORED,
        why,
        "store a field with HPyField_Store before loading it, and load it only while its object lives",
        Some("the call is not made: the universal context would dereference the value".into()),
    );
    Err(Skip)
}

pub unsafe extern "C" fn Global_Store(ctx: *mut HPyContext, global: *mut HPyGlobal, h: HPy) {
    let call = crate::enter!(ctx, "HPyGlobal_Store", Global_Store(ctx, global, h));
    guarded!(call, {
        let uv = strict(&call, h, "h", true)?;
        let addr = global as usize;
        let Some(old) = read_word(addr).map(|v| v as isize) else {
            call.bad_argument(&format!("HPyGlobal_Store: 'global' ({:#x}) is not readable memory", addr))?;
            return Err(Skip);
        };
        if old != 0 && FIELDS.lock().global(addr) != Some(old) {
            go_on(lifetime(
                &call,
                "global-not-stored",
                GLOBAL_NOT_STORED,
                format!("the global at {:#x} holds {:#x}, which HPyGlobal_Store did not write", addr, old),
                "declare HPyGlobals in HPyModuleDef.globals and change them only with HPyGlobal_Store",
                Some("going on: the old value is not released (it is cleared first)".into()),
            ))?;
            (*global)._i = 0;
        }
        (call.u().Global_Store.unwrap_unchecked())(call.uctx(), global, uv);
        FIELDS.lock().stored_global(addr, (*global)._i);
    })
}

pub unsafe extern "C" fn Global_Load(ctx: *mut HPyContext, global: HPyGlobal) -> HPy {
    let call = crate::enter!(ctx, "HPyGlobal_Load", Global_Load(ctx, global));
    guarded!(call, {
        let v = global._i;
        if !FIELDS.lock().global_holds(v) {
            let why = if v == 0 {
                "the global is empty: it was never stored".to_string()
            } else {
                format!("{:#x} is not the value of any HPyGlobal (garbage, or a global that was stored over since)", v)
            };
            let _ = lifetime(
                &call,
                "global-not-stored",
                GLOBAL_NOT_STORED,
                why,
                "store a global with HPyGlobal_Store before loading it",
                Some("the call is not made: the universal context would dereference the value".into()),
            );
            return Err(Skip);
        }
        call.open((call.u().Global_Load.unwrap_unchecked())(call.uctx(), global))
    })
}
