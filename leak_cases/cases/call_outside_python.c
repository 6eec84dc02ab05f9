/* leak-case
 * about: an HPy call is made between HPy_LeavePythonExecution and HPy_ReenterPythonExecution
 * class: outside-python
 * api: HPy_Dup
 * call: mod.crunch(100)
 * hpy: missed
 */
#include "hpy.h"

HPyDef_METH(crunch, "crunch", HPyFunc_O)
static HPy crunch_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long n = HPyLong_AsLong(ctx, arg);
    if (n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    long acc = 0;
    HPyThreadState ts = HPy_LeavePythonExecution(ctx);
    for (long i = 0; i < n; i++)
        acc += i * i;
    HPy marker = HPy_Dup(ctx, ctx->h_None);   /* EXPECT */
    HPy_ReenterPythonExecution(ctx, ts);
    HPy_Close(ctx, marker);
    return HPyLong_FromLong(ctx, acc);
}

static HPyDef *module_defines[] = { &crunch, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(call_outside_python, moduledef)
