/* leak-case
 * about: the exec slot keeps a handle (the `fractions.Fraction` type) in a C global for later calls (the fix is an HPyGlobal)
 * class: leak
 * api: HPy_GetAttr_s
 * call: assert mod.half() == __import__("fractions").Fraction(1, 2)
 * hpy: missed
 * note: the leak report's advice is HPyGlobal, not "close it"
 * note: (tests/test_contracts.py checks it)
 */
#include "hpy.h"

static HPy h_Fraction;   /* BUG: a handle does not outlive its call; use an HPyGlobal */

HPyDef_METH(half, "half", HPyFunc_NOARGS)
static HPy half_impl(HPyContext *ctx, HPy self)
{
    HPy args[2];
    args[0] = HPyLong_FromLong(ctx, 1);
    args[1] = HPyLong_FromLong(ctx, 2);
    HPy res = HPy_Call(ctx, h_Fraction, args, 2, HPy_NULL);
    HPy_Close(ctx, args[0]);
    HPy_Close(ctx, args[1]);
    return res;
}

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    HPy fractions = HPyImport_ImportModule(ctx, "fractions");
    if (HPy_IsNull(fractions))
        return -1;
    h_Fraction = HPy_GetAttr_s(ctx, fractions, "Fraction");   /* EXPECT */
    HPy_Close(ctx, fractions);
    return HPy_IsNull(h_Fraction) ? -1 : 0;
}

static HPyDef *module_defines[] = { &half, &mod_exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(leak_kept_from_init, moduledef)
