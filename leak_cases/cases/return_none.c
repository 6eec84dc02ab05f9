/* leak-case
 * about: a function returns ctx->h_None without HPy_Dup
 * class: return-constant
 * api: none
 * call: mod.log_value("x")
 * hpy: caught
 * note: see return_argument.c for the two marked lines
 */
#include "hpy.h"

static long calls;

HPyDef_METH(log_value, "log_value", HPyFunc_O)   /* EXPECT */
static HPy log_value_impl(HPyContext *ctx, HPy self, HPy arg) {   /* EXPECT */
    calls++;   /* the function is named by its first line of code at -O3 */ /* EXPECT -O3 */
    return ctx->h_None;   /* BUG: must be HPy_Dup(ctx, ctx->h_None) */
}

static HPyDef *module_defines[] = { &log_value, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(return_none, moduledef)
