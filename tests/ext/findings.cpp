// Test extension for tests/test_findings.py, built -O3 -g with g++: one bug
// reached from many Python lines, a shared project helper inlined into two
// callers, a context kept from one call and used at several lines of
// another, and functions whose names hold glob characters ([, ], *).
// The tests find lines by the SITE: markers.
#include "hpy.h"
#include "findings_utils.h"

static volatile long calls;   // keeps the calls below from being tail calls

// one bug: the helper inlined into one_bug_impl
HPyDef_METH(one_bug, "one_bug", HPyFunc_O)
static HPy one_bug_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy h = HPy_Dup(ctx, arg);
    HPy r = repr_closed(ctx, h);   /* SITE:ONE_BUG_CALL */
    calls++;
    return r;
}

// the same helper from another caller: another finding
HPyDef_METH(other_caller, "other_caller", HPyFunc_O)
static HPy other_caller_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy h = HPyLong_FromLong(ctx, 7);
    HPy r = repr_closed(ctx, h);   /* SITE:OTHER_CALL */
    calls++;
    return r;
}

// a context kept from one call ...
static HPyContext *kept;

HPyDef_METH(keep_ctx, "keep_ctx", HPyFunc_NOARGS)
static HPy keep_ctx_impl(HPyContext *ctx, HPy self)
{
    kept = ctx;
    return HPy_Dup(ctx, ctx->h_None);
}

// ... and used at three lines of another
HPyDef_METH(use_kept, "use_kept", HPyFunc_O)
static HPy use_kept_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy a = HPyLong_FromLong(kept, 1);   /* SITE:KEPT_USE_1 */
    HPy b = HPyLong_FromLong(kept, 2);   /* SITE:KEPT_USE_2 */
    HPy c = HPy_Add(kept, a, b);   /* SITE:KEPT_USE_3 */
    HPy_Close(ctx, a);
    HPy_Close(ctx, b);
    return c;
}

// names with glob characters: Bag::operator[] and Bag::operator*
struct Bag {
    HPyContext *ctx;
    HPy items;
    __attribute__((noinline)) HPy operator[](HPy_ssize_t i) {
        HPy item = HPy_GetItem_i(ctx, items, i);
        HPy_Close(ctx, item);
        HPy r = HPy_Repr(ctx, item);   /* SITE:BRACKETS */
        calls++;
        return r;
    }
    __attribute__((noinline)) HPy operator*() {
        HPy item = HPy_GetItem_i(ctx, items, 0);
        HPy_Close(ctx, item);
        HPy r = HPy_Str(ctx, item);   /* SITE:STAR */
        calls++;
        return r;
    }
};

HPyDef_METH(brackets, "brackets", HPyFunc_O)
static HPy brackets_impl(HPyContext *ctx, HPy self, HPy seq)
{
    Bag b = { ctx, seq };
    return b[0];
}

HPyDef_METH(star, "star", HPyFunc_O)
static HPy star_impl(HPyContext *ctx, HPy self, HPy seq)
{
    Bag b = { ctx, seq };
    return *b;
}

static HPyDef *module_defines[] = { &one_bug, &other_caller, &keep_ctx, &use_kept, &brackets, &star, NULL };
static HPyModuleDef moduledef = { .doc = "findings at scale, built -O3", .defines = module_defines };
HPy_MODINIT(findings, moduledef)
