/* leak-case
 * about: the tp_new slot of a type leaks the default value it computes
 * class: leak
 * api: HPyLong_FromInt64_t | HPyLong_FromLong
 * call: p = mod.Point(); assert (p.x, p.y) == (7, 7)
 * hpy: caught
 */
#include "hpy.h"

typedef struct {
    long x;
    long y;
} PointObject;
HPyType_HELPERS(PointObject)

HPyDef_SLOT(Point_new, HPy_tp_new)
static HPy Point_new_impl(HPyContext *ctx, HPy cls, const HPy *args,
                          HPy_ssize_t nargs, HPy kw)
{
    HPy dflt = HPyLong_FromLong(ctx, 7);   /* EXPECT */
    long v = HPyLong_AsLong(ctx, dflt);
    /* BUG: dflt is never closed */
    PointObject *p;
    HPy h = HPy_New(ctx, cls, &p);
    if (HPy_IsNull(h))
        return HPy_NULL;
    p->x = v;
    p->y = v;
    return h;
}

HPyDef_MEMBER(Point_x, "x", HPyMember_LONG, offsetof(PointObject, x))
HPyDef_MEMBER(Point_y, "y", HPyMember_LONG, offsetof(PointObject, y))

static HPyDef *Point_defines[] = { &Point_new, &Point_x, &Point_y, NULL };
static HPyType_Spec Point_spec = {
    .name = "leak_in_tp_new.Point",
    .basicsize = sizeof(PointObject),
    .builtin_shape = SHAPE(PointObject),
    .defines = Point_defines,
};

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    return HPyHelpers_AddType(ctx, m, "Point", &Point_spec, NULL) ? 0 : -1;
}

static HPyDef *module_defines[] = { &mod_exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(leak_in_tp_new, moduledef)
