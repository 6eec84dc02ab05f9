/* leak-case
 * about: each item from HPy_GetItem_i is counted but never closed
 * class: leak
 * api: HPy_GetItem_i
 * call: assert mod.count_true([1, 0, "x", None]) == 2
 * hpy: caught
 */
#include "hpy.h"

HPyDef_METH(count_true, "count_true", HPyFunc_O)
static HPy count_true_impl(HPyContext *ctx, HPy self, HPy seq)
{
    HPy_ssize_t n = HPy_Length(ctx, seq);
    if (n < 0)
        return HPy_NULL;
    long count = 0;
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy item = HPy_GetItem_i(ctx, seq, i);   /* EXPECT */
        if (HPy_IsNull(item))
            return HPy_NULL;
        int t = HPy_IsTrue(ctx, item);
        if (t < 0)
            return HPy_NULL;
        count += t;
        /* BUG: no HPy_Close(ctx, item) */
    }
    return HPyLong_FromLong(ctx, count);
}

static HPyDef *module_defines[] = { &count_true, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(leak_getitem_i, moduledef)
