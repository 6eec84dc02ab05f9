/* leak-case
 * about: a "result" that may be ctx->h_None is closed unconditionally
 * class: close-constant
 * api: HPy_Close
 * call: mod.is_even(3)
 * hpy: caught
 */
#include "hpy.h"

HPyDef_METH(is_even, "is_even", HPyFunc_O)
static HPy is_even_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long v = HPyLong_AsLong(ctx, arg);
    if (v == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPy tmp = (v % 2 == 0) ? HPyLong_FromLong(ctx, v / 2) : ctx->h_None;
    HPy_Close(ctx, tmp);   /* EXPECT */
    return HPyBool_FromLong(ctx, v % 2 == 0);
}

static HPyDef *module_defines[] = { &is_even, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(close_none, moduledef)
