//! The Python module `hpydbg._hpydbg`: the functions of HPy's
//! `hpy.universal._debug` (so `hpy.debug.LeakDetector` works unchanged) on
//! top of our handle table, plus hpydbg's own helpers.

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::{PyDict, PyList};

use crate::abi::HPy;
use crate::base::sync::lock;
use crate::diag::report::HPyDebugError;
use crate::state::ctx::{self, AUX, SETTINGS, SITES, TABLE};
use crate::tables::builders::AuxKind;
use crate::tables::handles::State;


/// A view of one slot of the handle table (HPy's `DebugHandle`).
#[pyclass(module = "hpydbg", frozen)]
pub struct DebugHandle {
    index: u32,
    /// The handle value when this view was made.
    handle: isize,
}

/// The object a universal handle refers to (a new reference).
fn object_of(py: Python<'_>, uh: isize) -> PyResult<Py<PyAny>> {
    if ctx::contexts().is_none() {
        return Ok(py.None());
    }
    unsafe {
        let p = (ctx::u().AsPyObject.unwrap_unchecked())(ctx::uctx(), HPy::from_raw(uh));
        if p.is_null() {
            return Err(PyErr::take(py).unwrap_or_else(|| PyRuntimeError::new_err("AsPyObject failed")));
        }
        Ok(Bound::from_owned_ptr(py, p as *mut pyo3::ffi::PyObject).unbind())
    }
}

impl DebugHandle {
    fn state(&self) -> (State, isize, isize) {
        TABLE.lock().slot_info(self.index).unwrap_or((State::Free, 0, 0))
    }

    /// The site: from the handle's own trace, else from the site table.
    fn c_site(&self) -> Option<crate::base::stacktrace::Site> {
        let t = TABLE.lock();
        let own = t.extra(self.index).and_then(|e| e.opened_at.clone());
        let (site, _) = t.sites_of(self.index);
        drop(t);
        match own {
            Some(trace) => trace.site(),
            None => SITES.lock().get_mut(site)?.site(),
        }
    }
}

fn json_value(py: Python<'_>, json: &str) -> PyResult<Py<PyAny>> {
    Ok(py.import("json")?.call_method1("loads", (json,))?.unbind())
}

#[pymethods]
impl DebugHandle {
    /// The object the handle refers to (None once closed).
    #[getter]
    fn obj(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.state() {
            (State::Open | State::Immortal, _, uh) => object_of(py, uh),
            _ => Ok(py.None()),
        }
    }

    /// Identifies the slot; equal ids mean the same debug handle record.
    #[getter]
    fn id(&self) -> u32 {
        self.index
    }

