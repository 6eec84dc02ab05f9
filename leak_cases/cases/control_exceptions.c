/* leak-case
 * about: correct error paths: cleanup with an exception pending (HPy_Close, tracker, builder Cancel, global cleared), HPyErr_ExceptionMatches + HPyErr_Clear and retry, an error set just before a close, HPyErr_WriteUnraisable, HPy_Dup/HPy_Close of HPy_NULL, sq_item ending an iteration with IndexError, nb_bool returning 0, tp_init failing with -1
 * class: none
 * api: none
 * call: import sys
 * call: try:
 * call:     mod.sum_ints([1, 2, "x"])
 * call: except TypeError: pass
 * call: else: raise AssertionError("no TypeError")
 * call: assert mod.sum_ints([1, 2, 3]) == 6
 * call: class O: pass
 * call: o = O(); o.fallback = 5
 * call: assert mod.attr_or_fallback(o) == 5
 * call: o.primary = 4; assert mod.attr_or_fallback(o) == 4
 * call: try:
 * call:     mod.fail_after_close(3)
 * call: except ValueError as e: assert str(e) == "negative or odd", e
 * call: else: raise AssertionError("no ValueError")
 * call: sys.unraisablehook = lambda u: None
 * call: assert mod.unraisable() is None
 * call: assert mod.dup_close_null() is None
 * call: assert list(mod.Countdown(3)) == [3, 2, 1]
 * call: assert not mod.Countdown(0) and mod.Countdown(1)
 * call: try:
 * call:     mod.Countdown("x")
 * call: except TypeError: pass
 * call: else: raise AssertionError("no TypeError")
 * hpy: missed
 */
#include "hpy.h"

static HPyGlobal last_list;

/* Sum of a list of ints; on a non-int the half-built tuple, the tracker
   and the temporaries are cleaned up with the TypeError pending. */
HPyDef_METH(sum_ints, "sum_ints", HPyFunc_O)
static HPy sum_ints_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy_ssize_t n = HPy_Length(ctx, arg);
    if (n < 0)
        return HPy_NULL;
    HPyTracker ht = HPyTracker_New(ctx, n);
    HPyTupleBuilder tb = HPyTupleBuilder_New(ctx, n);
    HPyGlobal_Store(ctx, &last_list, arg);
    long total = 0;
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy item = HPy_GetItem_i(ctx, arg, i);
        if (HPy_IsNull(item))
            goto error;
        HPyTracker_Add(ctx, ht, item);
        long v = HPyLong_AsLong(ctx, item);
        if (v == -1 && HPyErr_Occurred(ctx))
            goto error;
        HPyTupleBuilder_Set(ctx, tb, i, item);
        total += v;
    }
    HPy t = HPyTupleBuilder_Build(ctx, tb);
    HPy_Close(ctx, t);
    HPyTracker_Close(ctx, ht);
    HPyGlobal_Store(ctx, &last_list, HPy_NULL);
    return HPyLong_FromLong(ctx, total);
error:
    HPyTupleBuilder_Cancel(ctx, tb);
    HPyTracker_Close(ctx, ht);
    HPyGlobal_Store(ctx, &last_list, HPy_NULL);
    return HPy_NULL;
}

/* obj.primary, or obj.fallback when it has none: the AttributeError is
   matched, cleared, and the lookup retried. */
HPyDef_METH(attr_or_fallback, "attr_or_fallback", HPyFunc_O)
static HPy attr_or_fallback_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy r = HPy_GetAttr_s(ctx, arg, "primary");
    if (!HPy_IsNull(r))
        return r;
    if (!HPyErr_ExceptionMatches(ctx, ctx->h_AttributeError))
        return HPy_NULL;
    HPyErr_Clear(ctx);
    return HPy_GetAttr_s(ctx, arg, "fallback");
}

/* The error is set first, then the temporary is closed. */
HPyDef_METH(fail_after_close, "fail_after_close", HPyFunc_O)
static HPy fail_after_close_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy doubled = HPy_Add(ctx, arg, arg);
    if (HPy_IsNull(doubled))
        return HPy_NULL;
    HPyErr_SetString(ctx, ctx->h_ValueError, "negative or odd");
    HPy_Close(ctx, doubled);
    return HPy_NULL;
}

/* An exception that cannot be propagated is handed to WriteUnraisable. */
HPyDef_METH(unraisable, "unraisable", HPyFunc_NOARGS)
static HPy unraisable_impl(HPyContext *ctx, HPy self)
{
    HPyErr_SetString(ctx, ctx->h_RuntimeError, "in a callback that cannot fail");
    HPyErr_WriteUnraisable(ctx, HPy_NULL);
    return HPy_Dup(ctx, ctx->h_None);
}

/* HPy defines both on HPy_NULL: Dup gives HPy_NULL, Close does nothing. */
HPyDef_METH(dup_close_null, "dup_close_null", HPyFunc_NOARGS)
static HPy dup_close_null_impl(HPyContext *ctx, HPy self)
{
    HPy h = HPy_Dup(ctx, HPy_NULL);
    if (!HPy_IsNull(h) || HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPy_Close(ctx, h);
    HPy_Close(ctx, HPy_NULL);
    return HPy_Dup(ctx, ctx->h_None);
}

typedef struct {
    long n;
} CountdownObject;
HPyType_HELPERS(CountdownObject)

HPyDef_SLOT(Countdown_init, HPy_tp_init)
static int Countdown_init_impl(HPyContext *ctx, HPy self, const HPy *args, HPy_ssize_t nargs, HPy kw)
{
    if (nargs != 1) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "Countdown(n)");
        return -1;
    }
    long n = HPyLong_AsLong(ctx, args[0]);
    if (n == -1 && HPyErr_Occurred(ctx))
        return -1;
    CountdownObject_AsStruct(ctx, self)->n = n;
    return 0;
}

/* The old iteration protocol: IndexError (with HPy_NULL) ends it. */
HPyDef_SLOT(Countdown_item, HPy_sq_item)
static HPy Countdown_item_impl(HPyContext *ctx, HPy self, HPy_ssize_t i)
{
    CountdownObject *c = CountdownObject_AsStruct(ctx, self);
    if (i >= c->n) {
        HPyErr_SetString(ctx, ctx->h_IndexError, "countdown over");
        return HPy_NULL;
    }
    return HPyLong_FromLong(ctx, c->n - i);
}

/* 0 is false, not an error. */
HPyDef_SLOT(Countdown_bool, HPy_nb_bool)
static int Countdown_bool_impl(HPyContext *ctx, HPy self)
{
    return CountdownObject_AsStruct(ctx, self)->n > 0;
}

static HPyDef *Countdown_defines[] = { &Countdown_init, &Countdown_item, &Countdown_bool, NULL };
static HPyType_Spec Countdown_spec = {
    .name = "control_exceptions.Countdown",
    .basicsize = sizeof(CountdownObject),
    .builtin_shape = HPyType_BuiltinShape_Object,
    .defines = Countdown_defines,
};

HPyDef_SLOT(exec, HPy_mod_exec)
static int exec_impl(HPyContext *ctx, HPy m)
{
    if (!HPyHelpers_AddType(ctx, m, "Countdown", &Countdown_spec, NULL))
        return -1;
    return 0;
}

static HPyDef *module_defines[] = { &sum_ints, &attr_or_fallback, &fail_after_close, &unraisable,
                                    &dup_close_null, &exec, NULL };
static HPyGlobal *module_globals[] = { &last_list, NULL };
static HPyModuleDef moduledef = { .defines = module_defines, .globals = module_globals };
HPy_MODINIT(control_exceptions, moduledef)
