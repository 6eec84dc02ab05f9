/* leak-case
 * about: pointer arguments HPy defines as NULL (no docstring, no filename, default encoding, a capsule without a name, HPyBytes_FromStringAndSize raising ValueError) and _HPy_AsStruct_* of objects that are there
 * class: none
 * api: none
 * call: assert issubclass(mod.new_error(), Exception)
 * call: assert mod.decode(b"abc") == "abc"
 * call: assert mod.capsule_ok()
 * call: try:
 * call:     mod.errno_error()
 * call: except OSError: pass
 * call: else: raise AssertionError
 * call: try:
 * call:     mod.null_bytes()
 * call: except ValueError: pass
 * call: else: raise AssertionError
 * call: assert mod.empty_decodes() == ("", "", "")
 * call: assert mod.Box(4).get() == 4
 * hpy: missed
 */
#include <errno.h>
#include "hpy.h"

HPyDef_METH(new_error, "new_error", HPyFunc_NOARGS)
static HPy new_error_impl(HPyContext *ctx, HPy self)
{
    return HPyErr_NewExceptionWithDoc(ctx, "control_null_pointers.Error", NULL, HPy_NULL, HPy_NULL);
}

HPyDef_METH(decode, "decode", HPyFunc_O)
static HPy decode_impl(HPyContext *ctx, HPy self, HPy arg)
{
    return HPyUnicode_FromEncodedObject(ctx, arg, NULL, NULL);
}

static int payload = 42;

HPyDef_METH(capsule_ok, "capsule_ok", HPyFunc_NOARGS)
static HPy capsule_ok_impl(HPyContext *ctx, HPy self)
{
    HPy cap = HPyCapsule_New(ctx, &payload, NULL, NULL);
    if (HPy_IsNull(cap))
        return HPy_NULL;
    int ok = HPyCapsule_IsValid(ctx, cap, NULL) && HPyCapsule_GetPointer(ctx, cap, NULL) == &payload;
    HPy_Close(ctx, cap);
    return HPyBool_FromLong(ctx, ok);
}

HPyDef_METH(errno_error, "errno_error", HPyFunc_NOARGS)
static HPy errno_error_impl(HPyContext *ctx, HPy self)
{
    errno = ENOENT;
    return HPyErr_SetFromErrnoWithFilename(ctx, ctx->h_OSError, NULL);
}

HPyDef_METH(null_bytes, "null_bytes", HPyFunc_NOARGS)
static HPy null_bytes_impl(HPyContext *ctx, HPy self)
{
    return HPyBytes_FromStringAndSize(ctx, NULL, 3);
}

HPyDef_METH(empty_decodes, "empty_decodes", HPyFunc_NOARGS)
static HPy empty_decodes_impl(HPyContext *ctx, HPy self)
{
    HPy items[3];
    items[0] = HPyUnicode_DecodeASCII(ctx, NULL, 0, NULL);
    items[1] = HPyUnicode_DecodeLatin1(ctx, NULL, 0, NULL);
    items[2] = HPyUnicode_DecodeFSDefaultAndSize(ctx, NULL, 0);
    HPy res = HPyTuple_FromArray(ctx, items, 3);
    for (int i = 0; i < 3; i++)
        HPy_Close(ctx, items[i]);
    return res;
}

typedef struct {
    long v;
} BoxObject;

HPyType_HELPERS(BoxObject)

HPyDef_SLOT(Box_new, HPy_tp_new)
static HPy Box_new_impl(HPyContext *ctx, HPy cls, const HPy *args, HPy_ssize_t nargs, HPy kw)
{
    long v;
    if (!HPyArg_Parse(ctx, NULL, args, nargs, "l", &v))
        return HPy_NULL;
    BoxObject *b;
    HPy h = HPy_New(ctx, cls, &b);
    if (HPy_IsNull(h))
        return HPy_NULL;
    b->v = v;
    return h;
}

HPyDef_METH(Box_get, "get", HPyFunc_NOARGS)
static HPy Box_get_impl(HPyContext *ctx, HPy self)
{
    return HPyLong_FromLong(ctx, BoxObject_AsStruct(ctx, self)->v);
}

static HPyDef *Box_defines[] = { &Box_new, &Box_get, NULL };
static HPyType_Spec Box_spec = {
    .name = "control_null_pointers.Box",
    .basicsize = sizeof(BoxObject),
    .builtin_shape = HPyType_BuiltinShape_Object,
    .defines = Box_defines,
};

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    return HPyHelpers_AddType(ctx, m, "Box", &Box_spec, NULL) ? 0 : -1;
}

static HPyDef *module_defines[] = { &new_error, &decode, &capsule_ok, &errno_error, &null_bytes, &empty_decodes, &mod_exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(control_null_pointers, moduledef)
