/* leak-case
 * about: an HPyGlobal is loaded before anything was stored into it
 * class: global-not-stored
 * api: HPyGlobal_Load
 * call: mod.get_default()
 * hpy: crash
 */
#include "hpy.h"

static HPyGlobal default_value;

HPyDef_METH(set_default, "set_default", HPyFunc_O)
static HPy set_default_impl(HPyContext *ctx, HPy self, HPy value)
{
    HPyGlobal_Store(ctx, &default_value, value);
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(get_default, "get_default", HPyFunc_NOARGS)   /* EXPECT -O3 */
static HPy get_default_impl(HPyContext *ctx, HPy self)
{
    /* BUG: set_default() was never called */
    return HPyGlobal_Load(ctx, default_value);   /* EXPECT */
}

static HPyDef *module_defines[] = { &set_default, &get_default, NULL };
static HPyGlobal *module_globals[] = { &default_value, NULL };
static HPyModuleDef moduledef = { .defines = module_defines, .globals = module_globals };
HPy_MODINIT(global_never_stored, moduledef)
