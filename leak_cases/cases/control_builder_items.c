/* leak-case
 * about: builder items set in any order, each once (reverse order, empty builders, 1000 items)
 * class: none
 * api: none
 * call: assert mod.reversed_tuple([1, 2, 3]) == (1, 2, 3)
 * call: assert mod.reversed_list(["x", "y"]) == ["x", "y"]
 * call: assert mod.reversed_tuple([]) == ()
 * call: assert mod.reversed_list([]) == []
 * call: assert mod.reversed_tuple(list(range(1000))) == tuple(range(1000))
 * hpy: missed
 */
#include "hpy.h"

HPyDef_METH(reversed_tuple, "reversed_tuple", HPyFunc_O)
static HPy reversed_tuple_impl(HPyContext *ctx, HPy self, HPy seq)
{
    HPy_ssize_t n = HPy_Length(ctx, seq);
    if (n < 0)
        return HPy_NULL;
    HPyTupleBuilder tb = HPyTupleBuilder_New(ctx, n);
    for (HPy_ssize_t i = n - 1; i >= 0; i--) {
        HPy item = HPy_GetItem_i(ctx, seq, i);
        if (HPy_IsNull(item)) {
            HPyTupleBuilder_Cancel(ctx, tb);
            return HPy_NULL;
        }
        HPyTupleBuilder_Set(ctx, tb, i, item);
        HPy_Close(ctx, item);
    }
    return HPyTupleBuilder_Build(ctx, tb);
}

HPyDef_METH(reversed_list, "reversed_list", HPyFunc_O)
static HPy reversed_list_impl(HPyContext *ctx, HPy self, HPy seq)
{
    HPy_ssize_t n = HPy_Length(ctx, seq);
    if (n < 0)
        return HPy_NULL;
    HPyListBuilder lb = HPyListBuilder_New(ctx, n);
    for (HPy_ssize_t i = n - 1; i >= 0; i--) {
        HPy item = HPy_GetItem_i(ctx, seq, i);
        if (HPy_IsNull(item)) {
            HPyListBuilder_Cancel(ctx, lb);
            return HPy_NULL;
        }
        HPyListBuilder_Set(ctx, lb, i, item);
        HPy_Close(ctx, item);
    }
    return HPyListBuilder_Build(ctx, lb);
}

static HPyDef *module_defines[] = { &reversed_tuple, &reversed_list, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(control_builder_items, moduledef)
