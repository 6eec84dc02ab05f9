/* Workloads for benches/run.py: the same extension is loaded in universal
 * mode, in HPy's C debug mode and in hpydbg's debug mode, so every figure
 * compares contexts on identical C code.
 *
 * Two kinds of workload:
 *   - "call" workloads are cheap functions and methods that Python calls in a
 *     loop (benches/_worker.py); they measure the trampolines, argument
 *     handling and small allocations;
 *   - "loop" workloads run a C loop of N iterations inside one call; they
 *     measure the cost of the HPy calls themselves (handle table work).
 * Plus helpers: keep N handles open (memory / listing / report figures) and
 * callgrind client requests so one valgrind run measures every workload.
 */
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>
#include "hpy.h"

/* ------------------------------------------------------------------ */
/* calls from Python                                                   */

HPyDef_METH(noargs, "noargs", HPyFunc_NOARGS)
static HPy noargs_impl(HPyContext *ctx, HPy self)
{
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(onearg, "onearg", HPyFunc_O)
static HPy onearg_impl(HPyContext *ctx, HPy self, HPy arg)
{
    return HPy_Dup(ctx, arg);
}

HPyDef_METH(varargs, "varargs", HPyFunc_VARARGS)
static HPy varargs_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs == 0)
        return HPy_Dup(ctx, ctx->h_None);
    return HPy_Dup(ctx, args[nargs - 1]);
}

HPyDef_METH(keywords, "keywords", HPyFunc_KEYWORDS)
static HPy keywords_impl(HPyContext *ctx, HPy self, const HPy *args,
                         size_t nargs, HPy kwnames)
{
    static const char *kwlist[] = {"a", "b", "c", "d", NULL};
    HPy a = HPy_NULL, b = HPy_NULL, c = HPy_NULL, d = HPy_NULL;
    HPyTracker ht;
    if (!HPyArg_ParseKeywords(ctx, &ht, args, nargs, kwnames, "OO|OO", kwlist,
                              &a, &b, &c, &d))
        return HPy_NULL;
    HPy res = HPy_Dup(ctx, HPy_IsNull(d) ? b : d);
    HPyTracker_Close(ctx, ht);
    return res;
}

HPyDef_METH(alloc_int, "alloc_int", HPyFunc_NOARGS)
static HPy alloc_int_impl(HPyContext *ctx, HPy self)
{
    return HPyLong_FromLong(ctx, 123456);
}

HPyDef_METH(alloc_tuple, "alloc_tuple", HPyFunc_NOARGS)
static HPy alloc_tuple_impl(HPyContext *ctx, HPy self)
{
    HPy x = HPyLong_FromLong(ctx, 123456);
    HPy y = HPyLong_FromLong(ctx, 654321);
    HPy t = HPyTuple_Pack(ctx, 2, x, y);
    HPy_Close(ctx, x);
    HPy_Close(ctx, y);
    return t;
}

/* ------------------------------------------------------------------ */
/* a custom type: instances and methods                                */

typedef struct {
    long count;
} PointObject;

HPyType_HELPERS(PointObject)

HPyDef_SLOT(Point_new, HPy_tp_new)
static HPy Point_new_impl(HPyContext *ctx, HPy cls, const HPy *args,
                          HPy_ssize_t nargs, HPy kw)
{
    PointObject *p;
    HPy h = HPy_New(ctx, cls, &p);
    if (HPy_IsNull(h))
        return HPy_NULL;
    p->count = 0;
    return h;
}

