/* leak-case
 * about: the result of a table lookup that missed (NULL) is passed to HPyUnicode_FromString
 * class: null-pointer
 * api: HPyUnicode_FromString
 * call: assert mod.color_name(1) == "red"
 * call: mod.color_name(7)
 * hpy: crash
 */
#include "hpy.h"

static const char *names[] = { "black", "red", "green" };

static const char *lookup(long code)
{
    if (code < 0 || code > 2)
        return NULL;
    return names[code];
}

HPyDef_METH(color_name, "color_name", HPyFunc_O)
static HPy color_name_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long code = HPyLong_AsLong(ctx, arg);
    if (code == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPy res = HPyUnicode_FromString(ctx, lookup(code));   /* EXPECT */
    return res;
}

static HPyDef *module_defines[] = { &color_name, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(null_c_string, moduledef)
