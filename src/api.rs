//! The debug context's function table.
//!
//! Regular functions are generated from the ABI member list: every `HPy`
//! argument is validated and unwrapped, every other argument is passed as it
//! is, the call goes to the universal context, and an `HPy` result is opened
//! as a debug handle.  Which argument types are "regular" is decided by the
//! [`Arg`] trait: a type without an impl (handle arrays, builders,
//! trackers...) cannot be generated, so every such function must be written
//! by hand in [`manual`]; the compiler checks that each member has exactly
//! one implementation.

use std::os::raw::{c_char, c_int, c_void};

use crate::abi::*;
use crate::ctx::{self, ctxs, lock, Contexts, SETTINGS, TABLE};
use crate::handles::{CloseError, Lookup};
use crate::report::{self, Use};
use crate::stacktrace::Trace;

/// One API call in progress: the shared contexts plus the public API name.
pub struct Call {
    pub c: &'static Contexts,
    pub api: &'static str,
}

impl Call {
    /// Check that `ctx` is the context of the current call.
    #[inline]
    pub fn enter(ctx: *mut HPyContext, api: &'static str) -> Call {
        let c = ctxs();
        if !ctx::ctx_is_current(c, ctx) {
            report::wrong_context(api, ctx);
        }
        Call { c, api }
    }

    #[inline]
    pub fn u(&self) -> &'static HPyContext {
        self.c.u()
    }

    #[inline]
    pub fn uctx(&self) -> *mut HPyContext {
        self.c.uctx
    }

    /// Validate a handle argument and return the universal handle.
    #[inline]
    pub fn unwrap(&self, h: HPy, name: &str) -> HPy {
        unwrap_for(Use::Arg { api: self.api, name }, h)
    }

    /// Open a debug handle for a universal handle the caller now owns.
    #[inline]
    pub fn open(&self, uh: HPy) -> HPy {
        open_handle(uh)
    }
}

/// Validate `h` for use `u`; on an invalid handle, report and (if the policy
/// goes on) return what it wrapped, or null.
#[inline]
pub fn unwrap_for(u: Use, h: HPy) -> HPy {
    if h.is_null() {
        return h;
    }
    let l = lock(&TABLE).lookup(h.raw());
    match l {
        Lookup::Open { uh, .. } | Lookup::Immortal { uh, .. } => HPy::from_raw(uh),
        _ => {
            report::invalid_handle(u, h.raw(), l);
            HPy::from_raw(l.uh_or_null())
        }
    }
}

/// Open a debug handle (null stays null).
#[inline]
pub fn open_handle(uh: HPy) -> HPy {
    if uh.is_null() {
        return uh;
    }
    let limit = SETTINGS.stack_trace_limit();
    if limit == 0 {
        return HPy::from_raw(lock(&TABLE).open(uh.raw(), false));
    }
    let trace = Trace::capture(limit);
    let mut t = lock(&TABLE);
    let h = t.open(uh.raw(), false);
    let (index, _) = crate::handles::decode(h).unwrap();
    let e = t.extra_mut(index);
    e.opened_at = Some(trace);
    e.closed_at = None;
    HPy::from_raw(h)
}

/// Close the debug handle only (the universal one is owned elsewhere);
/// returns the universal handle, or reports.
pub fn close_debug_only(u: Use, h: HPy) -> Option<HPy> {
    if h.is_null() {
        return None;
    }
    let limit = SETTINGS.stack_trace_limit();
    let r = lock(&TABLE).close_arg(h.raw());
    match r {
        Ok(uh) => {
            if limit > 0 {
                record_close_trace(h, limit);
            }
            Some(HPy::from_raw(uh))
        }
        Err(CloseError::Invalid(l) | CloseError::Immortal(l) | CloseError::Borrowed(l)) => {
            report::invalid_handle(u, h.raw(), l);
            None
        }
    }
}

fn record_close_trace(h: HPy, limit: usize) {
    let trace = Trace::capture(limit);
    let mut t = lock(&TABLE);
    if let Some((index, _)) = crate::handles::decode(h.raw()) {
        t.extra_mut(index).closed_at = Some(trace);
    }
}

/// Argument conversion for generated wrappers.
pub trait Arg: Copy {
    fn to_u(self, call: &Call, name: &str) -> Self;
}

impl Arg for HPy {
    #[inline]
    fn to_u(self, call: &Call, name: &str) -> Self {
        call.unwrap(self, name)
    }
}

macro_rules! pass_through_args {
    ($($t:ty),*) => {$(
        impl Arg for $t {
            #[inline(always)]
            fn to_u(self, _: &Call, _: &str) -> Self { self }
        }
    )*};
}

pass_through_args!(
    i32, u32, i64, u64, usize, isize, f64, bool,
    *const c_char, *mut c_void, *mut *mut c_void, *const wchar_t,
    HPyField, *mut HPyField, HPyGlobal, *mut HPyGlobal, HPyThreadState,
    *mut HPyCapsule_Destructor, *mut HPy_ssize_t, *mut HPyCallFunction
);

/// Result conversion for generated wrappers.
pub trait Ret: Copy {
    fn from_u(self, call: &Call) -> Self;
}

