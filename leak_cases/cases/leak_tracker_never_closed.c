/* leak-case
 * about: handles added to an HPyTracker leak because the tracker is never closed
 * class: leak
 * api: HPyFloat_FromDouble
 * call: assert mod.halves([2, 4]) == [1.0, 2.0]
 * hpy: caught
 */
#include "hpy.h"

HPyDef_METH(halves, "halves", HPyFunc_O)
static HPy halves_impl(HPyContext *ctx, HPy self, HPy seq)
{
    HPy_ssize_t n = HPy_Length(ctx, seq);
    if (n < 0)
        return HPy_NULL;
    HPyTracker ht = HPyTracker_New(ctx, n);
    HPy res = HPyList_New(ctx, 0);
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy item = HPy_GetItem_i(ctx, seq, i);
        double d = HPyFloat_AsDouble(ctx, item);
        HPy_Close(ctx, item);
        HPy half = HPyFloat_FromDouble(ctx, d / 2);   /* EXPECT */
        HPyTracker_Add(ctx, ht, half);
        HPyList_Append(ctx, res, half);
    }
    /* BUG: missing HPyTracker_Close(ctx, ht) */
    return res;
}

static HPyDef *module_defines[] = { &halves, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(leak_tracker_never_closed, moduledef)
