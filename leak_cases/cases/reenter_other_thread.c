/* leak-case
 * about: a worker thread re-enters Python with the thread state the calling thread got from HPy_LeavePythonExecution
 * class: reenter-foreign-state
 * api: HPy_ReenterPythonExecution
 * call: mod.crunch(100)
 * hpy: missed
 * note: HPy's debug mode does not check it
 */
#include <pthread.h>
#include "hpy.h"

struct job {
    HPyContext *ctx;
    HPyThreadState ts;
    long n, acc;
};

static void *worker(void *arg)
{
    struct job *j = (struct job *)arg;
    for (long i = 0; i < j->n; i++)
        j->acc += i;
    HPy_ReenterPythonExecution(j->ctx, j->ts);   /* EXPECT */
    j->ts = HPy_LeavePythonExecution(j->ctx);
    return NULL;
}

HPyDef_METH(crunch, "crunch", HPyFunc_O)
static HPy crunch_impl(HPyContext *ctx, HPy self, HPy arg)
{
    struct job j = { ctx, { 0 }, HPyLong_AsLong(ctx, arg), 0 };
    if (j.n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    pthread_t t;
    j.ts = HPy_LeavePythonExecution(ctx);
    /* BUG: the thread that left must be the one that re-enters */
    if (pthread_create(&t, NULL, worker, &j) != 0)
        return HPy_NULL;
    pthread_join(t, NULL);
    HPy_ReenterPythonExecution(ctx, j.ts);
    return HPyLong_FromLong(ctx, j.acc);
}

static HPyDef *module_defines[] = { &crunch, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(reenter_other_thread, moduledef)
