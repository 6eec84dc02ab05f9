/* leak-case
 * about: HPy_LeavePythonExecution/Reenter paired (twice in a call, in a helper, with worker threads that never touch HPy); contexts passed down through nested calls and thousands of calls
 * class: none
 * api: none
 * call: assert mod.crunch(10) == 45 and mod.crunch(0) == 0
 * call: assert mod.crunch_twice(10) == 90
 * call: assert mod.crunch_threads(100) == 4950 * 4
 * call: for i in range(3000): assert mod.echo(i) == i
 * call: assert mod.call_back(lambda: mod.call_back(lambda: mod.echo(5))) == 5
 * call: assert mod.crunch_with_callback(lambda: mod.crunch(4)) == 3 + 6
 * hpy: missed
 */
#include <pthread.h>
#include "hpy.h"

static long sum_to(long n)
{
    long acc = 0;
    for (long i = 0; i < n; i++)
        acc += i;
    return acc;
}

static long sum_outside(HPyContext *ctx, long n)
{
    HPyThreadState ts = HPy_LeavePythonExecution(ctx);
    long acc = sum_to(n);
    HPy_ReenterPythonExecution(ctx, ts);
    return acc;
}

HPyDef_METH(crunch, "crunch", HPyFunc_O)
static HPy crunch_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long n = HPyLong_AsLong(ctx, arg);
    if (n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    return HPyLong_FromLong(ctx, sum_outside(ctx, n));
}

HPyDef_METH(crunch_twice, "crunch_twice", HPyFunc_O)
static HPy crunch_twice_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long n = HPyLong_AsLong(ctx, arg);
    if (n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    long a = sum_outside(ctx, n);
    long b = sum_outside(ctx, n);
    return HPyLong_FromLong(ctx, a + b);
}

struct job { long n, acc; };

static void *worker(void *arg)
{
    struct job *j = (struct job *)arg;
    j->acc = sum_to(j->n);
    return NULL;
}

HPyDef_METH(crunch_threads, "crunch_threads", HPyFunc_O)
static HPy crunch_threads_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long n = HPyLong_AsLong(ctx, arg);
    if (n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    struct job jobs[4];
    pthread_t t[4];
    int started = 0;
    HPyThreadState ts = HPy_LeavePythonExecution(ctx);
    for (int i = 0; i < 4; i++) {
        jobs[i].n = n;
        jobs[i].acc = 0;
        if (pthread_create(&t[i], NULL, worker, &jobs[i]) == 0)
            started++;
        else
            worker(&jobs[i]);
    }
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    HPy_ReenterPythonExecution(ctx, ts);
    long acc = 0;
    for (int i = 0; i < 4; i++)
        acc += jobs[i].acc;
    return HPyLong_FromLong(ctx, acc);
}

HPyDef_METH(echo, "echo", HPyFunc_O)
static HPy echo_impl(HPyContext *ctx, HPy self, HPy arg)
{
    return HPy_Dup(ctx, arg);
}

HPyDef_METH(call_back, "call_back", HPyFunc_O)
static HPy call_back_impl(HPyContext *ctx, HPy self, HPy f)
{
    return HPy_Call(ctx, f, NULL, 0, HPy_NULL);
}

/* leave and re-enter around plain C, then call back into Python (which calls us again) */
HPyDef_METH(crunch_with_callback, "crunch_with_callback", HPyFunc_O)
static HPy crunch_with_callback_impl(HPyContext *ctx, HPy self, HPy f)
{
    long a = sum_outside(ctx, 3);
    HPy r = HPy_Call(ctx, f, NULL, 0, HPy_NULL);
    if (HPy_IsNull(r))
        return HPy_NULL;
    long b = HPyLong_AsLong(ctx, r);
    HPy_Close(ctx, r);
    return HPyLong_FromLong(ctx, a + b + sum_outside(ctx, 0));
}

static HPyDef *module_defines[] = { &crunch, &crunch_twice, &crunch_threads, &echo, &call_back, &crunch_with_callback, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(control_execution, moduledef)
