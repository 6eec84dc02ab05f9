/* leak-case
 * about: a custom type with tp_new, tp_init, tp_repr, nb_add, members, getset, a method, an HPyField and GC
 * class: none
 * api: none
 * call: v = mod.Vec(1, 2)
 * call: assert (v.x, v.y) == (1, 2) and repr(v) == "Vec(1, 2)"
 * call: w = v + mod.Vec(10, 20); assert (w.x, w.y) == (11, 22)
 * call: v.norm1 = 7; assert v.norm1 == 3
 * call: assert v.scaled(3).x == 3 and v.label is None
 * call: v.label = "p"; assert v.label == "p"; v.label = None
 * call: v.x = 5; assert v.x == 5
 * call: try:
 * call:     v.norm1 = "bad"
 * call: except TypeError: pass
 * call: else: raise AssertionError
 * call: import gc; del v, w; gc.collect()
 * hpy: missed
 */
#include "hpy.h"

typedef struct {
    long x;
    long y;
    HPyField label;
} VecObject;
HPyType_HELPERS(VecObject)

static HPyGlobal Vec_type;

static HPy make_vec(HPyContext *ctx, HPy cls, long x, long y)
{
    VecObject *v;
    HPy h = HPy_New(ctx, cls, &v);
    if (HPy_IsNull(h))
        return HPy_NULL;
    v->x = x;
    v->y = y;
    HPyField_Store(ctx, h, &v->label, ctx->h_None);
    return h;
}

HPyDef_SLOT(Vec_new, HPy_tp_new)
static HPy Vec_new_impl(HPyContext *ctx, HPy cls, const HPy *args,
                        HPy_ssize_t nargs, HPy kw)
{
    return make_vec(ctx, cls, 0, 0);
}

HPyDef_SLOT(Vec_init, HPy_tp_init)
static int Vec_init_impl(HPyContext *ctx, HPy self, const HPy *args,
                         HPy_ssize_t nargs, HPy kw)
{
    long x = 0, y = 0;
    HPyTracker ht;
    if (!HPyArg_ParseKeywordsDict(ctx, &ht, args, nargs, kw, "|ll",
                                  (const char *[]){ "x", "y", NULL }, &x, &y))
        return -1;
    HPyTracker_Close(ctx, ht);
    VecObject *v = VecObject_AsStruct(ctx, self);
    v->x = x;
    v->y = y;
    return 0;
}

HPyDef_SLOT(Vec_repr, HPy_tp_repr)
static HPy Vec_repr_impl(HPyContext *ctx, HPy self)
{
    VecObject *v = VecObject_AsStruct(ctx, self);
    HPy args[2];
    args[0] = HPyLong_FromLong(ctx, v->x);
    args[1] = HPyLong_FromLong(ctx, v->y);
    HPy tup = HPyTuple_FromArray(ctx, args, 2);
    HPy_Close(ctx, args[0]);
    HPy_Close(ctx, args[1]);
    HPy fmt = HPyUnicode_FromString(ctx, "Vec(%d, %d)");
    HPy res = HPy_Remainder(ctx, fmt, tup);
    HPy_Close(ctx, fmt);
    HPy_Close(ctx, tup);
    return res;
}

HPyDef_SLOT(Vec_add, HPy_nb_add)
static HPy Vec_add_impl(HPyContext *ctx, HPy a, HPy b)
{
    HPy cls = HPyGlobal_Load(ctx, Vec_type);
    if (!HPy_TypeCheck(ctx, a, cls) || !HPy_TypeCheck(ctx, b, cls)) {
        HPy_Close(ctx, cls);
        return HPy_Dup(ctx, ctx->h_NotImplemented);
    }
    VecObject *va = VecObject_AsStruct(ctx, a);
    VecObject *vb = VecObject_AsStruct(ctx, b);
    HPy res = make_vec(ctx, cls, va->x + vb->x, va->y + vb->y);
    HPy_Close(ctx, cls);
    return res;
}

HPyDef_METH(Vec_scaled, "scaled", HPyFunc_O)
static HPy Vec_scaled_impl(HPyContext *ctx, HPy self, HPy factor)
{
    long f = HPyLong_AsLong(ctx, factor);
    if (f == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    VecObject *v = VecObject_AsStruct(ctx, self);
    HPy cls = HPy_Type(ctx, self);
    HPy res = make_vec(ctx, cls, v->x * f, v->y * f);
    HPy_Close(ctx, cls);
    return res;
}

HPyDef_GETSET(Vec_label, "label")
static HPy Vec_label_get(HPyContext *ctx, HPy self, void *closure)
{
    return HPyField_Load(ctx, self, VecObject_AsStruct(ctx, self)->label);
}

static int Vec_label_set(HPyContext *ctx, HPy self, HPy value, void *closure)
{
    if (HPy_IsNull(value))
        value = ctx->h_None;
    HPyField_Store(ctx, self, &VecObject_AsStruct(ctx, self)->label, value);
    return 0;
}

HPyDef_GETSET(Vec_norm1, "norm1")
static HPy Vec_norm1_get(HPyContext *ctx, HPy self, void *closure)
{
    VecObject *v = VecObject_AsStruct(ctx, self);
    return HPyLong_FromLong(ctx, (v->x < 0 ? -v->x : v->x) + (v->y < 0 ? -v->y : v->y));
}

static int Vec_norm1_set(HPyContext *ctx, HPy self, HPy value, void *closure)
{
    if (HPy_IsNull(value) || !HPy_TypeCheck(ctx, value, ctx->h_LongType)) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "norm1 must be an int");
        return -1;
    }
    return 0;   /* accepted and ignored */
}

HPyDef_MEMBER(Vec_x, "x", HPyMember_LONG, offsetof(VecObject, x))
HPyDef_MEMBER(Vec_y, "y", HPyMember_LONG, offsetof(VecObject, y), .readonly = 1)

HPyDef_SLOT(Vec_traverse, HPy_tp_traverse)
static int Vec_traverse_impl(void *self, HPyFunc_visitproc visit, void *arg)
{
    HPy_VISIT(&((VecObject *)self)->label);
    return 0;
}

static HPyDef *Vec_defines[] = {
    &Vec_new, &Vec_init, &Vec_repr, &Vec_add, &Vec_scaled, &Vec_label,
    &Vec_norm1, &Vec_x, &Vec_y, &Vec_traverse, NULL
};
static HPyType_Spec Vec_spec = {
    .name = "control_types.Vec",
    .basicsize = sizeof(VecObject),
    .flags = HPy_TPFLAGS_DEFAULT | HPy_TPFLAGS_HAVE_GC,
    .builtin_shape = SHAPE(VecObject),
    .defines = Vec_defines,
};

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    if (!HPyHelpers_AddType(ctx, m, "Vec", &Vec_spec, NULL))
        return -1;
    HPy cls = HPy_GetAttr_s(ctx, m, "Vec");
    if (HPy_IsNull(cls))
        return -1;
    HPyGlobal_Store(ctx, &Vec_type, cls);
    HPy_Close(ctx, cls);
    return 0;
}

static HPyDef *module_defines[] = { &mod_exec, NULL };
static HPyGlobal *module_globals[] = { &Vec_type, NULL };
static HPyModuleDef moduledef = { .defines = module_defines, .globals = module_globals };
HPy_MODINIT(control_types, moduledef)