HPyDef_METH(Point_bump, "bump", HPyFunc_NOARGS)
static HPy Point_bump_impl(HPyContext *ctx, HPy self)
{
    PointObject_AsStruct(ctx, self)->count++;
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(Point_add, "add", HPyFunc_O)
static HPy Point_add_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long v = HPyLong_AsLong(ctx, arg);
    if (v == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    PointObject_AsStruct(ctx, self)->count += v;
    return HPyLong_FromLong(ctx, PointObject_AsStruct(ctx, self)->count);
}

static HPyDef *Point_defines[] = {&Point_new, &Point_bump, &Point_add, NULL};

static HPyType_Spec Point_spec = {
    .name = "hpybench.Point",
    .basicsize = sizeof(PointObject),
    .flags = HPy_TPFLAGS_DEFAULT,
    .defines = Point_defines,
};

/* a throw-away type, created again and again by make_types() */
static HPyDef *Tmp_defines[] = {&Point_bump, NULL};
static HPyType_Spec Tmp_spec = {
    .name = "hpybench.Tmp",
    .basicsize = sizeof(PointObject),
    .flags = HPy_TPFLAGS_DEFAULT | HPy_TPFLAGS_BASETYPE,
    .defines = Tmp_defines,
};

/* a type with an HPyField, its tp_traverse and GC: the field checks
   (hpydbg: the store's owner, the traverse contract at the first store per
   type and field, the load's owner) */
typedef struct {
    HPyField item;
} BoxObject;

HPyType_HELPERS(BoxObject)

HPyDef_SLOT(Box_traverse, HPy_tp_traverse)
static int Box_traverse_impl(void *self, HPyFunc_visitproc visit, void *arg)
{
    HPy_VISIT(&((BoxObject *)self)->item);
    return 0;
}

static HPyDef *Box_defines[] = {&Box_traverse, NULL};

static HPyType_Spec Box_spec = {
    .name = "hpybench.Box",
    .basicsize = sizeof(BoxObject),
    .flags = HPy_TPFLAGS_DEFAULT | HPy_TPFLAGS_HAVE_GC,
    .defines = Box_defines,
};

/* ------------------------------------------------------------------ */
/* C loops: each takes n as its first argument                         */

static int get_n(HPyContext *ctx, const HPy *args, size_t nargs, size_t want,
                 long *n)
{
    if (nargs != want) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "wrong number of arguments");
        return -1;
    }
    *n = HPyLong_AsLong(ctx, args[0]);
    if (*n == -1 && HPyErr_Occurred(ctx))
        return -1;
    return 0;
}

/* n x HPyLong_FromLong + HPy_Close */
HPyDef_METH(long_close, "long_close", HPyFunc_VARARGS)
static HPy long_close_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    long n;
    if (get_n(ctx, args, nargs, 1, &n) < 0)
        return HPy_NULL;
    for (long i = 0; i < n; i++) {
        HPy h = HPyLong_FromLong(ctx, 1000 + i);
        if (HPy_IsNull(h))
            return HPy_NULL;
        HPy_Close(ctx, h);
    }
    return HPy_Dup(ctx, ctx->h_None);
}

/* n x HPy_Dup + HPy_Close of an argument */
HPyDef_METH(dup_close, "dup_close", HPyFunc_VARARGS)
static HPy dup_close_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    long n;
    if (get_n(ctx, args, nargs, 2, &n) < 0)
        return HPy_NULL;
    for (long i = 0; i < n; i++) {
        HPy h = HPy_Dup(ctx, args[1]);
        HPy_Close(ctx, h);
    }
    return HPy_Dup(ctx, ctx->h_None);
}

/* n x (HPyField_Store of one of two values + HPyField_Load + HPy_Close)
   into a Box (args: n, box, a, b) */
HPyDef_METH(field_store, "field_store", HPyFunc_VARARGS)
static HPy field_store_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    long n;
    if (get_n(ctx, args, nargs, 4, &n) < 0)
        return HPy_NULL;
    BoxObject *b = BoxObject_AsStruct(ctx, args[1]);
    for (long i = 0; i < n; i++) {
        HPyField_Store(ctx, args[1], &b->item, args[2 + (i & 1)]);
        HPy h = HPyField_Load(ctx, args[1], b->item);
        HPy_Close(ctx, h);
    }
    HPyField_Store(ctx, args[1], &b->item, HPy_NULL);
    return HPy_Dup(ctx, ctx->h_None);
}

