/* leak-case
 * about: _HPy_AsStruct_Object is given HPy_NULL, an optional argument left out (universal mode returns a non-NULL garbage pointer)
 * class: null-handle
 * api: _HPy_AsStruct_Object
 * call: p = mod.Point(3)
 * call: assert mod.scaled(p, mod.Point(2)) == 6
 * call: print(mod.scaled(p))
 * note: the first extension frame is the PointObject_AsStruct helper that
 * note: the HPyType_HELPERS macro defines (at -O3 inlined into the marked
 * note: call): both lines are marked
 * hpy: crash
 */
#include "hpy.h"

typedef struct {
    long x;
} PointObject;

HPyType_HELPERS(PointObject)   /* EXPECT */

HPyDef_SLOT(Point_new, HPy_tp_new)
static HPy Point_new_impl(HPyContext *ctx, HPy cls, const HPy *args, HPy_ssize_t nargs, HPy kw)
{
    long x;
    if (!HPyArg_Parse(ctx, NULL, args, nargs, "l", &x))
        return HPy_NULL;
    PointObject *p;
    HPy h = HPy_New(ctx, cls, &p);
    if (HPy_IsNull(h))
        return HPy_NULL;
    p->x = x;
    return h;
}

static HPyDef *Point_defines[] = { &Point_new, NULL };
static HPyType_Spec Point_spec = {
    .name = "asstruct_null_object.Point",
    .basicsize = sizeof(PointObject),
    .builtin_shape = HPyType_BuiltinShape_Object,
    .defines = Point_defines,
};

/* scaled(p, factor=None): p.x, times factor.x when a factor is given */
HPyDef_METH(scaled, "scaled", HPyFunc_VARARGS)
static HPy scaled_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    HPy h_p, h_factor = HPy_NULL;
    if (!HPyArg_Parse(ctx, NULL, args, nargs, "O|O", &h_p, &h_factor))
        return HPy_NULL;
    PointObject *p = PointObject_AsStruct(ctx, h_p);
    PointObject *factor = PointObject_AsStruct(ctx, h_factor);   /* EXPECT */
    long v = p->x;
    if (factor != NULL)
        v *= factor->x;
    return HPyLong_FromLong(ctx, v);
}

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    return HPyHelpers_AddType(ctx, m, "Point", &Point_spec, NULL) ? 0 : -1;
}

static HPyDef *module_defines[] = { &scaled, &mod_exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(asstruct_null_object, moduledef)
