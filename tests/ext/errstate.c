/* Test extension: the C API's error protocol (tests/test_errstate.py).
   Lines marked with a tag are found by the test. */
#include "hpy.h"

HPyDef_METH(as_long_ignored, "as_long_ignored", HPyFunc_O)
static HPy as_long_ignored_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long v = HPyLong_AsLong(ctx, arg);   /* ORIGIN_ASLONG */
    return HPyLong_FromLong(ctx, v + 1);   /* CALL_PENDING */
}

/* The exception is set by the extension itself, then ignored. */
HPyDef_METH(set_then_call, "set_then_call", HPyFunc_NOARGS)
static HPy set_then_call_impl(HPyContext *ctx, HPy self)
{
    HPyErr_SetString(ctx, ctx->h_ValueError, "set here");   /* ORIGIN_SET */
    return HPy_Repr(ctx, ctx->h_None);   /* CALL_AFTER_SET */
}

HPyDef_METH(null_no_exc, "null_no_exc", HPyFunc_NOARGS)
static HPy null_no_exc_impl(HPyContext *ctx, HPy self) {   /* ENTRY_NULL */
    return HPy_NULL;
}

HPyDef_METH(put_ignored, "put_ignored", HPyFunc_VARARGS)
static HPy put_ignored_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs) {   /* ENTRY_PUT */
    HPy ok = HPy_Dup(ctx, ctx->h_True);
    HPy_SetItem(ctx, args[0], args[1], args[2]);   /* ORIGIN_SETITEM */
    return ok;
}

HPyDef_METH(dup_null, "dup_null", HPyFunc_NOARGS)
static HPy dup_null_impl(HPyContext *ctx, HPy self)
{
    HPy h = HPy_Dup(ctx, HPy_NULL);
    if (!HPy_IsNull(h))
        return HPy_NULL;
    HPy_Close(ctx, h);
    HPy_Close(ctx, HPy_NULL);
    return HPyBool_FromLong(ctx, HPyErr_Occurred(ctx));
}

HPyDef_METH(close_arg, "close_arg", HPyFunc_O)
static HPy close_arg_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy_Close(ctx, arg);   /* CLOSE_ARG */
    return HPy_Dup(ctx, ctx->h_None);
}

typedef struct { long n; } BoxObject;
HPyType_HELPERS(BoxObject)

/* An int slot returning -1 with no exception. */
HPyDef_SLOT(Box_bool, HPy_nb_bool)
static int Box_bool_impl(HPyContext *ctx, HPy self) {   /* ENTRY_BOOL */
    return -1;
}

static HPyDef *Box_defines[] = { &Box_bool, NULL };
static HPyType_Spec Box_spec = {
    .name = "errstate.Box", .basicsize = sizeof(BoxObject),
    .builtin_shape = HPyType_BuiltinShape_Object, .defines = Box_defines,
};

HPyDef_SLOT(exec, HPy_mod_exec)
static int exec_impl(HPyContext *ctx, HPy m)
{
    if (!HPyHelpers_AddType(ctx, m, "Box", &Box_spec, NULL))
        return -1;
    return 0;
}

static HPyDef *module_defines[] = { &as_long_ignored, &set_then_call, &null_no_exc, &put_ignored,
                                    &dup_null, &close_arg, &exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(errstate, moduledef)
