//! Hand-written members of the debug context: the functions whose semantics
//! differ from "validate handles, forward, open the result" (closing, handle
//! arrays, raw data, builders, trackers, argument checks HPy's debug mode
//! makes fatal).
#![allow(non_snake_case, non_upper_case_globals)]

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};

use crate::abi::*;
use crate::func::call::{record_close_trace, site_cached, site_here, site_missed, Call, Skip, SHARED_MEMO};
use crate::tables::sites::SiteMemo;
use crate::tables::builders::AuxKind;
use crate::state::ctx::{AUX, SETTINGS, TABLE};
use crate::tables::handles::{decode, CloseError, Lookup};
use crate::base::rawdata::RawData;
use crate::diag::report::{self, Use};

/// Unwrap `n` handles at `items` into a buffer on the stack (heap only for
/// long arrays) and run `f` on the universal handles.
unsafe fn with_unwrapped<R>(call: &Call, items: *const HPy, n: usize, name: &'static str, f: impl FnOnce(*mut HPy) -> R) -> Result<R, Skip> {
    const SMALL: usize = 16;
    let mut small = [HPy::NULL; SMALL];
    let mut big = Vec::new();
    let buf: &mut [HPy] = if n <= SMALL {
        &mut small[..n]
    } else {
        big.resize(n, HPy::NULL);
        &mut big[..]
    };
    if n > 0 && items.is_null() {
        call.bad_argument(&format!("{}: '{}' is NULL but {} items were announced", call.api, name, n))?;
        return Err(Skip);
    }
    for (i, slot) in buf.iter_mut().enumerate() {
        *slot = call.unwrap_obj(*items.add(i), name)?;
    }
    Ok(f(buf.as_mut_ptr()))
}

fn nonneg(n: HPy_ssize_t) -> usize {
    if n < 0 {
        0
    } else {
        n as usize
    }
}

pub unsafe extern "C" fn Close(ctx: *mut HPyContext, h: HPy) {
    close_entry::<GO_ON_READ>(ctx, h)
}

/// HPy_Close while no policy goes on after reports, and while one does on
/// CPython's universal context: the stub of HPy_Close jumps to one of these
/// instead of `Close` then (`ctx::HPYDBG_CLOSE_ENTRY`), so that the common
/// case does not test the policy.
pub unsafe extern "C" fn Close_stopping(ctx: *mut HPyContext, h: HPy) {
    close_entry::<{ crate::state::ctx::GO_ON_NO }>(ctx, h)
}

pub unsafe extern "C" fn Close_going_on(ctx: *mut HPyContext, h: HPy) {
    close_entry::<{ crate::state::ctx::GO_ON_CPYTHON }>(ctx, h)
}

/// `close_owned_as`'s mode: read the go-on byte (`ctx::close_go_on`) at
/// run time; any other value is that byte, known.
const GO_ON_READ: i8 = i8::MIN;

#[inline(always)]
unsafe fn close_entry<const GO_ON: i8>(ctx: *mut HPyContext, h: HPy) {
    // As the generated wrappers: the common case inline (and a tail call),
    // all else in `full`.
    #[cold]
    #[inline(never)]
    unsafe fn full(ctx: *mut HPyContext, h: HPy) {
        let call = crate::enter!(ctx, "HPy_Close", Close(ctx, h));
        close_owned_slow(h, call.api, site_here(call.ra));
    }
    static MEMO: SiteMemo = SiteMemo::new();
    if crate::state::ctx::fast_ok(ctx) {
        return close_owned_as::<GO_ON>(h, "HPy_Close", crate::state::ctx::caller_ra(), &MEMO);
    }
    full(ctx, h)
}

/// Close a handle the extension owns, in the API call whose return address
/// into the extension is `ra`: debug handle, then universal handle (which
/// may run `__del__`, so no table is borrowed then).  The table's fast path
/// is off while per-handle stack traces are on.
#[inline(always)]
pub(crate) fn close_owned(h: HPy, api: &'static str, ra: usize, memo: &'static SiteMemo) {
    close_owned_as::<GO_ON_READ>(h, api, ra, memo)
}

