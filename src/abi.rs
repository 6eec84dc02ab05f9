//! The HPy 0.9.0 universal ABI, mirrored for Rust, and nothing else.
//!
//! Like `pyo3-ffi` for CPython: plain `#[repr(C)]` types whose layout must
//! match `hpy/devel/include` of the `hpy` 0.9.0 wheel byte for byte.  The
//! layout test (`tests/test_abi_layout.py`) compiles a C file against the
//! installed headers and compares every offset with [`layout`].
//!
//! The context member list lives in one x-macro, [`hpy_context_members!`], so
//! that the struct, the debug wrappers and the layout table are all generated
//! from the same list (regenerate it with `tools/gen_ctx_table.py`).
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals, dead_code)]

use std::os::raw::{c_char, c_int, c_ulong, c_void};

pub use libc::wchar_t;

pub type HPy_ssize_t = isize;
pub type HPy_hash_t = isize;
pub type HPy_UCS4 = u32;
/// CPython's `PyObject`, opaque here.
pub type cpy_PyObject = c_void;
/// CPython's `Py_buffer`, opaque here.
pub type cpy_Py_buffer = c_void;
/// `void *(*)()`: an extension function whose real type depends on its signature.
pub type HPyCFunction = *const c_void;
pub type HPyFunc_Signature = c_int;
pub type HPyType_BuiltinShape = c_int;
pub type HPyType_SpecParam_Kind = c_int;
pub type _HPyCapsule_key = c_int;
pub type HPy_SourceKind = c_int;
pub type HPy_RichCmpOp = c_int;

