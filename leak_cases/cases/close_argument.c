/* leak-case
 * about: a function closes its argument, which the runtime owns
 * class: close-argument
 * api: HPy_Close
 * call: mod.type_name(1.5)
 * hpy: caught
 */
#include "hpy.h"

HPyDef_METH(type_name, "type_name", HPyFunc_O)
static HPy type_name_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy tp = HPy_Type(ctx, arg);
    HPy_Close(ctx, arg);   /* EXPECT */
    HPy name = HPy_GetAttr_s(ctx, tp, "__name__");
    HPy_Close(ctx, tp);
    return name;
}

static HPyDef *module_defines[] = { &type_name, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(close_argument, moduledef)
