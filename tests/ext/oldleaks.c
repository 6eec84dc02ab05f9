/* Test extension for suppressions and baselines: a code base that already
 * leaks at three places (old_a, old_b, old_c), one function with a fourth,
 * new leak (new_leak), and one misuse.  Tests find line numbers by the
 * marker comments. */
#include "hpy.h"

HPyDef_METH(old_a, "old_a", HPyFunc_O)
static HPy old_a_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy_Dup(ctx, arg);  /* OLD_A: one handle never closed */
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(old_b, "old_b", HPyFunc_NOARGS)
static HPy old_b_impl(HPyContext *ctx, HPy self)
{
    for (int i = 0; i < 2; i++)
        HPyLong_FromLong(ctx, 100 + i);  /* OLD_B: two ints never closed */
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(old_c, "old_c", HPyFunc_O)
static HPy old_c_impl(HPyContext *ctx, HPy self, HPy arg)
{
    for (int i = 0; i < 3; i++)
        HPy_Repr(ctx, arg);  /* OLD_C: three reprs never closed */
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(new_leak, "new_leak", HPyFunc_O)
static HPy new_leak_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy_Str(ctx, arg);  /* NEW_LEAK: the leak the baseline does not know */
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(misuse, "misuse", HPyFunc_O)
static HPy misuse_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy h = HPy_Dup(ctx, arg);
    HPy_Close(ctx, h);
    return HPy_Repr(ctx, h);   /* MISUSE: h is closed */
}

static HPyDef *module_defines[] = { &old_a, &old_b, &old_c, &new_leak, &misuse, NULL };

static HPyModuleDef moduledef = {
    .doc = "hpydbg test extension: three old leaks, a new one, a misuse",
    .defines = module_defines,
};

HPy_MODINIT(oldleaks, moduledef)
