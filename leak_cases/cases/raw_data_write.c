/* leak-case
 * about: the read-only UTF-8 buffer of a str is modified in place
 * class: raw-data-write
 * api: none | HPyUnicode_AsUTF8AndSize
 * call: mod.capitalize_in_place("hello")
 * hpy: crash
 */
#include "hpy.h"

HPyDef_METH(capitalize_in_place, "capitalize_in_place", HPyFunc_O)
static HPy capitalize_in_place_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy_ssize_t size;
    const char *utf8 = HPyUnicode_AsUTF8AndSize(ctx, arg, &size);
    if (utf8 == NULL)
        return HPy_NULL;
    char *buf = (char *)utf8;   /* BUG: casting away const */
    if (size > 0 && buf[0] >= 'a' && buf[0] <= 'z')
        buf[0] = (char)(buf[0] - 'a' + 'A');   /* EXPECT */
    return HPyUnicode_FromString(ctx, utf8);
}

static HPyDef *module_defines[] = { &capitalize_in_place, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(raw_data_write, moduledef)
