/* leak-case
 * about: a getter loads an HPyField to compute a length and never closes the loaded handle
 * class: leak
 * api: HPyField_Load
 * call: b = mod.Box([1, 2, 3]); assert b.size == 3
 * hpy: caught
 */
#include "hpy.h"

typedef struct {
    HPyField items;
} BoxObject;
HPyType_HELPERS(BoxObject)

HPyDef_SLOT(Box_new, HPy_tp_new)
static HPy Box_new_impl(HPyContext *ctx, HPy cls, const HPy *args,
                        HPy_ssize_t nargs, HPy kw)
{
    if (nargs != 1) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "Box() takes one argument");
        return HPy_NULL;
    }
    BoxObject *b;
    HPy h = HPy_New(ctx, cls, &b);
    if (HPy_IsNull(h))
        return HPy_NULL;
    HPyField_Store(ctx, h, &b->items, args[0]);
    return h;
}

HPyDef_SLOT(Box_traverse, HPy_tp_traverse)
static int Box_traverse_impl(void *self, HPyFunc_visitproc visit, void *arg)
{
    BoxObject *b = (BoxObject *)self;
    HPy_VISIT(&b->items);
    return 0;
}

HPyDef_GET(Box_size, "size")
static HPy Box_size_get(HPyContext *ctx, HPy self, void *closure)
{
    HPy items = HPyField_Load(ctx, self, BoxObject_AsStruct(ctx, self)->items);   /* EXPECT */
    HPy_ssize_t n = HPy_Length(ctx, items);
    /* BUG: items is not closed */
    if (n < 0)
        return HPy_NULL;
    return HPyLong_FromSsize_t(ctx, n);
}

static HPyDef *Box_defines[] = { &Box_new, &Box_traverse, &Box_size, NULL };
static HPyType_Spec Box_spec = {
    .name = "leak_in_getter.Box",
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

static HPyDef *module_defines[] = { &mod_exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(leak_in_getter, moduledef)
