/* leak-case
 * about: HPyFields and tp_traverse done right: a base type and a subtype that each visit their own fields (HPy's dealloc walks the base chain), fields stored, re-stored and cleared
 * class: none
 * api: none
 * call: b = mod.Base("x")
 * call: d = mod.Derived("y", [1])
 * call: assert (b.name, d.name, d.extra) == ("x", "y", [1])
 * call: d.rename("z"); d.rename(None)
 * call: assert d.name is None
 * hpy: missed
 * note: no Python subclass of Derived: HPy 0.9.0 itself crashes on one
 * note: (universal mode too: its second field overlaps what CPython adds)
 */
#include "hpy.h"

typedef struct {
    HPyField name;
} BaseObject;

typedef struct {
    BaseObject base;   /* the base type's struct comes first */
    HPyField extra;
} DerivedObject;

HPyType_HELPERS(BaseObject)
HPyType_HELPERS(DerivedObject)

HPyDef_SLOT(Base_new, HPy_tp_new)
static HPy Base_new_impl(HPyContext *ctx, HPy cls, const HPy *args, HPy_ssize_t nargs, HPy kw)
{
    HPy name;
    if (!HPyArg_Parse(ctx, NULL, args, nargs, "O", &name))
        return HPy_NULL;
    BaseObject *p;
    HPy h = HPy_New(ctx, cls, &p);
    if (HPy_IsNull(h))
        return HPy_NULL;
    HPyField_Store(ctx, h, &p->name, name);
    return h;
}

HPyDef_GET(Base_name, "name")
static HPy Base_name_get(HPyContext *ctx, HPy self, void *closure)
{
    BaseObject *p = BaseObject_AsStruct(ctx, self);
    if (HPyField_IsNull(p->name))
        return HPy_Dup(ctx, ctx->h_None);
    return HPyField_Load(ctx, self, p->name);
}

HPyDef_METH(Base_rename, "rename", HPyFunc_O)
static HPy Base_rename_impl(HPyContext *ctx, HPy self, HPy name)
{
    BaseObject *p = BaseObject_AsStruct(ctx, self);
    HPyField_Store(ctx, self, &p->name, HPy_Is(ctx, name, ctx->h_None) ? HPy_NULL : name);
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_SLOT(Base_traverse, HPy_tp_traverse)
static int Base_traverse_impl(void *self, HPyFunc_visitproc visit, void *arg)
{
    HPy_VISIT(&((BaseObject *)self)->name);
    return 0;
}

HPyDef_SLOT(Derived_new, HPy_tp_new)
static HPy Derived_new_impl(HPyContext *ctx, HPy cls, const HPy *args, HPy_ssize_t nargs, HPy kw)
{
    HPy name, extra;
    if (!HPyArg_Parse(ctx, NULL, args, nargs, "OO", &name, &extra))
        return HPy_NULL;
    DerivedObject *p;
    HPy h = HPy_New(ctx, cls, &p);
    if (HPy_IsNull(h))
        return HPy_NULL;
    HPyField_Store(ctx, h, &p->base.name, name);
    HPyField_Store(ctx, h, &p->extra, extra);
    return h;
}

HPyDef_GET(Derived_extra, "extra")
static HPy Derived_extra_get(HPyContext *ctx, HPy self, void *closure)
{
    return HPyField_Load(ctx, self, DerivedObject_AsStruct(ctx, self)->extra);
}

HPyDef_SLOT(Derived_traverse, HPy_tp_traverse)
static int Derived_traverse_impl(void *self, HPyFunc_visitproc visit, void *arg)
{
    HPy_VISIT(&((DerivedObject *)self)->extra);
    return 0;
}

static HPyDef *Base_defines[] = { &Base_new, &Base_name, &Base_rename, &Base_traverse, NULL };
static HPyType_Spec Base_spec = {
    .name = "control_traverse.Base",
    .basicsize = sizeof(BaseObject),
    .flags = HPy_TPFLAGS_DEFAULT | HPy_TPFLAGS_HAVE_GC | HPy_TPFLAGS_BASETYPE,
    .defines = Base_defines,
};

static HPyDef *Derived_defines[] = { &Derived_new, &Derived_extra, &Derived_traverse, NULL };
static HPyType_Spec Derived_spec = {
    .name = "control_traverse.Derived",
    .basicsize = sizeof(DerivedObject),
    .flags = HPy_TPFLAGS_DEFAULT | HPy_TPFLAGS_HAVE_GC | HPy_TPFLAGS_BASETYPE,
    .defines = Derived_defines,
};

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    HPy base = HPyType_FromSpec(ctx, &Base_spec, NULL);
    if (HPy_IsNull(base))
        return -1;
    HPyType_SpecParam params[] = {
        { HPyType_SpecParam_Base, base },
        { (HPyType_SpecParam_Kind)0 }
    };
    int ok = HPy_SetAttr_s(ctx, m, "Base", base) == 0 &&
             HPyHelpers_AddType(ctx, m, "Derived", &Derived_spec, params);
    HPy_Close(ctx, base);
    return ok ? 0 : -1;
}

static HPyDef *module_defines[] = { &mod_exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(control_traverse, moduledef)
