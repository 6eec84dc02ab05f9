/* leak-case
 * about: the buffer of HPyBytes_AsString is read after the bytes handle was closed
 * class: raw-data-after-close
 * api: none | HPyBytes_AsString
 * call: mod.checksum("hello")
 * hpy: crash
 */
#include "hpy.h"

HPyDef_METH(checksum, "checksum", HPyFunc_O)
static HPy checksum_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy b = HPyUnicode_AsASCIIString(ctx, arg);
    if (HPy_IsNull(b))
        return HPy_NULL;
    HPy_ssize_t n = HPyBytes_Size(ctx, b);
    const char *data = HPyBytes_AsString(ctx, b);
    HPy_Close(ctx, b);   /* BUG: data belongs to b */
    unsigned long sum = 0;
    for (HPy_ssize_t i = 0; i < n; i++)
        sum += (unsigned char)data[i];   /* EXPECT */
    return HPyLong_FromUnsignedLong(ctx, sum);
}

static HPyDef *module_defines[] = { &checksum, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(raw_bytes_after_close, moduledef)
