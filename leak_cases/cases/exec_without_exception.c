/* leak-case
 * about: the module's exec slot returns -1 for a failed check without setting an exception
 * class: error-without-exception
 * api: none
 * call: pass
 * hpy: missed
 * note: the import itself fails (universal mode: SystemError "execution of
 * note: module ... failed without setting an exception"); reported when the
 * note: exec function returns; the site is the last API call before the
 * note: return at -O3 (HPy_Close), the function's entry at -O0
 */
#include "hpy.h"

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m) {   /* EXPECT */
    HPy version = HPyUnicode_FromString(ctx, "1.0");
    if (HPy_IsNull(version))
        return -1;
    int r = HPy_SetAttr_s(ctx, m, "__version__", version);
    HPy_Close(ctx, version);   /* EXPECT -O3 */
    if (r == 0)   /* inverted test: HPy_SetAttr_s returns 0 on success */
        return -1;
    return 0;
}

static HPyDef *module_defines[] = { &mod_exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(exec_without_exception, moduledef)
