/* leak-case
 * about: tuple and list builders (built and cancelled), trackers (closed and ForgetAll), errors raised and caught in C
 * class: none
 * api: none
 * call: assert mod.enumerate_pairs(["a", "b"]) == [(0, "a"), (1, "b")]
 * call: assert mod.ints_or_none([1, 2, 3]) == (1, 2, 3)
 * call: assert mod.ints_or_none([1, "x"]) is None
 * call: assert mod.parse_ints(["1", "zz", "3"]) == [1, -1, 3]
 * call: try:
 * call:     mod.ints_or_none(5)
 * call: except TypeError: pass
 * call: else: raise AssertionError
 * call: assert mod.keep_all([4, 5]) == [4, 5]
 * hpy: missed
 */
#include "hpy.h"

HPyDef_METH(enumerate_pairs, "enumerate_pairs", HPyFunc_O)
static HPy enumerate_pairs_impl(HPyContext *ctx, HPy self, HPy seq)
{
    HPy_ssize_t n = HPy_Length(ctx, seq);
    if (n < 0)
        return HPy_NULL;
    HPyListBuilder lb = HPyListBuilder_New(ctx, n);
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPyTracker ht = HPyTracker_New(ctx, 2);
        HPy idx = HPyLong_FromSsize_t(ctx, i);
        HPyTracker_Add(ctx, ht, idx);
        HPy item = HPy_GetItem_i(ctx, seq, i);
        if (HPy_IsNull(item)) {
            HPyTracker_Close(ctx, ht);
            HPyListBuilder_Cancel(ctx, lb);
            return HPy_NULL;
        }
        HPyTracker_Add(ctx, ht, item);
        HPyTupleBuilder tb = HPyTupleBuilder_New(ctx, 2);
        HPyTupleBuilder_Set(ctx, tb, 0, idx);
        HPyTupleBuilder_Set(ctx, tb, 1, item);
        HPy pair = HPyTupleBuilder_Build(ctx, tb);
        HPyTracker_Close(ctx, ht);
        HPyListBuilder_Set(ctx, lb, i, pair);
        HPy_Close(ctx, pair);
    }
    return HPyListBuilder_Build(ctx, lb);
}

/* A tuple of the items if all are ints, else None; TypeError if not a sequence. */
HPyDef_METH(ints_or_none, "ints_or_none", HPyFunc_O)
static HPy ints_or_none_impl(HPyContext *ctx, HPy self, HPy seq)
{
    HPy_ssize_t n = HPy_Length(ctx, seq);
    if (n < 0)
        return HPy_NULL;
    HPyTupleBuilder tb = HPyTupleBuilder_New(ctx, n);
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy item = HPy_GetItem_i(ctx, seq, i);
        if (HPy_IsNull(item)) {
            HPyTupleBuilder_Cancel(ctx, tb);
            return HPy_NULL;
        }
        if (!HPy_TypeCheck(ctx, item, ctx->h_LongType)) {
            HPy_Close(ctx, item);
            HPyTupleBuilder_Cancel(ctx, tb);
            return HPy_Dup(ctx, ctx->h_None);
        }
        HPyTupleBuilder_Set(ctx, tb, i, item);
        HPy_Close(ctx, item);
    }
    return HPyTupleBuilder_Build(ctx, tb);
}

/* int() of each item; -1 where int() raises ValueError (caught in C). */
HPyDef_METH(parse_ints, "parse_ints", HPyFunc_O)
static HPy parse_ints_impl(HPyContext *ctx, HPy self, HPy seq)
{
    HPy_ssize_t n = HPy_Length(ctx, seq);
    if (n < 0)
        return HPy_NULL;
    HPy res = HPyList_New(ctx, 0);
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy item = HPy_GetItem_i(ctx, seq, i);
        HPy v = HPy_Call(ctx, ctx->h_LongType, &item, 1, HPy_NULL);
        HPy_Close(ctx, item);
        if (HPy_IsNull(v)) {
            if (!HPyErr_ExceptionMatches(ctx, ctx->h_ValueError)) {
                HPy_Close(ctx, res);
                return HPy_NULL;
            }
            HPyErr_Clear(ctx);
            v = HPyLong_FromLong(ctx, -1);
        }
        HPyList_Append(ctx, res, v);
        HPy_Close(ctx, v);
    }
    return res;
}

/* Builds a list while tracking the items; on success forgets them and closes them by hand. */
HPyDef_METH(keep_all, "keep_all", HPyFunc_O)
static HPy keep_all_impl(HPyContext *ctx, HPy self, HPy seq)
{
    HPy_ssize_t n = HPy_Length(ctx, seq);
    if (n < 0)
        return HPy_NULL;
    HPy items[8];
    if (n > 8) {
        HPyErr_SetString(ctx, ctx->h_ValueError, "at most 8 items");
        return HPy_NULL;
    }
    HPyTracker ht = HPyTracker_New(ctx, n);
    for (HPy_ssize_t i = 0; i < n; i++) {
        items[i] = HPy_GetItem_i(ctx, seq, i);
        if (HPy_IsNull(items[i]) || HPyTracker_Add(ctx, ht, items[i]) < 0) {
            HPyTracker_Close(ctx, ht);
            return HPy_NULL;
        }
    }
    HPy res = HPyList_New(ctx, 0);
    for (HPy_ssize_t i = 0; i < n; i++)
        HPyList_Append(ctx, res, items[i]);
    HPyTracker_ForgetAll(ctx, ht);
    HPyTracker_Close(ctx, ht);
    for (HPy_ssize_t i = 0; i < n; i++)
        HPy_Close(ctx, items[i]);
    return res;
}

static HPyDef *module_defines[] = {
    &enumerate_pairs, &ints_or_none, &parse_ints, &keep_all, NULL
};
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(control_builders, moduledef)