/// `close_owned`; `GO_ON`: what the go-on byte is, where the caller knows
/// it (`GO_ON_READ`: read it).
#[inline(always)]
fn close_owned_as<const GO_ON: i8>(h: HPy, api: &'static str, ra: usize, memo: &'static SiteMemo) {
    let Some(site) = site_cached(ra, memo) else { return close_new_site(h, api, ra, memo) };
    let mut t = TABLE.lock();
    if let Some(uh) = t.close_fast::<false>(h.raw(), site) {
        drop(t);
        // Going on after reports: inline on CPython (a load and a compare);
        // asking another universal context is a call, made from a cold path.
        let go_on = if GO_ON == GO_ON_READ { crate::state::ctx::close_go_on() } else { GO_ON };
        if go_on != crate::state::ctx::GO_ON_NO {
            if go_on < 0 {
                return close_go_on_by_call(h, HPy::from_raw(uh));
            }
            if crate::state::ctx::cpython_dies_on_close(HPy::from_raw(uh)) {
                return close_dying_cpython(h, HPy::from_raw(uh));
            }
        }
        return unsafe { (crate::state::ctx::u().Close.unwrap_unchecked())(crate::state::ctx::uctx(), HPy::from_raw(uh)) };
    }
    drop(t);
    close_owned_slow(h, api, site)
}


/// `close_owned`'s end going on after reports, when the universal
/// context is not CPython's.
#[cold]
#[inline(never)]
fn close_go_on_by_call(h: HPy, uh: HPy) {
    if crate::state::ctx::dies_on_close(uh) {
        return close_dying(h, uh);
    }
    unsafe { (crate::state::ctx::u().Close.unwrap_unchecked())(crate::state::ctx::uctx(), uh) }
}

/// Going on after reports, closed handle `h` held the last reference to
/// `uh`'s object: keep the object in quarantine, so that a later use of `h`
/// is forwarded to it; or, where its death may be observed (destructors,
/// weakrefs), release it now and make `h`'s record forget it, so that a
/// later use is refused instead of reaching freed memory.
#[cold]
#[inline(never)]
fn close_dying(h: HPy, uh: HPy) {
    if crate::state::quarantine::hold(h.raw(), uh) {
        return;
    }
    TABLE.lock().forget_closed_uh(h.raw());
    unsafe { (crate::state::ctx::u().Close.unwrap_unchecked())(crate::state::ctx::uctx(), uh) }
}

/// `close_dying` from the fast path on CPython (`close_go_on()` told):
/// what every close of a fresh int under `log` runs, so the quarantine's
/// common case is inline here (no call: no register saved), and anything
/// else a tail call to the general path.
#[inline(never)]
fn close_dying_cpython(h: HPy, uh: HPy) {
    use crate::state::quarantine;
    if !quarantine::is_small(uh) {
        return close_dying(h, uh);
    }
    quarantine::hold_small(h.raw(), uh)
}

/// A site the cache does not hold (one cold call: the fast path saves no
/// registers).
#[cold]
#[inline(never)]
fn close_new_site(h: HPy, api: &'static str, ra: usize, memo: &'static SiteMemo) {
    close_owned_slow(h, api, site_missed(ra, memo))
}

/// Everything else: null, stack traces, extras, a full closed FIFO, and
/// errors.
#[cold]
#[inline(never)]
fn close_owned_slow(h: HPy, api: &'static str, site: u32) {
    if h.is_null() {
        return;
    }
    let call = &Call { api, ra: 0, memo: &SHARED_MEMO };
    let uh = TABLE.lock().try_close(h.raw(), false, site);
    if uh != 0 {
        record_close_trace(h);
        if SETTINGS.go_on() && crate::state::ctx::is_last_reference(HPy::from_raw(uh)) {
            return close_dying(h, HPy::from_raw(uh));
        }
        unsafe { (call.u().Close.unwrap_unchecked())(call.uctx(), HPy::from_raw(uh)) }
    } else {
        close_failed(call, h);
    }
}

