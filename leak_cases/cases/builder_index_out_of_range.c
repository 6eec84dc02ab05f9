/* leak-case
 * about: an off-by-one loop sets index n of a tuple builder of size n
 * class: builder-index-out-of-range
 * api: HPyTupleBuilder_Set
 * call: mod.squares(3)
 * hpy: crash | caught | missed
 * note: the universal context only asserts the index (compiled out): it
 * note: writes past the tuple's item array
 */
#include "hpy.h"

HPyDef_METH(squares, "squares", HPyFunc_O)
static HPy squares_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long n = HPyLong_AsLong(ctx, arg);
    if (n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPyTupleBuilder tb = HPyTupleBuilder_New(ctx, n);
    for (long i = 0; i <= n; i++) {
        HPy sq = HPyLong_FromLong(ctx, i * i);
        HPyTupleBuilder_Set(ctx, tb, i, sq);   /* EXPECT */
        HPy_Close(ctx, sq);
    }
    return HPyTupleBuilder_Build(ctx, tb);
}

static HPyDef *module_defines[] = { &squares, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(builder_index_out_of_range, moduledef)
