/* leak-case
 * about: a list builder is abandoned when an item fails to convert
 * class: leak
 * api: HPyListBuilder_New
 * call: assert mod.doubled([1, 2]) == [2, 4]
 * call: try:
 * call:     mod.doubled([1, "x"])
 * call: except TypeError: pass
 * call: else: raise AssertionError
 * hpy: missed
 */
#include "hpy.h"

HPyDef_METH(doubled, "doubled", HPyFunc_O)
static HPy doubled_impl(HPyContext *ctx, HPy self, HPy seq)
{
    HPy_ssize_t n = HPy_Length(ctx, seq);
    if (n < 0)
        return HPy_NULL;
    HPyListBuilder lb = HPyListBuilder_New(ctx, n);   /* EXPECT */
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy item = HPy_GetItem_i(ctx, seq, i);
        HPy two = HPy_Add(ctx, item, item);
        HPy_Close(ctx, item);
        long v = HPyLong_AsLong(ctx, two);
        HPy_Close(ctx, two);
        if (v == -1 && HPyErr_Occurred(ctx))
            return HPy_NULL;   /* BUG: HPyListBuilder_Cancel missing */
        HPy r = HPyLong_FromLong(ctx, v);
        HPyListBuilder_Set(ctx, lb, i, r);
        HPy_Close(ctx, r);
    }
    return HPyListBuilder_Build(ctx, lb);
}

static HPyDef *module_defines[] = { &doubled, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(leak_list_builder, moduledef)
