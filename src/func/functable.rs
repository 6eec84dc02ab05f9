//! The debug context's function table: every member points at its
//! implementation, generated (`generated`) or hand-written (`manual`,
//! `execution`, `fields`, `trampoline`).  A name in both or in neither is a compile error here.

use crate::abi::HPyContext;

mod all {
    pub use crate::func::generated::*;
    pub use crate::func::manual::*;
    pub use crate::func::execution::{LeavePythonExecution, ReenterPythonExecution};
    pub use crate::func::fields::{Field_Load, Field_Store, Global_Load, Global_Store};
    pub use crate::func::trampoline::CallRealFunctionFromTrampoline;
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

