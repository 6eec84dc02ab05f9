/* leak-case
 * about: HPy_TypeCheck is given an instance instead of a type as its second argument
 * class: bad-argument
 * api: HPy_TypeCheck
 * call: mod.same_kind(1, 2)
 * hpy: caught
 */
#include "hpy.h"

HPyDef_METH(same_kind, "same_kind", HPyFunc_VARARGS)
static HPy same_kind_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 2) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "same_kind(a, b)");
        return HPy_NULL;
    }
    /* BUG: meant HPy_Type(ctx, args[1]) */
    int r = HPy_TypeCheck(ctx, args[0], args[1]);   /* EXPECT */
    return HPyBool_FromLong(ctx, r);
}

static HPyDef *module_defines[] = { &same_kind, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(typecheck_non_type, moduledef)
