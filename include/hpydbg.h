/* hpydbg's C API: the public names of HPy 0.9.0's hpy_debug.h, implemented
   by hpydbg's debug context.  A runtime that calls these gets hpydbg's
   context instead of HPy's C debug mode.  hpydbg exports nothing else from
   HPy's namespace. */
#ifndef HPYDBG_H
#define HPYDBG_H

#include "hpy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The debug context wrapping `uctx` (created on the first call; one
   universal context per process). */
HPyContext *hpy_debug_get_ctx(HPyContext *uctx);

/* Make `dctx` a debug context wrapping `uctx`. Returns 0 on success. */
int hpy_debug_ctx_init(HPyContext *dctx, HPyContext *uctx);

/* Copy the members of `dctx` into hpydbg's root debug context. */
void hpy_debug_set_ctx(HPyContext *dctx);

/* Wrap a universal handle in a new debug handle. */
HPy hpy_debug_open_handle(HPyContext *dctx, HPy uh);

/* The universal handle behind a debug handle (a closed or invalid handle is
   reported). */
HPy hpy_debug_unwrap_handle(HPyContext *dctx, HPy dh);

/* Close a debug handle only; the universal handle stays open. */
void hpy_debug_close_handle(HPyContext *dctx, HPy dh);

#ifdef __cplusplus
}
#endif

#endif /* HPYDBG_H */
