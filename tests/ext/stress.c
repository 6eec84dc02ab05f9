/* Test extension for the reliability tests (threads, re-entrancy, long runs).
 *
 * Every function here is correct HPy code except where its name says it
 * leaks or misuses on purpose.  Handle values are returned to Python as
 * integers (`h._i`) so that tests can compare them with what the leak
 * detector lists. */
#include "hpy.h"
#include <stdint.h>

#define LEAK_BASE 1000000000L

/* Pure C work done while outside Python execution (no API call). */
static volatile uint64_t sink;
static uint64_t pure_c_work(const char *s, HPy_ssize_t n, long rounds)
{
    uint64_t x = 1469598103934665603ULL;
    for (long r = 0; r < rounds; r++)
        for (HPy_ssize_t i = 0; i < n; i++)
            x = (x ^ (unsigned char)s[i]) * 1099511628211ULL;
    sink = x;
    return x;
}

/* step(i, leak, rounds) -> leaked handle value or 0
 * Opens and closes a few handles, reads raw data, releases the GIL for
 * `rounds` rounds of pure C work, and leaks one handle (object
 * LEAK_BASE + i) when `leak` is true. */
HPyDef_METH(stress_step, "step", HPyFunc_VARARGS)
static HPy stress_step_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 3) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "step(i, leak, rounds)");
        return HPy_NULL;
    }
    long i = HPyLong_AsLong(ctx, args[0]);
    long leak = HPyLong_AsLong(ctx, args[1]);
    long rounds = HPyLong_AsLong(ctx, args[2]);
    if (HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPy a = HPyLong_FromLong(ctx, i);
    HPy b = HPy_Dup(ctx, a);
    HPy s = HPy_Repr(ctx, b);
    if (HPy_IsNull(s)) {
        HPy_Close(ctx, a);
        HPy_Close(ctx, b);
        return HPy_NULL;
    }
    HPy_ssize_t n = 0;
    const char *p = HPyUnicode_AsUTF8AndSize(ctx, s, &n);
    uint64_t x = 0;
    if (p != NULL && rounds > 0) {
        HPyThreadState st = HPy_LeavePythonExecution(ctx);
        x = pure_c_work(p, n, rounds);
        HPy_ReenterPythonExecution(ctx, st);
    }
    (void)x;
    HPy_Close(ctx, s);
    HPy_Close(ctx, b);
    HPy_Close(ctx, a);
    if (leak) {
        HPy l = HPyLong_FromLong(ctx, LEAK_BASE + i);   /* LEAK: on purpose */
        return HPyLong_FromInt64_t(ctx, (int64_t)l._i);
    }
    return HPyLong_FromLong(ctx, 0);
}

/* churn(n, raw) -> None: n open/close cycles in C; with `raw`, each cycle
 * also takes HPyUnicode_AsUTF8AndSize of a fresh string. */
HPyDef_METH(churn, "churn", HPyFunc_VARARGS)
static HPy churn_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    long long n = HPyLong_AsInt64_t(ctx, args[0]);
    long raw = HPyLong_AsLong(ctx, args[1]);
    if (HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPy text = HPyUnicode_FromString(ctx, "hpydbg churn: some raw data to copy");
    for (long long i = 0; i < n; i++) {
        if (raw) {
            HPy s = HPy_Dup(ctx, text);
            HPy_ssize_t len;
            const char *p = HPyUnicode_AsUTF8AndSize(ctx, s, &len);
            if (p == NULL || len != 35) {
                HPy_Close(ctx, s);
                HPy_Close(ctx, text);
                if (!HPyErr_Occurred(ctx))
                    HPyErr_SetString(ctx, ctx->h_RuntimeError, "bad raw data");
                return HPy_NULL;
            }
            sink += (unsigned char)p[len - 1];
            HPy_Close(ctx, s);
        } else {
            HPy h = HPyLong_FromLong(ctx, (long)(i & 0xff));
            HPy_Close(ctx, h);
        }
    }
    HPy_Close(ctx, text);
    return HPy_Dup(ctx, ctx->h_None);
}

/* leak_one(v) -> handle value: leaks HPyLong_FromLong(v). */
HPyDef_METH(leak_one, "leak_one", HPyFunc_O)
static HPy leak_one_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long v = HPyLong_AsLong(ctx, arg);
    if (v == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPy l = HPyLong_FromLong(ctx, v);   /* LEAK: on purpose */
    return HPyLong_FromInt64_t(ctx, (int64_t)l._i);
}

/* open_one(v) -> handle value (left open; close it with close_raw). */
HPyDef_METH(open_one, "open_one", HPyFunc_O)
static HPy open_one_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy l = HPy_Dup(ctx, arg);
    return HPyLong_FromInt64_t(ctx, (int64_t)l._i);
}

