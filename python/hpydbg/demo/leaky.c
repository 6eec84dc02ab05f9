/* A small HPy extension with a planted leak, for `python -m hpydbg demo`. */
#include "hpy.h"

/* Sums the items of a sequence, but forgets to close each item handle. */
HPyDef_METH(sum_items, "sum_items", HPyFunc_O)
static HPy sum_items_impl(HPyContext *ctx, HPy self, HPy seq)
{
    HPy_ssize_t n = HPy_Length(ctx, seq);
    if (n < 0)
        return HPy_NULL;
    long total = 0;
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy item = HPy_GetItem_i(ctx, seq, i);   /* leaked: no HPy_Close */
        if (HPy_IsNull(item))
            return HPy_NULL;
        total += HPyLong_AsLong(ctx, item);
    }
    return HPyLong_FromLong(ctx, total);
}

/* Correct: returns a new reference and closes what it opens. */
HPyDef_METH(greet, "greet", HPyFunc_O)
static HPy greet_impl(HPyContext *ctx, HPy self, HPy name)
{
    HPy prefix = HPyUnicode_FromString(ctx, "hello, ");
    HPy res = HPy_Add(ctx, prefix, name);
    HPy_Close(ctx, prefix);
    return res;
}

static HPyDef *module_defines[] = { &sum_items, &greet, NULL };

static HPyModuleDef moduledef = {
    .doc = "hpydbg demo: a leaking extension",
    .defines = module_defines,
};

HPy_MODINIT(leaky, moduledef)