    /// What leaked: "handle" (builders and trackers are `DebugAux`).
    #[getter]
    fn kind(&self) -> &'static str {
        "handle"
    }

    /// The handle value the extension saw (slot and generation encoded).
    #[getter]
    fn handle(&self) -> isize {
        self.handle
    }

    #[getter]
    fn is_closed(&self) -> bool {
        !matches!(self.state().0, State::Open | State::Immortal)
    }

    /// Bytes of raw data (e.g. from HPyUnicode_AsUTF8AndSize) held, or -1.
    #[getter]
    fn raw_data_size(&self) -> isize {
        let t = TABLE.lock();
        match t.extra(self.index) {
            Some(e) if !e.raw.is_empty() => e.raw.iter().map(|r| r.len() as isize).sum(),
            _ => -1,
        }
    }

    /// Leak-detector epoch in which the handle was opened.
    #[getter]
    fn epoch(&self) -> i64 {
        TABLE.lock().epoch_of(self.index)
    }

    /// Where the handle was opened (text): its own stack when per-handle
    /// traces are on, else the stack of the first handle opened at its site.
    #[getter]
    fn allocation_stacktrace(&self) -> Option<String> {
        let t = TABLE.lock();
        let own = t.extra(self.index).and_then(|e| e.opened_at.clone());
        let (site, _) = t.sites_of(self.index);
        drop(t);
        if let Some(trace) = own {
            return Some(trace.render("  "));
        }
        let trace = SITES.lock().get(site)?.trace.clone()?;
        Some(trace.render("  "))
    }

    /// The extension source line that opened the handle:
    /// `helper at f.c:12 (x.so), inlined into caller at f.c:30`.
    #[getter]
    fn allocation_site(&self) -> Option<String> {
        self.c_site().map(|s| s.text())
    }

    /// The same as a dict: `function`, `file`, `line`, `object`,
    /// `inlined_into` (`{function, file, line}` or None).
    #[getter]
    fn site(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.c_site() {
            Some(s) => Ok(Some(json_value(py, &crate::diag::report::site_json(&s))?)),
            None => Ok(None),
        }
    }

    /// The innermost Python frame when the handle was opened:
    /// `{file, line, function}` or None.
    #[getter]
    fn python_site(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let (site, _) = TABLE.lock().sites_of(self.index);
        let loc = SITES.lock().get(site).and_then(|s| s.python.clone());
        match loc {
            Some(p) => Ok(Some(json_value(py, &crate::diag::report::python_json(&p))?)),
            None => Ok(None),
        }
    }

    /// Identifies where the handle was opened (0: unknown); handles with the
    /// same id were opened by the same C call from the same Python line.
    #[getter]
    fn site_id(&self) -> u32 {
        TABLE.lock().sites_of(self.index).0
    }

    /// Whether the handle was opened while a module's exec slot ran (its
    /// site was first seen then): kept open since, it belongs in an HPyGlobal.
    #[getter]
    fn opened_in_module_init(&self) -> bool {
        crate::tables::init_sites::contains(TABLE.lock().sites_of(self.index).0)
    }

    /// Close the handle now. FOR TESTS ONLY.
    fn _force_close(&self) -> PyResult<()> {
        let (state, h, _) = self.state();
        if state != State::Open {
            return Ok(());
        }
        ctx::contexts().ok_or_else(|| PyRuntimeError::new_err("no debug context"))?;
        crate::func::manual::close_owned(HPy::from_raw(h), "DebugHandle._force_close", 0, &crate::func::call::SHARED_MEMO);
        Ok(())
    }

    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp, py: Python<'_>) -> Py<PyAny> {
        let Ok(other) = other.cast::<DebugHandle>() else { return py.NotImplemented() };
        let same = other.get().index == self.index;
        match op {
            CompareOp::Eq => same.into_pyobject(py).unwrap().to_owned().into_any().unbind(),
            CompareOp::Ne => (!same).into_pyobject(py).unwrap().to_owned().into_any().unbind(),
            _ => py.NotImplemented(),
        }
    }

    fn __hash__(&self) -> u64 {
        self.index as u64
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let (state, _, uh) = self.state();
        let head = match state {
            State::Open | State::Immortal => {
                let o = object_of(py, uh)?;
                format!("<DebugHandle 0x{:x} for {}>", self.index, o.bind(py).repr()?)
            }
            _ => format!("<DebugHandle 0x{:x} CLOSED>", self.index),
        };
        let trace = match self.allocation_stacktrace() {
            Some(t) => format!("Allocation stacktrace:\n{}", t),
            None => "To get the stack trace of where it was allocated use:\nhpy.debug.set_handle_stack_trace_limit(16)".into(),
        };
        Ok(format!("{}\n{}", head, trace))
    }
}

/// An open tuple/list builder or tracker, listed with the handles by
/// `get_open_handles` (so LeakDetector reports one never built, cancelled
/// or closed), with the same attributes as `DebugHandle` and a `kind`.
#[pyclass(module = "hpydbg", frozen)]
pub struct DebugAux {
    index: u32,
    handle: isize,
    kind: AuxKind,
}

impl DebugAux {
    fn origin(&self) -> Option<(i64, Option<crate::base::stacktrace::Trace>, usize)> {
        let a = AUX.lock();
        if a.is_open(self.handle) {
            a.origin(self.index)
        } else {
            None
        }
    }

    fn describe(&self) -> String {
        match self.origin() {
            None => format!("{} (closed)", self.kind.what()),
            Some((_, _, n)) if self.kind == AuxKind::Tracker => format!("{} tracking {} handle(s), never closed", self.kind.what(), n),
            Some(_) => format!("{} never built or cancelled", self.kind.what()),
        }
    }
}

