//! The innermost Python frame of the running thread: read cheaply on every
//! handle open (an identity, no reference taken), turned into
//! `file:line (function)` only once per distinct site.
//!
//! CPython 3.11 has no public API that gives the executing instruction of
//! the current frame without creating a frame object, so the identity is
//! read from the interpreter's own structs (`PyThreadState.cframe ->
//! current_frame -> prev_instr`).  Their offsets are those of CPython 3.11
//! on 64-bit Linux; `tests/test_abi_layout.py` checks them against the
//! installed headers, and on any other Python version the reading is off
//! (reports then have no Python location rather than a wrong one).

use std::ffi::CStr;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::ffi;

/// Offsets into CPython 3.11's structs (see the module docs).
pub const TSTATE_CFRAME: usize = 56;
pub const CFRAME_CURRENT_FRAME: usize = 8;
pub const FRAME_F_CODE: usize = 32;
pub const FRAME_PREVIOUS: usize = 48;
pub const FRAME_PREV_INSTR: usize = 56;
pub const FRAME_OWNER: usize = 69;
pub const CODE_CO_CODE_ADAPTIVE: usize = 184;

/// `_PyRuntimeState.gilstate.tstate_current`: the running thread's state.
pub const RUNTIME_TSTATE_CURRENT: usize = 576;

/// Address of `_PyRuntime.gilstate.tstate_current`; when this is not
/// CPython 3.11, of a word that stays 0 (then no Python location is read,
/// and the hot path has one test fewer).  Set by `init`.
static TSTATE_SLOT: AtomicPtr<usize> = AtomicPtr::new(std::ptr::addr_of!(NO_TSTATE) as *mut usize);
static NO_TSTATE: usize = 0;

extern "C" {
    static _PyRuntime: u8;
}

/// The running interpreter's version string ("3.11.7 (main, ...)"): read at
/// run time, since one build may meet another patch release.
pub fn runtime_version() -> String {
    unsafe { CStr::from_ptr(ffi::Py_GetVersion()) }.to_string_lossy().into_owned()
}

/// Find out whether the interpreter is one whose frames we can read.
pub fn init() {
    let v = runtime_version();
    let ok = cfg!(all(target_pointer_width = "64", target_os = "linux")) && v.starts_with("3.11.");
    let slot = if ok { std::ptr::addr_of!(_PyRuntime) as usize + RUNTIME_TSTATE_CURRENT } else { std::ptr::addr_of!(NO_TSTATE) as usize };
    TSTATE_SLOT.store(slot as *mut usize, Ordering::Relaxed);
}

#[inline(always)]
unsafe fn field<T: Copy>(base: usize, offset: usize) -> T {
    *((base + offset) as *const T)
}

/// The innermost interpreter frame of this thread (0 if none).  The caller
/// holds the GIL, or the value may be stale (it is only a hint then).
#[inline(always)]
fn current_frame() -> usize {
    let slot = TSTATE_SLOT.load(Ordering::Relaxed);
    unsafe {
        let ts: usize = *slot;
        if ts == 0 {
            return 0;
        }
        // A thread state always has a C frame (its root one).
        let cframe: usize = field(ts, TSTATE_CFRAME);
        field(cframe, CFRAME_CURRENT_FRAME)
    }
}

/// What identifies the Python line executing now: the address of the
/// instruction of the innermost frame (unique while its code object lives;
/// the site table keeps the code objects it saw alive).  0 if none.
#[inline(always)]
pub fn current_instr() -> usize {
    let f = current_frame();
    if f == 0 {
        return 0;
    }
    unsafe { field(f, FRAME_PREV_INSTR) }
}

/// The code object of the innermost frame (0 if none): a coarser identity
/// than `current_instr`, stable while the interpreter specialises the
/// instructions of a line (3.11 may then make the call from another one).
#[inline(always)]
pub fn current_code() -> usize {
    let f = current_frame();
    if f == 0 {
        return 0;
    }
    unsafe { field(f, FRAME_F_CODE) }
}

