/* leak-case
 * about: HPyFields stored, re-stored, cleared and loaded through their own objects (many objects, freed and reallocated); HPyGlobals stored and re-stored
 * class: none
 * api: none
 * call: boxes = [mod.Box(i) for i in range(200)]
 * call: assert [mod.get(b) for b in boxes] == list(range(200))
 * call: for b in boxes[::2]: mod.put(b, "x")
 * call: assert mod.get(boxes[0]) == "x" and mod.get(boxes[1]) == 1
 * call: del boxes; import gc; gc.collect()
 * call: for i in range(300): assert mod.get(mod.Box(i)) == i
 * call: b = mod.Box(); mod.put(b, 7); assert mod.get(b) == 7; mod.clear(b); assert mod.is_empty(b)
 * call: a = mod.Box(1); c = mod.Box(a); assert mod.get(mod.get(c)) == 1
 * call: mod.set_default(5); assert mod.get_default() == 5; mod.set_default("y"); assert mod.get_default() == "y"
 * call: mod.set_default(None); assert mod.get_default() is None
 * hpy: missed
 */
#include "hpy.h"

typedef struct {
    HPyField item;
} BoxObject;

HPyType_HELPERS(BoxObject)

static HPyGlobal default_value;

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

HPyDef_METH(put, "put", HPyFunc_VARARGS)
static HPy put_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    HPyField_Store(ctx, args[0], &BoxObject_AsStruct(ctx, args[0])->item, args[1]);
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(clear, "clear", HPyFunc_O)
static HPy clear_impl(HPyContext *ctx, HPy self, HPy box)
{
    HPyField_Store(ctx, box, &BoxObject_AsStruct(ctx, box)->item, HPy_NULL);
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(is_empty, "is_empty", HPyFunc_O)
static HPy is_empty_impl(HPyContext *ctx, HPy self, HPy box)
{
    return HPyBool_FromLong(ctx, HPyField_IsNull(BoxObject_AsStruct(ctx, box)->item));
}

HPyDef_METH(set_default, "set_default", HPyFunc_O)
static HPy set_default_impl(HPyContext *ctx, HPy self, HPy value)
{
    HPyGlobal_Store(ctx, &default_value, value);
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(get_default, "get_default", HPyFunc_NOARGS)
static HPy get_default_impl(HPyContext *ctx, HPy self)
{
    return HPyGlobal_Load(ctx, default_value);
}

static HPyDef *Box_defines[] = { &Box_new, &Box_traverse, NULL };
static HPyType_Spec Box_spec = {
    .name = "control_fields.Box",
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

static HPyDef *module_defines[] = { &mod_exec, &get, &put, &clear, &is_empty, &set_default, &get_default, NULL };
static HPyGlobal *module_globals[] = { &default_value, NULL };
static HPyModuleDef moduledef = { .defines = module_defines, .globals = module_globals };
HPy_MODINIT(control_fields, moduledef)