/// Going on after these reports means leaving the handle as it is.
#[cold]
fn close_failed(call: &Call, h: HPy) {
    let e = TABLE.lock().close_error(h.raw());
    match e {
        CloseError::Borrowed(l) => {
            let _ = report::invalid_handle(Use::CloseArg { api: call.api }, h.raw(), l);
        }
        CloseError::Invalid(l) | CloseError::Immortal(l) => {
            let _ = report::invalid_handle(Use::Close { api: call.api }, h.raw(), l);
        }
    }
}

use crate::guarded;

pub unsafe extern "C" fn Tuple_FromArray(ctx: *mut HPyContext, items: *mut HPy, n: HPy_ssize_t) -> HPy {
    let call = crate::enter!(ctx, "HPyTuple_FromArray", Tuple_FromArray(ctx, items, n));
    guarded!(call, {
        let r = with_unwrapped(&call, items, nonneg(n), "items", |u| (call.u().Tuple_FromArray.unwrap_unchecked())(call.uctx(), u, n))?;
        call.open(r)
    })
}

pub unsafe extern "C" fn Type_GenericNew(ctx: *mut HPyContext, type_: HPy, args: *const HPy, nargs: HPy_ssize_t, kw: HPy) -> HPy {
    let call = crate::enter!(ctx, "HPyType_GenericNew", Type_GenericNew(ctx, type_, args, nargs, kw));
    guarded!(call, {
        let t = call.unwrap_obj(type_, "type")?;
        let k = call.unwrap(kw, "kw")?;
        let r = with_unwrapped(&call, args, nonneg(nargs), "args", |u| {
            (call.u().Type_GenericNew.unwrap_unchecked())(call.uctx(), t, u, nargs, k)
        })?;
        call.open(r)
    })
}

pub unsafe extern "C" fn Type_FromSpec(ctx: *mut HPyContext, spec: *mut HPyType_Spec, params: *mut HPyType_SpecParam) -> HPy {
    let call = crate::enter!(ctx, "HPyType_FromSpec", Type_FromSpec(ctx, spec, params));
    guarded!(call, {
        if spec.is_null() {
            call.bad_argument("HPyType_FromSpec: spec is NULL")?;
            return Err(Skip);
        }
        let f = call.u().Type_FromSpec.unwrap_unchecked();
        if params.is_null() {
            return Ok(call.open(f(call.uctx(), spec, params)));
        }
        // The params hold handles: copy the array, terminator included.
        let mut uparams = Vec::new();
        let mut p = params;
        loop {
            let kind = (*p).kind;
            let object = if kind == 0 { HPy::NULL } else { call.unwrap_obj((*p).object, "params[].object")? };
            uparams.push(HPyType_SpecParam { kind, object });
            if kind == 0 {
                break;
            }
            p = p.add(1);
        }
        call.open(f(call.uctx(), spec, uparams.as_mut_ptr()))
    })
}

/// Check `kwnames` as HPy's debug mode does and count the keyword arguments.
unsafe fn kwnames_count(call: &Call, ukw: HPy, what: &str) -> Result<Option<usize>, Skip> {
    if ukw.is_null() {
        return Ok(Some(0));
    }
    if (call.u().Tuple_Check.unwrap_unchecked())(call.uctx(), ukw) == 0 {
        call.bad_argument(&format!("{} arg 'kwnames' must be a tuple object or HPy_NULL", what))?;
        // The universal context takes PyTuple_GET_SIZE of it unchecked and
        // reads that many arguments past the array.
        return Err(Skip);
    }
    let n = (call.u().Length.unwrap_unchecked())(call.uctx(), ukw);
    Ok(if n < 0 { None } else { Some(n as usize) })
}

