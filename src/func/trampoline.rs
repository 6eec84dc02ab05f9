//! Calls from the runtime into the extension (`ctx_CallRealFunctionFromTrampoline`).
//!
//! The extension's CPython trampolines hand us `(sig, func, args)` with
//! `PyObject*` arguments.  Rather than converting those ourselves, we let the
//! *universal* context do it, giving it a shim of the same signature instead
//! of `func`: the universal context converts the arguments to universal
//! handles and calls the shim, which opens debug handles for them, calls
//! `func` with a fresh per-call context, closes and checks the argument
//! handles, and hands the result back.  This keeps hpydbg independent of how
//! a runtime represents handles.  `func` travels to the shim in a global
//! (see `ctx::set_pending`), set right before the universal context calls it.
//!
//! One exception, for speed: on CPython, whose universal handles are
//! `PyObject* + 1` (hpydbg reads them in place elsewhere too), the
//! signatures whose arguments and result are all objects (`NOARGS`, `O`,
//! the unary, binary and ternary slots) convert their arguments themselves,
//! as the universal context's `ctx_CallRealFunctionFromTrampoline` does for
//! them, and skip the trip through it (`direct!`).
#![allow(non_snake_case)]

use std::os::raw::{c_char, c_int, c_void};

use crate::abi::*;
use crate::state::ctx::{self, TABLE};
use crate::tables::handles::{CloseError, Lookup};
use crate::diag::errstate::{self, Returned};
use crate::diag::report::{self, Callee, Use};

/// How a trampoline argument or result crosses between the two contexts.
/// `leave` gets the function that was called, to name it in reports.
trait Cross: Copy {
    fn enter(self) -> Self;
    fn leave(self, f: Callee);
}

impl Cross for HPy {
    #[inline]
    fn enter(self) -> Self {
        if self.is_null() {
            return self;
        }
        // Out of memory: the function gets HPy_NULL for this argument.
        HPy::from_raw(TABLE.lock().open_arg(self.raw()))
    }

    #[inline]
    fn leave(self, f: Callee) {
        close_arg(self, f)
    }
}

macro_rules! plain_cross {
    ($($t:ty),*) => {$(
        impl Cross for $t {
            #[inline(always)] fn enter(self) -> Self { self }
            #[inline(always)] fn leave(self, _: Callee) {}
        }
    )*};
}
plain_cross!(HPy_ssize_t, c_int, *mut c_void, *mut c_char);

trait Back: Copy {
    fn back(self, f: Callee) -> Self;
}

impl Back for HPy {
    #[inline]
    fn back(self, f: Callee) -> Self {
        result_to_universal(self, f, Use::Return)
    }
}

