//! The innermost Python frame of the running thread: read cheaply on every
//! handle open (an identity, no reference taken), turned into
//! `file:line (function)` only once per distinct site.
//!
//! No public API gives the executing instruction of the current frame
//! without creating a frame object, so the identity is read from the
//! interpreter's own structs, each version's own (64-bit Linux offsets, from
//! its headers; `tests/test_abi_layout.py` compares them with the installed
//! ones):
//!
//! | CPython | thread state -> frame | code | instruction | caller |
//! |---|---|---|---|---|
//! | 3.8-3.10 | `frame` (a `PyFrameObject`) | `f_code` | `f_lasti` (int: bytes; 3.10: code units) | `f_back` |
//! | 3.11, 3.12 | `cframe->current_frame` | `f_code` | `prev_instr` (pointer) | `previous` |
//! | 3.13 | `current_frame` | `f_executable` | `instr_ptr` (pointer) | `previous` |
//!
//! The build is for one version (pyo3's `Py_3_X` cfgs), so the offsets are
//! constants.  `init` proves them on the live interpreter (the frame found
//! must be `sys._getframe()`'s: same code, same `f_lasti`, same caller's
//! code); if it cannot, the reading stays off and `init` says why (reports
//! then have no Python location rather than a wrong one).

use std::ffi::CStr;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(Py_3_12)]
use std::sync::atomic::AtomicIsize;
#[cfg(not(Py_3_12))]
use std::sync::atomic::AtomicPtr;

use pyo3::ffi;

use crate::base::pytstate::{self, Place};

