/* leak-case
 * about: a function returns its argument without HPy_Dup
 * class: return-closed
 * api: none
 * call: r = mod.identity_if_int(5)
 * call: print(r)
 * hpy: caught
 * note: no frame of the function is on the stack when the runtime sees the
 * note: returned handle: the site is its trampoline (HPyDef_METH line) or its
 * note: entry (the line with the opening brace)
 */
#include "hpy.h"

HPyDef_METH(identity_if_int, "identity_if_int", HPyFunc_O)   /* EXPECT */
static HPy identity_if_int_impl(HPyContext *ctx, HPy self, HPy arg) {   /* EXPECT */
    if (!HPy_TypeCheck(ctx, arg, ctx->h_LongType)) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "expected an int");
        return HPy_NULL;
    }
    return arg;   /* BUG: must be HPy_Dup(ctx, arg) */
}

static HPyDef *module_defines[] = { &identity_if_int, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(return_argument, moduledef)
