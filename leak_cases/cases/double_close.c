/* leak-case
 * about: the same handle is closed twice (once in a helper, once by the caller)
 * class: double-close
 * api: HPy_Close
 * call: mod.length_of_str(1234)
 * hpy: caught
 */
#include "hpy.h"

static HPy_ssize_t consume_length(HPyContext *ctx, HPy s)
{
    HPy_ssize_t n = HPy_Length(ctx, s);
    HPy_Close(ctx, s);   /* the helper takes ownership... */
    return n;
}

HPyDef_METH(length_of_str, "length_of_str", HPyFunc_O)
static HPy length_of_str_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy s = HPy_Str(ctx, arg);
    if (HPy_IsNull(s))
        return HPy_NULL;
    HPy_ssize_t n = consume_length(ctx, s);
    HPy_Close(ctx, s);   /* EXPECT */
    return HPyLong_FromSsize_t(ctx, n);
}

static HPyDef *module_defines[] = { &length_of_str, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(double_close, moduledef)
