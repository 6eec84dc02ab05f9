/* leak-case
 * about: a tuple builder is built after a filter skipped some of its items (they stay NULL)
 * class: builder-item-not-set
 * api: HPyTupleBuilder_Build
 * call: t = mod.positives([3, -1, 4])
 * call: print(len(t))
 * hpy: missed | crash
 * note: universal mode returns a tuple with a NULL inside, which crashes
 * note: whatever reads that item later
 */
#include "hpy.h"

HPyDef_METH(positives, "positives", HPyFunc_O)   /* EXPECT -O3 */
static HPy positives_impl(HPyContext *ctx, HPy self, HPy seq)
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
        long v = HPyLong_AsLong(ctx, item);
        if (v > 0)
            HPyTupleBuilder_Set(ctx, tb, i, item);
        HPy_Close(ctx, item);
    }
    return HPyTupleBuilder_Build(ctx, tb);   /* EXPECT */
}

static HPyDef *module_defines[] = { &positives, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(builder_item_not_set, moduledef)
