/* leak-case
 * about: HPy_ReenterPythonExecution is called twice for one HPy_LeavePythonExecution
 * class: reenter-without-leave
 * api: HPy_ReenterPythonExecution
 * call: mod.crunch(100)
 * hpy: crash
 * note: HPy's debug mode does not check it; CPython waits forever for the GIL this thread holds (the run times out)
 */
#include "hpy.h"

HPyDef_METH(crunch, "crunch", HPyFunc_O)
static HPy crunch_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long n = HPyLong_AsLong(ctx, arg);
    if (n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPyThreadState ts = HPy_LeavePythonExecution(ctx);
    long acc = 0;
    for (long i = 0; i < n; i++)
        acc += i;
    HPy_ReenterPythonExecution(ctx, ts);
    if (acc > 1000)
        HPy_ReenterPythonExecution(ctx, ts);   /* EXPECT */
    return HPyLong_FromLong(ctx, acc);
}

static HPyDef *module_defines[] = { &crunch, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(reenter_without_leave, moduledef)