macro_rules! handle_types {
    ($($(#[$m:meta])* $name:ident { $field:ident })*) => {$(
        $(#[$m])*
        #[repr(C)]
        #[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
        pub struct $name { pub $field: isize }
        impl $name {
            pub const NULL: $name = $name { $field: 0 };
            #[inline] pub fn raw(self) -> isize { self.$field }
            #[inline] pub fn from_raw(v: isize) -> Self { $name { $field: v } }
            #[inline] pub fn is_null(self) -> bool { self.$field == 0 }
        }
    )*};
}

handle_types! {
    /// `HPy`: an opaque handle, a struct of one `intptr_t` passed by value.
    HPy { _i }
    HPyField { _i }
    HPyGlobal { _i }
    HPyTracker { _i }
    HPyListBuilder { _lst }
    HPyTupleBuilder { _tup }
    HPyThreadState { _i }
}

/// Opaque: hpydbg never looks inside an `HPyDef`.
pub enum HPyDef {}

#[repr(C)]
pub struct HPyType_Spec {
    pub name: *const c_char,
    pub basicsize: c_int,
    pub itemsize: c_int,
    pub flags: c_ulong,
    pub builtin_shape: HPyType_BuiltinShape,
    pub legacy_slots: *mut c_void,
    pub defines: *mut *mut HPyDef,
    pub doc: *const c_char,
}

#[repr(C)]
#[derive(Copy, Clone)]
pub struct HPyType_SpecParam {
    pub kind: HPyType_SpecParam_Kind,
    pub object: HPy,
}

#[repr(C)]
#[derive(Copy, Clone)]
pub struct HPy_buffer {
    pub buf: *mut c_void,
    pub obj: HPy,
    pub len: HPy_ssize_t,
    pub itemsize: HPy_ssize_t,
    pub readonly: c_int,
    pub ndim: c_int,
    pub format: *mut c_char,
    pub shape: *mut HPy_ssize_t,
    pub strides: *mut HPy_ssize_t,
    pub suboffsets: *mut HPy_ssize_t,
    pub internal: *mut c_void,
}

#[repr(C)]
pub struct HPyCapsule_Destructor {
    pub cpy_trampoline: *const c_void,
    pub impl_: *const c_void,
}

#[repr(C)]
pub struct HPyCallFunction {
    pub cpy_trampoline: *const c_void,
    pub impl_: *const c_void,
}

pub const HPyType_BuiltinShape_Legacy: c_int = -1;
pub const HPyType_BuiltinShape_Object: c_int = 0;
pub const HPyType_BuiltinShape_Type: c_int = 1;
pub const HPyType_BuiltinShape_Long: c_int = 2;
pub const HPyType_BuiltinShape_Float: c_int = 3;
pub const HPyType_BuiltinShape_Unicode: c_int = 4;
pub const HPyType_BuiltinShape_Tuple: c_int = 5;
pub const HPyType_BuiltinShape_List: c_int = 6;

/// `HPyFunc_Signature` values (hpy/hpyfunc.h).
pub mod sig {
    use std::os::raw::c_int;
    pub const VARARGS: c_int = 1;
    pub const KEYWORDS: c_int = 2;
    pub const NOARGS: c_int = 3;
    pub const O: c_int = 4;
    pub const DESTROYFUNC: c_int = 5;
    pub const GETBUFFERPROC: c_int = 6;
    pub const RELEASEBUFFERPROC: c_int = 7;
    pub const UNARYFUNC: c_int = 8;
    pub const BINARYFUNC: c_int = 9;
    pub const TERNARYFUNC: c_int = 10;
    pub const INQUIRY: c_int = 11;
    pub const LENFUNC: c_int = 12;
    pub const SSIZEARGFUNC: c_int = 13;
    pub const SSIZESSIZEARGFUNC: c_int = 14;
    pub const SSIZEOBJARGPROC: c_int = 15;
    pub const SSIZESSIZEOBJARGPROC: c_int = 16;
    pub const OBJOBJARGPROC: c_int = 17;
    pub const FREEFUNC: c_int = 18;
    pub const GETATTRFUNC: c_int = 19;
    pub const GETATTROFUNC: c_int = 20;
    pub const SETATTRFUNC: c_int = 21;
    pub const SETATTROFUNC: c_int = 22;
    pub const REPRFUNC: c_int = 23;
    pub const HASHFUNC: c_int = 24;
    pub const RICHCMPFUNC: c_int = 25;
    pub const GETITERFUNC: c_int = 26;
    pub const ITERNEXTFUNC: c_int = 27;
    pub const DESCRGETFUNC: c_int = 28;
    pub const DESCRSETFUNC: c_int = 29;
    pub const INITPROC: c_int = 30;
    pub const NEWFUNC: c_int = 31;
    pub const GETTER: c_int = 32;
    pub const SETTER: c_int = 33;
    pub const OBJOBJPROC: c_int = 34;
    pub const TRAVERSEPROC: c_int = 35;
    pub const DESTRUCTOR: c_int = 36;
    pub const CAPSULE_DESTRUCTOR: c_int = 37;
    pub const VECTORCALLFUNC: c_int = 38;
    pub const MOD_CREATE: c_int = 39;
}

macro_rules! args_structs {
    ($($name:ident { $($f:ident : $t:ty),* })*) => {
        $(
            #[repr(C)]
            pub struct $name { $(pub $f: $t),* }
        )*
        /// (struct name, field name, offset) of every trampoline argument struct.
        pub fn args_layout() -> Vec<(&'static str, &'static str, usize)> {
            let mut v = Vec::new();
            $( $( v.push((stringify!($name), stringify!($f), std::mem::offset_of!($name, $f))); )*
               v.push((stringify!($name), "sizeof", std::mem::size_of::<$name>())); )*
            v
        }
    };
}

args_structs! {
    _HPyFunc_args_NOARGS { self_: *mut cpy_PyObject, result: *mut cpy_PyObject }
    _HPyFunc_args_O { self_: *mut cpy_PyObject, arg: *mut cpy_PyObject, result: *mut cpy_PyObject }
    _HPyFunc_args_UNARYFUNC { arg0: *mut cpy_PyObject, result: *mut cpy_PyObject }
    _HPyFunc_args_BINARYFUNC { arg0: *mut cpy_PyObject, arg1: *mut cpy_PyObject, result: *mut cpy_PyObject }
    _HPyFunc_args_TERNARYFUNC { arg0: *mut cpy_PyObject, arg1: *mut cpy_PyObject, arg2: *mut cpy_PyObject, result: *mut cpy_PyObject }
    _HPyFunc_args_INQUIRY { arg0: *mut cpy_PyObject, result: c_int }
    _HPyFunc_args_LENFUNC { arg0: *mut cpy_PyObject, result: HPy_ssize_t }
    _HPyFunc_args_SSIZEARGFUNC { arg0: *mut cpy_PyObject, arg1: HPy_ssize_t, result: *mut cpy_PyObject }
    _HPyFunc_args_SSIZESSIZEARGFUNC { arg0: *mut cpy_PyObject, arg1: HPy_ssize_t, arg2: HPy_ssize_t, result: *mut cpy_PyObject }
    _HPyFunc_args_SSIZEOBJARGPROC { arg0: *mut cpy_PyObject, arg1: HPy_ssize_t, arg2: *mut cpy_PyObject, result: c_int }
    _HPyFunc_args_SSIZESSIZEOBJARGPROC { arg0: *mut cpy_PyObject, arg1: HPy_ssize_t, arg2: HPy_ssize_t, arg3: *mut cpy_PyObject, result: c_int }
    _HPyFunc_args_OBJOBJARGPROC { arg0: *mut cpy_PyObject, arg1: *mut cpy_PyObject, arg2: *mut cpy_PyObject, result: c_int }
    _HPyFunc_args_FREEFUNC { arg0: *mut c_void }
    _HPyFunc_args_GETATTRFUNC { arg0: *mut cpy_PyObject, arg1: *mut c_char, result: *mut cpy_PyObject }
    _HPyFunc_args_GETATTROFUNC { arg0: *mut cpy_PyObject, arg1: *mut cpy_PyObject, result: *mut cpy_PyObject }
    _HPyFunc_args_SETATTRFUNC { arg0: *mut cpy_PyObject, arg1: *mut c_char, arg2: *mut cpy_PyObject, result: c_int }
    _HPyFunc_args_SETATTROFUNC { arg0: *mut cpy_PyObject, arg1: *mut cpy_PyObject, arg2: *mut cpy_PyObject, result: c_int }
    _HPyFunc_args_REPRFUNC { arg0: *mut cpy_PyObject, result: *mut cpy_PyObject }
    _HPyFunc_args_HASHFUNC { arg0: *mut cpy_PyObject, result: HPy_hash_t }
    _HPyFunc_args_GETITERFUNC { arg0: *mut cpy_PyObject, result: *mut cpy_PyObject }
    _HPyFunc_args_ITERNEXTFUNC { arg0: *mut cpy_PyObject, result: *mut cpy_PyObject }
    _HPyFunc_args_DESCRGETFUNC { arg0: *mut cpy_PyObject, arg1: *mut cpy_PyObject, arg2: *mut cpy_PyObject, result: *mut cpy_PyObject }
    _HPyFunc_args_DESCRSETFUNC { arg0: *mut cpy_PyObject, arg1: *mut cpy_PyObject, arg2: *mut cpy_PyObject, result: c_int }
    _HPyFunc_args_GETTER { arg0: *mut cpy_PyObject, arg1: *mut c_void, result: *mut cpy_PyObject }
    _HPyFunc_args_SETTER { arg0: *mut cpy_PyObject, arg1: *mut cpy_PyObject, arg2: *mut c_void, result: c_int }
    _HPyFunc_args_OBJOBJPROC { arg0: *mut cpy_PyObject, arg1: *mut cpy_PyObject, result: c_int }
    _HPyFunc_args_DESTRUCTOR { arg0: *mut cpy_PyObject }
    _HPyFunc_args_VARARGS { self_: *mut cpy_PyObject, args: *const *mut cpy_PyObject, nargs: HPy_ssize_t, result: *mut cpy_PyObject }
    _HPyFunc_args_KEYWORDS { self_: *mut cpy_PyObject, args: *const *mut cpy_PyObject, nargsf: usize, kwnames: *mut cpy_PyObject, result: *mut cpy_PyObject }
    _HPyFunc_args_INITPROC { self_: *mut cpy_PyObject, args: *mut cpy_PyObject, kw: *mut cpy_PyObject, result: c_int }
    _HPyFunc_args_NEWFUNC { self_: *mut cpy_PyObject, args: *mut cpy_PyObject, kw: *mut cpy_PyObject, result: *mut cpy_PyObject }
    _HPyFunc_args_RICHCMPFUNC { arg0: *mut cpy_PyObject, arg1: *mut cpy_PyObject, arg2: HPy_RichCmpOp, result: *mut cpy_PyObject }
    _HPyFunc_args_GETBUFFERPROC { self_: *mut cpy_PyObject, view: *mut cpy_Py_buffer, flags: c_int, result: c_int }
    _HPyFunc_args_RELEASEBUFFERPROC { self_: *mut cpy_PyObject, view: *mut cpy_Py_buffer }
    _HPyFunc_args_TRAVERSEPROC { self_: *mut cpy_PyObject, visit: *mut c_void, arg: *mut c_void, result: c_int }
    _HPyFunc_args_MOD_CREATE { spec: *mut cpy_PyObject, result: *mut cpy_PyObject }
}

/// The members of `struct _HPyContext_s` after `name`, `_private` and
/// `abi_version`, in ABI order.  `const h_X;` is a constant handle;
/// `fn X "PublicName" (args) -> ret;` is the function pointer `ctx_X`
/// (the string is the C API name, used in diagnostics).
#[macro_export]
macro_rules! hpy_context_members {
    ($callback:ident) => { $callback! {
        const h_None;
        const h_True;
        const h_False;
        const h_NotImplemented;
        const h_Ellipsis;
        const h_BaseException;
        const h_Exception;
        const h_StopAsyncIteration;
        const h_StopIteration;
        const h_GeneratorExit;
        const h_ArithmeticError;
        const h_LookupError;
        const h_AssertionError;
        const h_AttributeError;
        const h_BufferError;
        const h_EOFError;
        const h_FloatingPointError;
        const h_OSError;
        const h_ImportError;
        const h_ModuleNotFoundError;
        const h_IndexError;
        const h_KeyError;
        const h_KeyboardInterrupt;
        const h_MemoryError;
        const h_NameError;
        const h_OverflowError;
        const h_RuntimeError;
        const h_RecursionError;
        const h_NotImplementedError;
        const h_SyntaxError;
        const h_IndentationError;
        const h_TabError;
        const h_ReferenceError;
        const h_SystemError;
        const h_SystemExit;
        const h_TypeError;
        const h_UnboundLocalError;
        const h_UnicodeError;
        const h_UnicodeEncodeError;
        const h_UnicodeDecodeError;
        const h_UnicodeTranslateError;
        const h_ValueError;
        const h_ZeroDivisionError;
        const h_BlockingIOError;
        const h_BrokenPipeError;
        const h_ChildProcessError;
        const h_ConnectionError;
        const h_ConnectionAbortedError;
        const h_ConnectionRefusedError;
        const h_ConnectionResetError;
        const h_FileExistsError;
        const h_FileNotFoundError;
        const h_InterruptedError;
        const h_IsADirectoryError;
        const h_NotADirectoryError;
        const h_PermissionError;
        const h_ProcessLookupError;
        const h_TimeoutError;
        const h_Warning;
        const h_UserWarning;
        const h_DeprecationWarning;
        const h_PendingDeprecationWarning;
        const h_SyntaxWarning;
        const h_RuntimeWarning;
        const h_FutureWarning;
        const h_ImportWarning;
        const h_UnicodeWarning;
        const h_BytesWarning;
        const h_ResourceWarning;
        const h_BaseObjectType;
        const h_TypeType;
        const h_BoolType;
        const h_LongType;
        const h_FloatType;
        const h_UnicodeType;
        const h_TupleType;
        const h_ListType;
        fn Dup "HPy_Dup" (h: HPy) -> HPy;
        fn Close "HPy_Close" (h: HPy) -> ();
        fn Long_FromInt32_t "HPyLong_FromInt32_t" (value: i32) -> HPy;
        fn Long_FromUInt32_t "HPyLong_FromUInt32_t" (value: u32) -> HPy;
        fn Long_FromInt64_t "HPyLong_FromInt64_t" (v: i64) -> HPy;
        fn Long_FromUInt64_t "HPyLong_FromUInt64_t" (v: u64) -> HPy;
        fn Long_FromSize_t "HPyLong_FromSize_t" (value: usize) -> HPy;
        fn Long_FromSsize_t "HPyLong_FromSsize_t" (value: HPy_ssize_t) -> HPy;
        fn Long_AsInt32_t "HPyLong_AsInt32_t" (h: HPy) -> i32;
        fn Long_AsUInt32_t "HPyLong_AsUInt32_t" (h: HPy) -> u32;
        fn Long_AsUInt32_tMask "HPyLong_AsUInt32_tMask" (h: HPy) -> u32;
        fn Long_AsInt64_t "HPyLong_AsInt64_t" (h: HPy) -> i64;
        fn Long_AsUInt64_t "HPyLong_AsUInt64_t" (h: HPy) -> u64;
        fn Long_AsUInt64_tMask "HPyLong_AsUInt64_tMask" (h: HPy) -> u64;
        fn Long_AsSize_t "HPyLong_AsSize_t" (h: HPy) -> usize;
        fn Long_AsSsize_t "HPyLong_AsSsize_t" (h: HPy) -> HPy_ssize_t;
        fn Long_AsVoidPtr "HPyLong_AsVoidPtr" (h: HPy) -> *mut c_void;
        fn Long_AsDouble "HPyLong_AsDouble" (h: HPy) -> f64;
        fn Float_FromDouble "HPyFloat_FromDouble" (v: f64) -> HPy;
        fn Float_AsDouble "HPyFloat_AsDouble" (h: HPy) -> f64;
        fn Bool_FromBool "HPyBool_FromBool" (v: bool) -> HPy;
        fn Length "HPy_Length" (h: HPy) -> HPy_ssize_t;
        fn Number_Check "HPyNumber_Check" (h: HPy) -> c_int;
        fn Add "HPy_Add" (h1: HPy, h2: HPy) -> HPy;
        fn Subtract "HPy_Subtract" (h1: HPy, h2: HPy) -> HPy;
        fn Multiply "HPy_Multiply" (h1: HPy, h2: HPy) -> HPy;
        fn MatrixMultiply "HPy_MatrixMultiply" (h1: HPy, h2: HPy) -> HPy;
        fn FloorDivide "HPy_FloorDivide" (h1: HPy, h2: HPy) -> HPy;
        fn TrueDivide "HPy_TrueDivide" (h1: HPy, h2: HPy) -> HPy;
        fn Remainder "HPy_Remainder" (h1: HPy, h2: HPy) -> HPy;
        fn Divmod "HPy_Divmod" (h1: HPy, h2: HPy) -> HPy;
        fn Power "HPy_Power" (h1: HPy, h2: HPy, h3: HPy) -> HPy;
        fn Negative "HPy_Negative" (h1: HPy) -> HPy;
        fn Positive "HPy_Positive" (h1: HPy) -> HPy;
        fn Absolute "HPy_Absolute" (h1: HPy) -> HPy;
        fn Invert "HPy_Invert" (h1: HPy) -> HPy;
        fn Lshift "HPy_Lshift" (h1: HPy, h2: HPy) -> HPy;
        fn Rshift "HPy_Rshift" (h1: HPy, h2: HPy) -> HPy;
        fn And "HPy_And" (h1: HPy, h2: HPy) -> HPy;
        fn Xor "HPy_Xor" (h1: HPy, h2: HPy) -> HPy;
        fn Or "HPy_Or" (h1: HPy, h2: HPy) -> HPy;
        fn Index "HPy_Index" (h1: HPy) -> HPy;
        fn Long "HPy_Long" (h1: HPy) -> HPy;
        fn Float "HPy_Float" (h1: HPy) -> HPy;
        fn InPlaceAdd "HPy_InPlaceAdd" (h1: HPy, h2: HPy) -> HPy;
        fn InPlaceSubtract "HPy_InPlaceSubtract" (h1: HPy, h2: HPy) -> HPy;
        fn InPlaceMultiply "HPy_InPlaceMultiply" (h1: HPy, h2: HPy) -> HPy;
        fn InPlaceMatrixMultiply "HPy_InPlaceMatrixMultiply" (h1: HPy, h2: HPy) -> HPy;
        fn InPlaceFloorDivide "HPy_InPlaceFloorDivide" (h1: HPy, h2: HPy) -> HPy;
        fn InPlaceTrueDivide "HPy_InPlaceTrueDivide" (h1: HPy, h2: HPy) -> HPy;
        fn InPlaceRemainder "HPy_InPlaceRemainder" (h1: HPy, h2: HPy) -> HPy;
        fn InPlacePower "HPy_InPlacePower" (h1: HPy, h2: HPy, h3: HPy) -> HPy;
        fn InPlaceLshift "HPy_InPlaceLshift" (h1: HPy, h2: HPy) -> HPy;
        fn InPlaceRshift "HPy_InPlaceRshift" (h1: HPy, h2: HPy) -> HPy;
        fn InPlaceAnd "HPy_InPlaceAnd" (h1: HPy, h2: HPy) -> HPy;
        fn InPlaceXor "HPy_InPlaceXor" (h1: HPy, h2: HPy) -> HPy;
        fn InPlaceOr "HPy_InPlaceOr" (h1: HPy, h2: HPy) -> HPy;
        fn Callable_Check "HPyCallable_Check" (h: HPy) -> c_int;
        fn CallTupleDict "HPy_CallTupleDict" (callable: HPy, args: HPy, kw: HPy) -> HPy;
        fn FatalError "HPy_FatalError" (message: *const c_char) -> ();
        fn Err_SetString "HPyErr_SetString" (h_type: HPy, utf8_message: *const c_char) -> ();
        fn Err_SetObject "HPyErr_SetObject" (h_type: HPy, h_value: HPy) -> ();
        fn Err_SetFromErrnoWithFilename "HPyErr_SetFromErrnoWithFilename" (h_type: HPy, filename_fsencoded: *const c_char) -> HPy;
        fn Err_SetFromErrnoWithFilenameObjects "HPyErr_SetFromErrnoWithFilenameObjects" (h_type: HPy, filename1: HPy, filename2: HPy) -> ();
        fn Err_Occurred "HPyErr_Occurred" () -> c_int;
        fn Err_ExceptionMatches "HPyErr_ExceptionMatches" (exc: HPy) -> c_int;
        fn Err_NoMemory "HPyErr_NoMemory" () -> ();
        fn Err_Clear "HPyErr_Clear" () -> ();
        fn Err_NewException "HPyErr_NewException" (utf8_name: *const c_char, base: HPy, dict: HPy) -> HPy;
        fn Err_NewExceptionWithDoc "HPyErr_NewExceptionWithDoc" (utf8_name: *const c_char, utf8_doc: *const c_char, base: HPy, dict: HPy) -> HPy;
        fn Err_WarnEx "HPyErr_WarnEx" (category: HPy, utf8_message: *const c_char, stack_level: HPy_ssize_t) -> c_int;
        fn Err_WriteUnraisable "HPyErr_WriteUnraisable" (obj: HPy) -> ();
        fn IsTrue "HPy_IsTrue" (h: HPy) -> c_int;
        fn Type_FromSpec "HPyType_FromSpec" (spec: *mut HPyType_Spec, params: *mut HPyType_SpecParam) -> HPy;
        fn Type_GenericNew "HPyType_GenericNew" (type_: HPy, args: *const HPy, nargs: HPy_ssize_t, kw: HPy) -> HPy;
        fn GetAttr "HPy_GetAttr" (obj: HPy, name: HPy) -> HPy;
        fn GetAttr_s "HPy_GetAttr_s" (obj: HPy, utf8_name: *const c_char) -> HPy;
        fn HasAttr "HPy_HasAttr" (obj: HPy, name: HPy) -> c_int;
        fn HasAttr_s "HPy_HasAttr_s" (obj: HPy, utf8_name: *const c_char) -> c_int;
        fn SetAttr "HPy_SetAttr" (obj: HPy, name: HPy, value: HPy) -> c_int;
        fn SetAttr_s "HPy_SetAttr_s" (obj: HPy, utf8_name: *const c_char, value: HPy) -> c_int;
        fn GetItem "HPy_GetItem" (obj: HPy, key: HPy) -> HPy;
        fn GetItem_i "HPy_GetItem_i" (obj: HPy, idx: HPy_ssize_t) -> HPy;
        fn GetItem_s "HPy_GetItem_s" (obj: HPy, utf8_key: *const c_char) -> HPy;
        fn Contains "HPy_Contains" (container: HPy, key: HPy) -> c_int;
        fn SetItem "HPy_SetItem" (obj: HPy, key: HPy, value: HPy) -> c_int;
        fn SetItem_i "HPy_SetItem_i" (obj: HPy, idx: HPy_ssize_t, value: HPy) -> c_int;
        fn SetItem_s "HPy_SetItem_s" (obj: HPy, utf8_key: *const c_char, value: HPy) -> c_int;
        fn Type "HPy_Type" (obj: HPy) -> HPy;
        fn TypeCheck "HPy_TypeCheck" (obj: HPy, type_: HPy) -> c_int;
        fn Is "HPy_Is" (obj: HPy, other: HPy) -> c_int;
        fn AsStruct_Object "_HPy_AsStruct_Object" (h: HPy) -> *mut c_void;
        fn AsStruct_Legacy "_HPy_AsStruct_Legacy" (h: HPy) -> *mut c_void;
        fn New "_HPy_New" (h_type: HPy, data: *mut *mut c_void) -> HPy;
        fn Repr "HPy_Repr" (obj: HPy) -> HPy;
        fn Str "HPy_Str" (obj: HPy) -> HPy;
        fn ASCII "HPy_ASCII" (obj: HPy) -> HPy;
        fn Bytes "HPy_Bytes" (obj: HPy) -> HPy;
        fn RichCompare "HPy_RichCompare" (v: HPy, w: HPy, op: c_int) -> HPy;
        fn RichCompareBool "HPy_RichCompareBool" (v: HPy, w: HPy, op: c_int) -> c_int;
        fn Hash "HPy_Hash" (obj: HPy) -> HPy_hash_t;
        fn Bytes_Check "HPyBytes_Check" (h: HPy) -> c_int;
        fn Bytes_Size "HPyBytes_Size" (h: HPy) -> HPy_ssize_t;
        fn Bytes_GET_SIZE "HPyBytes_GET_SIZE" (h: HPy) -> HPy_ssize_t;
        fn Bytes_AsString "HPyBytes_AsString" (h: HPy) -> *const c_char;
        fn Bytes_AS_STRING "HPyBytes_AS_STRING" (h: HPy) -> *const c_char;
        fn Bytes_FromString "HPyBytes_FromString" (bytes: *const c_char) -> HPy;
        fn Bytes_FromStringAndSize "HPyBytes_FromStringAndSize" (bytes: *const c_char, len: HPy_ssize_t) -> HPy;
        fn Unicode_FromString "HPyUnicode_FromString" (utf8: *const c_char) -> HPy;
        fn Unicode_Check "HPyUnicode_Check" (h: HPy) -> c_int;
        fn Unicode_AsASCIIString "HPyUnicode_AsASCIIString" (h: HPy) -> HPy;
        fn Unicode_AsLatin1String "HPyUnicode_AsLatin1String" (h: HPy) -> HPy;
        fn Unicode_AsUTF8String "HPyUnicode_AsUTF8String" (h: HPy) -> HPy;
        fn Unicode_AsUTF8AndSize "HPyUnicode_AsUTF8AndSize" (h: HPy, size: *mut HPy_ssize_t) -> *const c_char;
        fn Unicode_FromWideChar "HPyUnicode_FromWideChar" (w: *const wchar_t, size: HPy_ssize_t) -> HPy;
        fn Unicode_DecodeFSDefault "HPyUnicode_DecodeFSDefault" (v: *const c_char) -> HPy;
        fn Unicode_DecodeFSDefaultAndSize "HPyUnicode_DecodeFSDefaultAndSize" (v: *const c_char, size: HPy_ssize_t) -> HPy;
        fn Unicode_EncodeFSDefault "HPyUnicode_EncodeFSDefault" (h: HPy) -> HPy;
        fn Unicode_ReadChar "HPyUnicode_ReadChar" (h: HPy, index: HPy_ssize_t) -> HPy_UCS4;
        fn Unicode_DecodeASCII "HPyUnicode_DecodeASCII" (ascii: *const c_char, size: HPy_ssize_t, errors: *const c_char) -> HPy;
        fn Unicode_DecodeLatin1 "HPyUnicode_DecodeLatin1" (latin1: *const c_char, size: HPy_ssize_t, errors: *const c_char) -> HPy;
        fn List_Check "HPyList_Check" (h: HPy) -> c_int;
        fn List_New "HPyList_New" (len: HPy_ssize_t) -> HPy;
        fn List_Append "HPyList_Append" (h_list: HPy, h_item: HPy) -> c_int;
        fn Dict_Check "HPyDict_Check" (h: HPy) -> c_int;
        fn Dict_New "HPyDict_New" () -> HPy;
        fn Tuple_Check "HPyTuple_Check" (h: HPy) -> c_int;
        fn Tuple_FromArray "HPyTuple_FromArray" (items: *mut HPy, n: HPy_ssize_t) -> HPy;
        fn Import_ImportModule "HPyImport_ImportModule" (utf8_name: *const c_char) -> HPy;
        fn FromPyObject "HPy_FromPyObject" (obj: *mut cpy_PyObject) -> HPy;
        fn AsPyObject "HPy_AsPyObject" (h: HPy) -> *mut cpy_PyObject;
        fn CallRealFunctionFromTrampoline "_HPy_CallRealFunctionFromTrampoline" (sig: HPyFunc_Signature, func: HPyCFunction, args: *mut c_void) -> ();
        fn ListBuilder_New "HPyListBuilder_New" (size: HPy_ssize_t) -> HPyListBuilder;
        fn ListBuilder_Set "HPyListBuilder_Set" (builder: HPyListBuilder, index: HPy_ssize_t, h_item: HPy) -> ();
        fn ListBuilder_Build "HPyListBuilder_Build" (builder: HPyListBuilder) -> HPy;
        fn ListBuilder_Cancel "HPyListBuilder_Cancel" (builder: HPyListBuilder) -> ();
        fn TupleBuilder_New "HPyTupleBuilder_New" (size: HPy_ssize_t) -> HPyTupleBuilder;
        fn TupleBuilder_Set "HPyTupleBuilder_Set" (builder: HPyTupleBuilder, index: HPy_ssize_t, h_item: HPy) -> ();
        fn TupleBuilder_Build "HPyTupleBuilder_Build" (builder: HPyTupleBuilder) -> HPy;
        fn TupleBuilder_Cancel "HPyTupleBuilder_Cancel" (builder: HPyTupleBuilder) -> ();
        fn Tracker_New "HPyTracker_New" (size: HPy_ssize_t) -> HPyTracker;
        fn Tracker_Add "HPyTracker_Add" (ht: HPyTracker, h: HPy) -> c_int;
        fn Tracker_ForgetAll "HPyTracker_ForgetAll" (ht: HPyTracker) -> ();
        fn Tracker_Close "HPyTracker_Close" (ht: HPyTracker) -> ();
        fn Field_Store "HPyField_Store" (target_object: HPy, target_field: *mut HPyField, h: HPy) -> ();
        fn Field_Load "HPyField_Load" (source_object: HPy, source_field: HPyField) -> HPy;
        fn ReenterPythonExecution "HPy_ReenterPythonExecution" (state: HPyThreadState) -> ();
        fn LeavePythonExecution "HPy_LeavePythonExecution" () -> HPyThreadState;
        fn Global_Store "HPyGlobal_Store" (global: *mut HPyGlobal, h: HPy) -> ();
        fn Global_Load "HPyGlobal_Load" (global: HPyGlobal) -> HPy;
        fn Dump "_HPy_Dump" (h: HPy) -> ();
        fn AsStruct_Type "_HPy_AsStruct_Type" (h: HPy) -> *mut c_void;
        fn AsStruct_Long "_HPy_AsStruct_Long" (h: HPy) -> *mut c_void;
        fn AsStruct_Float "_HPy_AsStruct_Float" (h: HPy) -> *mut c_void;
        fn AsStruct_Unicode "_HPy_AsStruct_Unicode" (h: HPy) -> *mut c_void;
        fn AsStruct_Tuple "_HPy_AsStruct_Tuple" (h: HPy) -> *mut c_void;
        fn AsStruct_List "_HPy_AsStruct_List" (h: HPy) -> *mut c_void;
        fn Type_GetBuiltinShape "_HPyType_GetBuiltinShape" (h_type: HPy) -> HPyType_BuiltinShape;
        fn DelItem "HPy_DelItem" (obj: HPy, key: HPy) -> c_int;
        fn DelItem_i "HPy_DelItem_i" (obj: HPy, idx: HPy_ssize_t) -> c_int;
        fn DelItem_s "HPy_DelItem_s" (obj: HPy, utf8_key: *const c_char) -> c_int;
        const h_ComplexType;
        const h_BytesType;
        const h_MemoryViewType;
        const h_CapsuleType;
        const h_SliceType;
        const h_Builtins;
        fn Capsule_New "HPyCapsule_New" (pointer: *mut c_void, utf8_name: *const c_char, destructor: *mut HPyCapsule_Destructor) -> HPy;
        fn Capsule_Get "HPyCapsule_Get" (capsule: HPy, key: _HPyCapsule_key, utf8_name: *const c_char) -> *mut c_void;
        fn Capsule_IsValid "HPyCapsule_IsValid" (capsule: HPy, utf8_name: *const c_char) -> c_int;
        fn Capsule_Set "HPyCapsule_Set" (capsule: HPy, key: _HPyCapsule_key, value: *mut c_void) -> c_int;
        fn Compile_s "HPy_Compile_s" (utf8_source: *const c_char, utf8_filename: *const c_char, kind: HPy_SourceKind) -> HPy;
        fn EvalCode "HPy_EvalCode" (code: HPy, globals: HPy, locals: HPy) -> HPy;
        fn ContextVar_New "HPyContextVar_New" (name: *const c_char, default_value: HPy) -> HPy;
        fn ContextVar_Get "HPyContextVar_Get" (context_var: HPy, default_value: HPy, result: *mut HPy) -> i32;
        fn ContextVar_Set "HPyContextVar_Set" (context_var: HPy, value: HPy) -> HPy;
        fn Type_GetName "HPyType_GetName" (type_: HPy) -> *const c_char;
        fn Type_IsSubtype "HPyType_IsSubtype" (sub: HPy, type_: HPy) -> c_int;
        fn Unicode_FromEncodedObject "HPyUnicode_FromEncodedObject" (obj: HPy, encoding: *const c_char, errors: *const c_char) -> HPy;
        fn Unicode_Substring "HPyUnicode_Substring" (str: HPy, start: HPy_ssize_t, end: HPy_ssize_t) -> HPy;
        fn Dict_Keys "HPyDict_Keys" (h: HPy) -> HPy;
        fn Dict_Copy "HPyDict_Copy" (h: HPy) -> HPy;
        fn Slice_Unpack "HPySlice_Unpack" (slice: HPy, start: *mut HPy_ssize_t, stop: *mut HPy_ssize_t, step: *mut HPy_ssize_t) -> c_int;
        fn SetCallFunction "HPy_SetCallFunction" (h: HPy, func: *mut HPyCallFunction) -> c_int;
        fn Call "HPy_Call" (callable: HPy, args: *const HPy, nargs: usize, kwnames: HPy) -> HPy;
        fn CallMethod "HPy_CallMethod" (name: HPy, args: *const HPy, nargs: usize, kwnames: HPy) -> HPy;
    } };
}

macro_rules! member_type {
    (const) => { HPy };
    (fn ($($t:ty),*) -> $ret:ty) => {
        Option<unsafe extern "C" fn(*mut HPyContext $(, $t)*) -> $ret>
    };
}

macro_rules! define_context {
    ($( $kind:tt $name:ident $( $pub:literal ( $($an:ident : $at:ty),* ) -> $ret:ty )? ; )*) => {
        #[repr(C)]
        pub struct HPyContext {
            pub name: *const c_char,
            pub _private: *mut c_void,
            pub abi_version: c_int,
            $( pub $name: member_type!($kind $( ($($at),*) -> $ret )?), )*
        }

        /// (C member name, offset) of every member of `HPyContext`, plus "sizeof".
        pub fn context_layout() -> Vec<(String, usize)> {
            let mut v = vec![
                ("name".to_string(), std::mem::offset_of!(HPyContext, name)),
                ("_private".to_string(), std::mem::offset_of!(HPyContext, _private)),
                ("abi_version".to_string(), std::mem::offset_of!(HPyContext, abi_version)),
            ];
            $( v.push((member_c_name!($kind $name), std::mem::offset_of!(HPyContext, $name))); )*
            v.push(("sizeof".to_string(), std::mem::size_of::<HPyContext>()));
            v
        }
    };
}

macro_rules! member_c_name {
    (const $name:ident) => { stringify!($name).to_string() };
    (fn $name:ident) => { format!("ctx_{}", stringify!($name)) };
}

hpy_context_members!(define_context);

/// Layouts of the other ABI structs (struct, field, offset; "sizeof" rows too).
pub fn struct_layouts() -> Vec<(&'static str, &'static str, usize)> {
    use std::mem::{offset_of, size_of};
    let mut v = args_layout();
    macro_rules! rows {
        ($s:ident: $($f:ident => $c:literal),*) => {
            $( v.push((stringify!($s), $c, offset_of!($s, $f))); )*
            v.push((stringify!($s), "sizeof", size_of::<$s>()));
        };
    }
    rows!(HPy_buffer: buf => "buf", obj => "obj", len => "len", itemsize => "itemsize",
          readonly => "readonly", ndim => "ndim", format => "format", shape => "shape",
          strides => "strides", suboffsets => "suboffsets", internal => "internal");
    rows!(HPyType_Spec: name => "name", basicsize => "basicsize", itemsize => "itemsize",
          flags => "flags", builtin_shape => "builtin_shape", legacy_slots => "legacy_slots",
          defines => "defines", doc => "doc");
    rows!(HPyType_SpecParam: kind => "kind", object => "object");
    rows!(HPyCapsule_Destructor: cpy_trampoline => "cpy_trampoline", impl_ => "impl");
    rows!(HPyCallFunction: cpy_trampoline => "cpy_trampoline", impl_ => "impl");
    rows!(HPy: _i => "_i");
    rows!(HPyField: _i => "_i");
    rows!(HPyGlobal: _i => "_i");
    rows!(HPyTracker: _i => "_i");
    rows!(HPyListBuilder: _lst => "_lst");
    rows!(HPyTupleBuilder: _tup => "_tup");
    rows!(HPyThreadState: _i => "_i");
    v
}
