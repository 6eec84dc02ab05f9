/* leak-case
 * about: HPy_Call gets its keyword names as a list instead of a tuple
 * class: bad-argument
 * api: HPy_Call
 * call: mod.call_with_sep(print, "a", "-")
 * hpy: caught
 */
#include "hpy.h"

HPyDef_METH(call_with_sep, "call_with_sep", HPyFunc_VARARGS)
static HPy call_with_sep_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 3) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "call_with_sep(f, x, sep)");
        return HPy_NULL;
    }
    HPy kwnames = HPyList_New(ctx, 0);   /* BUG: must be a tuple */
    HPy name = HPyUnicode_FromString(ctx, "sep");
    HPyList_Append(ctx, kwnames, name);
    HPy_Close(ctx, name);
    HPy call_args[2] = { args[1], args[2] };
    HPy res = HPy_Call(ctx, args[0], call_args, 1, kwnames);   /* EXPECT */
    HPy_Close(ctx, kwnames);
    return res;
}

static HPyDef *module_defines[] = { &call_with_sep, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(call_kwnames_not_tuple, moduledef)
