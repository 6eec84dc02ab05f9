//! The regular members of the debug context's function table, generated
//! from the ABI member list (`abi::hpy_context_members!`): every `HPy`
//! argument is validated and unwrapped, every other argument is passed as it
//! is, the call goes to the universal context, and an `HPy` result is opened
//! as a debug handle.  Which argument types are "regular" is decided by the
//! [`Arg`] trait of `call`: a type without an impl (handle arrays,
//! builders, trackers...) cannot be generated, so every such function is
//! written by hand in `manual` (listed in `skip_manual!` below); the
//! function table (`functable`) checks that each member has exactly one
//! implementation.

use std::os::raw::{c_char, c_int, c_void};

use crate::abi::*;
use crate::func::call::{skipped, Arg, Call, Ret};
use crate::state::ctx;
use crate::diag::errstate;

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
                // The common case inline: the context and each handle
                // argument proven by one compare, nothing changed before
                // the call.  Anything else is redone by `full`, which
                // reports.
                #[cold]
                #[inline(never)]
                unsafe fn full(ctx: *mut HPyContext $(, $an: $at)*) -> $ret {
                    let call = crate::enter!(ctx, $pub, $name(ctx $(, $an)*));
                    $( let Ok($an) = Arg::to_u($an, &call, stringify!($an)) else { return skipped($pub) }; )*
                    let f = call.u().$name.unwrap_unchecked();
                    let r = Ret::from_u(f(call.uctx() $(, $an)*), &call);
                    errstate_after!($pub);
                    r
                }
                // The exception-state check costs nothing where the
                // function is allowed with an exception pending.
                const EXCEPTION_OK: bool = errstate::allowed($pub);
                if !crate::state::ctx::fast_ok(ctx) || (!EXCEPTION_OK && crate::base::pyerr::maybe_pending()) {
                    return full(ctx $(, $an)*);
                }
                #[allow(unused_parens)]
                let ($($an),*) = match ($(Arg::fast($an)),*) {
                    ($(Some($an)),*) => ($($an),*),
                    #[allow(unreachable_patterns)]
                    _ => return full(ctx $(, $an)*),
                };
                // Read before the call, which may re-enter the extension.
                let ra = ctx::caller_ra();
                static MEMO: crate::tables::sites::SiteMemo = crate::tables::sites::SiteMemo::new();
                let f = ctx::u().$name.unwrap_unchecked();
                let r = Ret::from_u(f(ctx::uctx() $(, $an)*), &Call { api: $pub, ra, memo: &MEMO });
                errstate_after!($pub);
                r
            }
        });
    };
}

/// After the call: functions that set or clear the exception without an
/// error return update its origin record (compile-time choice).
macro_rules! errstate_after {
    ($pub:literal) => {{
        const SETS: bool = errstate::sets_exception($pub);
        const CLEARS: bool = errstate::clears_exception($pub);
        if SETS {
            errstate::note_error($pub);
        } else if CLEARS {
            errstate::forget();
        }
    }};
}

/// Expands its body unless the function is implemented by hand (in
/// [`manual`], `execution` or `fields`).
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
    (EvalCode $body:tt) => {};
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
    (LeavePythonExecution $body:tt) => {};
    (Slice_Unpack $body:tt) => {};
    (ReenterPythonExecution $body:tt) => {};
    (Field_Store $body:tt) => {};
    (Field_Load $body:tt) => {};
    (Global_Store $body:tt) => {};
    (Global_Load $body:tt) => {};
    ($name:ident { $($body:tt)* }) => { $($body)* };
}

crate::hpy_context_members!(generate_wrappers);

