/* leak-case
 * about: a list builder's item 0 is set with a default, then again with the real value (the default leaks)
 * class: builder-item-set-twice
 * api: HPyListBuilder_Set
 * call: mod.labels(["a", "b"])
 * hpy: missed
 */
#include "hpy.h"

HPyDef_METH(labels, "labels", HPyFunc_O)
static HPy labels_impl(HPyContext *ctx, HPy self, HPy seq)
{
    HPy_ssize_t n = HPy_Length(ctx, seq);
    if (n < 0)
        return HPy_NULL;
    HPyListBuilder lb = HPyListBuilder_New(ctx, n + 1);
    HPy dflt = HPyUnicode_FromString(ctx, "<none>");
    HPyListBuilder_Set(ctx, lb, 0, dflt);
    HPy_Close(ctx, dflt);
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy item = HPy_GetItem_i(ctx, seq, i);
        if (HPy_IsNull(item)) {
            HPyListBuilder_Cancel(ctx, lb);
            return HPy_NULL;
        }
        /* meant i + 1: the header item is overwritten */
        HPyListBuilder_Set(ctx, lb, i, item);   /* EXPECT */
        HPy_Close(ctx, item);
    }
    HPy last = HPyUnicode_FromString(ctx, "<end>");
    HPyListBuilder_Set(ctx, lb, n, last);
    HPy_Close(ctx, last);
    return HPyListBuilder_Build(ctx, lb);
}

static HPyDef *module_defines[] = { &labels, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(builder_item_set_twice, moduledef)
