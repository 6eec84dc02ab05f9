/* leak-case
 * about: the result of a callback called with HPy_Call is ignored and never closed
 * class: leak
 * api: HPy_Call
 * call: seen = []
 * call: assert mod.call_each(seen.append, 3) is None
 * call: assert seen == [0, 1, 2]
 * hpy: caught
 */
#include "hpy.h"

HPyDef_METH(call_each, "call_each", HPyFunc_VARARGS)
static HPy call_each_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 2) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "call_each(f, n)");
        return HPy_NULL;
    }
    long n = HPyLong_AsLong(ctx, args[1]);
    if (n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    for (long i = 0; i < n; i++) {
        HPy arg = HPyLong_FromLong(ctx, i);
        HPy r = HPy_Call(ctx, args[0], &arg, 1, HPy_NULL);   /* EXPECT */
        HPy_Close(ctx, arg);
        if (HPy_IsNull(r))
            return HPy_NULL;
        /* BUG: r is dropped without HPy_Close */
    }
    return HPy_Dup(ctx, ctx->h_None);
}

static HPyDef *module_defines[] = { &call_each, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(leak_call_result, moduledef)
