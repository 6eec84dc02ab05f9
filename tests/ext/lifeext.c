/* Lifetimes beyond handles, for tests/test_lifetimes.py: contexts kept
   across calls, builders and trackers left open, fields and globals used
   wrongly, HPy_LeavePythonExecution / Reenter misused.  Each function
   plants one misuse (or none); the test runs them under the go-on
   policies and checks the report and that the process goes on. */
#include <pthread.h>
#include "hpy.h"

static HPyContext *saved_ctx;

HPyDef_METH(keep_ctx, "keep_ctx", HPyFunc_NOARGS)
static HPy keep_ctx_impl(HPyContext *ctx, HPy self)
{
    saved_ctx = ctx;
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(noop, "noop", HPyFunc_NOARGS)
static HPy noop_impl(HPyContext *ctx, HPy self)
{
    return HPy_Dup(ctx, ctx->h_None);
}

/* The stored context used for one call (None back either way under log). */
HPyDef_METH(use_kept_ctx, "use_kept_ctx", HPyFunc_NOARGS)
static HPy use_kept_ctx_impl(HPyContext *ctx, HPy self)
{
    HPy r = HPy_Dup(saved_ctx, ctx->h_None);
    HPy_Close(ctx, r);
    return HPy_Dup(ctx, ctx->h_None);
}

/* ~~~ builders and trackers left open ~~~ */

HPyDef_METH(open_builders, "open_builders", HPyFunc_NOARGS)
static HPy open_builders_impl(HPyContext *ctx, HPy self)
{
    HPyTupleBuilder tb = HPyTupleBuilder_New(ctx, 1);   /* TUPLE BUILDER */
    HPyListBuilder lb = HPyListBuilder_New(ctx, 1);     /* LIST BUILDER */
    HPyTracker ht = HPyTracker_New(ctx, 1);             /* TRACKER */
    (void)tb; (void)lb; (void)ht;
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(closed_builders, "closed_builders", HPyFunc_NOARGS)
static HPy closed_builders_impl(HPyContext *ctx, HPy self)
{
    HPyTupleBuilder tb = HPyTupleBuilder_New(ctx, 1);
    HPyTupleBuilder_Set(ctx, tb, 0, ctx->h_None);
    HPy t = HPyTupleBuilder_Build(ctx, tb);
    HPyListBuilder lb = HPyListBuilder_New(ctx, 0);
    HPyListBuilder_Cancel(ctx, lb);
    HPyTracker ht = HPyTracker_New(ctx, 1);
    HPyTracker_Close(ctx, ht);
    return t;
}

/* ~~~ fields and globals ~~~ */

typedef struct {
    HPyField item;
} BoxObject;

HPyType_HELPERS(BoxObject)

HPyDef_SLOT(Box_new, HPy_tp_new)
static HPy Box_new_impl(HPyContext *ctx, HPy cls, const HPy *args, HPy_ssize_t nargs, HPy kw)
{
    BoxObject *b;
    HPy h = HPy_New(ctx, cls, &b);
    if (!HPy_IsNull(h) && nargs > 0)
        HPyField_Store(ctx, h, &b->item, args[0]);
    return h;
}

HPyDef_SLOT(Box_traverse, HPy_tp_traverse)
static int Box_traverse_impl(void *self, HPyFunc_visitproc visit, void *arg)
{
    HPy_VISIT(&((BoxObject *)self)->item);
    return 0;
}

/* get(box[, through]): load box's field through `through` (default: box) */
HPyDef_METH(get, "get", HPyFunc_VARARGS)
static HPy get_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    HPy through = nargs > 1 ? args[1] : args[0];
    return HPyField_Load(ctx, through, BoxObject_AsStruct(ctx, args[0])->item);
}

/* put(box, value[, through]) */
HPyDef_METH(put, "put", HPyFunc_VARARGS)
static HPy put_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    HPy through = nargs > 2 ? args[2] : args[0];
    HPyField_Store(ctx, through, &BoxObject_AsStruct(ctx, args[0])->item, args[1]);
    return HPy_Dup(ctx, ctx->h_None);
}

/* scribble(box, n): write a raw value into the field, as uninitialised memory would */
HPyDef_METH(scribble, "scribble", HPyFunc_VARARGS)
static HPy scribble_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    BoxObject_AsStruct(ctx, args[0])->item._i = (HPy_ssize_t)HPyLong_AsSsize_t(ctx, args[1]);
    return HPy_Dup(ctx, ctx->h_None);
}

