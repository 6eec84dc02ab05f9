//! Tuple and list builders: the handle checks (a builder used after
//! `Build`/`Cancel`, garbage, another kind) and the contract on its items,
//! which the universal context only `assert`s (compiled out in release
//! builds): every index in `0..size`, each item set exactly once, all of
//! them set by `Build`.
//!
//! On CPython's universal context a builder *is* the tuple or list being
//! built, its items NULL until set (HPy's ctx_tuplebuilder.c,
//! ctx_listbuilder.c), so the item checks read the object in place: no
//! bitmap of our own, one bound compare and one load per `Set` on the fast
//! path, a scan of the items at `Build`.
//!
//! Going on after a report (docs/REPORTS.md):
//! - index out of range: the write is not made (universal mode writes past
//!   the array);
//! - an item set twice: forwarded as in universal mode (the new item
//!   replaces the old one, whose reference leaks); under `raise` the second
//!   `Set` is not made;
//! - a second `Build` (or a `Set` after it): reported; a second `Build`
//!   returns a new reference to the first one's result while that is open
//!   (universal mode returns the same object, without the reference);
//! - items never set at `Build`: each is filled with `None` (a NULL inside
//!   a tuple or list crashes whatever reads it); under `raise` `Build`
//!   cancels the builder and returns `HPy_NULL`.
#![allow(non_snake_case)]

use crate::abi::*;
use crate::func::call::{open_aux, Call, Skip};
use crate::state::ctx::{universal_is_cpython, AUX};
use crate::tables::builders::{AuxError, AuxKind};
use crate::tables::handles::aux_index;
use crate::diag::report::{self, Outcome};

use pyo3::ffi::{PyListObject, PyObject, PyTupleObject, PyVarObject};

/// The item array and size of universal builder `ub` (not null) of `kind`.
#[inline(always)]
unsafe fn items(kind: AuxKind, ub: isize) -> (*mut *mut PyObject, HPy_ssize_t) {
    let size = (*(ub as *const PyVarObject)).ob_size;
    let items = match kind {
        AuxKind::TupleBuilder => (*(ub as *mut PyTupleObject)).ob_item.as_mut_ptr(),
        _ => (*(ub as *mut PyListObject)).ob_item,
    };
    (items, size)
}

/// The common case of `Set`, inline: a readable builder, `index` in range
/// and its item not set yet.
#[inline(always)]
unsafe fn slot_free(kind: AuxKind, ub: isize, index: HPy_ssize_t) -> bool {
    if ub == 0 || !universal_is_cpython() {
        return false;
    }
    let (items, size) = items(kind, ub);
    (index as usize) < (size as usize) && (*items.add(index as usize)).is_null()
}

/// `Set` off the fast path: `Err` means the write is not made.
#[cold]
#[inline(never)]
unsafe fn check_set(call: &Call, kind: AuxKind, h: isize, ub: isize, index: HPy_ssize_t) -> Result<(), Skip> {
    if ub == 0 || !universal_is_cpython() {
        return Ok(());
    }
    let (items, size) = items(kind, ub);
    let opened = AUX.lock().site_of(aux_index(h) as u32);
    if index < 0 || index >= size {
        let _ = report::builder_item(
            "builder-index-out-of-range",
            call.api,
            "Invalid usage of a builder index out of range",
            format!("{}(index={}) on a builder of size {}: valid indices are 0..{}", call.api, index, size, size - 1),
            &format!("set only indices 0 to size-1 of the size given to {}_New", kind.what()),
            opened,
            Some("the item was not stored (universal mode writes past the end of the array)".into()),
        );
        return Err(Skip);
    }
    if !(*items.add(index as usize)).is_null() {
        let o = report::builder_item(
            "builder-item-set-twice",
            call.api,
            "Invalid usage: a builder item set twice",
            format!("{}(index={}) on a builder of size {}: item {} was already set, and the reference it holds leaks", call.api, index, size, index),
            "set each item of a builder exactly once",
            opened,
            None,
        );
        return match o {
            Outcome::Continue => Ok(()),
            Outcome::Skip => Err(Skip),
        };
    }
    Ok(())
}

/// At `Build`: every item must have been set.  Going on, the missing ones
/// are set to `None`; `Err`: the builder was cancelled, no result.
unsafe fn check_complete(call: &Call, kind: AuxKind, h: isize, ub: isize) -> Result<(), Skip> {
    if ub == 0 || !universal_is_cpython() {
        return Ok(());
    }
    let (items, size) = items(kind, ub);
    let all = std::slice::from_raw_parts(items as *const *mut PyObject, size.max(0) as usize);
    if !all.contains(&std::ptr::null_mut()) {
        return Ok(());
    }
    report_missing(call, kind, h, ub, all)
}

