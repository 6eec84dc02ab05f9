/* leak-case
 * about: HPyTracker_Close closed the handle, which is used afterwards
 * class: use-after-close
 * api: HPy_Add
 * call: mod.sum_pair(1, 2)
 * hpy: caught
 */
#include "hpy.h"

HPyDef_METH(sum_pair, "sum_pair", HPyFunc_VARARGS)
static HPy sum_pair_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 2) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "sum_pair(a, b)");
        return HPy_NULL;
    }
    HPyTracker ht = HPyTracker_New(ctx, 2);
    HPy a = HPy_Positive(ctx, args[0]);
    HPyTracker_Add(ctx, ht, a);
    HPy b = HPy_Positive(ctx, args[1]);
    HPyTracker_Add(ctx, ht, b);
    HPyTracker_Close(ctx, ht);       /* closes a and b */
    return HPy_Add(ctx, a, b);   /* EXPECT */
}

static HPyDef *module_defines[] = { &sum_pair, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(use_after_tracker_close, moduledef)
