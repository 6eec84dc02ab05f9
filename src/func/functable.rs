//! The debug context's function table: every member points at its
//! implementation, generated (`generated`) or hand-written (`manual`,
//! `builders`, `execution`, `fields`, `trampoline`).  A name in both or in neither is a compile error here.

use crate::abi::HPyContext;

mod all {
    pub use crate::func::generated::*;
    pub use crate::func::manual::*;
    pub use crate::func::builders::{
        ListBuilder_Build, ListBuilder_Cancel, ListBuilder_New, ListBuilder_Set, TupleBuilder_Build, TupleBuilder_Cancel, TupleBuilder_New,
        TupleBuilder_Set,
    };
    pub use crate::func::execution::{LeavePythonExecution, ReenterPythonExecution};
    pub use crate::func::fields::{Field_Load, Field_Store, Global_Load, Global_Store};
    pub use crate::func::trampoline::CallRealFunctionFromTrampoline;
}


macro_rules! fill {
    ($( $kind:tt $name:ident $( $pub:literal ( $($an:ident : $at:ty),* ) -> $ret:ty )? ; )*) => {
        /// Point every function member of `ctx` at our implementation.
        pub fn fill_functions(ctx: &mut HPyContext) {
            $( fill!(@one ctx $kind $name); )*
            type CloseFn = unsafe extern "C" fn(*mut HPyContext, crate::abi::HPy);
            use crate::func::manual::{Close_going_on, Close_stopping};
            crate::state::ctx::set_close_entries(crate::state::ctx::CloseEntries {
                reading: all::Close as CloseFn as usize,
                stopping: Close_stopping as CloseFn as usize,
                going_on_cpython: Close_going_on as CloseFn as usize,
            });
        }
    };
    (@one $ctx:ident const $name:ident) => {};
    (@one $ctx:ident fn $name:ident) => {
        // The implementation first: this checks its signature.
        $ctx.$name = Some(all::$name);
        #[cfg(target_arch = "x86_64")]
        {
            // Same ABI: the stub jumps to the implementation with every
            // register and the stack untouched.
            $ctx.$name = Some(unsafe { std::mem::transmute::<unsafe extern "C" fn(), _>(stubs::$name) });
        }
    };
}

/// Entry stubs: every member of the table is reached through one, which
/// stores the return address into the extension (`[rsp]` on entry) in
/// `ctx::HPYDBG_CALLER_RA` and jumps to the implementation.  That address
/// is what identifies the site of an open or close cheaply (`tables::sites`);
/// three instructions per call, no frame, no register touched but r11
/// (scratch, never an argument register).
#[cfg(target_arch = "x86_64")]
macro_rules! stubs {
    ($( $kind:tt $name:ident $( $pub:literal ( $($an:ident : $at:ty),* ) -> $ret:ty )? ; )*) => {
        $( stubs!(@one $kind $name); )*
    };
    (@one const $name:ident) => {};
    // HPy_Close's implementation depends on the policy
    // (`ctx::HPYDBG_CLOSE_ENTRY`): an indirect jump, as many instructions.
    (@one fn Close) => {
        #[unsafe(naked)]
        #[allow(non_snake_case)]
        pub unsafe extern "C" fn Close() {
            core::arch::naked_asm!(
                "mov r11, qword ptr [rsp]",
                "mov qword ptr [rip + {ra}], r11",
                "jmp qword ptr [rip + {imp}]",
                ra = sym crate::state::ctx::HPYDBG_CALLER_RA,
                imp = sym crate::state::ctx::HPYDBG_CLOSE_ENTRY,
            )
        }
    };
    (@one fn $name:ident) => {
        #[unsafe(naked)]
        #[allow(non_snake_case)]
        pub unsafe extern "C" fn $name() {
            core::arch::naked_asm!(
                "mov r11, qword ptr [rsp]",
                "mov qword ptr [rip + {ra}], r11",
                "jmp {imp}",
                ra = sym crate::state::ctx::HPYDBG_CALLER_RA,
                imp = sym super::all::$name,
            )
        }
    };
}

#[cfg(target_arch = "x86_64")]
mod stubs {
    crate::hpy_context_members!(stubs);
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

