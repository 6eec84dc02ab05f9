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

static HPyDef *module_defines[] = {
    &call_with_raw, &use_after_many, &keep_ctx, &use_kept_ctx, &outside_python, NULL
};

static HPyModuleDef moduledef = { .doc = "hpydbg misuse tests", .defines = module_defines };

HPy_MODINIT(misuse, moduledef)
