/* leak-case
 * about: the failure of HPy_SetItem (unhashable key) is ignored and the function returns True
 * class: result-with-exception-pending
 * api: none
 * call: try:
 * call:     mod.put({}, [1], "v")
 * call: except SystemError:
 * call:     pass
 * hpy: missed
 * note: reported when the function returns; the site is the last API call
 * note: before the return at -O3 (HPy_SetItem), the function's entry at -O0;
 * note: the report names HPy_SetItem's line as the origin
 */
#include "hpy.h"

HPyDef_METH(put, "put", HPyFunc_VARARGS)
static HPy put_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs) {   /* EXPECT */
    if (nargs != 3) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "put(d, key, value)");
        return HPy_NULL;
    }
    HPy result = HPy_Dup(ctx, ctx->h_True);
    HPy_SetItem(ctx, args[0], args[1], args[2]);   /* BUG: -1 is ignored */   /* EXPECT -O3 */
    return result;
}

static HPyDef *module_defines[] = { &put, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(result_with_exception_pending, moduledef)