macro_rules! plain_back {
    ($($t:ty),*) => {$( impl Back for $t { #[inline(always)] fn back(self, _: Callee) -> Self { self } } )*};
}
plain_back!(HPy_ssize_t, c_int, ());

/// Close an argument handle after the call; the extension must not have.
#[inline(always)]
fn close_arg(h: HPy, f: Callee) {
    if TABLE.lock().close_fast::<true>(h.raw(), 0).is_none() {
        close_arg_slow(h, f)
    }
}

#[cold]
#[inline(never)]
fn close_arg_slow(h: HPy, f: Callee) {
    if h.is_null() {
        return;
    }
    let r = TABLE.lock().close_arg(h.raw());
    if let Err(CloseError::Invalid(l) | CloseError::Immortal(l) | CloseError::Borrowed(l)) = r {
        let _ = report::invalid_handle(Use::CallArg(f), h.raw(), l);
    }
}

/// A handle returned by the extension: its ownership passes to the runtime.
/// `how` says, for a report, what it was returned as (the `Use` is only
/// made on the slow path: built before the fast path, it costs stores).
#[inline(always)]
fn result_to_universal(h: HPy, f: Callee, how: fn(Callee) -> Use) -> HPy {
    match TABLE.lock().close_fast::<true>(h.raw(), 0) {
        Some(uh) => HPy::from_raw(uh),
        None => result_to_universal_slow(h, how(f)),
    }
}

#[cold]
#[inline(never)]
fn result_to_universal_slow(h: HPy, u: Use) -> HPy {
    if h.is_null() {
        return h;
    }
    let r = TABLE.lock().close_arg(h.raw());
    match r {
        Ok(uh) => HPy::from_raw(uh),
        Err(CloseError::Invalid(l) | CloseError::Immortal(l) | CloseError::Borrowed(l)) => {
            let _ = report::invalid_handle(u, h.raw(), l);
            // Going on: the runtime will own a reference, so give it one.
            let uh = l.uh_or_null();
            if uh == 0 || !matches!(l, Lookup::Closed { .. } | Lookup::Immortal { .. }) {
                // Nothing left to return.  Under `raise`: an error, with its
                // reason; going on: `None`, a valid result, no exception
                // (universal mode would hand freed memory or garbage on).
                if report::refusal_raises() {
                    report::set_debug_error("hpydbg: the function returned an invalid handle (see the report above)");
                    return HPy::NULL;
                }
                let u = ctx::u();
                return unsafe { (u.Dup.unwrap_unchecked())(ctx::uctx(), u.h_None) };
            }
            unsafe { (ctx::u().Dup.unwrap_unchecked())(ctx::uctx(), HPy::from_raw(uh)) }
        }
    }
}

/// The function the universal context is calling through this shim (whose
/// signature is `sig`), and its description for reports.
unsafe fn pending<F>(sig: c_int) -> (F, Callee) {
    let f = ctx::take_pending();
    if f.is_null() {
        crate::base::bug::fatal_internal("trampoline shim called without a pending function");
    }
    (std::mem::transmute_copy::<*const c_void, F>(&f), Callee { func: f as usize, sig })
}

/// Shims for signatures whose arguments are single values; `S` is the
/// `HPyFunc_Signature`, which says what the result means (`errstate`).
/// `$run` is the call proper, given the universal handles by whichever
/// route they came (the shim, or `direct!`).
macro_rules! shims {
    ($( $shim:ident / $run:ident ( $($a:ident : $t:ty),* ) -> $ret:ty ; )*) => {$(
        #[inline(always)]
        unsafe fn $run<const S: c_int>(f: unsafe extern "C" fn(*mut HPyContext $(, $t)*) -> $ret, callee: Callee $(, $a: $t)*) -> $ret {
            let t = ctx::thread();
            $( let $a = Cross::enter($a); )*
            let r = t.with_call_ctx(|dctx| checked::<S, _>(f as *const c_void, dctx, || f(dctx $(, $a)*)));
            $( Cross::leave($a, callee); )*
            Back::back(r, callee)
        }

        unsafe extern "C" fn $shim<const S: c_int>(_uctx: *mut HPyContext $(, $a: $t)*) -> $ret {
            let (f, callee) = pending(S);
            $run::<S>(f, callee $(, $a)*)
        }
    )*};
}

/// Call the extension function `f` (signature `S`) in call `dctx` and check
/// its result against the error protocol.
#[inline(always)]
fn checked<const S: c_int, R: Returned>(f: *const c_void, dctx: *mut HPyContext, call: impl FnOnce() -> R) -> R {
    let inherited = errstate::inherited::<S>();
    let r = call();
    errstate::check_return::<S, R>(r, f, dctx, inherited);
    r
}

shims! {
    shim_h / run_h(a: HPy) -> HPy;
    shim_hh / run_hh(a: HPy, b: HPy) -> HPy;
    shim_hhh / run_hhh(a: HPy, b: HPy, c: HPy) -> HPy;
    shim_h_ssize / run_h_ssize(a: HPy) -> HPy_ssize_t;
    shim_hs / run_hs(a: HPy, b: HPy_ssize_t) -> HPy;
    shim_hss / run_hss(a: HPy, b: HPy_ssize_t, c: HPy_ssize_t) -> HPy;
    shim_hsh_int / run_hsh_int(a: HPy, b: HPy_ssize_t, c: HPy) -> c_int;
    shim_hssh_int / run_hssh_int(a: HPy, b: HPy_ssize_t, c: HPy_ssize_t, d: HPy) -> c_int;
    shim_hhh_int / run_hhh_int(a: HPy, b: HPy, c: HPy) -> c_int;
    shim_p_void / run_p_void(a: *mut c_void) -> ();
    shim_hc / run_hc(a: HPy, b: *mut c_char) -> HPy;
    shim_hch_int / run_hch_int(a: HPy, b: *mut c_char, c: HPy) -> c_int;
    shim_hhi / run_hhi(a: HPy, b: HPy, c: c_int) -> HPy;
    shim_hp / run_hp(a: HPy, b: *mut c_void) -> HPy;
    shim_hhp_int / run_hhp_int(a: HPy, b: HPy, c: *mut c_void) -> c_int;
    shim_hh_int / run_hh_int(a: HPy, b: HPy) -> c_int;
    shim_h_void / run_h_void(a: HPy) -> ();
}

/// CPython's universal handle of a `PyObject*` (borrowed), as its
/// trampolines make it (`_py2h`: `ctx::cpython_handle`, NULL for NULL).
#[inline(always)]
fn py2h(o: usize) -> HPy {
    if o == 0 { HPy::NULL } else { ctx::cpython_handle(o as *mut pyo3::ffi::PyObject) }
}

/// The `PyObject*` of CPython's universal handle `h` (`_h2py`): the
/// reference the handle owned passes to the caller.
#[inline(always)]
fn h2py(h: HPy) -> usize {
    if h.is_null() {
        0
    } else {
        ctx::cpython_ptr(h) as usize
    }
}

/// The direct route on CPython for signatures with `$n` object arguments
/// and an object result: `args` is their `_HPyFunc_args_<SIG>` (the
/// arguments' `PyObject*`s, then the result's), read as the universal
/// context reads it.
macro_rules! direct {
    ($( $direct:ident / $run:ident [$($i:literal),*] $n:literal; )*) => {$(
        unsafe fn $direct<const S: c_int>(func: HPyCFunction, args: *mut c_void) {
            let a = &mut *(args as *mut [usize; $n + 1]);
            let f = std::mem::transmute::<HPyCFunction, _>(func);
            let r = $run::<S>(f, Callee { func: func as usize, sig: S } $(, py2h(a[$i]))*);
            a[$n] = h2py(r);
        }
    )*};
}

direct! {
    direct_h / run_h [0] 1;
    direct_hh / run_hh [0, 1] 2;
    direct_hhh / run_hhh [0, 1, 2] 3;
}

type Direct = unsafe fn(HPyCFunction, *mut c_void);

/// The direct route for `sig`, where there is one: on CPython, for the
/// signatures whose universal case is `a->result = _h2py(f(ctx, _py2h(a->arg0)...))`
/// (hpy/universal/src/ctx_meth.c, autogen_ctx_call.i).
fn direct_for(sig: HPyFunc_Signature) -> Option<Direct> {
    use crate::abi::sig::*;
    if !ctx::universal_is_cpython() {
        return None;
    }
    macro_rules! by_signature {
        ($($direct:ident: $($s:ident)|*;)*) => {
            match sig {
                $($( $s => Some($direct::<$s> as Direct), )*)*
                _ => None,
            }
        };
    }
    by_signature! {
        direct_h: NOARGS | UNARYFUNC | REPRFUNC | GETITERFUNC | ITERNEXTFUNC;
        direct_hh: O | BINARYFUNC | GETATTROFUNC;
        direct_hhh: TERNARYFUNC | DESCRGETFUNC;
    }
}

/// `HPyFunc_INQUIRY` serves `nb_bool` and the module's exec slot
/// (`HPy_mod_exec`), told apart by the argument being a module: the sites
/// first seen during an exec slot are recorded (`tables::init_sites`), for
/// the leak report's advice.
unsafe extern "C" fn shim_inquiry(_u: *mut HPyContext, a: HPy) -> c_int {
    let t = ctx::thread();
    let (f, callee): (unsafe extern "C" fn(*mut HPyContext, HPy) -> c_int, _) = pending(sig::INQUIRY);
    let exec_from = if is_module(a) { Some(ctx::SITES.lock().len() as u32 + 1) } else { None };
    let d = Cross::enter(a);
    let r = t.with_call_ctx(|dctx| checked::<{ sig::INQUIRY }, _>(f as *const c_void, dctx, || f(dctx, d)));
    Cross::leave(d, callee);
    if let Some(first) = exec_from {
        crate::tables::init_sites::record(first, ctx::SITES.lock().len() as u32 + 1);
    }
    r
}

/// Whether universal handle `uh` is a module object (CPython only: one load
/// and a compare; elsewhere no).
fn is_module(uh: HPy) -> bool {
    !uh.is_null() && ctx::universal_is_cpython() && unsafe { pyo3::ffi::PyModule_Check(ctx::cpython_ptr(uh)) != 0 }
}

/// Open argument handles for an array of universal handles.
struct ArgArray {
    small: [HPy; 16],
    big: Vec<HPy>,
    n: usize,
}

impl ArgArray {
    unsafe fn open(items: *const HPy, n: usize) -> ArgArray {
        let mut a = ArgArray { small: [HPy::NULL; 16], big: Vec::new(), n };
        if n > 16 {
            a.big.resize(n, HPy::NULL);
        }
        let mut t = TABLE.lock();
        for (i, slot) in a.slice_mut().iter_mut().enumerate() {
            let uh = *items.add(i);
            // Out of memory: the function gets HPy_NULL for this argument.
            *slot = if uh.is_null() { uh } else { HPy::from_raw(t.open_arg(uh.raw())) };
        }
        a
    }

    fn slice_mut(&mut self) -> &mut [HPy] {
        if self.n > 16 {
            &mut self.big[..]
        } else {
            &mut self.small[..self.n]
        }
    }

    fn as_ptr(&mut self) -> *const HPy {
        self.slice_mut().as_ptr()
    }

    fn close(mut self, f: Callee) {
        for &h in self.slice_mut().iter() {
            close_arg(h, f);
        }
    }
}

unsafe extern "C" fn shim_varargs(_u: *mut HPyContext, self_: HPy, args: *const HPy, nargs: usize) -> HPy {
    let t = ctx::thread();
    let (f, callee): (unsafe extern "C" fn(*mut HPyContext, HPy, *const HPy, usize) -> HPy, _) = pending(sig::VARARGS);
    let s = self_.enter();
    let mut a = ArgArray::open(args, nargs);
    let p = a.as_ptr();
    let r = t.with_call_ctx(|d| checked::<{ sig::VARARGS }, _>(f as *const c_void, d, || f(d, s, p, nargs)));
    s.leave(callee);
    a.close(callee);
    r.back(callee)
}

/// The shape shared by keywords, initproc and newfunc: `self`, an array of
/// `n_items` argument handles (`nargs` is passed on as it came), then a
/// trailing handle (`kwnames` or `kw`).
unsafe fn call_with_array<const S: c_int, N: Copy, R: Back + Returned>(
    self_: HPy,
    args: *const HPy,
    nargs: N,
    n_items: usize,
    kw: HPy,
) -> R {
    let t = ctx::thread();
    let (f, callee): (unsafe extern "C" fn(*mut HPyContext, HPy, *const HPy, N, HPy) -> R, _) = pending(S);
    let s = self_.enter();
    let k = kw.enter();
    let mut a = ArgArray::open(args, n_items);
    let p = a.as_ptr();
    let r = t.with_call_ctx(|d| checked::<S, _>(f as *const c_void, d, || f(d, s, p, nargs, k)));
    s.leave(callee);
    a.close(callee);
    k.leave(callee);
    r.back(callee)
}

unsafe extern "C" fn shim_keywords(u: *mut HPyContext, self_: HPy, args: *const HPy, nargs: usize, kwnames: HPy) -> HPy {
    let nkw = if kwnames.is_null() { 0 } else { ((*u).Length.unwrap_unchecked())(u, kwnames).max(0) as usize };
    call_with_array::<{ sig::KEYWORDS }, _, _>(self_, args, nargs, nargs + nkw, kwnames)
}

unsafe extern "C" fn shim_initproc(_u: *mut HPyContext, self_: HPy, args: *const HPy, nargs: HPy_ssize_t, kw: HPy) -> c_int {
    call_with_array::<{ sig::INITPROC }, _, _>(self_, args, nargs, nargs.max(0) as usize, kw)
}

unsafe extern "C" fn shim_newfunc(_u: *mut HPyContext, type_: HPy, args: *const HPy, nargs: HPy_ssize_t, kw: HPy) -> HPy {
    call_with_array::<{ sig::NEWFUNC }, _, _>(type_, args, nargs, nargs.max(0) as usize, kw)
}

unsafe extern "C" fn shim_getbuffer(_u: *mut HPyContext, self_: HPy, view: *mut HPy_buffer, flags: c_int) -> c_int {
    let t = ctx::thread();
    let (f, callee): (unsafe extern "C" fn(*mut HPyContext, HPy, *mut HPy_buffer, c_int) -> c_int, _) = pending(sig::GETBUFFERPROC);
    let s = self_.enter();
    let mut dbuf: HPy_buffer = std::mem::zeroed();
    let r = t.with_call_ctx(|d| checked::<{ sig::GETBUFFERPROC }, _>(f as *const c_void, d, || f(d, s, &mut dbuf, flags)));
    s.leave(callee);
    if r >= 0 {
        // The buffer owns `obj`: pass it on like a returned handle.
        dbuf.obj = result_to_universal(dbuf.obj, callee, Use::BufferObj);
        *view = dbuf;
    }
    r
}

unsafe extern "C" fn shim_releasebuffer(_u: *mut HPyContext, self_: HPy, view: *mut HPy_buffer) {
    let t = ctx::thread();
    let (f, callee): (unsafe extern "C" fn(*mut HPyContext, HPy, *mut HPy_buffer), _) = pending(sig::RELEASEBUFFERPROC);
    let s = self_.enter();
    let mut dbuf = *view;
    dbuf.obj = dbuf.obj.enter();
    t.with_call_ctx(|d| checked::<{ sig::RELEASEBUFFERPROC }, _>(f as *const c_void, d, || f(d, s, &mut dbuf)));
    s.leave(callee);
    dbuf.obj.leave(callee);
}

/// The shim for a signature, or `None` when the function takes no context
/// (it is then passed to the universal context unchanged).
fn shim_for(sig: HPyFunc_Signature) -> Result<Option<*const c_void>, ()> {
    use crate::abi::sig::*;
    /// One shim per signature: the shape of its arguments, and the
    /// signature itself, which says what its result means.
    macro_rules! by_signature {
        ($($shim:ident: $($s:ident)|*;)*) => {
            match sig {
                $($( $s => $shim::<$s> as *const c_void, )*)*
                VARARGS => shim_varargs as _,
                KEYWORDS => shim_keywords as _,
                INITPROC => shim_initproc as _,
                INQUIRY => shim_inquiry as _,
                NEWFUNC => shim_newfunc as _,
                GETBUFFERPROC => shim_getbuffer as _,
                RELEASEBUFFERPROC => shim_releasebuffer as _,
                TRAVERSEPROC | CAPSULE_DESTRUCTOR | DESTROYFUNC | VECTORCALLFUNC => return Ok(None),
                _ => return Err(()),
            }
        };
    }
    let p: *const c_void = by_signature! {
        shim_h: NOARGS | UNARYFUNC | REPRFUNC | GETITERFUNC | ITERNEXTFUNC | MOD_CREATE;
        shim_hh: O | BINARYFUNC | GETATTROFUNC;
        shim_hhh: TERNARYFUNC | DESCRGETFUNC;
        shim_h_ssize: LENFUNC | HASHFUNC;
        shim_hs: SSIZEARGFUNC;
        shim_hss: SSIZESSIZEARGFUNC;
        shim_hsh_int: SSIZEOBJARGPROC;
        shim_hssh_int: SSIZESSIZEOBJARGPROC;
        shim_hhh_int: OBJOBJARGPROC | SETATTROFUNC | DESCRSETFUNC;
        shim_p_void: FREEFUNC;
        shim_hc: GETATTRFUNC;
        shim_hch_int: SETATTRFUNC;
        shim_hhi: RICHCMPFUNC;
        shim_hp: GETTER;
        shim_hhp_int: SETTER;
        shim_hh_int: OBJOBJPROC;
        shim_h_void: DESTRUCTOR;
    };
    Ok(Some(p))
}

/// How a signature's calls go, by signature, filled on first use (under
/// the GIL).
#[derive(Copy, Clone)]
struct Route {
    /// `direct_for`.
    direct: Option<Direct>,
    /// `shim_for`: 0 unknown, `NO_SHIM` when the function is passed on
    /// unchanged, else the shim.
    shim: usize,
}
static mut ROUTES: [Route; 64] = [Route { direct: None, shim: 0 }; 64];
const NO_SHIM: usize = 1;

pub unsafe extern "C" fn CallRealFunctionFromTrampoline(
    _ctx: *mut HPyContext,
    sig: HPyFunc_Signature,
    func: HPyCFunction,
    args: *mut c_void,
) {
    let s = sig as usize;
    if s < 64 {
        let route = (*std::ptr::addr_of!(ROUTES))[s];
        if let Some(direct) = route.direct {
            return direct(func, args);
        }
        if route.shim > NO_SHIM {
            ctx::set_pending(func);
            return (ctx::u().CallRealFunctionFromTrampoline.unwrap_unchecked())(ctx::uctx(), sig, route.shim as *const c_void, args);
        }
    }
    call_real_slow(sig, func, args)
}

#[cold]
#[inline(never)]
unsafe fn call_real_slow(sig: HPyFunc_Signature, func: HPyCFunction, args: *mut c_void) {
    let forward = ctx::u().CallRealFunctionFromTrampoline.unwrap_unchecked();
    let shim = match shim_for(sig) {
        Ok(shim) => shim,
        Err(()) => report::fatal_api(&format!("hpydbg: unsupported HPyFunc_Signature {} in ctx_CallRealFunctionFromTrampoline", sig)),
    };
    let direct = direct_for(sig);
    if (sig as usize) < 64 {
        (*std::ptr::addr_of_mut!(ROUTES))[sig as usize] = Route { direct, shim: shim.map_or(NO_SHIM, |p| p as usize) };
    }
    if let Some(direct) = direct {
        return direct(func, args);
    }
    match shim {
        Some(shim) => {
            ctx::set_pending(func);
            forward(ctx::uctx(), sig, shim, args)
        }
        // A probe of the tp_traverse contract is running this traverse.
        None if sig == crate::abi::sig::TRAVERSEPROC && crate::func::traverse::probing() => {
            forward(ctx::uctx(), sig, crate::func::traverse::substitute(func), args)
        }
        None => forward(ctx::uctx(), sig, func, args),
    }
}