/// `HPy_Call` and `HPy_CallMethod`: a first handle (the callable, or the
/// method name), positional and keyword arguments in one array, kwnames.
macro_rules! vectorcall {
    ($($name:ident, $first:literal, $api:literal;)*) => {$(
        pub unsafe extern "C" fn $name(ctx: *mut HPyContext, first: HPy, args: *const HPy, nargs: usize, kwnames: HPy) -> HPy {
            let call = crate::enter!(ctx, $api, $name(ctx, first, args, nargs, kwnames));
            guarded!(call, {
                let f = call.unwrap_obj(first, $first)?;
                let k = call.unwrap(kwnames, "kwnames")?;
                let Some(nkw) = kwnames_count(&call, k, $api)? else { return Ok(HPy::NULL) };
                let r = with_unwrapped(&call, args, nargs + nkw, "args", |u| (call.u().$name.unwrap_unchecked())(call.uctx(), f, u, nargs, k))?;
                call.open(r)
            })
        }
    )*};
}

vectorcall! {
    Call, "callable", "HPy_Call";
    CallMethod, "name", "HPy_CallMethod";
}

/// Copy raw data into protected pages tied to handle `h`'s lifetime.
unsafe fn attach_raw(call: &Call, h: HPy, ptr: *const c_char, size: usize) -> *const c_char {
    if ptr.is_null() {
        return ptr;
    }
    let Some((index, _)) = decode(h.raw()) else { return ptr };
    crate::diag::signals::install();
    let Some(raw) = RawData::copy_read_only(ptr as *const u8, size, call.api) else {
        (call.u().Err_NoMemory.unwrap_unchecked())(call.uctx());
        return std::ptr::null();
    };
    let p = raw.as_ptr() as *const c_char;
    let mut t = TABLE.lock();
    if matches!(t.lookup(h.raw()), Lookup::Open { .. } | Lookup::Closed { .. }) {
        t.extra_mut(index).raw.push(raw);
        p
    } else {
        // A constant or stale handle: nothing to tie the copy to.
        drop(raw);
        ptr
    }
}

pub unsafe extern "C" fn Unicode_AsUTF8AndSize(ctx: *mut HPyContext, h: HPy, size: *mut HPy_ssize_t) -> *const c_char {
    let call = crate::enter!(ctx, "HPyUnicode_AsUTF8AndSize", Unicode_AsUTF8AndSize(ctx, h, size));
    guarded!(call, {
        let uh = call.unwrap_obj(h, "h")?;
        let p = (call.u().Unicode_AsUTF8AndSize.unwrap_unchecked())(call.uctx(), uh, size);
        if p.is_null() {
            return Ok(p);
        }
        let n = if size.is_null() { CStr::from_ptr(p).to_bytes().len() } else { *size as usize };
        attach_raw(&call, h, p, n + 1)
    })
}

/// `HPyBytes_AsString` and `HPyBytes_AS_STRING`: the same, but for the
/// universal function that gives the size.
macro_rules! bytes_as_string {
    ($($name:ident, $size:ident, $api:literal;)*) => {$(
        pub unsafe extern "C" fn $name(ctx: *mut HPyContext, h: HPy) -> *const c_char {
            let call = crate::enter!(ctx, $api, $name(ctx, h));
            guarded!(call, {
                let uh = call.unwrap_obj(h, "h")?;
                let p = (call.u().$name.unwrap_unchecked())(call.uctx(), uh);
                if p.is_null() {
                    return Ok(p);
                }
                // '+ 1': the terminating NUL byte.
                let n = (call.u().$size.unwrap_unchecked())(call.uctx(), uh);
                attach_raw(&call, h, p, nonneg(n) + 1)
            })
        }
    )*};
}

bytes_as_string! {
    Bytes_AsString, Bytes_Size, "HPyBytes_AsString";
    Bytes_AS_STRING, Bytes_GET_SIZE, "HPyBytes_AS_STRING";
}

unsafe fn is_type(call: &Call, uh: HPy) -> bool {
    !uh.is_null() && (call.u().TypeCheck.unwrap_unchecked())(call.uctx(), uh, call.u().h_TypeType) != 0
}

