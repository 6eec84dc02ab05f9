/* leak-case
 * about: the context is used from another thread (while the calling thread waits for it)
 * class: wrong-context
 * api: HPy_Dup
 * call: mod.in_thread()
 * hpy: missed
 */
#include <pthread.h>
#include "hpy.h"

struct job {
    HPyContext *ctx;
    HPy result;
};

static void *worker(void *arg)
{
    struct job *j = (struct job *)arg;
    j->result = HPy_Dup(j->ctx, j->ctx->h_None);   /* EXPECT */
    return NULL;
}

HPyDef_METH(in_thread, "in_thread", HPyFunc_NOARGS)
static HPy in_thread_impl(HPyContext *ctx, HPy self)
{
    struct job j = { ctx, HPy_NULL };
    pthread_t t;
    if (pthread_create(&t, NULL, worker, &j) != 0) {
        HPyErr_SetString(ctx, ctx->h_RuntimeError, "pthread_create failed");
        return HPy_NULL;
    }
    pthread_join(t, NULL);
    return j.result;
}

static HPyDef *module_defines[] = { &in_thread, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(context_in_thread, moduledef)
