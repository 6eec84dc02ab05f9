//! The `tp_traverse` contract (HPy's porting guide: a type with an
//! `HPyField` MUST define `tp_traverse`, which visits every field the object
//! owns, "nothing more, nothing less"; on CPython HPy's generic dealloc
//! releases exactly the fields `tp_traverse` visits):
//! - every field stored into an object is visited by its type's traverse
//!   (`traverse-missed-field`);
//! - traverse visits nothing outside that object (`traverse-foreign-field`);
//! - a type that stores fields has an `HPy_tp_traverse`
//!   (`field-without-traverse`) and `HPy_TPFLAGS_HAVE_GC`
//!   (`field-without-gc`).
//!
//! When: right after the first `HPyField_Store` of a non-null value per
//! (type, offset of the field in the object), so the cost is paid once per
//! field of a type, not per store or per call.  How: the type's CPython
//! `tp_traverse` is run on the object; its HPy trampoline comes back to
//! `ctx_CallRealFunctionFromTrampoline` (`func::trampoline`), which, while a
//! probe is on, has the universal context call [`probe_impl`] instead of the
//! extension's traverse: the universal context hands it the struct (the
//! object's payload), and it calls the extension's traverse with a visitor
//! that records the address of every `HPyField` visited.
//!
//! CPython only (the universal context's objects are `PyObject*`); the
//! probe runs with the GIL held, which serialises it.
#![allow(non_snake_case, non_upper_case_globals)]

use std::os::raw::{c_int, c_void};

use crate::abi::*;
use crate::diag::report::{self, Outcome};
use crate::state::ctx::{self, FIELDS};

/// What one probe saw: the struct pointers the universal context passed to
/// the extension's traverse (one per HPy type of the hierarchy), and the
/// fields visited.
#[derive(Default)]
struct Probe {
    impls: Vec<usize>,
    payloads: Vec<usize>,
    visited: Vec<usize>,
}

/// The probe in progress (GIL held), and the extension traverse the next
/// `probe_impl` call stands for.
static mut PROBE: Option<Probe> = None;
static mut PENDING_IMPL: usize = 0;

/// Whether a probe is on (asked by `func::trampoline` on `TRAVERSEPROC`).
#[inline]
pub fn probing() -> bool {
    unsafe { (*std::ptr::addr_of!(PROBE)).is_some() }
}

/// During a probe: the function to give the universal context in place of
/// the extension's traverse `func`.
pub fn substitute(func: HPyCFunction) -> HPyCFunction {
    unsafe { *std::ptr::addr_of_mut!(PENDING_IMPL) = func as usize };
    probe_impl as *const c_void
}

type TraverseImpl = unsafe extern "C" fn(*mut c_void, unsafe extern "C" fn(*mut HPyField, *mut c_void) -> c_int, *mut c_void) -> c_int;

/// Called by the universal context as the type's traverse, with the struct.
unsafe extern "C" fn probe_impl(object: *mut c_void, _visit: *mut c_void, _arg: *mut c_void) -> c_int {
    let f = *std::ptr::addr_of!(PENDING_IMPL);
    let Some(p) = (*std::ptr::addr_of_mut!(PROBE)).as_mut() else { return 0 };
    if f == 0 {
        return 0;
    }
    p.impls.push(f);
    p.payloads.push(object as usize);
    let real: TraverseImpl = std::mem::transmute::<usize, TraverseImpl>(f);
    real(object, record_visit, std::ptr::null_mut());
    0
}

unsafe extern "C" fn record_visit(field: *mut HPyField, _arg: *mut c_void) -> c_int {
    if let Some(p) = (*std::ptr::addr_of_mut!(PROBE)).as_mut() {
        p.visited.push(field as usize);
    }
    0
}

/// The CPython visitor given to `tp_traverse`: nothing to do (the fields
/// come through `record_visit`; `subtype_traverse` of a Python subclass
/// visits its type and `__dict__` here).
unsafe extern "C" fn ignore_visit(_o: *mut pyo3::ffi::PyObject, _arg: *mut c_void) -> c_int {
    0
}

/// After `HPyField_Store` of a non-null value into the field at `addr` of
/// the object at `obj` (not null, `size` bytes), universal handle `ut`:
/// check the contract once per (type, field offset).  Inline, the common
/// case (the pair asked about last time): a load and two compares.
/// Reports go through the policy; the store has been made either way.
#[inline(always)]
pub fn after_store(call_api: &'static str, ut: HPy, obj: usize, size: usize, addr: usize) {
    let tp = unsafe { (*(obj as *const pyo3::ffi::PyObject)).ob_type } as usize;
    if FIELDS.lock().last_traverse_check() == (tp, addr - obj) {
        return;
    }
    after_store_slow(call_api, ut, obj, size, addr, tp)
}

#[cold]
#[inline(never)]
fn after_store_slow(call_api: &'static str, ut: HPy, obj: usize, size: usize, addr: usize, tp: usize) {
    if !ctx::universal_is_cpython() || probing() || !FIELDS.lock().first_traverse_check(tp, addr - obj) {
        return;
    }
    unsafe { check(call_api, ut, obj as *mut pyo3::ffi::PyObject, tp as *mut pyo3::ffi::PyTypeObject, size, addr) }
}

