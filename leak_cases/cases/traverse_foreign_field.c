/* leak-case
 * about: a View's tp_traverse also visits the HPyField of the Holder it points to (a field it does not own)
 * class: traverse-foreign-field
 * api: HPyField_Store
 * call: h = mod.Holder([1, 2])
 * call: v = mod.View(h, "tag")
 * call: assert v.tag == "tag" and h.item == [1, 2]
 * hpy: missed
 */
#include "hpy.h"

typedef struct {
    HPyField item;
} HolderObject;

HPyType_HELPERS(HolderObject)

typedef struct {
    HPyField tag;
    HPyField holder;
    HolderObject *target;   /* a raw pointer into the holder, for speed */
} ViewObject;

HPyType_HELPERS(ViewObject)

HPyDef_SLOT(Holder_new, HPy_tp_new)
static HPy Holder_new_impl(HPyContext *ctx, HPy cls, const HPy *args, HPy_ssize_t nargs, HPy kw)
{
    HPy item;
    if (!HPyArg_Parse(ctx, NULL, args, nargs, "O", &item))
        return HPy_NULL;
    HolderObject *p;
    HPy h = HPy_New(ctx, cls, &p);
    if (HPy_IsNull(h))
        return HPy_NULL;
    HPyField_Store(ctx, h, &p->item, item);
    return h;
}

HPyDef_GET(Holder_item, "item")
static HPy Holder_item_get(HPyContext *ctx, HPy self, void *closure)
{
    return HPyField_Load(ctx, self, HolderObject_AsStruct(ctx, self)->item);
}

HPyDef_SLOT(Holder_traverse, HPy_tp_traverse)
static int Holder_traverse_impl(void *self, HPyFunc_visitproc visit, void *arg)
{
    HPy_VISIT(&((HolderObject *)self)->item);
    return 0;
}

HPyDef_SLOT(View_new, HPy_tp_new)
static HPy View_new_impl(HPyContext *ctx, HPy cls, const HPy *args, HPy_ssize_t nargs, HPy kw)
{
    HPy holder, tag;
    if (!HPyArg_Parse(ctx, NULL, args, nargs, "OO", &holder, &tag))
        return HPy_NULL;
    ViewObject *v;
    HPy h = HPy_New(ctx, cls, &v);
    if (HPy_IsNull(h))
        return HPy_NULL;
    v->target = HolderObject_AsStruct(ctx, holder);
    HPyField_Store(ctx, h, &v->holder, holder);   /* EXPECT */
    HPyField_Store(ctx, h, &v->tag, tag);
    return h;
}

HPyDef_GET(View_tag, "tag")
static HPy View_tag_get(HPyContext *ctx, HPy self, void *closure)
{
    return HPyField_Load(ctx, self, ViewObject_AsStruct(ctx, self)->tag);
}

HPyDef_SLOT(View_traverse, HPy_tp_traverse)
static int View_traverse_impl(void *self, HPyFunc_visitproc visit, void *arg)
{
    ViewObject *v = (ViewObject *)self;
    HPy_VISIT(&v->tag);
    HPy_VISIT(&v->holder);
    if (v->target != NULL)
        HPy_VISIT(&v->target->item);   /* BUG: the holder's field, not the view's */
    return 0;
}

static HPyDef *Holder_defines[] = { &Holder_new, &Holder_item, &Holder_traverse, NULL };
static HPyType_Spec Holder_spec = {
    .name = "traverse_foreign_field.Holder",
    .basicsize = sizeof(HolderObject),
    .flags = HPy_TPFLAGS_DEFAULT | HPy_TPFLAGS_HAVE_GC,
    .defines = Holder_defines,
};

static HPyDef *View_defines[] = { &View_new, &View_tag, &View_traverse, NULL };
static HPyType_Spec View_spec = {
    .name = "traverse_foreign_field.View",
    .basicsize = sizeof(ViewObject),
    .flags = HPy_TPFLAGS_DEFAULT | HPy_TPFLAGS_HAVE_GC,
    .defines = View_defines,
};

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    if (!HPyHelpers_AddType(ctx, m, "Holder", &Holder_spec, NULL))
        return -1;
    return HPyHelpers_AddType(ctx, m, "View", &View_spec, NULL) ? 0 : -1;
}

static HPyDef *module_defines[] = { &mod_exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(traverse_foreign_field, moduledef)
