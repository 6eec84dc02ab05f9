/* leak-case
 * about: HPy_Call with kwnames, HPy_CallMethod, HPy_CallTupleDict, dicts, an exception type kept in an HPyGlobal, raised and caught in Python
 * class: none
 * api: none
 * call: out = mod.call_kw(lambda a, b=0, *, c=0: (a, b, c), 1, b=2, c=3)
 * call: assert out == (1, 2, 3), out
 * call: assert mod.call_kw(max, 4, 9) == 9
 * call: assert mod.join_upper(["ab", "cd"]) == "AB-CD"
 * call: assert mod.via_tuple_dict(dict, 1, 2) == {"one": 1, "two": 2}
 * call: try:
 * call:     mod.check_positive(-1)
 * call: except mod.NegativeError as e:
 * call:     assert "-1" in str(e)
 * call: else: raise AssertionError
 * call: assert mod.check_positive(5) == 5
 * call: assert mod.lookup({"k": "v"}, "k") == "v" and mod.lookup({}, "k") is None
 * hpy: missed
 */
#include "hpy.h"

static HPyGlobal NegativeError;

/* call_kw(f, *args, **kwargs) -> f(*args, **kwargs), through HPy_Call */
HPyDef_METH(call_kw, "call_kw", HPyFunc_KEYWORDS)
static HPy call_kw_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs, HPy kwnames)
{
    if (nargs < 1) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "call_kw(f, ...)");
        return HPy_NULL;
    }
    /* args holds nargs positionals followed by one value per kwname */
    return HPy_Call(ctx, args[0], args + 1, nargs - 1, kwnames);
}

HPyDef_METH(join_upper, "join_upper", HPyFunc_O)
static HPy join_upper_impl(HPyContext *ctx, HPy self, HPy seq)
{
    HPy_ssize_t n = HPy_Length(ctx, seq);
    if (n < 0)
        return HPy_NULL;
    HPy upper_name = HPyUnicode_FromString(ctx, "upper");
    HPyListBuilder lb = HPyListBuilder_New(ctx, n);
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy item = HPy_GetItem_i(ctx, seq, i);
        HPy up = HPy_CallMethod(ctx, upper_name, &item, 1, HPy_NULL);
        HPy_Close(ctx, item);
        if (HPy_IsNull(up)) {
            HPyListBuilder_Cancel(ctx, lb);
            HPy_Close(ctx, upper_name);
            return HPy_NULL;
        }
        HPyListBuilder_Set(ctx, lb, i, up);
        HPy_Close(ctx, up);
    }
    HPy_Close(ctx, upper_name);
    HPy parts = HPyListBuilder_Build(ctx, lb);
    HPy sep = HPyUnicode_FromString(ctx, "-");
    HPy join = HPyUnicode_FromString(ctx, "join");
    HPy margs[2] = { sep, parts };
    /* keyword-free method call with a receiver and one argument */
    HPy res = HPy_CallMethod(ctx, join, margs, 2, HPy_NULL);
    HPy_Close(ctx, join);
    HPy_Close(ctx, sep);
    HPy_Close(ctx, parts);
    return res;
}

/* via_tuple_dict(f, x, y) -> f(one=x, two=y) through HPy_CallTupleDict */
HPyDef_METH(via_tuple_dict, "via_tuple_dict", HPyFunc_VARARGS)
static HPy via_tuple_dict_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 3) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "via_tuple_dict(f, x, y)");
        return HPy_NULL;
    }
    HPy kw = HPyDict_New(ctx);
    if (HPy_SetItem_s(ctx, kw, "one", args[1]) < 0 || HPy_SetItem_s(ctx, kw, "two", args[2]) < 0) {
        HPy_Close(ctx, kw);
        return HPy_NULL;
    }
    HPy empty = HPyTuple_FromArray(ctx, NULL, 0);
    HPy res = HPy_CallTupleDict(ctx, args[0], empty, kw);
    HPy_Close(ctx, empty);
    HPy_Close(ctx, kw);
    return res;
}

HPyDef_METH(check_positive, "check_positive", HPyFunc_O)
static HPy check_positive_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long v = HPyLong_AsLong(ctx, arg);
    if (v == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    if (v < 0) {
        HPy exc = HPyGlobal_Load(ctx, NegativeError);
        HPy r = HPy_Repr(ctx, arg);
        HPyErr_SetObject(ctx, exc, r);
        HPy_Close(ctx, r);
        HPy_Close(ctx, exc);
        return HPy_NULL;
    }
    return HPy_Dup(ctx, arg);
}

HPyDef_METH(lookup, "lookup", HPyFunc_VARARGS)
static HPy lookup_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 2 || !HPyDict_Check(ctx, args[0])) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "lookup(dict, key)");
        return HPy_NULL;
    }
    int has = HPy_Contains(ctx, args[0], args[1]);
    if (has < 0)
        return HPy_NULL;
    if (!has)
        return HPy_Dup(ctx, ctx->h_None);
    return HPy_GetItem(ctx, args[0], args[1]);
}

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    HPy exc = HPyErr_NewException(ctx, "control_calls.NegativeError", ctx->h_ValueError, HPy_NULL);
    if (HPy_IsNull(exc))
        return -1;
    HPyGlobal_Store(ctx, &NegativeError, exc);
    int r = HPy_SetAttr_s(ctx, m, "NegativeError", exc);
    HPy_Close(ctx, exc);
    return r;
}

static HPyDef *module_defines[] = {
    &call_kw, &join_upper, &via_tuple_dict, &check_positive, &lookup, &mod_exec, NULL
};
static HPyGlobal *module_globals[] = { &NegativeError, NULL };
static HPyModuleDef moduledef = { .defines = module_defines, .globals = module_globals };
HPy_MODINIT(control_calls, moduledef)
