"""Generate the misuse matrix of the differential harness
(tests/test_differential.py): one C function per API function of the ABI
table (src/abi.rs, `hpy_context_members!`, itself generated from HPy's
headers by tools/gen_ctx_table.py) that takes a handle, called with each bad
kind in its first handle argument.

    python tools/gen_misuse_matrix.py OUT.c      # writes OUT.c, prints the spec as JSON

Each generated function `m_<Member>(kind, wrong, factory, good...)` calls
`ctx->ctx_<Member>` directly (no inline helper in between) with:

- `good`: a valid value for each handle argument (Python objects given by
  the driver, from GOOD below; the default is an int);
- in its first handle argument, by `kind`: 0 the good value (a baseline),
  1 HPy_NULL, 2 a handle closed just before (to a fresh object made by
  `factory`), 3 garbage (a value never handed out), 4 a value of the wrong
  type or shape (`wrong`), 5 the good value with an exception pending.

It stores what the call returned in a static description (`last()`), then
returns the normalised result, or HPy_NULL with the pending exception (the
driver reads its type).  Functions whose arguments cannot be made here are
listed in SKIP with the reason.
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ["good", "null", "closed", "garbage", "wrong", "pending"]

# Rust type of the ABI table -> C type.
CTYPE = {
    "HPy": "HPy", "i32": "int32_t", "u32": "uint32_t", "i64": "int64_t", "u64": "uint64_t",
    "usize": "size_t", "HPy_ssize_t": "HPy_ssize_t", "*mut c_void": "void *", "f64": "double",
    "c_int": "int", "*const c_char": "const char *", "HPy_hash_t": "HPy_hash_t",
    "HPy_UCS4": "HPy_UCS4", "*mut *mut c_void": "void **", "*mut HPy_ssize_t": "HPy_ssize_t *",
    "*const HPy": "const HPy *", "*mut HPy": "HPy *", "*mut cpy_PyObject": "void *",
    "HPyListBuilder": "HPyListBuilder", "HPyTupleBuilder": "HPyTupleBuilder", "HPyTracker": "HPyTracker",
    "_HPyCapsule_key": "_HPyCapsule_key", "HPyType_BuiltinShape": "HPyType_BuiltinShape", "()": "void",
}

# API functions not in the matrix, and why.
SKIP = {
    "HPyField_Store": "needs an HPyField inside an object of an HPy type (leak_cases and tests/test_lifetimes.py cover fields)",
    "HPyField_Load": "same",
    "HPyGlobal_Store": "needs an HPyGlobal of the module (covered by tests/test_lifetimes.py)",
    "_HPy_New": "needs an HPy type with a struct (AsStruct and the leak cases cover the struct paths)",
    "HPy_SetCallFunction": "needs an HPyCallFunction of an HPy type",
}

# Per API function: Python expressions for the good value of each handle
# argument, the wrong value, the factory of fresh objects (`closed`), and
# non-handle arguments by name (C expressions).  Defaults: an int.
BIG = "1000007"
DEFAULT = {"good": None, "wrong": "'wrong'", "factory": f"lambda: int('{BIG}')", "args": {}}
GOOD = {
    "HPyFloat_AsDouble": {"good": ["1.5"], "factory": "lambda: float('2.5')"},
    "HPy_Length": {"good": ["[1, 2]"], "factory": "lambda: [1, 2, 3]", "wrong": "1000007"},
    "HPy_CallTupleDict": {"good": ["abs", "(-3,)", "{}"], "factory": "lambda: (lambda *a: a)"},
    "HPyErr_SetString": {"good": ["ValueError"], "factory": "lambda: type('E', (Exception,), {})", "args": {"utf8_message": '"msg"'}},
    "HPyErr_SetObject": {"good": ["ValueError", "'v'"], "factory": "lambda: type('E', (Exception,), {})"},
    "HPyErr_SetFromErrnoWithFilename": {"good": ["OSError"], "factory": "lambda: type('E', (OSError,), {})", "args": {"filename_fsencoded": '"f"'}},
    "HPyErr_SetFromErrnoWithFilenameObjects": {"good": ["OSError", "'a'", "'b'"], "factory": "lambda: type('E', (OSError,), {})"},
    "HPyErr_ExceptionMatches": {"good": ["ValueError"], "factory": "lambda: type('E', (Exception,), {})"},
    "HPyErr_NewException": {"good": ["ValueError", "{}"], "factory": "lambda: type('E', (Exception,), {})", "args": {"utf8_name": '"m.E"'}},
    "HPyErr_NewExceptionWithDoc": {"good": ["ValueError", "{}"], "factory": "lambda: type('E', (Exception,), {})", "args": {"utf8_name": '"m.E"', "utf8_doc": '"doc"'}},
    "HPyErr_WarnEx": {"good": ["DeprecationWarning"], "factory": "lambda: type('W', (DeprecationWarning,), {})", "args": {"utf8_message": '"w"', "stack_level": "1"}},
    "HPyErr_WriteUnraisable": {"good": ["'u'"]},
    "HPyType_GenericNew": {"good": ["object", "{}"], "factory": "lambda: type('T', (), {})", "wrong": "1000007"},
    "HPy_GetAttr": {"good": [BIG, "'real'"]},
    "HPy_GetAttr_s": {"args": {"utf8_name": '"real"'}},
    "HPy_HasAttr": {"good": [BIG, "'real'"]},
    "HPy_HasAttr_s": {"args": {"utf8_name": '"real"'}},
    "HPy_SetAttr": {"good": ["Box()", "'x'", "5"], "factory": "lambda: Box()"},
    "HPy_SetAttr_s": {"good": ["Box()", "5"], "factory": "lambda: Box()", "args": {"utf8_name": '"x"'}},
    "HPy_GetItem": {"good": ["[10, 20]", "1"], "factory": "lambda: [10, 20]"},
    "HPy_GetItem_i": {"good": ["[10, 20]"], "factory": "lambda: [10, 20]"},
    "HPy_GetItem_s": {"good": ["{'x': 1}"], "factory": "lambda: {'x': 1}", "args": {"utf8_key": '"x"'}},
    "HPy_Contains": {"good": ["[1, 2]", "1"], "factory": "lambda: [1, 2]"},
    "HPy_SetItem": {"good": ["[0, 0]", "1", "5"], "factory": "lambda: [0, 0]"},
    "HPy_SetItem_i": {"good": ["[0, 0]", "5"], "factory": "lambda: [0, 0]"},
    "HPy_SetItem_s": {"good": ["{}", "5"], "factory": "lambda: {}", "args": {"utf8_key": '"x"'}},
    "HPy_DelItem": {"good": ["[1, 2]", "0"], "factory": "lambda: [1, 2]"},
    "HPy_DelItem_i": {"good": ["[1, 2]"], "factory": "lambda: [1, 2]"},
    "HPy_DelItem_s": {"good": ["{'x': 1}"], "factory": "lambda: {'x': 1}", "args": {"utf8_key": '"x"'}},
    "HPy_TypeCheck": {"good": [BIG, "int"]},
    "HPy_Is": {"good": [BIG, "None"]},
    "_HPy_AsStruct_Object": {"good": ["object()"], "factory": "lambda: object()", "wrong": BIG},
    "_HPy_AsStruct_Legacy": {"good": [BIG], "wrong": BIG},
    "_HPy_AsStruct_Type": {"good": ["int"], "factory": "lambda: type('T', (), {})", "wrong": BIG},
    "_HPy_AsStruct_Long": {"good": [BIG], "wrong": "'s'"},
    "_HPy_AsStruct_Float": {"good": ["1.5"], "factory": "lambda: float('2.5')", "wrong": BIG},
    "_HPy_AsStruct_Unicode": {"good": ["'s'"], "factory": "lambda: str(12345)", "wrong": BIG},
    "_HPy_AsStruct_Tuple": {"good": ["(1,)"], "factory": "lambda: tuple([1, 2])", "wrong": BIG},
    "_HPy_AsStruct_List": {"good": ["[1]"], "factory": "lambda: [1]", "wrong": BIG},
    "HPy_Bytes": {"good": ["b'x'"], "factory": "lambda: bytes(3)"},
    "HPy_RichCompare": {"good": [BIG, "8"], "args": {"op": "2"}},
    "HPy_RichCompareBool": {"good": [BIG, "8"], "args": {"op": "2"}},
    "HPyUnicode_AsUTF8AndSize": {"good": ["'abc'"], "factory": "lambda: str(12345)", "wrong": BIG},
    "HPyUnicode_ReadChar": {"good": ["'abc'"], "factory": "lambda: str(12345)", "wrong": BIG},
    "HPyUnicode_FromEncodedObject": {"good": ["b'abc'"], "factory": "lambda: bytes(3)", "args": {"encoding": '"utf-8"', "errors": '"strict"'}},
    "HPyUnicode_Substring": {"good": ["'abc'"], "factory": "lambda: str(12345)", "wrong": BIG, "args": {"end": "2"}},
    "HPyList_Append": {"good": ["[1]", "2"], "factory": "lambda: [1]"},
    "HPyListBuilder_Set": {"good": ["2"]},
    "HPyTupleBuilder_Set": {"good": ["2"]},
    "_HPyType_GetBuiltinShape": {"good": ["int"], "factory": "lambda: type('T', (), {})"},
    "HPyCapsule_Get": {"good": ["CAPSULE"], "factory": "lambda: CAPSULE", "args": {"key": "0", "utf8_name": '"datetime.datetime_CAPI"'}},
    "HPyCapsule_IsValid": {"good": ["CAPSULE"], "factory": "lambda: CAPSULE", "args": {"utf8_name": '"datetime.datetime_CAPI"'}},
    "HPyCapsule_Set": {"good": ["CAPSULE"], "factory": "lambda: CAPSULE", "args": {"key": "2"}},
    "HPy_EvalCode": {"good": ["compile('1 + 2', 's', 'eval')", "{}", "{}"], "factory": "lambda: compile('3', 's', 'eval')"},
    "HPyContextVar_New": {"good": ["5"], "args": {"name": '"cv"'}},
    "HPyContextVar_Get": {"good": ["CVAR", "5"], "factory": "lambda: contextvars.ContextVar('c')"},
    "HPyContextVar_Set": {"good": ["CVAR", "5"], "factory": "lambda: contextvars.ContextVar('c')"},
    "HPyType_GetName": {"good": ["int"], "factory": "lambda: type('T', (), {})", "wrong": BIG},
    "HPyType_IsSubtype": {"good": ["bool", "int"], "factory": "lambda: type('T', (), {})", "wrong": BIG},
    "HPyDict_Keys": {"good": ["{'a': 1}"], "factory": "lambda: {'a': 1}"},
    "HPyDict_Copy": {"good": ["{'a': 1}"], "factory": "lambda: {'a': 1}"},
    "HPySlice_Unpack": {"good": ["slice(1, 5, 2)"], "factory": "lambda: slice(1, 6, 2)", "wrong": BIG},
    "HPy_Call": {"good": ["abs", "NULL"], "factory": "lambda: (lambda *a: a)", "args": {"nargs": "1"}, "array": ["-3"]},
    "HPy_CallMethod": {"good": ["'bit_length'", "NULL"], "factory": "lambda: str('bit_length')", "wrong": BIG, "args": {"nargs": "1"}, "array": [BIG]},
    "HPyBytes_Check": {"good": ["b'abc'"]},
    "HPyBytes_Size": {"good": ["b'abc'"], "factory": "lambda: bytes(3)"},
    "HPyBytes_GET_SIZE": {"good": ["b'abc'"], "factory": "lambda: bytes(3)"},
    "HPyBytes_AsString": {"good": ["b'abc'"], "factory": "lambda: bytes(3)"},
    "HPyBytes_AS_STRING": {"good": ["b'abc'"], "factory": "lambda: bytes(3)"},
    "HPyUnicode_Check": {"good": ["'abc'"], "wrong": BIG},
    "HPyUnicode_AsASCIIString": {"good": ["'abc'"], "factory": "lambda: str(12345)", "wrong": BIG},
    "HPyUnicode_AsLatin1String": {"good": ["'abc'"], "factory": "lambda: str(12345)", "wrong": BIG},
    "HPyUnicode_AsUTF8String": {"good": ["'abc'"], "factory": "lambda: str(12345)", "wrong": BIG},
    "HPyUnicode_EncodeFSDefault": {"good": ["'abc'"], "factory": "lambda: str(12345)", "wrong": BIG},
    "HPyList_Check": {"good": ["[1]"]},
    "HPyDict_Check": {"good": ["{}"]},
    "HPyTuple_Check": {"good": ["()"]},
}


def members():
    """(member, public name, [(arg, rust type)], rust return type) of the
    ABI table, for functions with a handle argument."""
    text = (ROOT / "src" / "abi.rs").read_text()
    out = []
    for m in re.finditer(r'^\s+fn (\w+) "(\w+)" \(([^)]*)\) -> ([^;]+);', text, re.M):
        member, pub, params, ret = m.groups()
        args = []
        for p in filter(None, (x.strip() for x in params.split(","))):
            name, ty = (s.strip() for s in p.split(":", 1))
            args.append((name, ty))
        if any(ty == "HPy" for _, ty in args):
            out.append((member, pub, args, ret.strip()))
    return out


def c_name(name):
    return {"type_": "type"}.get(name, name)


def result_code(ret, pub):
    """C statements describing `r` into `last` and building `res`."""
    if ret == "HPy":
        return ('snprintf(last, sizeof last, "%s", HPy_IsNull(r) ? "NULL" : "object");\n'
                '    if (pending) { HPy_Close(ctx, r); return HPy_NULL; }\n'
                '    if (HPy_IsNull(r)) return HPyUnicode_FromString(ctx, "<NULL>");\n'
                '    return r;')
    if ret == "()":
        return ('snprintf(last, sizeof last, "void");\n'
                '    if (pending) return HPy_NULL;\n'
                '    return HPyUnicode_FromString(ctx, "<void>");')
    if ret in ("*const c_char",):
        # The string, when it is one (at most 16 bytes, printable ASCII).
        return ('describe_str(r);\n'
                '    if (pending) return HPy_NULL;\n'
                '    return HPyUnicode_FromString(ctx, last);')
    if ret.startswith("*"):
        return ('snprintf(last, sizeof last, "%s", r ? "pointer" : "NULL");\n'
                '    if (pending) return HPy_NULL;\n'
                '    return HPyUnicode_FromString(ctx, last);')
    if ret == "f64":
        return ('snprintf(last, sizeof last, "%g", r);\n'
                '    if (pending) return HPy_NULL;\n'
                '    return HPyUnicode_FromString(ctx, last);')
    return ('snprintf(last, sizeof last, "%lld", (long long)r);\n'
            '    if (pending) return HPy_NULL;\n'
            '    return HPyUnicode_FromString(ctx, last);')


def generate():
    funcs, spec = [], []
    for member, pub, args, ret in members():
        if pub in SKIP:
            continue
        if any(ty not in CTYPE for _, ty in args) or ret not in CTYPE:
            raise SystemExit(f"{pub}: an argument type the generator does not know; add it to CTYPE or SKIP")
        g = dict(DEFAULT, **GOOD.get(pub, {}))
        handles = [n for n, ty in args if ty == "HPy"]
        good = g["good"] or [BIG] * len(handles)
        good = (good + [BIG] * len(handles))[:len(handles)]
        pre, call, post = [], [], []
        hi = 0
        for name, ty in args:
            if ty == "HPy":
                call.append(f"h{hi}")
                hi += 1
            elif ty in ("HPyListBuilder", "HPyTupleBuilder"):
                kind = "List" if ty == "HPyListBuilder" else "Tuple"
                pre.append(f"{ty} b = ctx->ctx_{kind}Builder_New(ctx, 1);")
                post.append(f"ctx->ctx_{kind}Builder_Cancel(ctx, b);")
                call.append("b")
            elif ty == "HPyTracker":
                pre.append("HPyTracker t = ctx->ctx_Tracker_New(ctx, 1);")
                post.append("ctx->ctx_Tracker_ForgetAll(ctx, t); ctx->ctx_Tracker_Close(ctx, t);")
                call.append("t")
            elif ty in ("*const HPy", "*mut HPy") and name in ("args", "items"):
                n = len(g.get("array", []))
                pre.append(f"HPy arr[2] = {{ HPy_NULL, HPy_NULL }}; for (int i = 0; i < {n}; i++) arr[i] = args[3 + {len(handles)} + i];")
                call.append("arr")
            elif ty == "*mut HPy":
                pre.append("HPy out = HPy_NULL;")
                post.append("HPy_Close(ctx, out);")
                call.append("&out")
            elif ty == "*mut HPy_ssize_t":
                pre.append(f"HPy_ssize_t v_{name} = 0;")
                call.append(f"&v_{name}")
            elif ty == "*mut *mut c_void":
                pre.append(f"void *v_{name} = NULL;")
                call.append(f"&v_{name}")
            elif ty == "*const c_char":
                call.append(g["args"].get(name, '"x"'))
            else:
                call.append(g["args"].get(name, "0"))
        nargs = 3 + len(handles) + len(g.get("array", []))
        # "NULL": the good value of an optional handle argument is HPy_NULL.
        hdecl = "\n    ".join(f"HPy h{i} = {'HPy_NULL' if good[i] == 'NULL' else f'args[3 + {i}]'};" for i in range(len(handles)))
        # HPy_Close closes it: a handle of its own (the argument stays open).
        fixup = "if (kind == KIND_GOOD || kind == KIND_WRONG || kind == KIND_PENDING) h0 = HPy_Dup(ctx, h0);" if pub == "HPy_Close" else ""
        rty = CTYPE[ret]
        assign = f"{rty} r = " if ret != "()" else ""
        body = f"""
