/* leak-case
 * about: HPyField_Load through an object that does not own the field (another object's field value)
 * class: field-wrong-owner
 * api: HPyField_Load
 * call: a = mod.Box("apple"); b = mod.Box("pear")
 * call: assert mod.get(a) == "apple"
 * call: mod.get_via(b, a)
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

HPyDef_METH(get, "get", HPyFunc_O)
static HPy get_impl(HPyContext *ctx, HPy self, HPy box)
{
    return HPyField_Load(ctx, box, BoxObject_AsStruct(ctx, box)->item);
}

/* Load `owner`'s field, but through `other` */
HPyDef_METH(get_via, "get_via", HPyFunc_VARARGS)   /* EXPECT -O3 */
static HPy get_via_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    HPy other = args[0], owner = args[1];
    HPyField f = BoxObject_AsStruct(ctx, owner)->item;
    return HPyField_Load(ctx, other, f);   /* EXPECT */
}

static HPyDef *Box_defines[] = { &Box_new, &Box_traverse, NULL };
static HPyType_Spec Box_spec = {
    .name = "field_load_wrong_owner.Box",
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

static HPyDef *module_defines[] = { &mod_exec, &get, &get_via, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(field_load_wrong_owner, moduledef)
