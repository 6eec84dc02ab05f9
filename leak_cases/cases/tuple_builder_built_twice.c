/* leak-case
 * about: a tuple builder is built a second time after HPyTupleBuilder_Build consumed it
 * class: builder-after-close
 * api: HPyTupleBuilder_Build
 * call: mod.pair_twice(1, 2)
 * hpy: crash | caught | missed
 */
#include "hpy.h"

HPyDef_METH(pair_twice, "pair_twice", HPyFunc_VARARGS)
static HPy pair_twice_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 2) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "pair_twice(a, b)");
        return HPy_NULL;
    }
    HPyTupleBuilder tb = HPyTupleBuilder_New(ctx, 2);
    HPyTupleBuilder_Set(ctx, tb, 0, args[0]);
    HPyTupleBuilder_Set(ctx, tb, 1, args[1]);
    HPy first = HPyTupleBuilder_Build(ctx, tb);
    HPy second = HPyTupleBuilder_Build(ctx, tb);   /* EXPECT */
    HPy res = HPy_Add(ctx, first, second);
    HPy_Close(ctx, first);
    HPy_Close(ctx, second);
    return res;
}

static HPyDef *module_defines[] = { &pair_twice, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(tuple_builder_built_twice, moduledef)