/// Some items were never set: report them, then fill them with `None` or
/// cancel the builder.
#[cold]
#[inline(never)]
unsafe fn report_missing(call: &Call, kind: AuxKind, h: isize, ub: isize, all: &[*mut PyObject]) -> Result<(), Skip> {
    let size = all.len();
    let missing: Vec<HPy_ssize_t> = (0..size).filter(|&i| all[i].is_null()).map(|i| i as HPy_ssize_t).collect();
    let shown: Vec<String> = missing.iter().take(8).map(|i| i.to_string()).collect();
    let more = if missing.len() > 8 { format!(" (and {} more)", missing.len() - 8) } else { String::new() };
    let o = report::builder_item(
        "builder-item-not-set",
        call.api,
        "Invalid usage: a builder built with items never set",
        format!(
            "{}() on a builder of size {}: {} of its items {} never set: index {}{}",
            call.api,
            size,
            missing.len(),
            if missing.len() == 1 { "was" } else { "were" },
            shown.join(", "),
            more
        ),
        &format!("set every index 0 to size-1 before {}, or {}_Cancel it", call.api, kind.what()),
        AUX.lock().site_of(aux_index(h) as u32),
        Some("going on, the missing items are None (universal mode leaves NULL inside the object, which crashes later)".into()),
    );
    let u = crate::state::ctx::u();
    let uctx = crate::state::ctx::uctx();
    match o {
        Outcome::Continue => {
            for i in missing {
                match kind {
                    AuxKind::TupleBuilder => (u.TupleBuilder_Set.unwrap_unchecked())(uctx, HPyTupleBuilder::from_raw(ub), i, u.h_None),
                    _ => (u.ListBuilder_Set.unwrap_unchecked())(uctx, HPyListBuilder::from_raw(ub), i, u.h_None),
                }
            }
            Ok(())
        }
        Outcome::Skip => {
            match kind {
                AuxKind::TupleBuilder => (u.TupleBuilder_Cancel.unwrap_unchecked())(uctx, HPyTupleBuilder::from_raw(ub)),
                _ => (u.ListBuilder_Cancel.unwrap_unchecked())(uctx, HPyListBuilder::from_raw(ub)),
            }
            Err(Skip)
        }
    }
}

macro_rules! builder_fns {
    ($kind:expr, $B:ident, $pfx:literal, $New:ident, $Set:ident, $Build:ident, $Cancel:ident) => {
        pub unsafe extern "C" fn $New(ctx: *mut HPyContext, size: HPy_ssize_t) -> $B {
            let call = crate::enter!(ctx, concat!($pfx, "_New"), $New(ctx, size));
            let ub = (call.u().$New.unwrap_unchecked())(call.uctx(), size);
            if ub.is_null() {
                // As the universal context: the error surfaces at Build.
                return $B::NULL;
            }
            $B::from_raw(open_aux($kind, ub.raw(), call.ra))
        }

        pub unsafe extern "C" fn $Set(ctx: *mut HPyContext, builder: $B, index: HPy_ssize_t, h_item: HPy) {
            // Called once per item: the common case is checked inline and
            // tail-calls the universal context; anything else is redone by
            // the full version.
            if crate::state::ctx::fast_ok(ctx) && !crate::base::pyerr::maybe_pending() {
                if let Some(item) = crate::func::call::open_uh(h_item) {
                    if let Some(ub) = AUX.lock().builder_fast(builder.raw(), $kind) {
                        if slot_free($kind, ub, index) {
                            return (crate::state::ctx::u().$Set.unwrap_unchecked())(crate::state::ctx::uctx(), $B::from_raw(ub), index, item);
                        }
                    }
                }
            }
            #[cold]
            #[inline(never)]
            unsafe fn full(ctx: *mut HPyContext, builder: $B, index: HPy_ssize_t, h_item: HPy) {
                let call = crate::enter!(ctx, concat!($pfx, "_Set"), $Set(ctx, builder, index, h_item));
                crate::guarded!(call, {
                    let item = call.unwrap_obj(h_item, "h_item")?;
                    let ub = unwrap_builder(&call, $kind, builder.raw())?;
                    check_set(&call, $kind, builder.raw(), ub, index)?;
                    (call.u().$Set.unwrap_unchecked())(call.uctx(), $B::from_raw(ub), index, item)
                })
            }
            full(ctx, builder, index, h_item)
        }

        pub unsafe extern "C" fn $Build(ctx: *mut HPyContext, builder: $B) -> HPy {
            let call = crate::enter!(ctx, concat!($pfx, "_Build"), $Build(ctx, builder));
            crate::guarded!(call, {
                let ub = match close_builder(&call, $kind, builder.raw()) {
                    Ok(ub) => ub,
                    Err(Skip) => return built_again(&call, builder.raw()).ok_or(Skip),
                };
                check_complete(&call, $kind, builder.raw(), ub)?;
                let r = call.open((call.u().$Build.unwrap_unchecked())(call.uctx(), $B::from_raw(ub)));
                BUILT.lock().note(builder.raw(), r.raw());
                r
            })
        }

        pub unsafe extern "C" fn $Cancel(ctx: *mut HPyContext, builder: $B) {
            let call = crate::enter!(ctx, concat!($pfx, "_Cancel"), $Cancel(ctx, builder));
            crate::guarded!(call, {
                let ub = close_builder(&call, $kind, builder.raw())?;
                (call.u().$Cancel.unwrap_unchecked())(call.uctx(), $B::from_raw(ub))
            })
        }
    };
}

