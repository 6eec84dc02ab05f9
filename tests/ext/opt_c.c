/* Test extension for tests/test_real_reports.py, built -O3 -g: the bugs of
   issue 11 written the way real projects write them.  At -O3 HPy's API
   functions (static inline trampolines) and the small static helpers here
   are inlined into their callers, so one return address stands for several
   source frames.  The tests find lines by the SITE: markers. */
#include <stdlib.h>
#include "hpy.h"

/* ~~~ a leak in a small static helper inlined into its caller ~~~ */

/* "<n>" as a str; forgets to close the int it formats. Called once: gcc
   inlines it at -O3 (the test checks that no symbol is left for it). */
static HPy format_label(HPyContext *ctx, long n)
{
    HPy num = HPyLong_FromLong(ctx, n);   /* SITE:HELPER_LEAK */
    return HPy_Str(ctx, num);   /* BUG: num is never closed */
}

HPyDef_METH(make_label, "make_label", HPyFunc_O)
static HPy make_label_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long n = HPyLong_AsLong(ctx, arg);
    if (n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    return format_label(ctx, n + 1);   /* SITE:HELPER_CALL */
}

/* ~~~ return of a context constant / an argument without HPy_Dup ~~~ */

static long resets;

HPyDef_METH(reset, "reset", HPyFunc_NOARGS)
static HPy reset_impl(HPyContext *ctx, HPy self)
{
    resets++;
    return ctx->h_None;   /* SITE:RETURN_NONE BUG: must be HPy_Dup(ctx, ctx->h_None) */
}

HPyDef_METH(passthrough, "passthrough", HPyFunc_O)
static HPy passthrough_impl(HPyContext *ctx, HPy self, HPy arg)
{
    if (HPy_TypeCheck(ctx, arg, ctx->h_LongType))
        return arg;   /* SITE:RETURN_ARG BUG: must be HPy_Dup(ctx, arg) */
    return HPy_Dup(ctx, ctx->h_None);
}

/* ~~~ the same misuse many times (a per-item loop) ~~~ */

/* close_loop(n, misuse): n iterations over one handle.  misuse: HPy_Close
   of the same closed handle each time; otherwise a correct HPy_Dup/HPy_Close
   pair (the baseline the test compares the time with). */
HPyDef_METH(close_loop, "close_loop", HPyFunc_VARARGS)
static HPy close_loop_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    long n, misuse;
    if (!HPyArg_Parse(ctx, NULL, args, nargs, "ll", &n, &misuse))
        return HPy_NULL;
    HPy h = HPyLong_FromLong(ctx, 1000001);
    if (misuse) {
        HPy_Close(ctx, h);
        for (long i = 0; i < n; i++)
            HPy_Close(ctx, h);   /* SITE:REPEAT BUG: double close */
    } else {
        for (long i = 0; i < n; i++) {
            HPy d = HPy_Dup(ctx, h);
            HPy_Close(ctx, d);
        }
        HPy_Close(ctx, h);
    }
    return HPyLong_FromLong(ctx, n);
}

/* ~~~ _HPy_AsStruct_Legacy on HPy_NULL (pillow: an absent optional argument) ~~~ */

typedef struct {
    void *ob_head[2];   /* PyObject_HEAD: the universal ABI has no Python.h */
    long value;
} ImagingObject;

HPyType_LEGACY_HELPERS(ImagingObject)

HPyDef_SLOT(Image_new, HPy_tp_new)
static HPy Image_new_impl(HPyContext *ctx, HPy cls, const HPy *args, HPy_ssize_t nargs, HPy kw)
{
    long value;
    if (!HPyArg_Parse(ctx, NULL, args, nargs, "l", &value))
        return HPy_NULL;
    ImagingObject *im;
    HPy h = HPy_New(ctx, cls, &im);
    if (HPy_IsNull(h))
        return HPy_NULL;
    im->value = value;
    return h;
}

static HPyDef *Image_defines[] = { &Image_new, NULL };
static HPyType_Spec Image_spec = {
    .name = "opt_c.Image",
    .basicsize = sizeof(ImagingObject),
    .builtin_shape = HPyType_BuiltinShape_Legacy,
    .defines = Image_defines,
};

/* blend(im, mask=None): im.value, times mask.value when a mask is given. */
HPyDef_METH(blend, "blend", HPyFunc_VARARGS)
static HPy blend_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    HPy h_im, h_mask = HPy_NULL;
    if (!HPyArg_Parse(ctx, NULL, args, nargs, "O|O", &h_im, &h_mask))
        return HPy_NULL;
    ImagingObject *im = ImagingObject_AsStruct(ctx, h_im);
    ImagingObject *mask = ImagingObject_AsStruct(ctx, h_mask);   /* SITE:ASSTRUCT_NULL (HPy_NULL when absent) */
    long v = im->value;
    if (mask != NULL)
        v *= mask->value;
    return HPyLong_FromLong(ctx, v);
}

/* ~~~ a stale context in an inlined callback (matplotlib's FreeType glyph
   callback reads the context its setup call stored) ~~~ */

static HPyContext *face_ctx;   /* BUG: a context is only valid during its call */
static long glyphs;

static int on_glyph(long code)
{
    HPy g = HPyLong_FromLong(face_ctx, code);   /* SITE:STALE_CTX */
    if (HPy_IsNull(g))
        return -1;
    glyphs++;
    HPy_Close(face_ctx, g);
    return 0;
}

HPyDef_METH(load_face, "load_face", HPyFunc_NOARGS)
static HPy load_face_impl(HPyContext *ctx, HPy self)
{
    face_ctx = ctx;
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(render, "render", HPyFunc_O)
static HPy render_impl(HPyContext *ctx, HPy self, HPy arg)
{
    long n = HPyLong_AsLong(ctx, arg);
    if (n == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    if (on_glyph(n) < 0)   /* SITE:STALE_CALL */
        return HPy_NULL;
    return HPyLong_FromLong(ctx, glyphs);
}

/* ~~~ a double close in the module's exec slot (import-time misuse) ~~~ */

HPyDef_SLOT(opt_c_exec, HPy_mod_exec)
static int opt_c_exec_impl(HPyContext *ctx, HPy m)
{
    HPy version = HPyUnicode_FromString(ctx, "1.0");
    if (HPy_IsNull(version))
        return -1;
    int r = HPy_SetAttr_s(ctx, m, "__version__", version);
    HPy_Close(ctx, version);
    if (r < 0)
        return -1;
    if (!HPyHelpers_AddType(ctx, m, "Image", &Image_spec, NULL))
        return -1;
    /* Only when asked, so that the other tests can import the module. */
    if (getenv("OPT_C_INIT_BUG") != NULL)
        HPy_Close(ctx, version);   /* SITE:INIT_DOUBLE_CLOSE BUG: closed above */
    return 0;
}

static HPyDef *module_defines[] = {
    &make_label, &reset, &passthrough, &close_loop, &blend, &load_face, &render, &opt_c_exec, NULL
};
static HPyModuleDef moduledef = { .doc = "issue 11's bugs, built -O3", .defines = module_defines };
HPy_MODINIT(opt_c, moduledef)