/// One version's offsets (see the module docs).
pub struct Layout {
    /// `PyThreadState` -> the innermost frame (3.11, 3.12: -> `_PyCFrame *`).
    pub tstate_frame: usize,
    /// `_PyCFrame.current_frame` (3.11, 3.12 only).
    pub cframe_current: Option<usize>,
    pub code: usize,
    pub previous: usize,
    pub instr: usize,
    /// `_PyInterpreterFrame.owner` (3.11+).
    pub owner: Option<usize>,
    /// `PyCodeObject.co_code_adaptive`, the instructions (3.11+).
    pub code_adaptive: usize,
    /// 3.8-3.10: bytes per unit of `f_lasti` (0: `instr` is a pointer).
    pub lasti_unit: usize,
    /// The C names of the fields above, for the layout test.
    pub names: [&'static str; 7],
}

#[cfg(not(Py_3_11))]
pub const LAYOUT: Layout = Layout {
    tstate_frame: 24,
    cframe_current: None,
    code: 32,
    previous: 24,
    instr: if cfg!(Py_3_10) { 96 } else { 104 },
    owner: None,
    code_adaptive: 0,
    lasti_unit: if cfg!(Py_3_10) { 2 } else { 1 },
    names: ["PyThreadState.frame", "", "PyFrameObject.f_code", "PyFrameObject.f_back", "PyFrameObject.f_lasti", "", ""],
};

#[cfg(all(Py_3_11, not(Py_3_12)))]
pub const LAYOUT: Layout = Layout {
    tstate_frame: 56,
    cframe_current: Some(8),
    code: 32,
    previous: 48,
    instr: 56,
    owner: Some(69),
    code_adaptive: 184,
    lasti_unit: 0,
    names: [
        "PyThreadState.cframe",
        "_PyCFrame.current_frame",
        "_PyInterpreterFrame.f_code",
        "_PyInterpreterFrame.previous",
        "_PyInterpreterFrame.prev_instr",
        "_PyInterpreterFrame.owner",
        "PyCodeObject.co_code_adaptive",
    ],
};

#[cfg(all(Py_3_12, not(Py_3_13)))]
pub const LAYOUT: Layout = Layout {
    tstate_frame: 56,
    cframe_current: Some(0),
    code: 0,
    previous: 8,
    instr: 56,
    owner: Some(70),
    code_adaptive: 192,
    lasti_unit: 0,
    names: [
        "PyThreadState.cframe",
        "_PyCFrame.current_frame",
        "_PyInterpreterFrame.f_code",
        "_PyInterpreterFrame.previous",
        "_PyInterpreterFrame.prev_instr",
        "_PyInterpreterFrame.owner",
        "PyCodeObject.co_code_adaptive",
    ],
};

#[cfg(Py_3_13)]
pub const LAYOUT: Layout = Layout {
    tstate_frame: 72,
    cframe_current: None,
    code: 0,
    previous: 8,
    instr: 56,
    owner: Some(70),
    code_adaptive: 200,
    lasti_unit: 0,
    names: [
        "PyThreadState.current_frame",
        "",
        "_PyInterpreterFrame.f_executable",
        "_PyInterpreterFrame.previous",
        "_PyInterpreterFrame.instr_ptr",
        "_PyInterpreterFrame.owner",
        "PyCodeObject.co_code_adaptive",
    ],
};

/// Frames owned by a thread, a generator or a frame object (3.11+); 3.12's
/// C-stack entry frames (3) and cleared ones are skipped.
const MAX_OWNER: u8 = 2;

/// Where the thread state is read: 3.8-3.11, the address of
/// `_PyRuntime.gilstate.tstate_current`, or of a word that stays 0 until
/// `init` proved the layout (then no Python location is read); 3.12+, its
/// offset from the thread pointer, 0 until proven.
#[cfg(not(Py_3_12))]
static TSTATE_SLOT: AtomicPtr<usize> = AtomicPtr::new(std::ptr::addr_of!(NO_TSTATE) as *mut usize);
#[cfg(not(Py_3_12))]
static NO_TSTATE: usize = 0;
#[cfg(Py_3_12)]
static TSTATE_TLS: AtomicIsize = AtomicIsize::new(0);
static READABLE: AtomicBool = AtomicBool::new(false);

fn set_place(place: Option<Place>) {
    #[cfg(not(Py_3_12))]
    TSTATE_SLOT.store(
        match place {
            Some(Place::Global(a)) => a as *mut usize,
            _ => std::ptr::addr_of!(NO_TSTATE) as *mut usize,
        },
        Ordering::Relaxed,
    );
    #[cfg(Py_3_12)]
    TSTATE_TLS.store(
        match place {
            Some(Place::Tls(o)) => o,
            _ => 0,
        },
        Ordering::Relaxed,
    );
}

#[inline(always)]
unsafe fn field<T: Copy>(base: usize, offset: usize) -> T {
    *((base + offset) as *const T)
}

/// The running thread's state, or 0.
#[inline(always)]
fn tstate() -> usize {
    #[cfg(not(Py_3_12))]
    unsafe {
        *TSTATE_SLOT.load(Ordering::Relaxed)
    }
    #[cfg(Py_3_12)]
    {
        let off = TSTATE_TLS.load(Ordering::Relaxed);
        if off == 0 {
            return 0;
        }
        pytstate::read_tls(off)
    }
}

/// The innermost interpreter frame of this thread (0 if none).  The caller
/// holds the GIL, or the value may be stale (it is only a hint then).
#[inline(always)]
fn current_frame() -> usize {
    let ts = tstate();
    if ts == 0 {
        return 0;
    }
    unsafe {
        match LAYOUT.cframe_current {
            // A thread state always has a C frame (its root one).
            Some(cur) => field(field::<usize>(ts, LAYOUT.tstate_frame), cur),
            None => field(ts, LAYOUT.tstate_frame),
        }
    }
}

/// The instruction of frame `f`: a pointer (3.11+), or 3.8-3.10's
/// (code, `f_lasti`) packed into one word: code objects are more than 16
/// bytes apart below 2^47, so `code >> 4` takes 43 bits and leaves 21 for
/// `f_lasti` (offsets from 2^21 on share the identity of lower ones).
#[inline(always)]
unsafe fn instr_of(f: usize) -> usize {
    if LAYOUT.lasti_unit == 0 {
        field(f, LAYOUT.instr)
    } else {
        let code: usize = field(f, LAYOUT.code);
        let lasti: c_int = field(f, LAYOUT.instr);
        ((code >> 4) << 21) | (lasti as u32 as usize & 0x1f_ffff)
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
    unsafe { instr_of(f) }
}

/// The code object of the innermost frame (0 if none): a coarser identity
/// than `current_instr`, stable while the interpreter specialises the
/// instructions of a line (3.11+ may then make the call from another one).
#[inline(always)]
pub fn current_code() -> usize {
    let f = current_frame();
    if f == 0 {
        return 0;
    }
    unsafe { field(f, LAYOUT.code) }
}

/// A frame whose code we can read: its code object, and the offset in
/// bytes of its instruction.
unsafe fn readable(f: usize) -> Option<(*mut ffi::PyObject, c_int)> {
    let code: *mut ffi::PyObject = field(f, LAYOUT.code);
    if code.is_null() || ffi::Py_TYPE(code) != std::ptr::addr_of_mut!(ffi::PyCode_Type) {
        return None;
    }
    if let Some(o) = LAYOUT.owner {
        if field::<u8>(f, o) > MAX_OWNER {
            return None;
        }
    }
    let offset = if LAYOUT.lasti_unit == 0 {
        let instr: usize = field(f, LAYOUT.instr);
        instr.wrapping_sub(code as usize + LAYOUT.code_adaptive) as isize
    } else {
        field::<c_int>(f, LAYOUT.instr) as isize * LAYOUT.lasti_unit as isize
    };
    Some((code, offset.clamp(-1, c_int::MAX as isize) as c_int))
}

/// The readable frames from the innermost outwards, at most `max`.
fn frames(max: usize) -> impl Iterator<Item = (*mut ffi::PyObject, c_int)> {
    let mut f = current_frame();
    let mut depth = 0;
    std::iter::from_fn(move || {
        while f != 0 && depth < max {
            depth += 1;
            let here = f;
            unsafe {
                f = field(here, LAYOUT.previous);
                if let Some(r) = readable(here) {
                    return Some(r);
                }
            }
        }
        None
    })
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
    // The loader stub's module code, once its `__bootstrap__` was seen.
    let mut stub_file: Option<String> = None;
    for (code, offset) in frames(64) {
        unsafe {
            let file = code_str(code, c"co_filename");
            let function = code_function(code);
            if function == "__bootstrap__" {
                stub_file = Some(file.clone());
            }
            if !skip(&file, &function) && stub_file.as_deref() != Some(file.as_str()) {
                let line = ffi::PyCode_Addr2Line(code as *mut ffi::PyCodeObject, offset);
                ffi::Py_IncRef(code);
                return Some((PyLocation { file, line: line.max(0) as u32, function }, code));
            }
        }
    }
    None
}

/// The function's qualified name (3.11+), or its plain name before.
unsafe fn code_function(code: *mut ffi::PyObject) -> String {
    if cfg!(Py_3_11) {
        code_str(code, c"co_qualname")
    } else {
        code_str(code, c"co_name")
    }
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

/// Prove the layout on the live interpreter (GIL held): from a Python frame
/// of our own, the innermost readable frame and its caller must be those of
/// `PyEval_GetFrame()` (code objects and `f_lasti`).  On success the frame
/// reading is on; otherwise it stays off and the reason is returned.
/// Idempotent.
pub fn init() -> Result<(), String> {
    if READABLE.load(Ordering::Relaxed) {
        return Ok(());
    }
    set_place(Some(pytstate::locate()?));
    let proof = unsafe { prove_from_python() };
    match proof {
        Ok(()) => {
            READABLE.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            set_place(None);
            Err(e)
        }
    }
}

/// Whether frames are read (for tests and stats).
pub fn readable_frames() -> bool {
    READABLE.load(Ordering::Relaxed)
}

/// The result of `prove`, run by `probe`.
static PROOF: std::sync::Mutex<Option<Result<(), String>>> = std::sync::Mutex::new(None);

unsafe extern "C" fn probe(_slf: *mut ffi::PyObject, _args: *mut ffi::PyObject) -> *mut ffi::PyObject {
    let r = prove();
    if let Ok(mut p) = PROOF.lock() {
        *p = Some(r);
    }
    let none = ffi::Py_None();
    ffi::Py_IncRef(none);
    none
}

/// Run `prove` under the Python expression `probe()`, so that there is a
/// Python frame to compare with (and a caller: whatever runs `init`, a
/// Python import or C code with no frame at all).
unsafe fn prove_from_python() -> Result<(), String> {
    static mut DEF: ffi::PyMethodDef = ffi::PyMethodDef {
        ml_name: c"probe".as_ptr(),
        ml_meth: ffi::PyMethodDefPointer { PyCFunction: probe },
        ml_flags: ffi::METH_NOARGS,
        ml_doc: std::ptr::null(),
    };
    let saved = crate::base::pyerr::save();
    let f = ffi::PyCFunction_New(std::ptr::addr_of_mut!(DEF), std::ptr::null_mut());
    let globals = ffi::PyDict_New();
    if !f.is_null() && !globals.is_null() && ffi::PyDict_SetItemString(globals, c"probe".as_ptr(), f) == 0 {
        let r = ffi::PyRun_StringFlags(c"probe()".as_ptr(), ffi::Py_eval_input, globals, globals, std::ptr::null_mut());
        if !r.is_null() {
            ffi::Py_DecRef(r);
        }
    }
    for o in [f, globals] {
        if !o.is_null() {
            ffi::Py_DecRef(o);
        }
    }
    ffi::PyErr_Clear();
    crate::base::pyerr::restore(saved);
    let r = PROOF.lock().ok().and_then(|mut p| p.take());
    r.unwrap_or_else(|| Err("the probe could not run as Python code".into()))
}

unsafe fn prove() -> Result<(), String> {
    let fo = ffi::PyEval_GetFrame() as *mut ffi::PyObject;
    if fo.is_null() {
        return Err("no Python frame to check the layout against".into());
    }
    let mut ours = frames(64);
    let Some((code, offset)) = ours.next() else {
        return Err("no frame found where the layout says".into());
    };
    let want_code = attr(fo, c"f_code");
    let want_lasti = attr(fo, c"f_lasti");
    let back = attr(fo, c"f_back");
    let want_back_code = if back.is_null() || back == ffi::Py_None() { std::ptr::null_mut() } else { attr(back, c"f_code") };
    let lasti = if want_lasti.is_null() { -2 } else { ffi::PyLong_AsLong(want_lasti) };
    let next = ours.next().map(|(c, _)| c).unwrap_or(std::ptr::null_mut());
    let result = if code != want_code {
        Err("the innermost frame's code object is not sys._getframe()'s".to_string())
    } else if offset as std::os::raw::c_long != lasti {
        Err(format!("the instruction offset read ({}) is not f_lasti ({})", offset, lasti))
    } else if next != want_back_code {
        Err("the caller's frame is not f_back".to_string())
    } else {
        Ok(())
    };
    for o in [want_code, want_lasti, back, want_back_code] {
        if !o.is_null() {
            ffi::Py_DecRef(o);
        }
    }
    if !ffi::PyErr_Occurred().is_null() {
        ffi::PyErr_Clear();
    }
    result
}

unsafe fn attr(o: *mut ffi::PyObject, name: &CStr) -> *mut ffi::PyObject {
    let r = ffi::PyObject_GetAttrString(o, name.as_ptr());
    if r.is_null() {
        ffi::PyErr_Clear();
    }
    r
}

/// The offsets this module uses, for the layout test (C names as
/// `offsetof` takes them).
pub fn offsets() -> Vec<(&'static str, usize)> {
    let l = &LAYOUT;
    let values = [
        Some(l.tstate_frame),
        l.cframe_current,
        Some(l.code),
        Some(l.previous),
        Some(l.instr),
        l.owner,
        if l.code_adaptive != 0 { Some(l.code_adaptive) } else { None },
    ];
    let mut v: Vec<(&'static str, usize)> = l.names.iter().zip(values).filter_map(|(n, o)| o.filter(|_| !n.is_empty()).map(|o| (*n, o))).collect();
    if !cfg!(Py_3_12) {
        v.push(("_PyRuntimeState.gilstate.tstate_current", pytstate::RUNTIME_TSTATE_CURRENT));
    }
    v
}