#[pymethods]
impl DebugAux {
    /// "tuple builder", "list builder" or "tracker".
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind.leak_kind()
    }

    /// A builder or tracker is no object: a description of what leaked.
    #[getter]
    fn obj(&self) -> String {
        self.describe()
    }

    #[getter]
    fn id(&self) -> u32 {
        self.index
    }

    #[getter]
    fn handle(&self) -> isize {
        self.handle
    }

    #[getter]
    fn is_closed(&self) -> bool {
        self.origin().is_none()
    }

    #[getter]
    fn raw_data_size(&self) -> isize {
        -1
    }

    #[getter]
    fn epoch(&self) -> i64 {
        self.origin().map_or(-1, |o| o.0)
    }

    /// Its own stack when stack traces are on, else its site's first one.
    #[getter]
    fn allocation_stacktrace(&self) -> Option<String> {
        let (_, trace, _) = self.origin()?;
        if let Some(t) = trace {
            return Some(t.render("  "));
        }
        let site = AUX.lock().site_of(self.index);
        let t = SITES.lock().get(site)?.trace.clone()?;
        Some(t.render("  "))
    }

    #[getter]
    fn allocation_site(&self) -> Option<String> {
        let (_, trace, _) = self.origin()?;
        match trace {
            Some(t) => t.site().map(|f| f.text()),
            None => {
                let site = AUX.lock().site_of(self.index);
                SITES.lock().get_mut(site)?.site().map(|s| s.text())
            }
        }
    }

    /// Where it was opened (0 unknown), as `DebugHandle.site_id`.
    #[getter]
    fn site_id(&self) -> u32 {
        if self.origin().is_none() {
            return 0;
        }
        AUX.lock().site_of(self.index)
    }

    /// The innermost Python frame when it was opened, as `DebugHandle.python_site`.
    #[getter]
    fn python_site(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        let site = AUX.lock().site_of(self.index);
        let loc = SITES.lock().get(site).and_then(|s| s.python.clone());
        match loc {
            Some(p) => Ok(Some(json_value(py, &crate::diag::report::python_json(&p))?)),
            None => Ok(None),
        }
    }

    /// Cancel the builder or close the tracker now. FOR TESTS ONLY.
    fn _force_close(&self) -> PyResult<()> {
        ctx::contexts().ok_or_else(|| PyRuntimeError::new_err("no debug context"))?;
        crate::func::manual::force_close_aux(self.kind, self.handle);
        Ok(())
    }

    fn __repr__(&self) -> String {
        let trace = match self.allocation_stacktrace() {
            Some(t) => format!("Allocation stacktrace:\n{}", t),
            None => "To get the stack trace of where it was allocated use:\nhpy.debug.set_handle_stack_trace_limit(16)".into(),
        };
        format!("<DebugAux 0x{:x}: {}>\n{}", self.handle, self.describe(), trace)
    }
}