/// Fail the call (by policy) unless `ok`: the universal context would
/// crash on, or misread, such an argument, so going on refuses the call
/// (its safe value, `call::skipped`).
fn require(call: &Call, ok: bool, message: &str) -> Result<(), Skip> {
    if ok {
        Ok(())
    } else {
        call.bad_argument(message)?;
        Err(Skip)
    }
}

/// Report unless `ok`, but where the universal context survives the
/// misuse (it reads the object's memory as another shape, or returns
/// "no"): the go-on policies forward the call, so that the extension gets
/// universal mode's result unchanged (docs/REPORTS.md, "Go on as universal
/// mode does").
fn check_forwarded(call: &Call, ok: bool, message: &str) -> Result<(), Skip> {
    if !ok {
        call.bad_argument(message)?;
    }
    Ok(())
}

pub unsafe extern "C" fn Type_GetName(ctx: *mut HPyContext, type_: HPy) -> *const c_char {
    let call = crate::enter!(ctx, "HPyType_GetName", Type_GetName(ctx, type_));
    guarded!(call, {
        let ut = call.unwrap(type_, "type")?;
        require(&call, is_type(&call, ut), "HPyType_GetName arg must be a type")?;
        let p = (call.u().Type_GetName.unwrap_unchecked())(call.uctx(), ut);
        if p.is_null() {
            return Ok(p);
        }
        let n = CStr::from_ptr(p).to_bytes().len();
        attach_raw(&call, type_, p, n + 1)
    })
}

pub unsafe extern "C" fn Type_IsSubtype(ctx: *mut HPyContext, sub: HPy, type_: HPy) -> c_int {
    let call = crate::enter!(ctx, "HPyType_IsSubtype", Type_IsSubtype(ctx, sub, type_));
    guarded!(call, {
        let us = call.unwrap(sub, "sub")?;
        require(&call, is_type(&call, us), "HPyType_IsSubtype arg 1 must be a type")?;
        let ut = call.unwrap(type_, "type")?;
        // PyType_IsSubtype only compares arg 2 with the items of arg 1's MRO.
        check_forwarded(&call, is_type(&call, ut), "HPyType_IsSubtype arg 2 must be a type")?;
        (call.u().Type_IsSubtype.unwrap_unchecked())(call.uctx(), us, ut)
    })
}

pub unsafe extern "C" fn TypeCheck(ctx: *mut HPyContext, obj: HPy, type_: HPy) -> c_int {
    let call = crate::enter!(ctx, "HPy_TypeCheck", TypeCheck(ctx, obj, type_));
    guarded!(call, {
        let uo = call.unwrap_obj(obj, "obj")?;
        let ut = call.unwrap(type_, "type")?;
        // PyObject_TypeCheck only compares arg 2 with the object's type and MRO.
        check_forwarded(&call, is_type(&call, ut), "HPy_TypeCheck arg 2 must be a type")?;
        (call.u().TypeCheck.unwrap_unchecked())(call.uctx(), uo, ut)
    })
}

pub unsafe extern "C" fn Unicode_Substring(ctx: *mut HPyContext, str_: HPy, start: HPy_ssize_t, end: HPy_ssize_t) -> HPy {
    let call = crate::enter!(ctx, "HPyUnicode_Substring", Unicode_Substring(ctx, str_, start, end));
    guarded!(call, {
        let us = call.unwrap_obj(str_, "str")?;
        let ok = (call.u().TypeCheck.unwrap_unchecked())(call.uctx(), us, call.u().h_UnicodeType) != 0;
        // CPython's PyUnicode_Substring readies its argument as a str before
        // it checks it: on another object it may free a garbage pointer (the
        // differential harness saw "free(): invalid pointer").
        require(&call, ok, "HPyUnicode_Substring arg 1 must be a Unicode object")?;
        call.open((call.u().Unicode_Substring.unwrap_unchecked())(call.uctx(), us, start, end))
    })
}

