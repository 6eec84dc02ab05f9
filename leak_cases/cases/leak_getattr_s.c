/* leak-case
 * about: HPy_GetAttr_s returns a new handle that is never closed
 * class: leak
 * api: HPy_GetAttr_s
 * call: assert mod.real_is_positive(3.5) is True
 * hpy: caught
 */
#include "hpy.h"

HPyDef_METH(real_is_positive, "real_is_positive", HPyFunc_O)
static HPy real_is_positive_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy real = HPy_GetAttr_s(ctx, arg, "real");   /* EXPECT */
    if (HPy_IsNull(real))
        return HPy_NULL;
    double d = HPyFloat_AsDouble(ctx, real);
    /* BUG: real is not closed */
    if (d == -1.0 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    return HPyBool_FromLong(ctx, d > 0);
}

static HPyDef *module_defines[] = { &real_is_positive, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(leak_getattr_s, moduledef)
