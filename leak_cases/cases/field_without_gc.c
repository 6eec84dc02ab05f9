/* leak-case
 * about: a type with HPyFields and a correct tp_traverse lacks HPy_TPFLAGS_HAVE_GC (CPython's GC never sees its cycles)
 * class: field-without-gc
 * api: HPyField_Store
 * call: p = mod.Pair("a", "b")
 * call: assert (p.first, p.second) == ("a", "b")
 * hpy: missed
 */
#include "hpy.h"

typedef struct {
    HPyField first;
    HPyField second;
} PairObject;

HPyType_HELPERS(PairObject)

HPyDef_SLOT(Pair_new, HPy_tp_new)
static HPy Pair_new_impl(HPyContext *ctx, HPy cls, const HPy *args, HPy_ssize_t nargs, HPy kw)
{
    HPy a, b;
    if (!HPyArg_Parse(ctx, NULL, args, nargs, "OO", &a, &b))
        return HPy_NULL;
    PairObject *p;
    HPy h = HPy_New(ctx, cls, &p);
    if (HPy_IsNull(h))
        return HPy_NULL;
    HPyField_Store(ctx, h, &p->first, a);   /* EXPECT */
    HPyField_Store(ctx, h, &p->second, b);
    return h;
}

HPyDef_GET(Pair_first, "first")
static HPy Pair_first_get(HPyContext *ctx, HPy self, void *closure)
{
    return HPyField_Load(ctx, self, PairObject_AsStruct(ctx, self)->first);
}

HPyDef_GET(Pair_second, "second")
static HPy Pair_second_get(HPyContext *ctx, HPy self, void *closure)
{
    return HPyField_Load(ctx, self, PairObject_AsStruct(ctx, self)->second);
}

HPyDef_SLOT(Pair_traverse, HPy_tp_traverse)
static int Pair_traverse_impl(void *self, HPyFunc_visitproc visit, void *arg)
{
    PairObject *p = (PairObject *)self;
    HPy_VISIT(&p->first);
    HPy_VISIT(&p->second);
    return 0;
}

static HPyDef *Pair_defines[] = { &Pair_new, &Pair_first, &Pair_second, &Pair_traverse, NULL };
static HPyType_Spec Pair_spec = {
    .name = "field_without_gc.Pair",
    .basicsize = sizeof(PairObject),
    .flags = HPy_TPFLAGS_DEFAULT,   /* BUG: HPy_TPFLAGS_HAVE_GC is missing */
    .defines = Pair_defines,
};

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    return HPyHelpers_AddType(ctx, m, "Pair", &Pair_spec, NULL) ? 0 : -1;
}

static HPyDef *module_defines[] = { &mod_exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(field_without_gc, moduledef)
