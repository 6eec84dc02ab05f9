/* leak-case
 * about: a context kept from one call is used exactly 16 calls later (when a pool of 16 contexts, as HPy's, comes back to it)
 * class: wrong-context
 * api: HPy_Dup
 * call: mod.setup()
 * call: for _ in range(15): mod.noop()
 * call: mod.get_none()
 * hpy: missed
 */
#include "hpy.h"

static HPyContext *saved_ctx;

HPyDef_METH(setup, "setup", HPyFunc_NOARGS)
static HPy setup_impl(HPyContext *ctx, HPy self)
{
    saved_ctx = ctx;   /* BUG: a context is only valid during its call */
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(noop, "noop", HPyFunc_NOARGS)
static HPy noop_impl(HPyContext *ctx, HPy self)
{
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(get_none, "get_none", HPyFunc_NOARGS)   /* EXPECT -O3 */
static HPy get_none_impl(HPyContext *ctx, HPy self)
{
    return HPy_Dup(saved_ctx, ctx->h_None);   /* EXPECT */
}

static HPyDef *module_defines[] = { &setup, &noop, &get_none, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(context_at_rotation, moduledef)
