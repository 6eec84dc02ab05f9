/* leak-case
 * about: a tracker is used (HPyTracker_Add) after HPyTracker_Close
 * class: tracker-after-close
 * api: HPyTracker_Add
 * call: mod.two_strs(1, 2)
 * hpy: crash | caught | missed
 */
#include "hpy.h"

HPyDef_METH(two_strs, "two_strs", HPyFunc_VARARGS)
static HPy two_strs_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 2) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "two_strs(a, b)");
        return HPy_NULL;
    }
    HPyTracker ht = HPyTracker_New(ctx, 2);
    HPy a = HPy_Str(ctx, args[0]);
    HPyTracker_Add(ctx, ht, a);
    HPy res = HPy_Add(ctx, a, a);
    HPyTracker_Close(ctx, ht);
    HPy b = HPy_Str(ctx, args[1]);
    HPyTracker_Add(ctx, ht, b);   /* EXPECT */
    HPy_Close(ctx, b);
    return res;
}

static HPyDef *module_defines[] = { &two_strs, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(tracker_after_close, moduledef)
