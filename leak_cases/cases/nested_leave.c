/* leak-case
 * about: HPy_LeavePythonExecution is called again before HPy_ReenterPythonExecution
 * class: nested-leave
 * api: HPy_LeavePythonExecution
 * call: mod.crunch(100)
 * hpy: caught
 * note: HPy's debug mode does not check it; CPython stops the process (PyEval_SaveThread without the GIL)
 */
#include "hpy.h"

static long work(HPyContext *ctx, long n)
{
    HPyThreadState ts = HPy_LeavePythonExecution(ctx);   /* EXPECT */
    long acc = 0;
    for (long i = 0; i < n; i++)
        acc += i;
    HPy_ReenterPythonExecution(ctx, ts);
    return acc;
}

HPyDef_METH(crunch, "crunch", HPyFunc_O)
static HPy crunch_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long n = HPyLong_AsLong(ctx, arg);
    if (n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPyThreadState ts = HPy_LeavePythonExecution(ctx);
    long acc = work(ctx, n);   /* BUG: work() leaves Python execution again */
    HPy_ReenterPythonExecution(ctx, ts);
    return HPyLong_FromLong(ctx, acc);
}

static HPyDef *module_defines[] = { &crunch, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(nested_leave, moduledef)
