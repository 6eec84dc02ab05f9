/* leak-case
 * about: the result of HPyLong_FromLong is never closed, once per loop turn
 * class: leak
 * api: HPyLong_FromInt64_t | HPyLong_FromLong
 * call: assert mod.sum_squares(5) == 30
 * hpy: caught
 */
#include "hpy.h"

HPyDef_METH(sum_squares, "sum_squares", HPyFunc_O)
static HPy sum_squares_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long n = HPyLong_AsLong(ctx, arg);
    if (n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPy total = HPyLong_FromLong(ctx, 0);
    for (long i = 1; i < n; i++) {
        HPy sq = HPyLong_FromLong(ctx, i * i);   /* EXPECT */
        HPy t = HPy_Add(ctx, total, sq);
        /* BUG: sq is never closed */
        HPy_Close(ctx, total);
        total = t;
    }
    return total;
}

static HPyDef *module_defines[] = { &sum_squares, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(leak_long_in_loop, moduledef)
