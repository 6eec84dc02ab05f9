/* leak-case
 * about: a bf_getbuffer slot stores its borrowed self in view->obj without HPy_Dup (the runtime closes self after the call)
 * class: argument-closed
 * api: none
 * call: m = memoryview(mod.Bytes4())
 * call: assert bytes(m) == b"abcd"
 * call: m.release()
 * hpy: caught
 * note: reported when the slot returns: the HPyDef_SLOT line (the trampoline)
 * note: and the opening brace are marked
 */
#include "hpy.h"

typedef struct {
    char data[4];
} Bytes4Object;

HPyType_HELPERS(Bytes4Object)

HPyDef_SLOT(Bytes4_new, HPy_tp_new)
static HPy Bytes4_new_impl(HPyContext *ctx, HPy cls, const HPy *args, HPy_ssize_t nargs, HPy kw)
{
    Bytes4Object *p;
    HPy h = HPy_New(ctx, cls, &p);
    if (HPy_IsNull(h))
        return HPy_NULL;
    p->data[0] = 'a'; p->data[1] = 'b'; p->data[2] = 'c'; p->data[3] = 'd';
    return h;
}

HPyDef_SLOT(Bytes4_getbuffer, HPy_bf_getbuffer)   /* EXPECT */
static int Bytes4_getbuffer_impl(HPyContext *ctx, HPy self, HPy_buffer *view, int flags) {   /* EXPECT */
    Bytes4Object *p = Bytes4Object_AsStruct(ctx, self);
    view->buf = p->data;
    view->obj = self;   /* meant: HPy_Dup(ctx, self) */
    view->len = 4;
    view->itemsize = 1;
    view->readonly = 1;
    view->ndim = 1;
    view->format = NULL;
    view->shape = NULL;
    view->strides = NULL;
    view->suboffsets = NULL;
    view->internal = NULL;
    return 0;
}

static HPyDef *Bytes4_defines[] = { &Bytes4_new, &Bytes4_getbuffer, NULL };
static HPyType_Spec Bytes4_spec = {
    .name = "buffer_stores_self.Bytes4",
    .basicsize = sizeof(Bytes4Object),
    .builtin_shape = HPyType_BuiltinShape_Object,
    .defines = Bytes4_defines,
};

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    return HPyHelpers_AddType(ctx, m, "Bytes4", &Bytes4_spec, NULL) ? 0 : -1;
}

static HPyDef *module_defines[] = { &mod_exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(buffer_stores_self, moduledef)
