/* leak-case
 * about: correct HPy_LeavePythonExecution/Reenter, a Long-shaped type with matching helpers, HPy_TypeCheck, re-entrant calls, comparisons, a global cache
 * class: none
 * api: none
 * call: assert mod.crunch(10) == 285
 * call: t = mod.Tagged(5); assert t == 5 and t.tag() == 0 and t.set_tag(9) is None and t.tag() == 9
 * call: assert mod.is_tagged(t) and not mod.is_tagged(5)
 * call: assert mod.reenter(lambda: mod.reenter(lambda: 42)) == 42
 * call: assert mod.cached() is mod.cached()
 * call: assert mod.compare(1, 2) == (True, False, -1)
 * hpy: missed
 */
#include "hpy.h"

typedef struct {
    long tag;
} TaggedObject;
HPyType_HELPERS(TaggedObject, HPyType_BuiltinShape_Long)

static HPyGlobal tagged_type;
static HPyGlobal cache;

HPyDef_METH(crunch, "crunch", HPyFunc_O)
static HPy crunch_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long n = HPyLong_AsLong(ctx, arg);
    if (n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    long acc = 0;
    HPyThreadState ts = HPy_LeavePythonExecution(ctx);
    for (long i = 0; i < n; i++)   /* pure C while outside Python */
        acc += i * i;
    HPy_ReenterPythonExecution(ctx, ts);
    return HPyLong_FromLong(ctx, acc);
}

HPyDef_METH(Tagged_tag, "tag", HPyFunc_NOARGS)
static HPy Tagged_tag_impl(HPyContext *ctx, HPy self)
{
    return HPyLong_FromLong(ctx, TaggedObject_AsStruct(ctx, self)->tag);
}

HPyDef_METH(Tagged_set_tag, "set_tag", HPyFunc_O)
static HPy Tagged_set_tag_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long v = HPyLong_AsLong(ctx, arg);
    if (v == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    TaggedObject_AsStruct(ctx, self)->tag = v;
    return HPy_Dup(ctx, ctx->h_None);
}

static HPyDef *Tagged_defines[] = { &Tagged_tag, &Tagged_set_tag, NULL };
static HPyType_Spec Tagged_spec = {
    .name = "control_misc.Tagged",
    .basicsize = sizeof(TaggedObject),
    .builtin_shape = SHAPE(TaggedObject),
    .defines = Tagged_defines,
};

HPyDef_METH(is_tagged, "is_tagged", HPyFunc_O)
static HPy is_tagged_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy tp = HPyGlobal_Load(ctx, tagged_type);
    int r = HPy_TypeCheck(ctx, arg, tp);
    HPy_Close(ctx, tp);
    return HPyBool_FromLong(ctx, r);
}

/* calls f() from C: the callee may call back into this module */
HPyDef_METH(reenter, "reenter", HPyFunc_O)
static HPy reenter_impl(HPyContext *ctx, HPy self, HPy f)
{
    if (!HPyCallable_Check(ctx, f)) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "not callable");
        return HPy_NULL;
    }
    HPy r = HPy_Call(ctx, f, NULL, 0, HPy_NULL);
    /* ctx is still this call's context after the nested calls */
    if (HPy_IsNull(r))
        return HPy_NULL;
    HPy res = HPy_Dup(ctx, r);
    HPy_Close(ctx, r);
    return res;
}

HPyDef_METH(cached, "cached", HPyFunc_NOARGS)
static HPy cached_impl(HPyContext *ctx, HPy self)
{
    HPy v = HPyGlobal_Load(ctx, cache);
    if (HPy_Is(ctx, v, ctx->h_None)) {
        HPy_Close(ctx, v);
        v = HPyDict_New(ctx);
        HPyGlobal_Store(ctx, &cache, v);
    }
    return v;
}

HPyDef_METH(compare, "compare", HPyFunc_VARARGS)
static HPy compare_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 2) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "compare(a, b)");
        return HPy_NULL;
    }
    HPy lt = HPy_RichCompare(ctx, args[0], args[1], HPy_LT);
    int eq = HPy_RichCompareBool(ctx, args[0], args[1], HPy_EQ);
    HPy diff = HPy_Subtract(ctx, args[0], args[1]);
    HPy items[3] = { lt, eq ? ctx->h_True : ctx->h_False, diff };
    HPy res = HPyTuple_FromArray(ctx, items, 3);
    HPy_Close(ctx, lt);
    HPy_Close(ctx, diff);
    return res;
}

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    HPyType_SpecParam params[] = {
        { HPyType_SpecParam_Base, ctx->h_LongType },
        { (HPyType_SpecParam_Kind)0 }
    };
    HPy tp = HPyType_FromSpec(ctx, &Tagged_spec, params);
    if (HPy_IsNull(tp))
        return -1;
    HPyGlobal_Store(ctx, &tagged_type, tp);
    HPyGlobal_Store(ctx, &cache, ctx->h_None);
    int r = HPy_SetAttr_s(ctx, m, "Tagged", tp);
    HPy_Close(ctx, tp);
    return r;
}

static HPyDef *module_defines[] = {
    &crunch, &is_tagged, &reenter, &cached, &compare, &mod_exec, NULL
};
static HPyGlobal *module_globals[] = { &tagged_type, &cache, NULL };
static HPyModuleDef moduledef = { .defines = module_defines, .globals = module_globals };
HPy_MODINIT(control_misc, moduledef)
