/* leak-case
 * about: an argument handle is kept in a static variable and used in a later call
 * class: use-after-close
 * api: HPy_Repr
 * call: mod.remember("first")
 * call: mod.recall()
 * hpy: caught
 */
#include "hpy.h"

static HPy remembered;

HPyDef_METH(remember, "remember", HPyFunc_O)
static HPy remember_impl(HPyContext *ctx, HPy self, HPy arg)
{
    remembered = arg;   /* should be an HPyGlobal (or at least HPy_Dup) */
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(recall, "recall", HPyFunc_NOARGS)   /* EXPECT -O3 */
static HPy recall_impl(HPyContext *ctx, HPy self)
{
    return HPy_Repr(ctx, remembered);   /* EXPECT */
}

static HPyDef *module_defines[] = { &remember, &recall, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(use_of_kept_argument, moduledef)
