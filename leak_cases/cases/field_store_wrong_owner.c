/* leak-case
 * about: HPyField_Store names another object than the one whose struct holds the field
 * class: field-wrong-owner
 * api: HPyField_Store
 * call: a = mod.Box(1); b = mod.Box(2)
 * call: mod.put_via(b, a, 3)
 * hpy: missed
 */
#include "hpy.h"

typedef struct {
    HPyField item;
} BoxObject;

HPyType_HELPERS(BoxObject)

HPyDef_SLOT(Box_new, HPy_tp_new)
static HPy Box_new_impl(HPyContext *ctx, HPy cls, const HPy *args,
                        HPy_ssize_t nargs, HPy kw)
{
    BoxObject *b;
    HPy h = HPy_New(ctx, cls, &b);
    if (HPy_IsNull(h))
        return HPy_NULL;
    if (nargs > 0)
        HPyField_Store(ctx, h, &b->item, args[0]);
    return h;
}

HPyDef_SLOT(Box_traverse, HPy_tp_traverse)
static int Box_traverse_impl(void *self, HPyFunc_visitproc visit, void *arg)
{
    HPy_VISIT(&((BoxObject *)self)->item);
    return 0;
}

/* Store into `owner`'s field, but name `other` as its object */
HPyDef_METH(put_via, "put_via", HPyFunc_VARARGS)
static HPy put_via_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    HPy other = args[0], owner = args[1];
    BoxObject *b = BoxObject_AsStruct(ctx, owner);
    HPyField_Store(ctx, other, &b->item, args[2]);   /* EXPECT */
    return HPy_Dup(ctx, ctx->h_None);
}

static HPyDef *Box_defines[] = { &Box_new, &Box_traverse, NULL };
static HPyType_Spec Box_spec = {
    .name = "field_store_wrong_owner.Box",
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

static HPyDef *module_defines[] = { &mod_exec, &put_via, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(field_store_wrong_owner, moduledef)