#[cold]
#[inline(never)]
unsafe fn check(api: &'static str, ut: HPy, o: *mut pyo3::ffi::PyObject, tp: *mut pyo3::ffi::PyTypeObject, size: usize, addr: usize) {
    let obj = o as usize;
    let name = std::ffi::CStr::from_ptr((*tp).tp_name).to_string_lossy().into_owned();
    let mut probe = Probe::default();
    if let Some(traverse) = (*tp).tp_traverse {
        *std::ptr::addr_of_mut!(PROBE) = Some(Probe::default());
        traverse(o, ignore_visit, std::ptr::null_mut());
        probe = (*std::ptr::addr_of_mut!(PROBE)).take().unwrap_or_default();
        *std::ptr::addr_of_mut!(PENDING_IMPL) = 0;
    }
    // The struct as the extension sees it: from the probe, else by shape.
    let payload = probe.payloads.first().copied().unwrap_or_else(|| payload_of(ut));
    let offset = |a: usize| {
        if payload != 0 && a >= payload {
            format!("offset {} in the struct", a - payload)
        } else {
            format!("offset {} in the object", a.wrapping_sub(obj) as isize)
        }
    };
    let flags_gc = (*tp).tp_flags & pyo3::ffi::Py_TPFLAGS_HAVE_GC != 0;
    if probe.impls.is_empty() {
        let _ = contract(
            "field-without-traverse",
            api,
            "Invalid usage: an HPyField stored into an object whose type has no tp_traverse",
            format!(
                "HPyField_Store into the field at {} of a '{}' object: the type defines no HPy_tp_traverse, so HPy's dealloc never \
                 releases the field (its object leaks) and a moving GC does not see it",
                offset(addr),
                name
            ),
            "define an HPy_tp_traverse slot that calls HPy_VISIT on every HPyField of the struct, and set HPy_TPFLAGS_HAVE_GC",
        );
        return;
    }
    if !probe.visited.contains(&addr) {
        let _ = contract(
            "traverse-missed-field",
            api,
            "Invalid usage: tp_traverse does not visit a stored HPyField",
            format!(
                "HPyField_Store into the field at {} of a '{}' object, which the type's tp_traverse does not visit ({} field{} visited{}): \
                 HPy's dealloc releases only visited fields, so this one leaks its object",
                offset(addr),
                name,
                probe.visited.len(),
                if probe.visited.len() == 1 { "" } else { "s" },
                if probe.visited.is_empty() { String::new() } else { format!(": {}", probe.visited.iter().map(|&a| offset(a)).collect::<Vec<_>>().join(", ")) }
            ),
            "add HPy_VISIT(&data->field) for this field to the type's HPy_tp_traverse",
        );
    }
    if let Some(&bad) = probe.visited.iter().find(|&&a| a < obj || a + std::mem::size_of::<HPyField>() > obj + size) {
        let _ = contract(
            "traverse-foreign-field",
            api,
            "Invalid usage: tp_traverse visits an HPyField that is not part of the object",
            format!(
                "the tp_traverse of '{}' visits an HPyField at {:#x}, outside the object (at {:#x}, {} bytes): HPy's dealloc would \
                 release another object's field",
                name, bad, obj, size
            ),
            "visit only the HPyFields of the struct passed to tp_traverse",
        );
    }
    if !flags_gc {
        report::warning(
            "field-without-gc",
            api,
            "Invalid usage: an HPyField stored into an object whose type lacks HPy_TPFLAGS_HAVE_GC",
            format!(
                "HPyField_Store into the field at {} of a '{}' object: the type has a tp_traverse but not HPy_TPFLAGS_HAVE_GC, so \
                 CPython's GC does not track it and a reference cycle through this field is never collected",
                offset(addr),
                name
            ),
            "add HPy_TPFLAGS_HAVE_GC to the type's flags",
        );
    }
}

/// The struct of the object behind `ut`, through the universal context's
/// `_HPy_AsStruct_*` of its type's shape (0 if unknown).
unsafe fn payload_of(ut: HPy) -> usize {
    let u = ctx::u();
    let uctx = ctx::uctx();
    let t = (u.Type.unwrap_unchecked())(uctx, ut);
    if t.is_null() {
        return 0;
    }
    let shape = (u.Type_GetBuiltinShape.unwrap_unchecked())(uctx, t);
    (u.Close.unwrap_unchecked())(uctx, t);
    let f = match shape {
        HPyType_BuiltinShape_Legacy => u.AsStruct_Legacy,
        HPyType_BuiltinShape_Object => u.AsStruct_Object,
        HPyType_BuiltinShape_Type => u.AsStruct_Type,
        HPyType_BuiltinShape_Long => u.AsStruct_Long,
        HPyType_BuiltinShape_Float => u.AsStruct_Float,
        HPyType_BuiltinShape_Unicode => u.AsStruct_Unicode,
        HPyType_BuiltinShape_Tuple => u.AsStruct_Tuple,
        HPyType_BuiltinShape_List => u.AsStruct_List,
        _ => None,
    };
    f.map_or(0, |f| f(uctx, ut) as usize)
}

fn contract(class: &'static str, api: &'static str, message: &str, detail: String, todo: &str) -> Outcome {
    report::traverse_contract(class, api, message, detail, todo)
}