pub unsafe extern "C" fn EvalCode(ctx: *mut HPyContext, code: HPy, globals: HPy, locals: HPy) -> HPy {
    let call = crate::enter!(ctx, "HPy_EvalCode", EvalCode(ctx, code, globals, locals));
    guarded!(call, {
        let uc = call.unwrap_obj(code, "code")?;
        let ug = call.unwrap(globals, "globals")?;
        let ul = call.unwrap(locals, "locals")?;
        // PyEval_EvalCode reads its argument as a code object unchecked.
        let ok = crate::state::ctx::cpython_object(uc).is_none_or(|o| pyo3::ffi::PyCode_Check(o) != 0);
        require(&call, ok, "HPy_EvalCode arg 1 must be a code object")?;
        call.open((call.u().EvalCode.unwrap_unchecked())(call.uctx(), uc, ug, ul))
    })
}

fn shape_name(shape: c_int) -> &'static str {
    match shape {
        HPyType_BuiltinShape_Legacy => "HPyType_BuiltinShape_Legacy",
        HPyType_BuiltinShape_Object => "HPyType_BuiltinShape_Object",
        HPyType_BuiltinShape_Type => "HPyType_BuiltinShape_Type",
        HPyType_BuiltinShape_Long => "HPyType_BuiltinShape_Long",
        HPyType_BuiltinShape_Float => "HPyType_BuiltinShape_Float",
        HPyType_BuiltinShape_Unicode => "HPyType_BuiltinShape_Unicode",
        HPyType_BuiltinShape_Tuple => "HPyType_BuiltinShape_Tuple",
        HPyType_BuiltinShape_List => "HPyType_BuiltinShape_List",
        _ => "<unknown shape>",
    }
}

/// The builtin shape of `uh`'s type: cached on CPython (`tables::shapes`),
/// else asked of the universal context.
#[inline(always)]
unsafe fn shape_of(uh: HPy) -> HPyType_BuiltinShape {
    if let Some(o) = crate::state::ctx::cpython_object(uh) {
        let ty = (*o).ob_type as usize;
        if let Some(s) = crate::tables::shapes::SHAPES.lock().get(ty) {
            return s;
        }
        return shape_asked(uh, ty);
    }
    shape_asked(uh, 0)
}

/// `shape_of` by three calls into the universal context; the answer is
/// cached for type `ty` (0: not CPython) unless an exception is pending.
#[cold]
#[inline(never)]
unsafe fn shape_asked(uh: HPy, ty: usize) -> HPyType_BuiltinShape {
    let u = crate::state::ctx::u();
    let uctx = crate::state::ctx::uctx();
    let ut = (u.Type.unwrap_unchecked())(uctx, uh);
    let actual = (u.Type_GetBuiltinShape.unwrap_unchecked())(uctx, ut);
    (u.Close.unwrap_unchecked())(uctx, ut);
    if ty != 0 && !crate::base::pyerr::pending() {
        crate::tables::shapes::SHAPES.lock().put(ty, actual);
    }
    actual
}

/// `_HPy_AsStruct_*`'s common case: the call's context, no exception
/// pending, an open handle to an object whose type the shape cache knows
/// to have `shape`: its universal handle.  `None` for anything else (then
/// the full path checks it all again, and reports).  Nothing to save
/// around it, so the wrapper needs no frame and tail-calls the universal
/// context; its result needs no note (`Ret::noted`): on an object, the
/// universal context's `AsStruct` is never NULL.
#[inline(always)]
unsafe fn as_struct_fast(ctx: *mut HPyContext, h: HPy, shape: HPyType_BuiltinShape, exception_ok: bool) -> Option<HPy> {
    if !crate::state::ctx::fast_ok(ctx) || (!exception_ok && crate::base::pyerr::maybe_pending()) {
        return None;
    }
    let uh = crate::func::call::open_uh(h)?;
    if !crate::state::ctx::universal_is_cpython() {
        return None;
    }
    // An open handle wraps an object (never HPy_NULL): on CPython, in place.
    let o = crate::state::ctx::cpython_ptr(uh);
    (crate::tables::shapes::SHAPES.lock().get((*o).ob_type as usize)? == shape).then_some(uh)
}