HPyDef_METH(m_{member}, "m_{member}", HPyFunc_VARARGS)
static HPy m_{member}_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{{
    if (nargs != {nargs}) {{ HPyErr_SetString(ctx, ctx->h_TypeError, "m_{member}: {nargs} arguments"); return HPy_NULL; }}
    int kind = (int)HPyLong_AsLong(ctx, args[0]);
    {hdecl}
    h0 = bad_value(ctx, kind, h0, args[1], args[2]);
    {fixup}
    {" ".join(pre)}
    if (kind == KIND_PENDING) HPyErr_SetString(ctx, ctx->h_KeyError, "pending");
    {assign}ctx->ctx_{member}(ctx{"".join(", " + c for c in call)});
    int pending = HPyErr_Occurred(ctx);
    {" ".join(post)}
    {result_code(ret, pub)}
}}
"""
        funcs.append(member)
        spec.append({"api": pub, "member": member, "good": good, "wrong": g["wrong"], "factory": g["factory"],
                     "array": g.get("array", []), "returns": ret})
        yield body
    yield "\nstatic HPyDef *module_defines[] = {\n" + "".join(f"    &m_{m},\n" for m in funcs) + "    &last_m, NULL\n};\n"
    yield 'static HPyModuleDef moduledef = { .doc = "misuse matrix", .defines = module_defines };\nHPy_MODINIT(misuse_matrix, moduledef)\n'
    generate.spec = spec


PRELUDE = r'''/* Generated by tools/gen_misuse_matrix.py from src/abi.rs: do not edit. */
#include <stdio.h>
#include <string.h>
#include "hpy.h"

enum { KIND_GOOD, KIND_NULL, KIND_CLOSED_FRESH, KIND_GARBAGE, KIND_WRONG, KIND_PENDING };

static char last[64];

static void describe_str(const char *r)
{
    if (!r) { snprintf(last, sizeof last, "NULL"); return; }
    size_t n = strnlen(r, 17);
    for (size_t i = 0; i < n; i++)
        if (r[i] < 32 || r[i] > 126) { snprintf(last, sizeof last, "<bytes>"); return; }
    snprintf(last, sizeof last, "'%.16s'%s", r, n > 16 ? "..." : "");
}

/* The value for the first handle argument, by kind. */
static HPy bad_value(HPyContext *ctx, int kind, HPy good, HPy wrong, HPy factory)
{
    switch (kind) {
    case KIND_NULL:
        return HPy_NULL;
    case KIND_CLOSED_FRESH: {
        HPy h = HPy_CallTupleDict(ctx, factory, HPy_NULL, HPy_NULL);
        HPy_Close(ctx, h);
        return h;
    }
    case KIND_GARBAGE:
        return (HPy){ (HPy_ssize_t)0x5a5a5a5a50 };
    case KIND_WRONG:
        return wrong;
    case KIND_PENDING:   /* set right before the call, after its set-up */
        return good;
    default:
        return good;
    }
}

HPyDef_METH(last_m, "last", HPyFunc_NOARGS)
static HPy last_m_impl(HPyContext *ctx, HPy self)
{
    return HPyUnicode_FromString(ctx, last);
}
'''


def main():
    out = Path(sys.argv[1])
    parts = list(generate())
    out.write_text(PRELUDE + "".join(parts))
    print(json.dumps({"kinds": KINDS, "functions": generate.spec, "skipped": SKIP}, indent=1))


if __name__ == "__main__":
    main()