impl Ret for HPy {
    #[inline]
    fn from_u(self, call: &Call) -> Self {
        call.open(self)
    }
}

macro_rules! pass_through_rets {
    ($($t:ty),*) => {$(
        impl Ret for $t {
            #[inline(always)]
            fn from_u(self, _: &Call) -> Self { self }
        }
    )*};
}

pass_through_rets!(i32, u32, i64, u64, usize, isize, f64, (), *mut c_void, *const c_char, HPyThreadState);

/// Generate the regular wrappers; hand-written ones are skipped here.
macro_rules! generate_wrappers {
    ($( $kind:tt $name:ident $( $pub:literal ( $($an:ident : $at:ty),* ) -> $ret:ty )? ; )*) => {
        $( generate_wrappers!(@one $kind $name $( $pub ( $($an : $at),* ) -> $ret )?); )*
    };
    (@one const $name:ident) => {};
    (@one fn $name:ident $pub:literal ( $($an:ident : $at:ty),* ) -> $ret:ty) => {
        skip_manual!($name {
            #[allow(non_snake_case)]
            pub unsafe extern "C" fn $name(ctx: *mut HPyContext $(, $an: $at)*) -> $ret {
                let call = Call::enter(ctx, $pub);
                $( let $an = Arg::to_u($an, &call, stringify!($an)); )*
                let f = call.u().$name.unwrap_unchecked();
                Ret::from_u(f(call.uctx() $(, $an)*), &call)
            }
        });
    };
}

/// Expands its body unless the function is implemented in [`manual`].
macro_rules! skip_manual {
    (Close $body:tt) => {};
    (Tuple_FromArray $body:tt) => {};
    (Type_GenericNew $body:tt) => {};
    (Type_FromSpec $body:tt) => {};
    (Call $body:tt) => {};
    (CallMethod $body:tt) => {};
    (Unicode_AsUTF8AndSize $body:tt) => {};
    (Bytes_AsString $body:tt) => {};
    (Bytes_AS_STRING $body:tt) => {};
    (Type_GetName $body:tt) => {};
    (Type_IsSubtype $body:tt) => {};
    (TypeCheck $body:tt) => {};
    (Unicode_Substring $body:tt) => {};
    (AsStruct_Object $body:tt) => {};
    (AsStruct_Legacy $body:tt) => {};
    (AsStruct_Type $body:tt) => {};
    (AsStruct_Long $body:tt) => {};
    (AsStruct_Float $body:tt) => {};
    (AsStruct_Unicode $body:tt) => {};
    (AsStruct_Tuple $body:tt) => {};
    (AsStruct_List $body:tt) => {};
    (ContextVar_Get $body:tt) => {};
    (CallRealFunctionFromTrampoline $body:tt) => {};
    (ListBuilder_New $body:tt) => {};
    (ListBuilder_Set $body:tt) => {};
    (ListBuilder_Build $body:tt) => {};
    (ListBuilder_Cancel $body:tt) => {};
    (TupleBuilder_New $body:tt) => {};
    (TupleBuilder_Set $body:tt) => {};
    (TupleBuilder_Build $body:tt) => {};
    (TupleBuilder_Cancel $body:tt) => {};
    (Tracker_New $body:tt) => {};
    (Tracker_Add $body:tt) => {};
    (Tracker_ForgetAll $body:tt) => {};
    (Tracker_Close $body:tt) => {};
    ($name:ident { $($body:tt)* }) => { $($body)* };
}

mod generated {
    use super::*;
    crate::hpy_context_members!(generate_wrappers);
}

/// Every function of the table: generated or hand-written (a name in both
/// or in neither is a compile error where `fill_functions` uses it).
mod all {
    pub use super::generated::*;
    pub use crate::manual::*;
    pub use crate::trampoline::CallRealFunctionFromTrampoline;
}

macro_rules! fill {
    ($( $kind:tt $name:ident $( $pub:literal ( $($an:ident : $at:ty),* ) -> $ret:ty )? ; )*) => {
        /// Point every function member of `ctx` at our implementation.
        pub fn fill_functions(ctx: &mut HPyContext) {
            $( fill!(@one ctx $kind $name); )*
        }
    };
    (@one $ctx:ident const $name:ident) => {};
    (@one $ctx:ident fn $name:ident) => { $ctx.$name = Some(all::$name); };
}

crate::hpy_context_members!(fill);

/// Public name of each member, for tests and tools.
macro_rules! names {
    ($( $kind:tt $name:ident $( $pub:literal ( $($an:ident : $at:ty),* ) -> $ret:ty )? ; )*) => {
        pub fn api_names() -> Vec<(&'static str, &'static str)> {
            let mut v = Vec::new();
            $( names!(@one v $kind $name $( $pub )?); )*
            v
        }
    };
    (@one $v:ident const $name:ident) => {};
    (@one $v:ident fn $name:ident $pub:literal) => { $v.push((stringify!($name), $pub)); };
}

crate::hpy_context_members!(names);

#[allow(dead_code)]
fn _assert_c_int_is_i32(x: c_int) -> i32 {
    x
}
