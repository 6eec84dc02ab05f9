// The project's own helpers, shared by several callers (as matplotlib's
// hpy_utils.h): a bug in one of them reached from two callers is two
// findings, and a baseline entry written for one caller covers only it.
#pragma once
#include "hpy.h"

// repr() of h, closing h first: a use after close.
static inline HPy repr_closed(HPyContext *ctx, HPy h)
{
    HPy_Close(ctx, h);
    return HPy_Repr(ctx, h);   /* SITE:HELPER_USE */
}
