/* leak-case
 * about: an argument is added to an HPyTracker, so HPyTracker_Close closes it
 * class: close-argument | argument-closed
 * api: HPyTracker_Close | none
 * call: mod.total([1, 2], [3])
 * hpy: caught
 * note: hpydbg may report it at HPyTracker_Close (close-argument) or when the
 * note: function returns (argument-closed, first extension frame = the trampoline)
 */
#include "hpy.h"

HPyDef_METH(total, "total", HPyFunc_VARARGS)   /* EXPECT */
static HPy total_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    HPyTracker ht = HPyTracker_New(ctx, nargs);
    long sum = 0;
    for (size_t i = 0; i < nargs; i++) {
        HPy_ssize_t n = HPy_Length(ctx, args[i]);
        if (n < 0) {
            HPyTracker_Close(ctx, ht);
            return HPy_NULL;
        }
        sum += (long)n;
        HPyTracker_Add(ctx, ht, args[i]);   /* BUG: args[i] is not ours to close */
    }
    HPyTracker_Close(ctx, ht);   /* EXPECT */
    return HPyLong_FromLong(ctx, sum);
}

static HPyDef *module_defines[] = { &total, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(tracker_closes_argument, moduledef)
