/* leak-case
 * about: the tp_init slot leaks the repr it builds for an error message it does not need
 * class: leak
 * api: HPy_Repr
 * call: w = mod.Wrapper("abc"); assert w.size == 3
 * hpy: caught
 */
#include "hpy.h"

typedef struct {
    HPy_ssize_t size;
} WrapperObject;
HPyType_HELPERS(WrapperObject)

HPyDef_SLOT(Wrapper_init, HPy_tp_init)
static int Wrapper_init_impl(HPyContext *ctx, HPy self, const HPy *args,
                             HPy_ssize_t nargs, HPy kw)
{
    if (nargs != 1) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "Wrapper() takes one argument");
        return -1;
    }
    HPy r = HPy_Repr(ctx, args[0]);   /* EXPECT */
    if (HPy_IsNull(r))
        return -1;
    HPy_ssize_t n = HPy_Length(ctx, args[0]);
    if (n < 0) {
        HPy_Close(ctx, r);
        return -1;
    }
    /* BUG: r is only closed on the error path */
    WrapperObject_AsStruct(ctx, self)->size = n;
    return 0;
}

HPyDef_MEMBER(Wrapper_size, "size", HPyMember_HPYSSIZET, offsetof(WrapperObject, size))

static HPyDef *Wrapper_defines[] = { &Wrapper_init, &Wrapper_size, NULL };
static HPyType_Spec Wrapper_spec = {
    .name = "leak_in_tp_init.Wrapper",
    .basicsize = sizeof(WrapperObject),
    .builtin_shape = SHAPE(WrapperObject),
    .defines = Wrapper_defines,
};

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    return HPyHelpers_AddType(ctx, m, "Wrapper", &Wrapper_spec, NULL) ? 0 : -1;
}

static HPyDef *module_defines[] = { &mod_exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(leak_in_tp_init, moduledef)