/* copy_field(dst, src): dst->item = src->item by assignment (not HPyField_Store) */
HPyDef_METH(copy_field, "copy_field", HPyFunc_VARARGS)
static HPy copy_field_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    BoxObject_AsStruct(ctx, args[0])->item = BoxObject_AsStruct(ctx, args[1])->item;
    return HPy_Dup(ctx, ctx->h_None);
}

static HPyGlobal g;

HPyDef_METH(gput, "gput", HPyFunc_O)
static HPy gput_impl(HPyContext *ctx, HPy self, HPy v)
{
    HPyGlobal_Store(ctx, &g, v);
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(gget, "gget", HPyFunc_NOARGS)
static HPy gget_impl(HPyContext *ctx, HPy self)
{
    return HPyGlobal_Load(ctx, g);
}

HPyDef_METH(gscribble, "gscribble", HPyFunc_O)
static HPy gscribble_impl(HPyContext *ctx, HPy self, HPy n)
{
    g._i = (HPy_ssize_t)HPyLong_AsSsize_t(ctx, n);
    return HPy_Dup(ctx, ctx->h_None);
}

/* ~~~ leaving and re-entering Python ~~~ */

/* leave(how): 0 correct; 1 return while outside; 2 nested leave; 3 reenter
   twice; 4 reenter with a made-up state; 5 reenter from another thread */
struct job { HPyContext *ctx; HPyThreadState ts; };

static void *reenter_in_thread(void *arg)
{
    struct job *j = (struct job *)arg;
    HPy_ReenterPythonExecution(j->ctx, j->ts);        /* OTHER THREAD */
    return NULL;
}

HPyDef_METH(leave, "leave", HPyFunc_O)
static HPy leave_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long how = HPyLong_AsLong(ctx, arg);
    HPy res = HPyLong_FromLong(ctx, how);
    HPyThreadState ts = HPy_LeavePythonExecution(ctx);
    switch (how) {
    case 1:
        return res;                                   /* RETURN OUTSIDE */
    case 2: {
        HPyThreadState ts2 = HPy_LeavePythonExecution(ctx);   /* NESTED LEAVE */
        HPy_ReenterPythonExecution(ctx, ts2);
        break;                                        /* then the Reenter below has no Leave */
    }
    case 3:
        HPy_ReenterPythonExecution(ctx, ts);
        break;
    case 4: {
        HPyThreadState bogus = { ts._i ^ 0x5550 };
        HPy_ReenterPythonExecution(ctx, bogus);       /* BOGUS STATE */
        return res;
    }
    case 5: {
        struct job j = { ctx, ts };
        pthread_t t;
        if (pthread_create(&t, NULL, reenter_in_thread, &j) == 0)
            pthread_join(t, NULL);
        break;
    }
    }
    HPy_ReenterPythonExecution(ctx, ts);              /* REENTER */
    return res;
}

/* leave_and_call(address): leave Python, call a C function (a ctypes
   callback, which takes the GIL itself and may call into us), re-enter */
HPyDef_METH(leave_and_call, "leave_and_call", HPyFunc_O)
static HPy leave_and_call_impl(HPyContext *ctx, HPy self, HPy addr)
{
    void (*f)(void) = (void (*)(void))HPyLong_AsVoidPtr(ctx, addr);
    if (HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPyThreadState ts = HPy_LeavePythonExecution(ctx);
    f();
    HPy_ReenterPythonExecution(ctx, ts);
    return HPy_Dup(ctx, ctx->h_None);
}

static HPyDef *Box_defines[] = { &Box_new, &Box_traverse, NULL };
static HPyType_Spec Box_spec = {
    .name = "lifeext.Box",
    .basicsize = sizeof(BoxObject),
    .flags = HPy_TPFLAGS_DEFAULT | HPy_TPFLAGS_HAVE_GC,
    .builtin_shape = SHAPE(BoxObject),
    .defines = Box_defines,
};

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    return HPyHelpers_AddType(ctx, m, "Box", &Box_spec, NULL) ? 0 : -1;
}

static HPyDef *module_defines[] = {
    &mod_exec, &keep_ctx, &noop, &use_kept_ctx, &open_builders, &closed_builders,
    &get, &put, &scribble, &copy_field, &gput, &gget, &gscribble, &leave, &leave_and_call, NULL
};
static HPyGlobal *module_globals[] = { &g, NULL };
static HPyModuleDef moduledef = { .doc = "lifetimes test extension", .defines = module_defines, .globals = module_globals };
HPy_MODINIT(lifeext, moduledef)
