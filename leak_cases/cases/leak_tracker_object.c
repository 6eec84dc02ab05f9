/* leak-case
 * about: a tracker whose handles were handed over with HPyTracker_ForgetAll is never closed itself
 * class: leak
 * api: HPyTracker_New
 * call: assert mod.two_strings() == ("a", "b")
 * hpy: missed
 */
#include "hpy.h"

HPyDef_METH(two_strings, "two_strings", HPyFunc_NOARGS)
static HPy two_strings_impl(HPyContext *ctx, HPy self)
{
    HPyTracker ht = HPyTracker_New(ctx, 2);   /* EXPECT */
    HPy items[2];
    items[0] = HPyUnicode_FromString(ctx, "a");
    HPyTracker_Add(ctx, ht, items[0]);
    items[1] = HPyUnicode_FromString(ctx, "b");
    HPyTracker_Add(ctx, ht, items[1]);
    HPy res = HPyTuple_FromArray(ctx, items, 2);
    HPy_Close(ctx, items[0]);
    HPy_Close(ctx, items[1]);
    HPyTracker_ForgetAll(ctx, ht);
    return res;   /* BUG: HPyTracker_Close(ctx, ht) missing */
}

static HPyDef *module_defines[] = { &two_strings, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(leak_tracker_object, moduledef)
