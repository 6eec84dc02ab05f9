/* leak-case
 * about: a tp_richcompare slot ignores the -1 of a failed HPy_SetAttr_s and returns its bool with the AttributeError pending
 * class: result-with-exception-pending
 * api: none
 * call: try:
 * call:     mod.Version(3) == mod.Version(3)
 * call: except SystemError:
 * call:     pass
 * hpy: missed
 * note: reported when the slot returns; the site is the last API call before
 * note: the return at -O3 (HPy_SetAttr_s), the slot's entry at -O0
 */
#include "hpy.h"

typedef struct {
    long v;
} VersionObject;

HPyType_HELPERS(VersionObject)

HPyDef_SLOT(Version_new, HPy_tp_new)
static HPy Version_new_impl(HPyContext *ctx, HPy cls, const HPy *args, HPy_ssize_t nargs, HPy kw)
{
    long v;
    if (!HPyArg_Parse(ctx, NULL, args, nargs, "l", &v))
        return HPy_NULL;
    VersionObject *p;
    HPy h = HPy_New(ctx, cls, &p);
    if (HPy_IsNull(h))
        return HPy_NULL;
    p->v = v;
    return h;
}

HPyDef_SLOT(Version_cmp, HPy_tp_richcompare)
static HPy Version_cmp_impl(HPyContext *ctx, HPy self, HPy other, HPy_RichCmpOp op) {   /* EXPECT */
    long a = VersionObject_AsStruct(ctx, self)->v;
    HPy h_b = HPy_GetAttr_s(ctx, other, "v");
    if (HPy_IsNull(h_b)) {
        HPyErr_Clear(ctx);
        return HPy_Dup(ctx, ctx->h_NotImplemented);
    }
    long b = HPyLong_AsLong(ctx, h_b);
    HPy_Close(ctx, h_b);
    if (b == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    int r;
    switch (op) {
    case HPy_EQ: r = a == b; break;
    case HPy_NE: r = a != b; break;
    case HPy_LT: r = a < b; break;
    case HPy_LE: r = a <= b; break;
    case HPy_GT: r = a > b; break;
    default: r = a >= b; break;
    }
    HPy res = HPyBool_FromLong(ctx, r);
    /* remember the last operand: the type has no __dict__, so this fails
       with AttributeError, and its -1 is ignored */
    HPy_SetAttr_s(ctx, self, "last_other", other);   /* EXPECT -O3 */
    return res;
}

HPyDef_GET(Version_v, "v")
static HPy Version_v_get(HPyContext *ctx, HPy self, void *closure)
{
    return HPyLong_FromLong(ctx, VersionObject_AsStruct(ctx, self)->v);
}

static HPyDef *Version_defines[] = { &Version_new, &Version_cmp, &Version_v, NULL };
static HPyType_Spec Version_spec = {
    .name = "richcompare_with_exception.Version",
    .basicsize = sizeof(VersionObject),
    .builtin_shape = HPyType_BuiltinShape_Object,
    .defines = Version_defines,
};

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    return HPyHelpers_AddType(ctx, m, "Version", &Version_spec, NULL) ? 0 : -1;
}

static HPyDef *module_defines[] = { &mod_exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(richcompare_with_exception, moduledef)