/* n x (tuple builder of 100 items, build, close) */
HPyDef_METH(tuple_builder, "tuple_builder", HPyFunc_VARARGS)
static HPy tuple_builder_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    long n;
    if (get_n(ctx, args, nargs, 2, &n) < 0)
        return HPy_NULL;
    for (long i = 0; i < n; i++) {
        HPyTupleBuilder b = HPyTupleBuilder_New(ctx, 100);
        for (HPy_ssize_t j = 0; j < 100; j++)
            HPyTupleBuilder_Set(ctx, b, j, args[1]);
        HPy t = HPyTupleBuilder_Build(ctx, b);
        if (HPy_IsNull(t))
            return HPy_NULL;
        HPy_Close(ctx, t);
    }
    return HPy_Dup(ctx, ctx->h_None);
}

/* n x (list builder of 100 items, build, close) */
HPyDef_METH(list_builder, "list_builder", HPyFunc_VARARGS)
static HPy list_builder_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    long n;
    if (get_n(ctx, args, nargs, 2, &n) < 0)
        return HPy_NULL;
    for (long i = 0; i < n; i++) {
        HPyListBuilder b = HPyListBuilder_New(ctx, 100);
        for (HPy_ssize_t j = 0; j < 100; j++)
            HPyListBuilder_Set(ctx, b, j, args[1]);
        HPy l = HPyListBuilder_Build(ctx, b);
        if (HPy_IsNull(l))
            return HPy_NULL;
        HPy_Close(ctx, l);
    }
    return HPy_Dup(ctx, ctx->h_None);
}

/* n x HPy_GetAttr_s(obj, "x") + HPy_Close */
HPyDef_METH(getattr_s, "getattr_s", HPyFunc_VARARGS)
static HPy getattr_s_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    long n;
    if (get_n(ctx, args, nargs, 2, &n) < 0)
        return HPy_NULL;
    for (long i = 0; i < n; i++) {
        HPy v = HPy_GetAttr_s(ctx, args[1], "x");
        if (HPy_IsNull(v))
            return HPy_NULL;
        HPy_Close(ctx, v);
    }
    return HPy_Dup(ctx, ctx->h_None);
}

/* n x (HPyType_FromSpec + HPy_Close) */
HPyDef_METH(make_types, "make_types", HPyFunc_VARARGS)
static HPy make_types_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    long n;
    if (get_n(ctx, args, nargs, 1, &n) < 0)
        return HPy_NULL;
    for (long i = 0; i < n; i++) {
        HPy t = HPyType_FromSpec(ctx, &Tmp_spec, NULL);
        if (HPy_IsNull(t))
            return HPy_NULL;
        HPy_Close(ctx, t);
    }
    return HPy_Dup(ctx, ctx->h_None);
}

/* ------------------------------------------------------------------ */
/* many open handles: memory per handle, listing, leak report          */

static HPy *held = NULL;
static long held_n = 0, held_cap = 0;

/* allocate and touch the array first, so its pages are not counted */
HPyDef_METH(hold_prepare, "hold_prepare", HPyFunc_O)
static HPy hold_prepare_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long n = HPyLong_AsLong(ctx, arg);
    if (n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    free(held);
    held = (HPy *)malloc(sizeof(HPy) * (size_t)(n > 0 ? n : 1));
    if (held == NULL) {
        HPyErr_NoMemory(ctx);
        return HPy_NULL;
    }
    memset(held, 0xff, sizeof(HPy) * (size_t)(n > 0 ? n : 1));
    held_cap = n;
    held_n = 0;
    return HPy_Dup(ctx, ctx->h_None);
}

