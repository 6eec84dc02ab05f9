/* leak-case
 * about: a lookup returns HPy_NULL for "not found" without setting an exception
 * class: error-without-exception
 * api: none
 * call: try:
 * call:     mod.find([1, 2, 3], 7)
 * call: except SystemError:
 * call:     pass
 * hpy: missed
 * note: reported when the function returns; the site is the last API call
 * note: before the return at -O3 (HPy_Close), the function's entry at -O0
 */
#include "hpy.h"

HPyDef_METH(find, "find", HPyFunc_VARARGS)
static HPy find_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs) {   /* EXPECT */
    if (nargs != 2) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "find(seq, item)");
        return HPy_NULL;
    }
    HPy_ssize_t n = HPy_Length(ctx, args[0]);
    if (n < 0)
        return HPy_NULL;
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy item = HPy_GetItem_i(ctx, args[0], i);
        if (HPy_IsNull(item))
            return HPy_NULL;
        int eq = HPy_RichCompareBool(ctx, item, args[1], HPy_EQ);
        HPy_Close(ctx, item);   /* EXPECT -O3 */
        if (eq < 0)
            return HPy_NULL;
        if (eq)
            return HPyLong_FromSsize_t(ctx, i);
    }
    return HPy_NULL;   /* BUG: should raise ValueError (or return an index) */
}

static HPyDef *module_defines[] = { &find, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(error_without_exception, moduledef)
