//! The C API we export: exactly the public names of HPy's `hpy_debug.h`
//! (so `hpy.universal` calls us instead of its own debug mode) and nothing
//! else from HPy's namespace.  See `include/hpydbg.h`.

use std::os::raw::c_int;

use crate::abi::{HPy, HPyContext};
use crate::func::call::{close_debug_only, open_handle, unwrap_for};
use crate::state::ctx;
use crate::diag::report::{self, Use};

/// The debug context wrapping `uctx` (created on first call).
#[no_mangle]
pub unsafe extern "C" fn hpy_debug_get_ctx(uctx: *mut HPyContext) -> *mut HPyContext {
    if uctx.is_null() {
        crate::base::bug::fatal_internal("hpy_debug_get_ctx: NULL universal context");
    }
    if ctx::contexts().is_some() {
        if ctx::is_ours(uctx) {
            report::fatal_api("hpy_debug_get_ctx: expected an universal ctx, got a debug ctx");
        }
        if ctx::uctx() != uctx {
            report::fatal_api("hpy_debug_get_ctx: hpydbg wraps one universal context per process, and was asked for a second one");
        }
    }
    crate::func::execution::install();
    ctx::init(uctx, crate::func::functable::fill_functions).root
}

/// Make `dctx` a debug context wrapping `uctx`.
#[no_mangle]
pub unsafe extern "C" fn hpy_debug_ctx_init(dctx: *mut HPyContext, uctx: *mut HPyContext) -> c_int {
    if dctx.is_null() || uctx.is_null() {
        return -1;
    }
    let root = hpy_debug_get_ctx(uctx);
    if dctx != root {
        std::ptr::copy_nonoverlapping(root, dctx, 1);
    }
    0
}

/// Copy the members of `dctx` into our root context (HPy's debug mode API).
#[no_mangle]
pub unsafe extern "C" fn hpy_debug_set_ctx(dctx: *mut HPyContext) {
    let Some(c) = ctx::contexts() else { return };
    if dctx.is_null() || dctx == c.root {
        return;
    }
    let private = (*c.root)._private;
    std::ptr::copy_nonoverlapping(dctx, c.root, 1);
    (*c.root)._private = private;
}

#[no_mangle]
pub unsafe extern "C" fn hpy_debug_open_handle(_dctx: *mut HPyContext, uh: HPy) -> HPy {
    open_handle(uh, 0, &crate::func::call::SHARED_MEMO)
}

#[no_mangle]
pub unsafe extern "C" fn hpy_debug_unwrap_handle(_dctx: *mut HPyContext, dh: HPy) -> HPy {
    unwrap_for(Use::Arg { api: "hpy_debug_unwrap_handle", name: "dh" }, dh).unwrap_or(HPy::NULL)
}

#[no_mangle]
pub unsafe extern "C" fn hpy_debug_close_handle(_dctx: *mut HPyContext, dh: HPy) {
    close_debug_only(Use::Close { api: "hpy_debug_close_handle" }, dh);
}
