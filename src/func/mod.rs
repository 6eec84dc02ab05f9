//! Layer 5: the functions of the debug context.
pub mod builders;
pub mod call;
pub mod execution;
pub mod fields;
pub mod functable;
pub mod generated;
pub mod manual;
pub mod pointers;
pub mod trampoline;
pub mod traverse;
