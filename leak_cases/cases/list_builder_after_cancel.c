/* leak-case
 * about: a list builder is cancelled on a "failure" and then still filled in
 * class: builder-after-close
 * api: HPyListBuilder_Set
 * call: mod.squares_until_negative([1, -2, 3])
 * hpy: crash | caught | missed
 */
#include "hpy.h"

HPyDef_METH(squares_until_negative, "squares_until_negative", HPyFunc_O)
static HPy squares_until_negative_impl(HPyContext *ctx, HPy self, HPy seq)
{
    HPy_ssize_t n = HPy_Length(ctx, seq);
    if (n < 0)
        return HPy_NULL;
    HPyListBuilder lb = HPyListBuilder_New(ctx, n);
    int cancelled = 0;
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy item = HPy_GetItem_i(ctx, seq, i);
        long v = HPyLong_AsLong(ctx, item);
        HPy_Close(ctx, item);
        if (v < 0 && !cancelled) {
            HPyListBuilder_Cancel(ctx, lb);
            cancelled = 1;   /* BUG: should return here */
            continue;
        }
        HPy sq = HPyLong_FromLong(ctx, v * v);
        HPyListBuilder_Set(ctx, lb, i, sq);   /* EXPECT */
        HPy_Close(ctx, sq);
    }
    if (cancelled)
        return HPy_Dup(ctx, ctx->h_None);
    return HPyListBuilder_Build(ctx, lb);
}

static HPyDef *module_defines[] = { &squares_until_negative, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(list_builder_after_cancel, moduledef)
