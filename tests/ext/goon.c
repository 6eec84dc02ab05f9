/* Test extension: going on as universal mode does (tests/test_goon.py),
   built -O3 -g.  Lines marked with a tag are found by the test. */
#include "hpy.h"

typedef struct { long x; long y; } PointObject;
HPyType_HELPERS(PointObject)

/* piconumpy's bug: an argument of another type read as this struct. */
HPyDef_METH(read_x, "read_x", HPyFunc_O)
static HPy read_x_impl(HPyContext *ctx, HPy self, HPy arg)
{
    PointObject *p = PointObject_AsStruct(ctx, arg);   /* AS_STRUCT */
    return HPyLong_FromLong(ctx, p->x);
}

/* HPy_NULL to a check function, then more calls. */
HPyDef_METH(check_null, "check_null", HPyFunc_NOARGS)
static HPy check_null_impl(HPyContext *ctx, HPy self)
{
    int r = HPyList_Check(ctx, HPy_NULL);   /* CHECK_NULL */
    HPy s = HPyUnicode_FromString(ctx, "after");
    HPy res = HPyTuple_Pack(ctx, 2, ctx->h_None, s);
    HPy_Close(ctx, s);
    if (r)
        return res;
    return res;
}

/* An error return without an exception, after some calls: the report
   names the last API call before the return, not the opening line. */
HPyDef_METH(error_no_exc, "error_no_exc", HPyFunc_O)
static HPy error_no_exc_impl(HPyContext *ctx, HPy self, HPy arg)
{   /* ENTRY_ERROR */
    long v = HPyLong_AsLong(ctx, arg);
    if (v > 0) {
        HPy r = HPyLong_FromLong(ctx, v);
        return r;
    }
    int is_list = HPyList_Check(ctx, arg);   /* LAST_CALL */
    if (!is_list)
        return HPy_NULL;   /* RETURN_NULL */
    return HPy_Dup(ctx, arg);
}

/* No API call at all: the report falls back to the entry. */
HPyDef_METH(null_no_call, "null_no_call", HPyFunc_NOARGS)
static HPy null_no_call_impl(HPyContext *ctx, HPy self)
{   /* ENTRY_NOCALL */
    return HPy_NULL;
}

/* A result with an exception pending. */
HPyDef_METH(result_pending, "result_pending", HPyFunc_O)
static HPy result_pending_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPyLong_AsLong(ctx, arg);   /* ORIGIN_PENDING */
    HPy r = HPyLong_FromLong(ctx, 7);   /* CALL_PENDING */
    return r;
}

/* Use after close of an int made here (only this handle holds it). */
HPyDef_METH(use_after_close, "use_after_close", HPyFunc_O)
static HPy use_after_close_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy h = HPyLong_FromLong(ctx, HPyLong_AsLong(ctx, arg) * 1000003);
    HPy_Close(ctx, h);
    HPy r = HPy_Repr(ctx, h);   /* USE_AFTER_CLOSE */
    HPy t = HPyTuple_Pack(ctx, 1, r);
    HPy_Close(ctx, r);
    return t;
}

/* The same with an object whose death is observable (a weakref callback):
   it is not kept alive, the use is refused and returns None. */
HPyDef_METH(use_after_close_obj, "use_after_close_obj", HPyFunc_O)
static HPy use_after_close_obj_impl(HPyContext *ctx, HPy self, HPy cls)
{
    HPy h = HPy_CallTupleDict(ctx, cls, HPy_NULL, HPy_NULL);
    HPy_Close(ctx, h);
    HPy r = HPy_Repr(ctx, h);   /* USE_AFTER_CLOSE_OBJ */
    HPy t = HPyTuple_Pack(ctx, 1, r);
    HPy_Close(ctx, r);
    return t;
}

static HPyDef *module_defines[] = {
    &read_x, &check_null, &error_no_exc, &null_no_call, &result_pending, &use_after_close,
    &use_after_close_obj, NULL
};
static HPyModuleDef moduledef = { .doc = "goon", .size = 0, .defines = module_defines };
HPy_MODINIT(goon, moduledef)
