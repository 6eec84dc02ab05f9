//! Short, safe descriptions of objects and of the pending exception, for
//! reports.  "Safe" means no Python code runs: a report is written in the
//! middle of an API call, maybe with an exception pending, and a `__repr__`
//! could re-enter the extension.  So only exact builtin types whose repr is
//! plain C get one (int, float, bool, None, str, bytes); any other object is
//! shown as `<T object at 0x...>`.  Needs the GIL.

use std::ffi::CStr;

use pyo3::ffi;

use crate::base::pyerr;
use crate::state::ctx;

const MAX: usize = 60;

/// `repr (type T)` of the object behind universal handle `uh` (asked of the
/// universal context: how a handle maps to a `PyObject*` is its business).
pub fn universal_handle(uh: isize) -> Option<String> {
    if uh == 0 {
        return None;
    }
    unsafe {
        let o = (ctx::u().AsPyObject?)(ctx::uctx(), crate::abi::HPy::from_raw(uh)) as *mut ffi::PyObject;
        if o.is_null() {
            return None;
        }
        let s = object(o);
        ffi::Py_DecRef(o);
        Some(s)
    }
}

unsafe fn type_name(t: *mut ffi::PyTypeObject) -> String {
    if t.is_null() || (*t).tp_name.is_null() {
        return "?".into();
    }
    CStr::from_ptr((*t).tp_name).to_string_lossy().into_owned()
}

unsafe fn plain_repr(o: *mut ffi::PyObject) -> bool {
    let t = ffi::Py_TYPE(o);
    std::ptr::eq(t, std::ptr::addr_of_mut!(ffi::PyLong_Type))
        || std::ptr::eq(t, std::ptr::addr_of_mut!(ffi::PyFloat_Type))
        || std::ptr::eq(t, std::ptr::addr_of_mut!(ffi::PyBool_Type))
        || std::ptr::eq(t, std::ptr::addr_of_mut!(ffi::PyUnicode_Type))
        || std::ptr::eq(t, std::ptr::addr_of_mut!(ffi::PyBytes_Type))
        || o == ffi::Py_None()
}

fn shorten(mut s: String) -> String {
    if s.chars().count() > MAX {
        s = s.chars().take(MAX - 3).collect::<String>() + "...";
    }
    s
}

/// Keeps the pending exception (if any) across `f`.
unsafe fn keeping_exception<R>(f: impl FnOnce() -> R) -> R {
    let saved = pyerr::save();
    let r = f();
    ffi::PyErr_Clear();
    pyerr::restore(saved);
    r
}

unsafe fn str_of(o: *mut ffi::PyObject) -> Option<String> {
    let mut n: ffi::Py_ssize_t = 0;
    let p = ffi::PyUnicode_AsUTF8AndSize(o, &mut n);
    if p.is_null() {
        return None;
    }
    let b = std::slice::from_raw_parts(p as *const u8, n as usize);
    Some(String::from_utf8_lossy(b).into_owned())
}

/// `42 (type int)`, `<Point object at 0x7f...> (type Point)`.
pub unsafe fn object(o: *mut ffi::PyObject) -> String {
    let name = type_name(ffi::Py_TYPE(o));
    let repr = if plain_repr(o) {
        keeping_exception(|| {
            let r = ffi::PyObject_Repr(o);
            if r.is_null() {
                return None;
            }
            let s = str_of(r);
            ffi::Py_DecRef(r);
            s
        })
    } else {
        None
    };
    match repr {
        Some(r) => format!("{} (type {})", shorten(r), name),
        None => format!("<{} object at {:p}> (type {})", name, o, name),
    }
}

/// `TypeError: an integer is required`, or `None` when no exception is
/// pending.  The message is shown only when it is a plain str (an unnormalised
/// exception's value, or the first argument of an exception instance).
pub fn pending_exception() -> Option<String> {
    unsafe {
        let saved = pyerr::save();
        let (t, v) = saved.type_and_value();
        if t.is_null() {
            return None;
        }
        let name = if ffi::PyType_Check(t) != 0 { type_name(t as *mut ffi::PyTypeObject) } else { "?".into() };
        let mut msg = None;
        if !v.is_null() {
            let mut m = v;
            if ffi::PyExceptionInstance_Check(v) != 0 {
                let args = (*(v as *mut ffi::PyBaseExceptionObject)).args;
                m = if !args.is_null() && ffi::PyTuple_CheckExact(args) != 0 && ffi::PyTuple_Size(args) >= 1 {
                    ffi::PyTuple_GetItem(args, 0)
                } else {
                    std::ptr::null_mut()
                };
            }
            if !m.is_null() && ffi::PyUnicode_CheckExact(m) != 0 {
                msg = str_of(m);
                if msg.is_none() {
                    ffi::PyErr_Clear();
                }
            }
        }
        pyerr::restore(saved);
        Some(match msg {
            Some(m) if !m.is_empty() => format!("{}: {}", name, shorten(m)),
            _ => name,
        })
    }
}
