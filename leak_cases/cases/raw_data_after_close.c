/* leak-case
 * about: the UTF-8 buffer of a str is read after the str handle was closed
 * class: raw-data-after-close
 * api: none | HPyUnicode_AsUTF8AndSize
 * call: mod.first_char_code(12345)
 * hpy: crash
 * note: the faulty read is plain C code, no API function is involved; an
 * note: implementation may name the function that produced the buffer
 */
#include "hpy.h"

HPyDef_METH(first_char_code, "first_char_code", HPyFunc_O)
static HPy first_char_code_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy s = HPy_Str(ctx, arg);
    if (HPy_IsNull(s))
        return HPy_NULL;
    HPy_ssize_t size;
    const char *utf8 = HPyUnicode_AsUTF8AndSize(ctx, s, &size);
    HPy_Close(ctx, s);   /* BUG: utf8 belongs to s */
    if (utf8 == NULL || size == 0)
        return HPy_NULL;
    long code = (unsigned char)utf8[0];   /* EXPECT */
    return HPyLong_FromLong(ctx, code);
}

static HPyDef *module_defines[] = { &first_char_code, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(raw_data_after_close, moduledef)