/// A Python source location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyLocation {
    pub file: String,
    pub line: u32,
    pub function: String,
}

impl PyLocation {
    pub fn text(&self) -> String {
        format!("{} at {}:{}", self.function, self.file, self.line)
    }
}

/// The innermost frame whose code is not skipped by `skip(filename)`
/// (importlib's frozen frames, hpydbg's and HPy's own Python code), with
/// a new reference to its code object (to keep its instructions' addresses
/// unique).  Needs the GIL.
pub fn locate(skip: impl Fn(&str, &str) -> bool) -> Option<(PyLocation, *mut ffi::PyObject)> {
    let mut f = current_frame();
    let mut depth = 0;
    // The loader stub's module code, once its `__bootstrap__` was seen.
    let mut stub_file: Option<String> = None;
    while f != 0 && depth < 64 {
        unsafe {
            let code: *mut ffi::PyObject = field(f, FRAME_F_CODE);
            let owner: u8 = field(f, FRAME_OWNER);
            // 3.11's owners: thread, generator, frame object; anything
            // else is not a frame we can read.
            if !code.is_null() && owner <= 2 {
                let file = code_str(code, c"co_filename");
                let function = code_str(code, c"co_qualname");
                if function == "__bootstrap__" {
                    stub_file = Some(file.clone());
                }
                if !skip(&file, &function) && stub_file.as_deref() != Some(file.as_str()) {
                    let instr: usize = field(f, FRAME_PREV_INSTR);
                    let start = code as usize + CODE_CO_CODE_ADAPTIVE;
                    let offset = instr.saturating_sub(start) as c_int;
                    let line = ffi::PyCode_Addr2Line(code as *mut ffi::PyCodeObject, offset);
                    ffi::Py_IncRef(code);
                    return Some((PyLocation { file, line: line.max(0) as u32, function }, code));
                }
            }
            f = field(f, FRAME_PREVIOUS);
        }
        depth += 1;
    }
    None
}

unsafe fn code_str(code: *mut ffi::PyObject, name: &CStr) -> String {
    let o = ffi::PyObject_GetAttrString(code, name.as_ptr());
    if o.is_null() {
        ffi::PyErr_Clear();
        return "?".into();
    }
    let mut n: ffi::Py_ssize_t = 0;
    let p = ffi::PyUnicode_AsUTF8AndSize(o, &mut n);
    let s = if p.is_null() {
        ffi::PyErr_Clear();
        "?".to_string()
    } else {
        String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, n as usize)).into_owned()
    };
    ffi::Py_DecRef(o);
    s
}

/// Python code that stands between the user's line and the extension:
/// importlib, the loader stub HPy generates next to each extension (its
/// `__bootstrap__`), hpydbg's and HPy's own modules.
pub fn is_tooling_file(file: &str, function: &str) -> bool {
    file.starts_with("<frozen ")
        || function == "__bootstrap__"
        || file.contains("/hpydbg/")
        || file.contains("/hpy/universal")
        || file.contains("/hpy/debug/")
}

/// The offsets this module uses, for the layout test.
pub fn offsets() -> Vec<(&'static str, usize)> {
    vec![
        ("PyThreadState.cframe", TSTATE_CFRAME),
        ("_PyCFrame.current_frame", CFRAME_CURRENT_FRAME),
        ("_PyInterpreterFrame.f_code", FRAME_F_CODE),
        ("_PyInterpreterFrame.previous", FRAME_PREVIOUS),
        ("_PyInterpreterFrame.prev_instr", FRAME_PREV_INSTR),
        ("_PyInterpreterFrame.owner", FRAME_OWNER),
        ("PyCodeObject.co_code_adaptive", CODE_CO_CODE_ADAPTIVE),
        ("_PyRuntimeState.gilstate.tstate_current", RUNTIME_TSTATE_CURRENT),
    ]
}
