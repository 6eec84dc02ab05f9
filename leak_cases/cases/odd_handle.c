/* leak-case
 * about: an odd value, shaped like a universal-mode handle (PyObject* + 1), is passed to the debug context
 * class: foreign-handle
 * api: HPy_Hash
 * call: mod.hash_of(1)
 * hpy: crash
 */
#include "hpy.h"

static struct { long refcnt; void *type; } fake_object;

HPyDef_METH(hash_of, "hash_of", HPyFunc_O)
static HPy hash_of_impl(HPyContext *ctx, HPy self, HPy arg)
{
    /* pretends to be a universal handle, as code that caches handles across
       contexts would end up with */
    HPy cached = { (HPy_ssize_t)((char *)&fake_object + 1) };
    HPy_hash_t h = HPy_Hash(ctx, cached);   /* EXPECT */
    return HPyLong_FromSsize_t(ctx, (HPy_ssize_t)h);
}

static HPyDef *module_defines[] = { &hash_of, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(odd_handle, moduledef)
