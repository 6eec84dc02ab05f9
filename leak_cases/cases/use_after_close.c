/* leak-case
 * about: a handle is passed to HPy_Repr after it was closed
 * class: use-after-close
 * api: HPy_Repr
 * call: mod.describe(42)
 * hpy: caught
 */
#include "hpy.h"

HPyDef_METH(describe, "describe", HPyFunc_O)   /* EXPECT -O3 */
static HPy describe_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy doubled = HPy_Add(ctx, arg, arg);
    if (HPy_IsNull(doubled))
        return HPy_NULL;
    HPy_Close(ctx, doubled);
    return HPy_Repr(ctx, doubled);   /* EXPECT */
}

static HPyDef *module_defines[] = { &describe, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(use_after_close, moduledef)
