/* leak-case
 * about: raw data of str and bytes (HPyUnicode_AsUTF8AndSize, HPyBytes_AsString, HPyBytes_AS_STRING, HPyType_GetName) used while the handle is open
 * class: none
 * api: none
 * call: assert mod.count_byte("banana", "a") == 3
 * call: assert mod.count_byte(b"aXbX", "X") == 2
 * call: assert mod.reversed_ascii("abc") == b"cba"
 * call: assert mod.type_name_len(3.0) == len("float")
 * call: assert mod.first_word("hello world") == "hello"
 * hpy: missed
 */
#include <string.h>
#include "hpy.h"

/* count_byte(str_or_bytes, one_char_str) */
HPyDef_METH(count_byte, "count_byte", HPyFunc_VARARGS)
static HPy count_byte_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 2) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "count_byte(data, ch)");
        return HPy_NULL;
    }
    HPy_ssize_t chlen;
    const char *ch = HPyUnicode_AsUTF8AndSize(ctx, args[1], &chlen);
    if (ch == NULL)
        return HPy_NULL;
    if (chlen != 1) {
        HPyErr_SetString(ctx, ctx->h_ValueError, "ch must be one ASCII character");
        return HPy_NULL;
    }
    const char *data;
    HPy_ssize_t n;
    if (HPyBytes_Check(ctx, args[0])) {
        data = HPyBytes_AS_STRING(ctx, args[0]);
        n = HPyBytes_GET_SIZE(ctx, args[0]);
    } else {
        data = HPyUnicode_AsUTF8AndSize(ctx, args[0], &n);
        if (data == NULL)
            return HPy_NULL;
    }
    long count = 0;
    for (HPy_ssize_t i = 0; i < n; i++)
        count += data[i] == ch[0];
    return HPyLong_FromLong(ctx, count);
}

HPyDef_METH(reversed_ascii, "reversed_ascii", HPyFunc_O)
static HPy reversed_ascii_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy b = HPyUnicode_AsASCIIString(ctx, arg);
    if (HPy_IsNull(b))
        return HPy_NULL;
    HPy_ssize_t n = HPyBytes_Size(ctx, b);
    const char *src = HPyBytes_AsString(ctx, b);
    char buf[64];
    if (n > (HPy_ssize_t)sizeof(buf)) {
        HPy_Close(ctx, b);
        HPyErr_SetString(ctx, ctx->h_ValueError, "too long");
        return HPy_NULL;
    }
    for (HPy_ssize_t i = 0; i < n; i++)
        buf[i] = src[n - 1 - i];
    HPy_Close(ctx, b);   /* after the last use of src */
    return HPyBytes_FromStringAndSize(ctx, buf, n);
}

HPyDef_METH(type_name_len, "type_name_len", HPyFunc_O)
static HPy type_name_len_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy tp = HPy_Type(ctx, arg);
    const char *name = HPyType_GetName(ctx, tp);
    size_t n = name ? strlen(name) : 0;
    HPy_Close(ctx, tp);
    return HPyLong_FromSize_t(ctx, n);
}

HPyDef_METH(first_word, "first_word", HPyFunc_O)
static HPy first_word_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy_ssize_t n;
    const char *s = HPyUnicode_AsUTF8AndSize(ctx, arg, &n);
    if (s == NULL)
        return HPy_NULL;
    HPy_ssize_t end = 0;
    while (end < n && s[end] != ' ')
        end++;
    return HPyUnicode_Substring(ctx, arg, 0, end);
}

static HPyDef *module_defines[] = {
    &count_byte, &reversed_ascii, &type_name_len, &first_word, NULL
};
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(control_raw_data, moduledef)