/* hold_open(n, obj): n x HPy_Dup(obj), kept open */
HPyDef_METH(hold_open, "hold_open", HPyFunc_VARARGS)
static HPy hold_open_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    long n;
    if (get_n(ctx, args, nargs, 2, &n) < 0)
        return HPy_NULL;
    if (held_n + n > held_cap) {
        HPyErr_SetString(ctx, ctx->h_ValueError, "hold_prepare() first");
        return HPy_NULL;
    }
    for (long i = 0; i < n; i++)
        held[held_n++] = HPy_Dup(ctx, args[1]);
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(hold_close, "hold_close", HPyFunc_NOARGS)
static HPy hold_close_impl(HPyContext *ctx, HPy self)
{
    for (long i = 0; i < held_n; i++)
        HPy_Close(ctx, held[i]);
    held_n = 0;
    return HPy_Dup(ctx, ctx->h_None);
}

/* ------------------------------------------------------------------ */
/* misc                                                                */

HPyDef_METH(ctx_name, "ctx_name", HPyFunc_NOARGS)
static HPy ctx_name_impl(HPyContext *ctx, HPy self)
{
    return HPyUnicode_FromString(ctx, ctx->name);
}

/* callgrind client requests (no-ops outside valgrind) */
HPyDef_METH(cg_start, "cg_start", HPyFunc_NOARGS)
static HPy cg_start_impl(HPyContext *ctx, HPy self)
{
    CALLGRIND_START_INSTRUMENTATION;
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(cg_zero, "cg_zero", HPyFunc_NOARGS)
static HPy cg_zero_impl(HPyContext *ctx, HPy self)
{
    CALLGRIND_ZERO_STATS;
    return HPy_Dup(ctx, ctx->h_None);
}

static char dump_label[256];

/* cg_label(s) stores the label; cg_dump() dumps with it (so the dump call
   itself does the same work whatever the label) */
HPyDef_METH(cg_label, "cg_label", HPyFunc_O)
static HPy cg_label_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy_ssize_t size;
    const char *s = HPyUnicode_AsUTF8AndSize(ctx, arg, &size);
    if (s == NULL)
        return HPy_NULL;
    if (size > 255)
        size = 255;
    memcpy(dump_label, s, (size_t)size);
    dump_label[size] = '\0';
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(cg_dump, "cg_dump", HPyFunc_NOARGS)
static HPy cg_dump_impl(HPyContext *ctx, HPy self)
{
    CALLGRIND_DUMP_STATS_AT(dump_label);
    return HPy_Dup(ctx, ctx->h_None);
}

/* ------------------------------------------------------------------ */
/* module                                                              */

/* Create the type of `spec` and add it to module `m` as `name`. */
static int add_type(HPyContext *ctx, HPy m, HPyType_Spec *spec, const char *name)
{
    HPy t = HPyType_FromSpec(ctx, spec, NULL);
    if (HPy_IsNull(t))
        return -1;
    int r = HPy_SetAttr_s(ctx, m, name, t);
    HPy_Close(ctx, t);
    return r;
}

HPyDef_SLOT(hpybench_exec, HPy_mod_exec)
static int hpybench_exec_impl(HPyContext *ctx, HPy m)
{
    if (add_type(ctx, m, &Point_spec, "Point") < 0)
        return -1;
    return add_type(ctx, m, &Box_spec, "Box");
}

static HPyDef *module_defines[] = {
    &noargs, &onearg, &varargs, &keywords, &alloc_int, &alloc_tuple,
    &long_close, &dup_close, &field_store, &tuple_builder, &list_builder, &getattr_s,
    &make_types,
    &hold_prepare, &hold_open, &hold_close,
    &ctx_name, &cg_start, &cg_zero, &cg_label, &cg_dump,
    &hpybench_exec,
    NULL
};

static HPyModuleDef moduledef = {
    .doc = "hpydbg benchmark workloads",
    .size = 0,
    .defines = module_defines,
};

HPy_MODINIT(hpybench, moduledef)