macro_rules! as_struct {
    ($($fn_name:ident => $shape:ident),*) => {$(
        pub unsafe extern "C" fn $fn_name(ctx: *mut HPyContext, h: HPy) -> *mut c_void {
            const API: &str = concat!("_HPy_", stringify!($fn_name));
            // The full path (it checks the fast path's conditions again), out of line.
            #[cold]
            #[inline(never)]
            unsafe fn checked(ctx: *mut HPyContext, h: HPy) -> *mut c_void {
                let call = crate::enter!(ctx, API, $fn_name(ctx, h));
                guarded!(call, {
                    let u = call.u();
                    if h.is_null() {
                        // An absent optional argument passed on: universal mode
                        // returns NULL plus the shape's header size (a garbage
                        // pointer that passes the caller's NULL test), HPy's C
                        // mode crashes.  Going on, universal's result.
                        if crate::diag::report::null_handle(call.api, "h", true) == crate::diag::report::Outcome::Skip {
                            return Err(Skip);
                        }
                        return Ok((u.$fn_name.unwrap_unchecked())(call.uctx(), h));
                    }
                    let uh = call.unwrap_obj(h, "h")?;
                    let actual = shape_of(uh);
                    if actual != $shape {
                        // Universal mode reads the object's memory as that
                        // shape and goes on.
                        check_forwarded(&call, false, &format!(
                            "Invalid usage of _HPy_{}. Expected shape {} but got {}",
                            stringify!($fn_name), stringify!($shape), shape_name(actual)
                        ))?;
                    }
                    (u.$fn_name.unwrap_unchecked())(call.uctx(), uh)
                })
            }
            const EXCEPTION_OK: bool = crate::diag::errstate::allowed(API);
            if let Some(uh) = as_struct_fast(ctx, h, $shape, EXCEPTION_OK) {
                return (crate::state::ctx::u().$fn_name.unwrap_unchecked())(crate::state::ctx::uctx(), uh);
            }
            checked(ctx, h)
        }
    )*};
}

as_struct!(
    AsStruct_Object => HPyType_BuiltinShape_Object,
    AsStruct_Legacy => HPyType_BuiltinShape_Legacy,
    AsStruct_Type => HPyType_BuiltinShape_Type,
    AsStruct_Long => HPyType_BuiltinShape_Long,
    AsStruct_Float => HPyType_BuiltinShape_Float,
    AsStruct_Unicode => HPyType_BuiltinShape_Unicode,
    AsStruct_Tuple => HPyType_BuiltinShape_Tuple,
    AsStruct_List => HPyType_BuiltinShape_List
);

pub unsafe extern "C" fn ContextVar_Get(ctx: *mut HPyContext, context_var: HPy, default_value: HPy, result: *mut HPy) -> i32 {
    let call = crate::enter!(ctx, "HPyContextVar_Get", ContextVar_Get(ctx, context_var, default_value, result));
    guarded!(call, {
        let uv = call.unwrap_obj(context_var, "context_var")?;
        let ud = call.unwrap(default_value, "default_value")?;
        require(&call, !result.is_null(), "HPyContextVar_Get: 'result' is NULL")?;
        let mut ur = HPy::NULL;
        let r = (call.u().ContextVar_Get.unwrap_unchecked())(call.uctx(), uv, ud, &mut ur);
        *result = if r < 0 { HPy::NULL } else { call.open(ur) };
        r
    })
}

