/* leak-case
 * about: the -1 of HPyLong_AsLong on a str is ignored and the next API call runs with its TypeError pending
 * class: call-with-exception-pending
 * api: HPyLong_FromInt64_t
 * call: try:
 * call:     mod.next_int("41")
 * call: except SystemError:
 * call:     pass
 * hpy: missed
 * note: HPyLong_FromLong is an inline helper that calls HPyLong_FromInt64_t
 */
#include "hpy.h"

HPyDef_METH(next_int, "next_int", HPyFunc_O)
static HPy next_int_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long v = HPyLong_AsLong(ctx, arg);   /* BUG: -1 and an exception are not checked */
    return HPyLong_FromLong(ctx, v + 1);   /* EXPECT */
}

static HPyDef *module_defines[] = { &next_int, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(call_with_exception_pending, moduledef)
