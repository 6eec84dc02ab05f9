//! Which pointer arguments may be NULL.
//!
//! The rule, over the ABI table (`abi::hpy_context_members!`): every pointer
//! parameter of a generated wrapper (a C string `*const c_char`, an
//! out-parameter such as `_HPy_New`'s `void **data`, a struct such as
//! `HPy_SetCallFunction`'s `HPyCallFunction *`) reaches CPython through the
//! universal context, which passes it on unchecked: CPython dereferences it
//! (`strlen`, `PyUnicode_FromString`, `*data = ...`), so NULL is a misuse,
//! reported as `null-pointer` and never forwarded.  The exceptions are the
//! parameters for which HPy's universal implementation
//! (hpy/universal/src/autogen_ctx_impl.h, hpy/devel/src/runtime/*.c) or the
//! CPython function it calls defines NULL; each is listed below with the
//! reason, and a unit test checks that every one names a pointer parameter
//! of the table.  Hand-written wrappers check their own pointers (handle
//! arrays, `HPySlice_Unpack`, `HPyContextVar_Get`, fields and globals).

/// (API function, parameter, why NULL is defined there).
pub const NULL_DEFINED: &[(&str, &str, &str)] = &[
    ("HPy_FatalError", "message", "CPython's fatal error prints \"<message not set>\""),
    ("HPyErr_SetFromErrnoWithFilename", "filename_fsencoded", "no filename: PyErr_SetFromErrnoWithFilename tests it"),
    ("HPyErr_NewExceptionWithDoc", "utf8_doc", "no docstring: PyErr_NewExceptionWithDoc tests it"),
    ("HPyBytes_FromStringAndSize", "bytes", "HPy raises ValueError (ctx_bytes.c)"),
    ("HPyUnicode_FromWideChar", "w", "CPython: empty string for size 0, SystemError otherwise"),
    ("HPyUnicode_DecodeFSDefaultAndSize", "v", "empty string for size 0 (NULL with a size > 0 is not checked)"),
    ("HPyUnicode_DecodeASCII", "ascii", "empty string for size 0 (NULL with a size > 0 is not checked)"),
    ("HPyUnicode_DecodeLatin1", "latin1", "empty string for size 0 (NULL with a size > 0 is not checked)"),
    ("HPyUnicode_DecodeASCII", "errors", "the default error handler (strict)"),
    ("HPyUnicode_DecodeLatin1", "errors", "the default error handler (strict)"),
    ("HPyUnicode_FromEncodedObject", "encoding", "the default encoding (UTF-8)"),
    ("HPyUnicode_FromEncodedObject", "errors", "the default error handler (strict)"),
    ("HPyCapsule_New", "pointer", "PyCapsule_New raises ValueError"),
    ("HPyCapsule_New", "utf8_name", "a capsule without a name"),
    ("HPyCapsule_New", "destructor", "no destructor (ctx_capsule.c tests it)"),
    ("HPyCapsule_Get", "utf8_name", "a capsule without a name"),
    ("HPyCapsule_IsValid", "utf8_name", "a capsule without a name"),
    ("HPyCapsule_Set", "value", "by key: a NULL pointer raises ValueError; name, context and destructor may be NULL"),
    ("HPy_FromPyObject", "obj", "HPy_NULL (Py_XINCREF)"),
];

/// Whether NULL is a defined value of parameter `name` of `api`.
pub fn null_defined(api: &str, name: &str) -> bool {
    NULL_DEFINED.iter().any(|&(a, n, _)| a == api && n == name)
}

/// Every pointer parameter of the ABI table's functions: (API name,
/// parameter, Rust type), from the member list.
pub fn pointer_params() -> Vec<(&'static str, &'static str, &'static str)> {
    let mut v = Vec::new();
    macro_rules! collect {
        ($( $kind:tt $name:ident $( $pub:literal ( $($an:ident : $at:ty),* ) -> $ret:ty )? ; )*) => {
            $( $( $( if stringify!($at).starts_with('*') { v.push(($pub, stringify!($an), stringify!($at))); } )* )? )*
        };
    }
    crate::hpy_context_members!(collect);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exception_names_a_pointer_parameter_of_the_table() {
        let params = pointer_params();
        for &(api, name, why) in NULL_DEFINED {
            assert!(params.iter().any(|&(a, n, _)| a == api && n == name), "{}({}) is not a pointer parameter ({})", api, name, why);
        }
    }

    #[test]
    fn c_strings_that_crash_are_checked() {
        for (api, name) in [("HPyUnicode_FromString", "utf8"), ("HPy_GetAttr_s", "utf8_name"), ("HPyErr_SetString", "utf8_message"), ("_HPy_New", "data")] {
            assert!(pointer_params().iter().any(|&(a, n, _)| a == api && n == name));
            assert!(!null_defined(api, name), "{}({})", api, name);
        }
        assert!(null_defined("HPyErr_NewExceptionWithDoc", "utf8_doc"));
    }
}
