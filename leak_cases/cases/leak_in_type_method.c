/* leak-case
 * about: a method of a custom type leaks the handle of its own type
 * class: leak
 * api: HPy_Type
 * call: c = mod.Counter(); assert c.bump() == 1 and c.bump() == 2
 * hpy: caught
 */
#include "hpy.h"

typedef struct {
    long value;
} CounterObject;
HPyType_HELPERS(CounterObject)

HPyDef_METH(Counter_bump, "bump", HPyFunc_NOARGS)
static HPy Counter_bump_impl(HPyContext *ctx, HPy self)
{
    HPy tp = HPy_Type(ctx, self);   /* EXPECT */
    if (HPy_IsNull(tp))
        return HPy_NULL;
    /* a sanity check that needs the type, and then forgets it (BUG) */
    if (!HPy_TypeCheck(ctx, self, tp)) {
        HPyErr_SetString(ctx, ctx->h_SystemError, "not a Counter");
        return HPy_NULL;
    }
    CounterObject *c = CounterObject_AsStruct(ctx, self);
    c->value++;
    return HPyLong_FromLong(ctx, c->value);
}

static HPyDef *Counter_defines[] = { &Counter_bump, NULL };
static HPyType_Spec Counter_spec = {
    .name = "leak_in_type_method.Counter",
    .basicsize = sizeof(CounterObject),
    .builtin_shape = SHAPE(CounterObject),
    .defines = Counter_defines,
};

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    return HPyHelpers_AddType(ctx, m, "Counter", &Counter_spec, NULL) ? 0 : -1;
}

static HPyDef *module_defines[] = { &mod_exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(leak_in_type_method, moduledef)
