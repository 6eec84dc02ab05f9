/* leak-case
 * about: HPy_NULL (a lookup that found nothing) is passed to HPy_Length
 * class: null-handle
 * api: HPy_Length
 * call: mod.len_of_option({"a": [1]}, "b")
 * hpy: missed
 */
#include "hpy.h"

HPyDef_METH(len_of_option, "len_of_option", HPyFunc_VARARGS)
static HPy len_of_option_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 2) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "len_of_option(d, key)");
        return HPy_NULL;
    }
    HPy value = HPy_NULL;
    if (HPy_Contains(ctx, args[0], args[1]) == 1)
        value = HPy_GetItem(ctx, args[0], args[1]);
    HPy_ssize_t n = HPy_Length(ctx, value);   /* EXPECT */
    HPy_Close(ctx, value);
    if (n < 0)
        return HPy_NULL;
    return HPyLong_FromSsize_t(ctx, n);
}

static HPyDef *module_defines[] = { &len_of_option, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(null_handle, moduledef)
