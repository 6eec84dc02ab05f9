/* leak-case
 * about: an integer that was never a handle is passed as one
 * class: not-a-handle
 * api: HPy_Str
 * call: mod.stringify(0)
 * hpy: crash
 */
#include "hpy.h"

HPyDef_METH(stringify, "stringify", HPyFunc_O)   /* EXPECT -O3 */
static HPy stringify_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy table[2] = { arg, { 12344 } };   /* slot 1 was never filled in properly */
    long i = HPyLong_AsLong(ctx, arg);
    return HPy_Str(ctx, table[i + 1]);   /* EXPECT */
}

static HPyDef *module_defines[] = { &stringify, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(garbage_handle, moduledef)
