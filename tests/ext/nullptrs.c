/* NULL pointer arguments to many generated wrappers (tests/test_contracts.py):
   each must be reported as null-pointer, and the process must survive.
   (_HPy_New's `data` is never NULL in practice: HPy's header trampoline
   passes the address of a local and writes *data itself.) */
#include "hpy.h"

static const char *absent = NULL;   /* a lookup that found nothing */

HPyDef_METH(null_call, "null_call", HPyFunc_O)
static HPy null_call_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long i = HPyLong_AsLong(ctx, arg);
    HPy r = HPy_NULL;
    switch (i) {
    case 0: r = HPyUnicode_FromString(ctx, absent); break;
    case 1: r = HPyBytes_FromString(ctx, absent); break;
    case 2: r = HPy_GetAttr_s(ctx, self, absent); break;
    case 3: return HPyLong_FromLong(ctx, HPy_HasAttr_s(ctx, self, absent));
    case 4: r = HPy_GetItem_s(ctx, self, absent); break;
    case 5: r = HPyImport_ImportModule(ctx, absent); break;
    case 6: HPyErr_SetString(ctx, ctx->h_ValueError, absent); return HPy_NULL;
    case 7: r = HPyErr_NewException(ctx, absent, HPy_NULL, HPy_NULL); break;
    case 8: r = HPyUnicode_DecodeFSDefault(ctx, absent); break;
    case 9: r = HPy_Compile_s(ctx, absent, "<f>", HPy_SourceKind_Expr); break;
    case 10: r = HPyContextVar_New(ctx, absent, HPy_NULL); break;
    default: return HPy_Dup(ctx, ctx->h_None);
    }
    return r;
}

static HPyDef *defines[] = { &null_call, NULL };
static HPyModuleDef moduledef = { .defines = defines };
HPy_MODINIT(nullptrs, moduledef)
