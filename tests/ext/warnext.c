/* A hybrid module whose init raises a DeprecationWarning from C (pillow-hpy
 * does): universal mode attributes it to the loader stub. */
#include "hpy.h"
#include <Python.h>
HPyDef_SLOT(w_exec, HPy_mod_exec)
static int w_exec_impl(HPyContext *ctx, HPy m)
{
    PyErr_WarnEx(PyExc_DeprecationWarning, "old API used by warnext", 1);
    return 0;
}
static HPyDef *defines[] = { &w_exec, NULL };
static HPyModuleDef moduledef = { .defines = defines };
HPy_MODINIT(warnext, moduledef)