fn listed(py: Python<'_>, l: Vec<crate::tables::handles::Listed>) -> PyResult<Bound<'_, PyList>> {
    let items: Vec<DebugHandle> = l.into_iter().map(|x| DebugHandle { index: x.index, handle: x.handle }).collect();
    let list = PyList::empty(py);
    for it in items {
        list.append(Bound::new(py, it)?)?;
    }
    Ok(list)
}

/// Start a new leak-detector epoch and return its number.
#[pyfunction]
fn new_generation() -> i64 {
    TABLE.lock().new_epoch()
}

/// Open handles opened in epoch `gen` or later, oldest first, then the
/// builders and trackers still open from that epoch on.
#[pyfunction]
fn get_open_handles(py: Python<'_>, gen: i64) -> PyResult<Bound<'_, PyList>> {
    let l = TABLE.lock().open_handles(gen);
    let list = listed(py, l)?;
    let aux = AUX.lock().open_list(gen);
    for a in aux {
        list.append(Bound::new(py, DebugAux { index: a.index, handle: a.handle, kind: a.kind })?)?;
    }
    Ok(list)
}

/// Closed handles still remembered (the closed-handles queue), oldest first.
#[pyfunction]
#[pyo3(signature = (gen=0))]
fn get_closed_handles(py: Python<'_>, gen: i64) -> PyResult<Bound<'_, PyList>> {
    let l = TABLE.lock().closed_handles(gen);
    listed(py, l)
}

#[pyfunction]
fn get_closed_handles_queue_max_size() -> usize {
    TABLE.lock().closed_queue_max
}

#[pyfunction]
fn set_closed_handles_queue_max_size(size: usize) {
    TABLE.lock().set_closed_queue_max(size)
}

#[pyfunction]
fn get_protected_raw_data_max_size() -> usize {
    TABLE.lock().raw_budget
}

#[pyfunction]
fn set_protected_raw_data_max_size(size: usize) {
    TABLE.lock().raw_budget = size
}

fn set_callback(slot: &std::sync::Mutex<Option<Py<PyAny>>>, arg: &Bound<'_, PyAny>) -> PyResult<()> {
    let new = if arg.is_none() {
        None
    } else if arg.is_callable() {
        Some(arg.clone().unbind())
    } else {
        return Err(PyTypeError::new_err("Expected a callable object"));
    };
    let old = std::mem::replace(&mut *lock(slot), new);
    drop(old);
    let any = lock(&SETTINGS.on_invalid_handle).is_some() || lock(&SETTINGS.on_invalid_builder_handle).is_some();
    SETTINGS.set_has_callback(any);
    ctx::settings_changed();
    Ok(())
}

/// Call `callback()` on each invalid handle instead of aborting (None: abort).
#[pyfunction]
fn set_on_invalid_handle(callback: &Bound<'_, PyAny>) -> PyResult<()> {
    set_callback(&SETTINGS.on_invalid_handle, callback)
}

/// Call `callback()` on each invalid builder instead of aborting (None: abort).
#[pyfunction]
fn set_on_invalid_builder_handle(callback: &Bound<'_, PyAny>) -> PyResult<()> {
    set_callback(&SETTINGS.on_invalid_builder_handle, callback)
}

/// Frames recorded where handles are opened and closed (None or 0: off).
#[pyfunction]
fn set_handle_stack_trace_limit(limit: Option<usize>) {
    SETTINGS.set_stack_trace_limit(limit.unwrap_or(0));
    ctx::settings_changed();
}

#[pyfunction]
fn get_handle_stack_trace_limit() -> usize {
    SETTINGS.stack_trace_limit()
}

/// The name of the context that debug-mode loads get.
#[pyfunction]
fn context_name() -> &'static str {
    ctx::context_name()
}

/// Whether `hpy_debug_get_ctx` has been called (a debug module was loaded).
#[pyfunction]
fn context_created() -> bool {
    ctx::contexts().is_some()
}

/// Rebind `hpy_debug_get_ctx` in the loaded `hpy.universal` at `path` to ours.
#[pyfunction]
fn _rebind_universal(path: &str) -> PyResult<usize> {
    crate::face::interpose::rebind(path, "hpy_debug_get_ctx", crate::face::exports::hpy_debug_get_ctx as *const () as usize)
        .map_err(|e| PyRuntimeError::new_err(format!("hpydbg could not redirect hpy.universal's debug mode to its context: {}", e)))
}

/// Counters of the handle table.
#[pyfunction]
fn stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let (c, closed_queue, raw) = {
        let t = TABLE.lock();
        (t.counters(), t.closed_len(), t.raw_protected_bytes())
    };
    let d = PyDict::new(py);
    d.set_item("open_now", c.open_now)?;
    d.set_item("peak_open", c.peak_open)?;
    d.set_item("opened_total", c.opened_total)?;
    d.set_item("closed_total", c.closed_total)?;
    d.set_item("closed_queue", closed_queue)?;
    d.set_item("protected_raw_bytes", raw)?;
    d.set_item("open_builders_and_trackers", AUX.lock().open_count())?;
    d.set_item("sites", SITES.lock().len())?;
    let pool = crate::state::ctxpool::stats();
    d.set_item("context_slots", pool.slots)?;
    d.set_item("context_addresses", pool.addresses)?;
    d.set_item("context_moves", pool.moves)?;
    d.set_item("context_scheme", pool.scheme.name())?;
    let (fields, globals) = crate::state::ctx::FIELDS.lock().counts();
    d.set_item("fields_stored", fields)?;
    d.set_item("globals_stored", globals)?;
    let reports = PyDict::new(py);
    for (class, n) in crate::diag::report::counts() {
        reports.set_item(class, n)?;
    }
    d.set_item("reports", reports)?;
    d.set_item("reports_dropped", crate::diag::report::dropped())?;
    let (held, bytes, admitted, evicted) = crate::state::quarantine::stats();
    d.set_item("quarantine_objects", held)?;
    d.set_item("quarantine_bytes", bytes)?;
    d.set_item("quarantine_admitted", admitted)?;
    d.set_item("quarantine_evicted", evicted)?;
    Ok(d)
}

/// `(context members, other structs)` layouts, for the ABI layout test.
#[pyfunction]
fn _abi_layout() -> (Vec<(String, usize)>, Vec<(&'static str, &'static str, usize)>) {
    (crate::abi::context_layout(), crate::abi::struct_layouts())
}

/// `(member, C API name)` of every function of the context.
#[pyfunction]
fn _api_names() -> Vec<(&'static str, &'static str)> {
    crate::func::functable::api_names()
}

/// What happens after a misuse: "abort" (default), "raise" or "log".
#[pyfunction]
fn set_policy(name: &str) -> PyResult<()> {
    let p = crate::state::settings::Policy::parse(name)
        .ok_or_else(|| pyo3::exceptions::PyValueError::new_err(format!("unknown policy {:?}: use 'abort', 'raise' or 'log'", name)))?;
    SETTINGS.set_policy(p);
    ctx::settings_changed();
    Ok(())
}

#[pyfunction]
fn get_policy() -> &'static str {
    SETTINGS.policy().name()
}

