/* leak-case
 * about: an error path returns without building or cancelling a tuple builder
 * class: leak
 * api: HPyTupleBuilder_New
 * call: assert mod.pair_of(3) == (3, 3)
 * call: assert mod.pair_of(None) is None
 * hpy: missed
 */
#include "hpy.h"

HPyDef_METH(pair_of, "pair_of", HPyFunc_O)
static HPy pair_of_impl(HPyContext *ctx, HPy self, HPy x)
{
    HPyTupleBuilder tb = HPyTupleBuilder_New(ctx, 2);   /* EXPECT */
    if (HPy_Is(ctx, x, ctx->h_None))
        return HPy_Dup(ctx, ctx->h_None);   /* BUG: neither built nor cancelled */
    HPyTupleBuilder_Set(ctx, tb, 0, x);
    HPyTupleBuilder_Set(ctx, tb, 1, x);
    return HPyTupleBuilder_Build(ctx, tb);
}

static HPyDef *module_defines[] = { &pair_of, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(leak_tuple_builder, moduledef)
