// Test extension for tests/test_real_reports.py, built -O3 -g with g++
// -std=c++17: leaks in a C++ class in a namespace, as C++ projects (e.g.
// matplotlib's path code) write them.  The reports must name the method
// demangled (geo::Path::area).  The tests find lines by the SITE: markers.
#include "hpy.h"

namespace geo {

struct Path {
    // Sum of the items of a sequence of floats (a stand-in for a polygon area).
    static HPy area(HPyContext *ctx, HPy points);
    // The first item of the sequence, as a float.
    static HPy first(HPyContext *ctx, HPy points);

private:
    // Small inline member helper: leaks the item it converts.
    static double item_value(HPyContext *ctx, HPy points, HPy_ssize_t i) {
        HPy item = HPy_GetItem_i(ctx, points, i);   /* SITE:CPP_HELPER_LEAK */
        return HPyFloat_AsDouble(ctx, item);   // BUG: item is never closed
    }
};

HPy Path::area(HPyContext *ctx, HPy points)
{
    HPy_ssize_t n = HPy_Length(ctx, points);
    if (n < 0)
        return HPy_NULL;
    double sum = 0.0;
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy p = HPy_GetItem_i(ctx, points, i);   /* SITE:CPP_LEAK */
        if (HPy_IsNull(p))
            return HPy_NULL;
        sum += HPyFloat_AsDouble(ctx, p);   // BUG: p is never closed
    }
    return HPyFloat_FromDouble(ctx, sum);
}

HPy Path::first(HPyContext *ctx, HPy points)
{
    double v = item_value(ctx, points, 0);   /* SITE:CPP_HELPER_CALL */
    if (v == -1.0 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    return HPyFloat_FromDouble(ctx, v);
}

}  // namespace geo

HPyDef_METH(area, "area", HPyFunc_O)
static HPy area_impl(HPyContext *ctx, HPy self, HPy points)
{
    return geo::Path::area(ctx, points);
}

HPyDef_METH(first, "first", HPyFunc_O)
static HPy first_impl(HPyContext *ctx, HPy self, HPy points)
{
    return geo::Path::first(ctx, points);
}

static HPyDef *module_defines[] = { &area, &first, NULL };
static HPyModuleDef moduledef = { .doc = "C++ leaks, built -O3", .defines = module_defines };
HPy_MODINIT(opt_cpp, moduledef)