/// Reports since the last call, oldest first, as dicts (docs/REPORTS.md),
/// each with its text rendering under "text".
#[pyfunction]
fn take_reports(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let json = py.import("json")?;
    let list = PyList::empty(py);
    for r in crate::diag::report::take_reports() {
        let d = json.call_method1("loads", (r.json(),))?;
        // The text report too, so that the pytest plugin shows what the
        // log shows (with the window's count).
        d.set_item("text", r.text())?;
        list.append(d)?;
    }
    Ok(list)
}

/// Send reports to `path` (None: stderr), as "text" or "json".
#[pyfunction]
#[pyo3(signature = (path=None, format=None))]
fn set_log(path: Option<&str>, format: Option<&str>) -> PyResult<()> {
    let f = match format {
        None => None,
        Some("text") => Some(crate::diag::log::Format::Text),
        Some("json") => Some(crate::diag::log::Format::Json),
        Some(other) => return Err(pyo3::exceptions::PyValueError::new_err(format!("unknown format {:?}", other))),
    };
    crate::diag::log::configure(path, f).map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))
}

/// The pytest test in progress (None between tests), for reports.
#[pyfunction]
fn set_test_id(test: Option<String>) {
    crate::diag::report::set_test_id(test)
}

/// Full reports printed per distinct report (class, API, site); repeats
/// are counted (`HPY_DEBUG_REPORT_LIMIT`, default 1).
#[pyfunction]
fn set_report_limit(n: u64) {
    crate::diag::repeats::set_limit(n)
}

#[pyfunction]
fn get_report_limit() -> u64 {
    crate::diag::repeats::limit()
}

/// Write one summary line (or JSON record, `event: "repeat"`) per report
/// repeated more often than printed; returns how many.
#[pyfunction]
fn emit_repeats() -> usize {
    crate::diag::report::emit_repeats()
}

/// Record open and close sites (on by default; `HPY_DEBUG_SITES=0`).
#[pyfunction]
fn set_sites(on: bool) {
    SETTINGS.set_sites(on)
}

#[pyfunction]
fn get_sites() -> bool {
    SETTINGS.sites()
}

/// CPython struct offsets hpydbg reads (for the layout test).
#[pyfunction]
fn _py_offsets() -> Vec<(&'static str, usize)> {
    let mut v = crate::base::pyframe::offsets();
    v.push((crate::base::pyerr::EXC_FIELD_NAME, crate::base::pyerr::EXC_FIELD));
    v
}

/// Which interpreter layouts were proven at start-up: (the Python version
/// they are for, Python frames are read, the pending-exception test reads
/// the thread state inline).
#[pyfunction]
fn _py_layouts() -> (&'static str, bool, bool) {
    (crate::base::pytstate::built_for(), crate::base::pyframe::readable_frames(), crate::base::pyerr::raw())
}