pub unsafe extern "C" fn Slice_Unpack(
    ctx: *mut HPyContext,
    slice: HPy,
    start: *mut HPy_ssize_t,
    stop: *mut HPy_ssize_t,
    step: *mut HPy_ssize_t,
) -> c_int {
    let call = crate::enter!(ctx, "HPySlice_Unpack", Slice_Unpack(ctx, slice, start, stop, step));
    guarded!(call, {
        let us = call.unwrap_obj(slice, "slice")?;
        // The universal context does not check the type: a non-slice crashes.
        let ok = (call.u().TypeCheck.unwrap_unchecked())(call.uctx(), us, call.u().h_SliceType) != 0;
        require(&call, ok, "HPySlice_Unpack arg 1 must be a slice object")?;
        require(&call, !start.is_null() && !stop.is_null() && !step.is_null(), "HPySlice_Unpack: start, stop and step must not be NULL")?;
        (call.u().Slice_Unpack.unwrap_unchecked())(call.uctx(), us, start, stop, step)
    })
}

/// Cancel a builder or close a tracker from outside any call (the Python
/// API's `_force_close`); nothing if it is not open.
pub fn force_close_aux(kind: AuxKind, h: isize) {
    let mut handles = Vec::new();
    let Ok(ub) = AUX.lock().close(h, kind, &mut handles) else { return };
    let u = crate::state::ctx::u();
    unsafe {
        match kind {
            AuxKind::TupleBuilder => (u.TupleBuilder_Cancel.unwrap_unchecked())(crate::state::ctx::uctx(), HPyTupleBuilder::from_raw(ub)),
            AuxKind::ListBuilder => (u.ListBuilder_Cancel.unwrap_unchecked())(crate::state::ctx::uctx(), HPyListBuilder::from_raw(ub)),
            AuxKind::Tracker => {}
        }
    }
    for h in handles {
        close_owned(HPy::from_raw(h), "HPyTracker_Close", 0, &SHARED_MEMO);
    }
}

// ~~~ trackers: implemented here, holding debug handles ~~~

pub unsafe extern "C" fn Tracker_New(ctx: *mut HPyContext, _size: HPy_ssize_t) -> HPyTracker {
    let call = crate::enter!(ctx, "HPyTracker_New", Tracker_New(ctx, _size));
    HPyTracker::from_raw(crate::func::call::open_aux(AuxKind::Tracker, 0, call.ra))
}

pub unsafe extern "C" fn Tracker_Add(ctx: *mut HPyContext, ht: HPyTracker, h: HPy) -> c_int {
    let call = crate::enter!(ctx, "HPyTracker_Add", Tracker_Add(ctx, ht, h));
    guarded!(call, {
        // Validate now: a closed handle added here would only be caught at
        // Close.  One that is reported is not tracked (it would be reported
        // again at Close).
        if !h.is_null() && crate::func::call::open_uh(h).is_none() {
            call.unwrap(h, "h")?;
            return Ok(0);
        }
        let r = AUX.lock().track(ht.raw(), h.raw());
        match r {
            Ok(()) => 0,
            Err(e) => {
                let _ = report::invalid_aux(call.api, AuxKind::Tracker, ht.raw(), e);
                return Err(Skip);
            }
        }
    })
}

pub unsafe extern "C" fn Tracker_ForgetAll(ctx: *mut HPyContext, ht: HPyTracker) {
    let call = crate::enter!(ctx, "HPyTracker_ForgetAll", Tracker_ForgetAll(ctx, ht));
    let r = AUX.lock().forget_all(ht.raw());
    if let Err(e) = r {
        let _ = report::invalid_aux(call.api, AuxKind::Tracker, ht.raw(), e);
    }
}

pub unsafe extern "C" fn Tracker_Close(ctx: *mut HPyContext, ht: HPyTracker) {
    let call = crate::enter!(ctx, "HPyTracker_Close", Tracker_Close(ctx, ht));
    let mut handles = Vec::new();
    let r = AUX.lock().close(ht.raw(), AuxKind::Tracker, &mut handles);
    match r {
        Ok(_) => {
            for h in handles {
                close_owned(HPy::from_raw(h), call.api, call.ra, call.memo);
            }
        }
        Err(e) => {
            let _ = report::invalid_aux(call.api, AuxKind::Tracker, ht.raw(), e);
        }
    }
}