/* dup_raw(h) -> handle value of HPy_Dup(h) */
HPyDef_METH(dup_raw, "dup_raw", HPyFunc_O)
static HPy dup_raw_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long long raw = HPyLong_AsInt64_t(ctx, arg);
    if (HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPy h = { (HPy_ssize_t)raw };
    HPy d = HPy_Dup(ctx, h);
    if (HPy_IsNull(d)) {
        HPyErr_Clear(ctx);   /* hpydbg skipped the call (HPyDebugError) */
        return HPyLong_FromLong(ctx, 0);
    }
    return HPyLong_FromInt64_t(ctx, (int64_t)d._i);
}

/* close_raw(h): HPy_Close of a raw handle value. */
HPyDef_METH(close_raw, "close_raw", HPyFunc_O)
static HPy close_raw_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long long raw = HPyLong_AsInt64_t(ctx, arg);
    if (HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPy h = { (HPy_ssize_t)raw };
    HPy_Close(ctx, h);
    return HPy_Dup(ctx, ctx->h_None);
}

/* repr_raw(h) -> repr of the object behind a raw handle value (or None
 * when hpydbg skipped the call). */
HPyDef_METH(repr_raw, "repr_raw", HPyFunc_O)
static HPy repr_raw_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long long raw = HPyLong_AsInt64_t(ctx, arg);
    if (HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPy h = { (HPy_ssize_t)raw };
    HPy r = HPy_Repr(ctx, h);
    if (HPy_IsNull(r)) {
        HPyErr_Clear(ctx);
        return HPy_Dup(ctx, ctx->h_None);
    }
    return r;
}

/* call_and_close(factory): obj = factory(); HPy_Close(obj) -- the close
 * drops the last reference, so obj.__del__ runs inside HPy_Close. */
HPyDef_METH(call_and_close, "call_and_close", HPyFunc_O)
static HPy call_and_close_impl(HPyContext *ctx, HPy self, HPy factory)
{
    HPy obj = HPy_Call(ctx, factory, NULL, 0, HPy_NULL);
    if (HPy_IsNull(obj))
        return HPy_NULL;
    HPy keep = HPyLong_FromLong(ctx, 4242);   /* still valid after __del__? */
    HPy_Close(ctx, obj);                      /* __del__ runs here */
    if (HPyErr_Occurred(ctx)) {
        HPy_Close(ctx, keep);
        return HPy_NULL;
    }
    long v = HPyLong_AsLong(ctx, keep);       /* our ctx must still be valid */
    HPy_Close(ctx, keep);
    return HPyLong_FromLong(ctx, v);
}

/* garbage(v): HPy_Repr of raw value v (a misuse); returns None. */
HPyDef_METH(garbage, "garbage", HPyFunc_O)
static HPy garbage_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long long raw = HPyLong_AsInt64_t(ctx, arg);
    if (HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPy h = { (HPy_ssize_t)raw };
    HPy r = HPy_Repr(ctx, h);
    if (!HPy_IsNull(r))
        HPy_Close(ctx, r);
    if (HPyErr_Occurred(ctx))
        return HPy_NULL;
    return HPy_Dup(ctx, ctx->h_None);
}

/* double_close_pending(): sets ValueError("pending"), then closes a fresh
 * handle and double-closes it (a misuse) with the exception pending; the
 * call returns NULL so the ValueError must reach the caller intact. */
HPyDef_METH(double_close_pending, "double_close_pending", HPyFunc_NOARGS)
static HPy double_close_pending_impl(HPyContext *ctx, HPy self)
{
    /* The handle is made first: making it with the exception pending would
     * be a misuse of its own (call-with-exception-pending). */
    HPy h = HPyLong_FromLong(ctx, 77);
    HPyErr_SetString(ctx, ctx->h_ValueError, "pending");
    HPy_Close(ctx, h);
    HPy_Close(ctx, h);   /* double close with an exception pending */
    return HPy_NULL;
}

/* close_pending(obj): sets ValueError("pending"), then closes an owned
 * handle to obj (which may run obj.__del__); returns NULL. */
HPyDef_METH(close_pending, "close_pending", HPyFunc_O)
static HPy close_pending_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy h = HPy_Dup(ctx, arg);
    HPyErr_SetString(ctx, ctx->h_ValueError, "pending");
    HPy_Close(ctx, h);
    return HPy_NULL;
}

static HPyDef *module_defines[] = {
    &stress_step, &churn, &leak_one, &open_one, &dup_raw, &close_raw, &repr_raw,
    &call_and_close, &garbage, &double_close_pending, &close_pending, NULL
};

static HPyModuleDef moduledef = { .doc = "hpydbg reliability tests", .defines = module_defines };

HPy_MODINIT(stress, moduledef)