/// Benchmark: `n` captures of up to `frames` frames from here, with the fast
/// unwinder or libgcc's; returns (ns per capture, frames captured).
#[pyfunction]
fn _bench_capture(n: usize, frames: usize, fast: bool) -> (f64, usize) {
    use crate::base::stacktrace::Trace;
    let cap = |l| if fast { Trace::capture(l) } else { Trace::capture_slow(l) };
    let got = cap(frames).ips().len();
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(cap(frames));
    }
    (t.elapsed().as_nanos() as f64 / n.max(1) as f64, got)
}

/// Tests: compare every fast capture with libgcc's (on), or stop; returns
/// (captures compared, mismatches, first mismatch as (fast, libgcc) ips).
#[pyfunction]
fn _unwind_check(on: Option<bool>) -> (u64, u64, Option<(Vec<usize>, Vec<usize>)>) {
    let r = crate::base::unwind::check_results();
    if let Some(on) = on {
        crate::base::unwind::set_checking(on);
    }
    r
}

/// The fast unwinder's rule-cache counters for this thread (see base::unwind).
#[pyfunction]
fn _unwind_stats() -> Option<(u64, u64, u64, u64)> {
    crate::base::unwind::cache_stats()
}

#[pymodule]
fn _hpydbg(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(set_test_id, m)?)?;
    m.add_function(wrap_pyfunction!(set_report_limit, m)?)?;
    m.add_function(wrap_pyfunction!(get_report_limit, m)?)?;
    m.add_function(wrap_pyfunction!(emit_repeats, m)?)?;
    m.add_function(wrap_pyfunction!(set_sites, m)?)?;
    m.add_function(wrap_pyfunction!(get_sites, m)?)?;
    m.add_function(wrap_pyfunction!(_py_offsets, m)?)?;
    m.add_function(wrap_pyfunction!(_py_layouts, m)?)?;
    m.add("HPyDebugError", m.py().get_type::<HPyDebugError>())?;
    m.add_function(wrap_pyfunction!(set_policy, m)?)?;
    m.add_function(wrap_pyfunction!(get_policy, m)?)?;
    m.add_function(wrap_pyfunction!(take_reports, m)?)?;
    m.add_function(wrap_pyfunction!(set_log, m)?)?;
    m.add_class::<DebugHandle>()?;
    m.add_class::<DebugAux>()?;
    m.add_function(wrap_pyfunction!(new_generation, m)?)?;
    m.add_function(wrap_pyfunction!(get_open_handles, m)?)?;
    m.add_function(wrap_pyfunction!(get_closed_handles, m)?)?;
    m.add_function(wrap_pyfunction!(get_closed_handles_queue_max_size, m)?)?;
    m.add_function(wrap_pyfunction!(set_closed_handles_queue_max_size, m)?)?;
    m.add_function(wrap_pyfunction!(get_protected_raw_data_max_size, m)?)?;
    m.add_function(wrap_pyfunction!(set_protected_raw_data_max_size, m)?)?;
    m.add_function(wrap_pyfunction!(set_on_invalid_handle, m)?)?;
    m.add_function(wrap_pyfunction!(set_on_invalid_builder_handle, m)?)?;
    m.add_function(wrap_pyfunction!(set_handle_stack_trace_limit, m)?)?;
    m.add_function(wrap_pyfunction!(get_handle_stack_trace_limit, m)?)?;
    m.add_function(wrap_pyfunction!(context_name, m)?)?;
    m.add_function(wrap_pyfunction!(context_created, m)?)?;
    m.add_function(wrap_pyfunction!(_rebind_universal, m)?)?;
    m.add_function(wrap_pyfunction!(stats, m)?)?;
    m.add_function(wrap_pyfunction!(_abi_layout, m)?)?;
    m.add_function(wrap_pyfunction!(_api_names, m)?)?;
    m.add_function(wrap_pyfunction!(_bench_capture, m)?)?;
    m.add_function(wrap_pyfunction!(_unwind_check, m)?)?;
    m.add_function(wrap_pyfunction!(_unwind_stats, m)?)?;
    Ok(())
}
