/* Test extension for the pytest plugin, the runner and the leak logs: one
 * leaking function, one clean one, one misuse.  Tests find line numbers by
 * the marker comments. */
#include "hpy.h"

HPyDef_METH(ctx_name, "ctx_name", HPyFunc_NOARGS)
static HPy ctx_name_impl(HPyContext *ctx, HPy self)
{
    return HPyUnicode_FromString(ctx, ctx->name);
}

HPyDef_METH(leak, "leak", HPyFunc_O)
static HPy leak_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy_Dup(ctx, arg);  /* LEAK: never closed */
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(clean, "clean", HPyFunc_O)
static HPy clean_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy h = HPy_Dup(ctx, arg);
    HPy_Close(ctx, h);
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(use_after_close, "use_after_close", HPyFunc_O)
static HPy use_after_close_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy h = HPy_Dup(ctx, arg);
    HPy_Close(ctx, h);
    return HPy_Repr(ctx, h);   /* MISUSE: h is closed */
}

static HPyDef *module_defines[] = { &ctx_name, &leak, &clean, &use_after_close, NULL };

static HPyModuleDef moduledef = {
    .doc = "hpydbg test extension: leaks and misuses on request",
    .defines = module_defines,
};

HPy_MODINIT(leakext, moduledef)
