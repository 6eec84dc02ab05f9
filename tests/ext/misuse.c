/* Test extension: misuses on demand, for the diagnostics tests. */
#include "hpy.h"

/* Pass an arbitrary value as a handle to one API function. */
HPyDef_METH(call_with_raw, "call_with_raw", HPyFunc_VARARGS)
static HPy call_with_raw_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    long which = HPyLong_AsLong(ctx, args[0]);
    long long raw = HPyLong_AsInt64_t(ctx, args[1]);
    if (HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPy h = { (HPy_ssize_t)raw };
    switch (which) {
    case 0: return HPy_Repr(ctx, h);
    case 1: HPy_Close(ctx, h); break;
    case 2: return HPy_Dup(ctx, h);
    case 3: {
        long v = HPyLong_AsLong(ctx, h);
        if (v == -1 && HPyErr_Occurred(ctx))
            return HPy_NULL;
        break;
    }
    }
    return HPy_Dup(ctx, ctx->h_None);
}

/* Close a handle, open and close `n` others, then use the first one. */
HPyDef_METH(use_after_many, "use_after_many", HPyFunc_O)
static HPy use_after_many_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long n = HPyLong_AsLong(ctx, arg);
    HPy victim = HPyLong_FromLong(ctx, 12345);
    HPy_Close(ctx, victim);
    for (long i = 0; i < n; i++) {
        HPy tmp = HPyLong_FromLong(ctx, i);
        HPy_Close(ctx, tmp);
    }
    return HPy_Repr(ctx, victim);   /* use after close */
}

static HPyContext *kept_ctx;

HPyDef_METH(keep_ctx, "keep_ctx", HPyFunc_NOARGS)
static HPy keep_ctx_impl(HPyContext *ctx, HPy self)
{
    kept_ctx = ctx;
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(use_kept_ctx, "use_kept_ctx", HPyFunc_NOARGS)
static HPy use_kept_ctx_impl(HPyContext *ctx, HPy self)
{
    return HPyLong_FromLong(kept_ctx, 1);   /* wrong context */
}

HPyDef_METH(outside_python, "outside_python", HPyFunc_NOARGS)
static HPy outside_python_impl(HPyContext *ctx, HPy self)
{
    HPyThreadState st = HPy_LeavePythonExecution(ctx);
    HPy h = HPyLong_FromLong(ctx, 7);   /* not allowed without the GIL */
    HPy_ReenterPythonExecution(ctx, st);
    return h;
}

/* The context used from a thread the extension started, while the calling
   thread holds the GIL and waits for it: hpydbg must report it and must not
   wait for the GIL (that would deadlock).  Returns what HPy_Dup gave back
   as a bool (None when it was refused). */
#include <pthread.h>
struct dup_job { HPyContext *ctx; HPy obj; HPy result; };

static void *dup_worker(void *arg)
{
    struct dup_job *j = (struct dup_job *)arg;
    j->result = HPy_Dup(j->ctx, j->obj);   /* wrong thread, no GIL */
    return NULL;
}

HPyDef_METH(dup_in_c_thread, "dup_in_c_thread", HPyFunc_O)
static HPy dup_in_c_thread_impl(HPyContext *ctx, HPy self, HPy arg)
{
    struct dup_job j = { ctx, arg, HPy_NULL };
    pthread_t t;
    if (pthread_create(&t, NULL, dup_worker, &j) != 0)
        return HPyErr_SetString(ctx, ctx->h_RuntimeError, "pthread_create failed");
    pthread_join(t, NULL);
    if (HPy_IsNull(j.result))
        return HPy_Dup(ctx, ctx->h_None);
    return j.result;
}

/* HPy_Dup `obj` until it fails (or `max` times) into a preallocated array,
   then close them all: returns the count, or NULL with the error of the
   failed HPy_Dup. */
#include <stdlib.h>
HPyDef_METH(dup_until_error, "dup_until_error", HPyFunc_VARARGS)
static HPy dup_until_error_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    long max = HPyLong_AsLong(ctx, args[1]);
    if (max == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPy *held = (HPy *)malloc(sizeof(HPy) * (size_t)max);
    if (held == NULL)
        return HPyErr_NoMemory(ctx);
    long n = 0;
    while (n < max) {
        HPy h = HPy_Dup(ctx, args[0]);
        if (HPy_IsNull(h))
            break;
        held[n++] = h;
    }
    for (long i = 0; i < n; i++)
        HPy_Close(ctx, held[i]);
    free(held);
    if (HPyErr_Occurred(ctx))
        return HPy_NULL;
    return HPyLong_FromLong(ctx, n);
}

static HPyDef *module_defines[] = {
    &dup_until_error,
    &call_with_raw, &use_after_many, &keep_ctx, &use_kept_ctx, &outside_python, &dup_in_c_thread, NULL
};

static HPyModuleDef moduledef = { .doc = "hpydbg misuse tests", .defines = module_defines };

HPy_MODINIT(misuse, moduledef)
