/* Test extension for the fast stack capture (src/base/unwind.rs): call
 * stacks of C recursion and Python callbacks, built at -O0 and at -O3 (the
 * module name comes from -DUNWIND_NAME).  Every level opens a handle before
 * recursing and closes it after, so each level is a capture point and the
 * recursion is not a tail call (-O3 keeps every frame). */
#include "hpy.h"

#ifndef UNWIND_NAME
#define UNWIND_NAME unwindext
#endif

static int call_back(HPyContext *ctx, HPy f)
{
    HPy r = HPy_CallTupleDict(ctx, f, HPy_NULL, HPy_NULL);
    if (HPy_IsNull(r))
        return 0;
    HPy_Close(ctx, r);
    return 1;
}

__attribute__((noinline))
static int down(HPyContext *ctx, long depth, HPy f, HPy *leaked)
{
    HPy mine = HPyLong_FromLong(ctx, depth);   /* OPEN: captured at every depth */
    int ok;
    if (depth > 0)
        ok = down(ctx, depth - 1, f, leaked);
    else if (leaked != NULL) {
        *leaked = HPyLong_FromLong(ctx, 42);   /* LEAK */
        ok = 1;
    } else
        ok = HPy_IsNull(f) ? 1 : call_back(ctx, f);
    HPy_Close(ctx, mine);
    return ok;
}

/* deep(depth, callback or None): recurse `depth` levels, then call back */
HPyDef_METH(deep, "deep", HPyFunc_VARARGS)
static HPy deep_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    long depth;
    HPy f;
    if (!HPyArg_Parse(ctx, NULL, args, nargs, "lO", &depth, &f))
        return HPy_NULL;
    if (!down(ctx, depth, HPy_Is(ctx, f, ctx->h_None) ? HPy_NULL : f, NULL))
        return HPy_NULL;
    return HPy_Dup(ctx, ctx->h_None);
}

/* leak(depth): leave one handle open, opened `depth` levels down */
HPyDef_METH(leak, "leak", HPyFunc_O)
static HPy leak_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy leaked = HPy_NULL;
    down(ctx, HPyLong_AsLong(ctx, arg), HPy_NULL, &leaked);
    return HPy_Dup(ctx, ctx->h_None);
}

static HPyDef *module_defines[] = { &deep, &leak, NULL };

static HPyModuleDef moduledef = {
    .doc = "hpydbg test extension: deep C stacks for the stack capture",
    .defines = module_defines,
};

#define MODINIT(name, def) HPy_MODINIT(name, def)
MODINIT(UNWIND_NAME, moduledef)
