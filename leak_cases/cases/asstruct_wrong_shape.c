/* leak-case
 * about: _HPy_AsStruct_Object on an instance of a type whose builtin shape is Long
 * class: bad-argument
 * api: _HPy_AsStruct_Object
 * call: mod.Tagged(5).tag()
 * hpy: caught
 */
#include "hpy.h"

typedef struct {
    long tag;
} TaggedObject;
/* the right helpers would be HPyType_HELPERS(TaggedObject, HPyType_BuiltinShape_Long) */

HPyDef_METH(Tagged_tag, "tag", HPyFunc_NOARGS)
static HPy Tagged_tag_impl(HPyContext *ctx, HPy self)
{
    TaggedObject *t = (TaggedObject *)_HPy_AsStruct_Object(ctx, self);   /* EXPECT */
    return HPyLong_FromLong(ctx, t->tag);
}

static HPyDef *Tagged_defines[] = { &Tagged_tag, NULL };
static HPyType_Spec Tagged_spec = {
    .name = "asstruct_wrong_shape.Tagged",
    .basicsize = sizeof(TaggedObject),
    .builtin_shape = HPyType_BuiltinShape_Long,
    .defines = Tagged_defines,
};

HPyDef_SLOT(mod_exec, HPy_mod_exec)
static int mod_exec_impl(HPyContext *ctx, HPy m)
{
    HPyType_SpecParam params[] = {
        { HPyType_SpecParam_Base, ctx->h_LongType },
        { (HPyType_SpecParam_Kind)0 }
    };
    return HPyHelpers_AddType(ctx, m, "Tagged", &Tagged_spec, params) ? 0 : -1;
}

static HPyDef *module_defines[] = { &mod_exec, NULL };
static HPyModuleDef moduledef = { .defines = module_defines };
HPy_MODINIT(asstruct_wrong_shape, moduledef)