/// The last builders built and the handles their `Build` returned: a second
/// `Build` of one (reported as a use of a closed builder) gets, under the
/// go-on policies, what universal mode gives (the same object), as a new
/// reference while the first result is still open, so that reference counts
/// stay right; otherwise the call is refused (its safe value).
struct Built {
    ring: [(isize, isize); 16],
    next: usize,
}

impl Built {
    #[inline]
    fn note(&mut self, builder: isize, result: isize) {
        self.ring[self.next] = (builder, result);
        self.next = (self.next + 1) % self.ring.len();
    }
}

static BUILT: crate::base::sync::GilLock<Built> = crate::base::sync::GilLock::new(Built { ring: [(0, 0); 16], next: 0 });

#[cold]
fn built_again(call: &Call, builder: isize) -> Option<HPy> {
    if builder == 0 || report::refusal_raises() {
        return None;
    }
    let result = BUILT.lock().ring.iter().find(|&&(b, _)| b == builder).map(|&(_, r)| r)?;
    let uh = crate::func::call::open_uh(HPy::from_raw(result))?;
    Some(call.open(unsafe { (call.u().Dup.unwrap_unchecked())(call.uctx(), uh) }))
}

/// The universal builder, or (going on after a report) 0: the universal
/// context then fails the way it fails for a builder whose allocation failed.
#[inline]
fn unwrap_builder(call: &Call, kind: AuxKind, h: isize) -> Result<isize, Skip> {
    if h == 0 {
        return Ok(0);
    }
    if let Some(ub) = AUX.lock().builder_fast(h, kind) {
        return Ok(ub);
    }
    let r = AUX.lock().builder(h, kind);
    aux_result(call, kind, h, r)
}

fn close_builder(call: &Call, kind: AuxKind, h: isize) -> Result<isize, Skip> {
    if h == 0 {
        return Ok(0);
    }
    let r = AUX.lock().close(h, kind, &mut Vec::new());
    aux_result(call, kind, h, r)
}

#[cold]
fn aux_result(call: &Call, kind: AuxKind, h: isize, r: Result<isize, AuxError>) -> Result<isize, Skip> {
    match r {
        Ok(v) => Ok(v),
        // With HPy's callback (set_on_invalid_builder_handle), as HPy's
        // debug mode: the NULL builder, which the universal context fails
        // with MemoryError at Build (HPy's test_build_twice).  Else the call
        // is refused: its safe value (a second Build gets None, not a second
        // owner of the first Build's result, as universal mode gives).
        Err(e) => match report::invalid_aux(call.api, kind, h, e) {
            Outcome::Continue if crate::state::ctx::SETTINGS.has_callback() => Ok(0),
            _ => Err(Skip),
        },
    }
}

builder_fns!(AuxKind::ListBuilder, HPyListBuilder, "HPyListBuilder", ListBuilder_New, ListBuilder_Set, ListBuilder_Build, ListBuilder_Cancel);
builder_fns!(AuxKind::TupleBuilder, HPyTupleBuilder, "HPyTupleBuilder", TupleBuilder_New, TupleBuilder_Set, TupleBuilder_Build, TupleBuilder_Cancel);
