/* leak-case
 * about: the success path closes its temporary, the error path forgets it
 * class: leak
 * api: HPy_Str
 * call: assert mod.shout("ab") == "AB!"
 * call: try:
 * call:     mod.shout(12)
 * call: except TypeError:
 * call:     pass
 * call: else:
 * call:     raise AssertionError("no TypeError")
 * hpy: caught
 */
#include "hpy.h"

HPyDef_METH(shout, "shout", HPyFunc_O)
static HPy shout_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy s = HPy_Str(ctx, arg);   /* EXPECT */
    if (HPy_IsNull(s))
        return HPy_NULL;
    if (!HPyUnicode_Check(ctx, arg)) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "shout() wants a str");
        return HPy_NULL;   /* BUG: s leaks on this path */
    }
    HPy name = HPyUnicode_FromString(ctx, "upper");
    HPy upper = HPy_CallMethod(ctx, name, &s, 1, HPy_NULL);
    HPy_Close(ctx, name);
    HPy_Close(ctx, s);
    if (HPy_IsNull(upper))
        return HPy_NULL;
    HPy bang = HPyUnicode_FromString(ctx, "!");
    HPy res = HPy_Add(ctx, upper, bang);
    HPy_Close(ctx, bang);
    HPy_Close(ctx, upper);
    return res;
}

static HPyDef *module_defines[] = { &shout, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(leak_on_error_path, moduledef)
