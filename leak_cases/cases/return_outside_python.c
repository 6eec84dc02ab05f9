/* leak-case
 * about: an error path returns to Python between HPy_LeavePythonExecution and HPy_ReenterPythonExecution
 * class: return-outside-python
 * api: HPy_LeavePythonExecution
 * call: assert mod.sum_squares(10) == 285
 * call: mod.sum_squares(-1)
 * hpy: crash
 * note: HPy's debug mode does not check it; CPython stops the process ("the function must be called with the GIL held")
 */
#include "hpy.h"

static long squares_below(long n)
{
    long acc = 0;
    for (long i = 0; i < n; i++)
        acc += i * i;
    return acc;
}

HPyDef_METH(sum_squares, "sum_squares", HPyFunc_O)   /* EXPECT */
static HPy sum_squares_impl(HPyContext *ctx, HPy self, HPy arg)
{   /* EXPECT */
    long n = HPyLong_AsLong(ctx, arg);
    if (n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPyThreadState ts = HPy_LeavePythonExecution(ctx);
    if (n < 0)
        return HPy_NULL;   /* BUG: returns without HPy_ReenterPythonExecution */
    long acc = squares_below(n);
    HPy_ReenterPythonExecution(ctx, ts);
    return HPyLong_FromLong(ctx, acc);
}

static HPyDef *module_defines[] = { &sum_squares, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(return_outside_python, moduledef)
