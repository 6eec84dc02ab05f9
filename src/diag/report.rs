//! Diagnostics: the one place that decides what happens when the extension
//! misuses the API (classes and policy: docs/REPORTS.md).
//!
//! Every report says what went wrong (class and HPy's first-line wording),
//! in which API function, which handle (value, slot, generation), where the
//! faulty call was made, where the handle was opened and closed when known,
//! and what to do.  It is written through `log` (text or JSON lines), kept
//! for `take_reports()`, and then: the user's Python callback runs, or the
//! policy decides (abort, raise, log).

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pyo3::prelude::*;

use crate::tables::builders::{AuxError, AuxKind};
use crate::base::sync::lock;
use crate::state::ctx::{self, SETTINGS, SITES, TABLE};
use crate::tables::handles::{decode, Lookup};
use crate::diag::log::{self, json_str};
use crate::state::settings::Policy;
use crate::base::pyframe::{self, PyLocation};
use crate::base::stacktrace::{self, Frame, Site, Trace};
use crate::diag::repeats;

pyo3::create_exception!(hpydbg, HPyDebugError, pyo3::exceptions::PyException, "A misuse of the HPy API found by hpydbg.");

pub const CLOSED_HANDLE: &str = "Invalid usage of already closed handle";
pub const CLOSED_BUILDER: &str = "Invalid usage of already closed builder";
pub const CLOSED_TRACKER: &str = "Invalid usage of already closed tracker";
pub const WRONG_CONTEXT: &str = "Error: Wrong HPy Context!";

/// What the caller must do after a report.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[must_use]
pub enum Outcome {
    /// Go on with the call (forwarding what is still known).
    Continue,
    /// Do not make the call: return the function's error value.
    Skip,
}

/// The extension function a trampoline called, for reports made when it
/// returns: its address (symbolised when reported) and signature.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Callee {
    pub func: usize,
    pub sig: i32,
}

impl Callee {
    /// What the runtime calls it as.
    pub fn kind(&self) -> &'static str {
        use crate::abi::sig::*;
        match self.sig {
            NOARGS | O | VARARGS | KEYWORDS => "method",
            GETTER => "getter",
            SETTER => "setter",
            NEWFUNC => "tp_new slot",
            INITPROC => "tp_init slot",
            GETBUFFERPROC => "getbuffer slot",
            RELEASEBUFFERPROC => "releasebuffer slot",
            DESTRUCTOR => "tp_finalize slot",
            MOD_CREATE => "module create slot",
            _ => "slot",
        }
    }

    /// The function's own frame: its name, and the file:line of its code.
    pub fn frame(&self) -> Frame {
        let frames = crate::base::stacktrace::resolve(self.func + 1);
        frames.last().cloned().unwrap_or_default()
    }
}

/// How the value was used, for the report.
#[derive(Copy, Clone, Debug)]
pub enum Use {
    /// Passed as argument `name` of API function `api`.
    Arg { api: &'static str, name: &'static str },
    /// Closed with `HPy_Close` (or by a tracker).
    Close { api: &'static str },
    /// Returned to the runtime by an extension function.
    Return(Callee),
    /// The `obj` of the buffer a getbuffer slot filled.
    BufferObj(Callee),
    /// An argument handle the runtime closes after the call.
    CallArg(Callee),
    /// `HPy_Close` of an argument handle (the runtime owns it).
    CloseArg { api: &'static str },
}

impl Use {
    fn api(&self) -> Option<&'static str> {
        match *self {
            Use::Arg { api, .. } | Use::Close { api } | Use::CloseArg { api } => Some(api),
            Use::Return(_) | Use::CallArg(_) | Use::BufferObj(_) => None,
        }
    }

    fn callee(&self) -> Option<Callee> {
        match *self {
            Use::Return(c) | Use::CallArg(c) | Use::BufferObj(c) => Some(c),
            _ => None,
        }
    }

    fn describe(&self, callee: Option<&Function>) -> String {
        let who = callee.map(|f| format!("{} ({})", f.frame.name(), f.kind)).unwrap_or_else(|| "an extension function".into());
        match *self {
            Use::Arg { api, name } => format!("passed as argument '{}' of {}()", name, api),
            Use::Close { api } | Use::CloseArg { api } => format!("closed by {}()", api),
            Use::Return(_) => format!("returned by {} to its caller", who),
            Use::BufferObj(_) => format!("the 'obj' of the HPy_buffer filled by {}", who),
            Use::CallArg(_) => format!("argument handle checked when {} returned", who),
        }
    }
}

/// The extension function a return-time report is about.
#[derive(Clone, Debug)]
pub struct Function {
    pub frame: Frame,
    pub kind: &'static str,
}

/// Where a handle was opened or closed, when no per-handle stack trace
/// was kept: from the site table.
#[derive(Clone, Debug)]
pub struct SiteRef {
    pub site: Option<Site>,
    pub python: Option<PyLocation>,
}

/// One finding.
#[derive(Clone, Debug)]
pub struct Report {
    pub class: &'static str,
    pub api: Option<&'static str>,
    /// First line, HPy's wording where HPy has one.
    pub message: String,
    pub detail: String,
    pub todo: String,
    pub usage: Option<String>,
    use_: Option<Use>,
    pub handle: Option<isize>,
    /// `ctx->h_None` & co.
    pub constant: Option<&'static str>,
    /// Frame of the extension where the faulty call was made.
    pub site: Option<Site>,
    /// The site's inline chain: the frames at its address beyond it, out to
    /// the function that holds the code (empty if it is that function).
    pub chain: Vec<Frame>,
    /// The function the site was inlined into, else the extension function
    /// that called it (for baselines: an entry on a shared helper covers
    /// only this caller).
    pub caller: Option<Frame>,
    /// The innermost Python frame when it was made.
    pub python: Option<PyLocation>,
    /// The test running then (set by the pytest plugin).
    pub test: Option<String>,
    /// The extension function concerned (return-time reports).
    pub function: Option<Function>,
    pub opened_at: Option<Trace>,
    pub closed_at: Option<Trace>,
    pub opened_site: Option<SiteRef>,
    pub closed_site: Option<SiteRef>,
    pub note: Option<String>,
    /// A user callback handled it (set_on_invalid_handle & co.).
    pub callback: bool,
    /// Occurrences of this finding: in the window since the last
    /// `take_reports`, and in all.
    pub count: u64,
    pub total: u64,
    /// Its Python callers, use sites and tests with their counts (set by
    /// `take_reports`, for the window, and for the summary at the end).
    pub summary: Option<repeats::Summary>,
    /// Where it happened, before symbolising: the cheap key.
    key: repeats::Key,
    /// The finding it is (see `symbol`).
    fid: Option<repeats::Fid>,
    callee: Option<Callee>,
    locate: bool,
    lookup: Option<Lookup>,
    /// The object behind the handle, when it is alive (`describe`).
    pub object: Option<String>,
    /// The pending exception (error-protocol reports).
    pub exception: Option<String>,
    /// The API call that returned an error and set that exception.
    pub origin: Option<Origin>,
}

/// Where a pending exception came from: the API call that returned an
/// error with it set, and the extension's line that made the call.
#[derive(Clone, Debug)]
pub struct Origin {
    pub api: &'static str,
    pub site: Option<Site>,
}

impl Report {
    pub fn new(class: &'static str, api: Option<&'static str>, message: &str, detail: String, todo: &str) -> Report {
        Report {
            class,
            api,
            message: message.to_string(),
            detail,
            todo: todo.to_string(),
            usage: None,
            use_: None,
            handle: None,
            constant: None,
            site: None,
            chain: Vec::new(),
            caller: None,
            python: None,
            test: None,
            function: None,
            opened_at: None,
            closed_at: None,
            opened_site: None,
            closed_site: None,
            note: None,
            callback: false,
            count: 1,
            total: 1,
            summary: None,
            key: repeats::Key::default(),
            fid: None,
            callee: None,
            locate: false,
            lookup: None,
            object: None,
            exception: None,
            origin: None,
        }
    }

    /// The faulty call happened here: its stack is captured when the
    /// report is completed.
    fn here(mut self) -> Self {
        self.locate = true;
        self
    }

    /// The report is about what extension function `c` returned.
    fn about(mut self, c: Callee) -> Self {
        self.function = Some(Function { frame: Frame::default(), kind: c.kind() });
        self.callee = Some(c);
        self
    }

    /// Attach handle `h` (what the table knows is read when the report is
    /// completed).
    fn with_handle(mut self, h: isize, l: Lookup) -> Self {
        self.handle = Some(h);
        self.lookup = Some(l);
        if let Lookup::Immortal { index, .. } = l {
            self.constant = ctx::constant_name(index);
        }
        self
    }

    /// Everything a first report says: the site and Python line, what the
    /// table knows of the handle, the function's name.
    fn complete(&mut self) {
        if self.locate {
            let frames = Trace::capture(48).resolve();
            self.site = stacktrace::site_of(&frames);
            self.caller = called_from(&frames);
        }
        // Python's frames can only be read holding the GIL (a thread that
        // does not hold it is reported too).
        if (self.locate || self.callee.is_some()) && has_gil() {
            self.python = pyframe::locate(pyframe::is_tooling_file).map(|(loc, code)| {
                unsafe { pyo3::ffi::Py_DecRef(code) };
                loc
            });
        }
        self.test = current_test();
        if let (Some(c), Some(f)) = (self.callee, self.function.as_mut()) {
            f.frame = c.frame();
            if self.site.is_none() {
                self.site = Some(Site { frame: f.frame.clone(), inlined_into: None });
            }
        }
        if let Some(u) = self.use_ {
            self.usage = Some(u.describe(self.function.as_ref()));
        }
        if let Some(s) = &self.site {
            self.chain = chain_of(s);
            if s.inlined_into.is_some() {
                self.caller = s.inlined_into.clone();
            }
        }
        let Some(l) = self.lookup else { return };
        if let Lookup::Open { uh, .. } | Lookup::Immortal { uh, .. } = l {
            self.object = crate::diag::describe::universal_handle(uh);
        }
        let t = TABLE.lock();
        match l {
            Lookup::Closed { index, .. } | Lookup::Open { index, .. } | Lookup::Immortal { index, .. } => {
                if let Some(e) = t.extra(index) {
                    self.opened_at = e.opened_at.clone();
                    self.closed_at = e.closed_at.clone();
                }
                let (opened, closed) = t.sites_of(index);
                let argument = t.is_argument(index);
                drop(t);
                if self.opened_at.is_none() && opened != 0 {
                    self.opened_site = site_ref(opened);
                }
                if self.closed_at.is_none() && closed != 0 && !matches!(l, Lookup::Open { .. }) {
                    self.closed_site = site_ref(closed);
                }
                if argument && self.note.is_none() {
                    self.note = Some("an argument handle: the runtime opened it for the call and closes it when the function returns".into());
                }
            }
            Lookup::Stale { reused, now_gen, .. } => {
                self.note = Some(if reused {
                    format!("it was closed long ago: its slot has been reused since (now at generation {})", now_gen)
                } else {
                    "it was closed long ago: its record left the closed-handles queue".to_string()
                });
            }
            _ => {}
        }
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.message);
        let _ = writeln!(out, "hpydbg: {} [{}]", self.detail, self.class);
        if let Some(u) = &self.usage {
            let _ = writeln!(out, "  in: {}", u);
        } else if let Some(api) = &self.api {
            let _ = writeln!(out, "  in: {}()", api);
        }
        if let Some(site) = &self.site {
            let _ = writeln!(out, "  at: {}", site.text());
        }
        if let Some(p) = &self.python {
            let _ = writeln!(out, "  python: {}", p.text());
        }
        if let Some(t) = &self.test {
            let _ = writeln!(out, "  test: {}", t);
        }
        self.error_protocol_lines(&mut out);
        if let Some(h) = self.handle {
            match self.constant {
                Some(c) => {
                    let _ = write!(out, "  handle: ctx->{} ({:#x}, a context constant)", c, h);
                }
                None => {
                    let _ = write!(out, "  handle: {:#x}", h);
                    if let Some((index, gen)) = decode(h) {
                        let _ = write!(out, " (slot {}, generation {})", index, gen);
                    }
                }
            }
            out.push('\n');
            if let Some(n) = &self.note {
                let _ = writeln!(out, "  {}", n);
            }
            if self.constant.is_none() {
                place_lines(&mut out, "opened at", self.opened_at.as_ref(), self.opened_site.as_ref());
                if self.closed_at.is_some() || self.closed_site.is_some() || matches!(self.class, "use-after-close" | "double-close" | "return-closed" | "argument-closed") {
                    place_lines(&mut out, "closed at", self.closed_at.as_ref(), self.closed_site.as_ref());
                }
            }
        }
        if let (None, Some(_)) = (self.handle, &self.opened_site) {
            // A builder's item reports: where the builder was opened.
            place_lines(&mut out, "builder opened at", None, self.opened_site.as_ref());
        }
        if let (None, Some(n)) = (self.handle, &self.note) {
            let _ = writeln!(out, "  note: {}", n);
        }
        if self.total > 1 {
            let _ = writeln!(out, "  seen: {} times so far (repeats are counted, not printed: HPY_DEBUG_REPORT_LIMIT)", self.total);
        }
        let _ = writeln!(out, "  what to do: {}", self.todo);
        out
    }

    pub fn json(&self) -> String {
        let opt = |s: &Option<String>| s.as_deref().map(json_str).unwrap_or_else(|| "null".into());
        let function = match &self.function {
            Some(f) => format!(
                "{{\"name\": {}, \"kind\": {}, \"file\": {}, \"line\": {}, \"object\": {}}}",
                json_str(&f.frame.name()),
                json_str(f.kind),
                f.frame.file.as_deref().map(json_str).unwrap_or_else(|| "null".into()),
                f.frame.line.map(|l| l.to_string()).unwrap_or_else(|| "null".into()),
                json_str(&f.frame.object)
            ),
            None => "null".into(),
        };
        format!(
            "{{\"event\": \"misuse\", \"class\": {}, \"api\": {}, \"message\": {}, \"detail\": {}, \"what_to_do\": {}, \
             \"handle\": {}, \"constant\": {}, \"note\": {}, \"site\": {}, \"python\": {}, \"test\": {}, \"function\": {}, \
             \"opened_at\": {}, \"closed_at\": {}, \"opened_site\": {}, \"closed_site\": {}, \"callback\": {}, \
             \"count\": {}, \"total\": {}, \"object\": {}, \"exception\": {}, \"origin\": {}, \"chain\": {}, \"caller\": {},              \"callers\": {}, \"uses\": {}, \"tests\": {}, \"pid\": {}}}",
            json_str(self.class),
            self.api.map(json_str).unwrap_or_else(|| "null".into()),
            json_str(&self.message),
            json_str(&self.detail),
            json_str(&self.todo),
            self.handle.map(|h| json_str(&format!("{:#x}", h))).unwrap_or_else(|| "null".into()),
            self.constant.map(|c| json_str(&format!("ctx->{}", c))).unwrap_or_else(|| "null".into()),
            opt(&self.note),
            self.site.as_ref().map(site_json).unwrap_or_else(|| "null".into()),
            self.python.as_ref().map(python_json).unwrap_or_else(|| "null".into()),
            opt(&self.test),
            function,
            trace_json(self.opened_at.as_ref()),
            trace_json(self.closed_at.as_ref()),
            self.opened_site.as_ref().map(site_ref_json).unwrap_or_else(|| "null".into()),
            self.closed_site.as_ref().map(site_ref_json).unwrap_or_else(|| "null".into()),
            self.callback,
            self.count,
            self.total,
            opt(&self.object),
            opt(&self.exception),
            self.origin_json(),
            chain_json(&self.chain),
            self.caller.as_ref().map(short_frame_json).unwrap_or_else(|| "null".into()),
            self.summary.as_ref().map(|s| callers_json(s, false)).unwrap_or_else(|| "null".into()),
            self.summary.as_ref().map(|s| uses_json(self.class, s, false)).unwrap_or_else(|| "null".into()),
            self.summary.as_ref().map(|s| tests_json(s, false)).unwrap_or_else(|| "null".into()),
            std::process::id()
        )
    }

    /// The finding this report is: its class and the extension's C site
    /// with its inline chain (not the Python line); for a kept context, the
    /// function holding the uses (each use site is listed under it).  Where
    /// there is no site, the API function.  `hpydbg.logs.finding_key` is
    /// the same rule on the JSON fields, for logs of many processes.
    fn symbol(&self) -> String {
        let frame = |f: &Frame| format!("{}@{}:{}", f.name(), f.file.as_deref().unwrap_or("?"), f.line.map(|l| l.to_string()).unwrap_or_else(|| "?".into()));
        match &self.site {
            Some(s) if self.class == "wrong-context" => {
                let holder = self.chain.last().unwrap_or(&s.frame);
                format!("{}|{}|{}@{}", self.class, s.frame.object, holder.name(), holder.file.as_deref().unwrap_or("?"))
            }
            Some(s) => {
                let mut k = format!("{}|{}|{}", self.class, s.frame.object, frame(&s.frame));
                for f in &self.chain {
                    k.push('<');
                    k.push_str(&frame(f));
                }
                k
            }
            None => format!(
                "{}|?|{}",
                self.class,
                self.function.as_ref().map(|f| f.frame.name()).or(self.api.map(String::from)).unwrap_or_default()
            ),
        }
    }
}

/// The frames at the site's address beyond the site, out to the function
/// that holds the code.
fn chain_of(s: &Site) -> Vec<Frame> {
    let frames = stacktrace::resolve(s.frame.ip);
    match frames.iter().position(|f| f.function == s.frame.function && f.file == s.frame.file && f.line == s.frame.line) {
        Some(i) => frames[i + 1..].to_vec(),
        None => s.inlined_into.iter().cloned().collect(),
    }
}

/// The extension function that called the function holding the site (the
/// next frame of the extension's own code beyond it).
fn called_from(frames: &[Frame]) -> Option<Frame> {
    let i = frames.iter().position(|f| f.is_extension_code())?;
    let holder = (i..frames.len()).find(|&j| !frames[j].inlined)?;
    frames[holder + 1..].iter().find(|f| f.is_extension_code()).cloned()
}

/// `{function, file, line}`.
fn short_frame_json(f: &Frame) -> String {
    format!(
        "{{\"function\": {}, \"file\": {}, \"line\": {}}}",
        json_str(&f.name()),
        f.file.as_deref().map(json_str).unwrap_or_else(|| "null".into()),
        f.line.map(|l| l.to_string()).unwrap_or_else(|| "null".into())
    )
}

fn chain_json(chain: &[Frame]) -> String {
    format!("[{}]", chain.iter().map(short_frame_json).collect::<Vec<_>>().join(", "))
}

fn pick(c: &repeats::Counts, total: bool) -> u64 {
    if total {
        c.total
    } else {
        c.window
    }
}

/// `[{file, line, function, count}]` (an unknown caller: file null).
fn callers_json(s: &repeats::Summary, total: bool) -> String {
    let rows: Vec<String> = s
        .callers
        .iter()
        .filter(|(_, c)| pick(c, total) > 0)
        .map(|(l, c)| match l {
            Some(l) => format!("{{\"file\": {}, \"line\": {}, \"function\": {}, \"count\": {}}}", json_str(&l.file), l.line, json_str(&l.function), pick(c, total)),
            None => format!("{{\"file\": null, \"line\": null, \"function\": null, \"count\": {}}}", pick(c, total)),
        })
        .collect();
    format!("[{}]", rows.join(", "))
}

/// The use sites of a kept context: `[{site, count}]`; `null` for other classes.
fn uses_json(class: &str, s: &repeats::Summary, total: bool) -> String {
    if class != "wrong-context" {
        return "null".into();
    }
    let rows: Vec<String> = use_sites(s, total)
        .iter()
        .map(|(site, n)| format!("{{\"site\": {}, \"count\": {}}}", site.as_ref().map(site_json).unwrap_or_else(|| "null".into()), n))
        .collect();
    format!("[{}]", rows.join(", "))
}

/// The use sites by C line (several return addresses can be one line).
fn use_sites(s: &repeats::Summary, total: bool) -> Vec<(Option<Site>, u64)> {
    let mut out: Vec<(Option<Site>, u64)> = Vec::new();
    for (ra, c) in &s.uses {
        let n = pick(c, total);
        if n == 0 {
            continue;
        }
        let site = stacktrace::site_of(&stacktrace::resolve(*ra));
        match out.iter_mut().find(|(x, _)| *x == site) {
            Some(e) => e.1 += n,
            None => out.push((site, n)),
        }
    }
    out.sort_by(|a, b| b.1.cmp(&a.1));
    out
}

fn tests_json(s: &repeats::Summary, total: bool) -> String {
    let rows: Vec<String> = s
        .tests
        .iter()
        .filter(|(_, c)| pick(c, total) > 0)
        .map(|(t, c)| format!("{{\"test\": {}, \"count\": {}}}", json_str(t), pick(c, total)))
        .collect();
    format!("[{}]", rows.join(", "))
}

fn site_ref(id: u32) -> Option<SiteRef> {
    let mut t = SITES.lock();
    let info = t.get_mut(id)?;
    // Symbolising reads files, not the tables: but it is done once per
    // site, and the guard is ours alone.
    let site = info.site();
    Some(SiteRef { site, python: info.python.clone() })
}

impl Report {
    /// The object, and for error-protocol reports the pending exception and
    /// where it came from.
    fn error_protocol_lines(&self, out: &mut String) {
        if let Some(o) = &self.object {
            let _ = writeln!(out, "  object: {}", o);
        }
        if let Some(e) = &self.exception {
            let _ = writeln!(out, "  exception: {}", e);
            match &self.origin {
                Some(o) => {
                    let site = o.site.as_ref().map(|f| f.text()).unwrap_or_else(|| "unknown site".into());
                    let _ = writeln!(out, "  exception set by: {}() at {}", o.api, site);
                }
                None => {
                    let _ = writeln!(out, "  exception set by: unknown (not by an HPy call of this function that hpydbg saw fail)");
                }
            }
        }
    }

    fn origin_json(&self) -> String {
        match &self.origin {
            None => "null".into(),
            Some(o) => format!(
                "{{\"api\": {}, \"site\": {}}}",
                json_str(o.api),
                o.site.as_ref().map(site_json).unwrap_or_else(|| "null".into())
            ),
        }
    }
}

/// An error-protocol report (`errstate`), built by the caller; no callback
/// handles it, the policy decides.  `func`: the extension function it is
/// about, when it is about what one returned.  De-duplicated as the others.
pub fn deliver_misuse(r: Report, func: Option<usize>) -> Outcome {
    let key = match func {
        Some(f) => repeats::Key { class: r.class, api: None, ra: f },
        None => key_here(r.class, r.api),
    };
    finding(key, Callback::None, true, || r)
}

pub fn frame_json(f: &Frame) -> String {
    format!(
        "{{\"function\": {}, \"file\": {}, \"line\": {}, \"object\": {}, \"inlined\": {}}}",
        f.function.as_deref().map(json_str).unwrap_or_else(|| "null".into()),
        f.file.as_deref().map(json_str).unwrap_or_else(|| "null".into()),
        f.line.map(|l| l.to_string()).unwrap_or_else(|| "null".into()),
        json_str(&f.object),
        f.inlined
    )
}

/// `{function, file, line, object, inlined_into: {function, file, line} | null}`.
pub fn site_json(s: &Site) -> String {
    let f = &s.frame;
    let into = match &s.inlined_into {
        Some(o) => format!(
            "{{\"function\": {}, \"file\": {}, \"line\": {}}}",
            json_str(&o.name()),
            o.file.as_deref().map(json_str).unwrap_or_else(|| "null".into()),
            o.line.map(|l| l.to_string()).unwrap_or_else(|| "null".into())
        ),
        None => "null".into(),
    };
    format!(
        "{{\"function\": {}, \"file\": {}, \"line\": {}, \"object\": {}, \"inlined_into\": {}}}",
        f.function.as_deref().map(json_str).unwrap_or_else(|| "null".into()),
        f.file.as_deref().map(json_str).unwrap_or_else(|| "null".into()),
        f.line.map(|l| l.to_string()).unwrap_or_else(|| "null".into()),
        json_str(&f.object),
        into
    )
}

pub fn python_json(p: &PyLocation) -> String {
    format!("{{\"file\": {}, \"line\": {}, \"function\": {}}}", json_str(&p.file), p.line, json_str(&p.function))
}

fn site_ref_json(s: &SiteRef) -> String {
    format!(
        "{{\"site\": {}, \"python\": {}}}",
        s.site.as_ref().map(site_json).unwrap_or_else(|| "null".into()),
        s.python.as_ref().map(python_json).unwrap_or_else(|| "null".into())
    )
}

pub fn trace_json(t: Option<&Trace>) -> String {
    match t {
        None => "null".into(),
        Some(t) => format!("[{}]", t.resolve().iter().map(frame_json).collect::<Vec<_>>().join(", ")),
    }
}

/// `opened at:` / `closed at:` lines: the per-handle stack when kept, else
/// the site; nothing known is said plainly (it is not "traces are off").
fn place_lines(out: &mut String, label: &str, t: Option<&Trace>, site: Option<&SiteRef>) {
    if let Some(t) = t {
        let _ = writeln!(out, "  {}:", label);
        out.push_str(&t.render("    "));
        return;
    }
    match site {
        Some(s) => {
            let where_ = s.site.as_ref().map(|x| x.text()).unwrap_or_else(|| "(no extension frame found)".into());
            let _ = writeln!(out, "  {}: {}", label, where_);
            if let Some(p) = &s.python {
                let _ = writeln!(out, "    python: {}", p.text());
            }
        }
        None if !SETTINGS.sites() => {
            let _ = writeln!(out, "  {}: unknown (sites are off: HPY_DEBUG_SITES=0)", label);
        }
        None => {
            let _ = writeln!(out, "  {}: unknown", label);
        }
    }
}

/// The test in progress, as the pytest plugin said (`set_test_id`).
static TEST_ID: Mutex<Option<String>> = Mutex::new(None);

pub fn set_test_id(id: Option<String>) {
    *lock(&TEST_ID) = id;
    repeats::test_changed();
}

fn current_test() -> Option<String> {
    lock(&TEST_ID).clone()
}

/// Reports kept for `take_reports()` (bounded; one per distinct report of
/// the window, with its count) and counts by class.
struct Kept {
    recent: VecDeque<Report>,
    counts: HashMap<&'static str, u64>,
    dropped: u64,
}

static KEPT: Mutex<Option<Kept>> = Mutex::new(None);
/// Reports kept for `take_reports()`; older ones are counted as dropped
/// (`stats()["reports_dropped"]`) but were written to the log.
const KEEP_MAX: usize = 100_000;

fn keep(r: &Report) {
    let mut g = lock(&KEPT);
    let k = g.get_or_insert_with(|| Kept { recent: VecDeque::new(), counts: HashMap::new(), dropped: 0 });
    if k.recent.len() >= KEEP_MAX {
        k.recent.pop_front();
        k.dropped += 1;
    }
    k.recent.push_back(r.clone());
}

fn count_class(class: &'static str) {
    let mut g = lock(&KEPT);
    let k = g.get_or_insert_with(|| Kept { recent: VecDeque::new(), counts: HashMap::new(), dropped: 0 });
    *k.counts.entry(class).or_insert(0) += 1;
}

/// Reports since the last call, oldest first: each finding of the window
/// `limit` times at most; the last of them carries the count of the rest
/// (so that the counts add up to the occurrences) and the window's
/// callers, use sites and tests.
pub fn take_reports() -> Vec<Report> {
    let mut g = lock(&KEPT);
    let mut v: Vec<Report> = g.as_mut().map(|k| k.recent.drain(..).collect()).unwrap_or_default();
    drop(g);
    let mut window = repeats::new_window();
    let mut kept: HashMap<Option<repeats::Fid>, u64> = HashMap::new();
    for r in v.iter() {
        *kept.entry(r.fid).or_insert(0) += 1;
    }
    for r in v.iter_mut().rev() {
        let Some(fid) = r.fid else { continue };
        let Some(s) = window.remove(&fid) else { continue };
        r.total = s.counts.total;
        r.count = s.counts.window.saturating_sub(kept[&r.fid] - 1).max(1);
        r.summary = Some(s);
    }
    v
}

/// Reports no longer held for `take_reports()`.
pub fn dropped() -> u64 {
    lock(&KEPT).as_ref().map(|k| k.dropped).unwrap_or(0)
}

/// Number of reports by class since start.
pub fn counts() -> Vec<(&'static str, u64)> {
    let g = lock(&KEPT);
    let mut v: Vec<_> = g.as_ref().map(|k| k.counts.iter().map(|(a, b)| (*a, *b)).collect()).unwrap_or_default();
    v.sort();
    v
}

/// The first full report of each key, for the end-of-run summary.
static FIRSTS: Mutex<Vec<Report>> = Mutex::new(Vec::new());

/// Python callers, use sites and tests shown per finding in text; the
/// JSON records list them all.
const SHOWN_PER_FINDING: usize = 5;

/// One summary (text: a few lines; JSON: a `repeat` record) per finding
/// seen more often than printed, or from more than one Python line or use
/// site: its total, its callers, use sites and tests with their counts.
/// For the end of a run; returns how many.
pub fn emit_repeats() -> usize {
    let n = summaries(false);
    if !SUMMARY_DONE.swap(true, Ordering::Relaxed) {
        // Destructors run while the interpreter shuts down, after this
        // summary: what they add is summarised again at the very end.
        unsafe { libc::atexit(late_summaries) };
    }
    n
}

/// The exit summary was written: reports made after it say so.
static SUMMARY_DONE: AtomicBool = AtomicBool::new(false);
/// The totals that summary gave, by finding.
static SUMMARISED: Mutex<Option<HashMap<repeats::Fid, u64>>> = Mutex::new(None);
const LATE: &str = "hpydbg: after the exit summary (while the interpreter shut down):\n";

extern "C" fn late_summaries() {
    summaries(true);
}

/// The summaries of `emit_repeats`; `late`: only those whose totals grew
/// since (a later `repeat` record of a finding supersedes the earlier one).
fn summaries(late: bool) -> usize {
    let limit = repeats::limit();
    let done = lock(&SUMMARISED).clone().unwrap_or_default();
    let rows: Vec<(Report, repeats::Summary)> = lock(&FIRSTS)
        .iter()
        .filter_map(|r| Some((r.clone(), repeats::summary(r.fid?))))
        .filter(|(r, s)| s.counts.total > limit || s.callers.len() > 1 || (r.class == "wrong-context" && s.uses.len() > 1))
        .filter(|(r, s)| !late || r.fid.and_then(|f| done.get(&f)) != Some(&s.counts.total))
        .collect();
    for (r, s) in &rows {
        if let Some(f) = r.fid {
            lock(&SUMMARISED).get_or_insert_with(HashMap::new).insert(f, s.counts.total);
        }
        let total = s.counts.total;
        let shown = total.min(limit);
        let mut text = format!(
            "hpydbg: {} x {} [{}]{}{} (printed {} time{})\n",
            total,
            r.detail,
            r.class,
            r.api.map(|a| format!(" in {}()", a)).unwrap_or_default(),
            r.site.as_ref().map(|s| format!(" at {}", s.text())).unwrap_or_default(),
            shown,
            if shown == 1 { "" } else { "s" }
        );
        if r.class == "wrong-context" {
            let uses = use_sites(s, true);
            for (site, n) in uses.iter().take(SHOWN_PER_FINDING) {
                let _ = writeln!(text, "    used at: {} ({})", site.as_ref().map(|x| x.text()).unwrap_or_else(|| "unknown site".into()), n);
            }
            more_line(&mut text, uses.len(), "use sites");
        }
        for (loc, c) in s.callers.iter().take(SHOWN_PER_FINDING) {
            let _ = writeln!(text, "    from Python: {} ({})", loc.as_ref().map(|l| l.text()).unwrap_or_else(|| "unknown".into()), c.total);
        }
        more_line(&mut text, s.callers.len(), "Python callers");
        if !s.tests.is_empty() {
            let names: Vec<&str> = s.tests.iter().take(3).map(|(t, _)| t.as_str()).collect();
            let more = if s.tests.len() > 3 { format!(" and {} more", s.tests.len() - 3) } else { String::new() };
            let _ = writeln!(text, "    tests: {}{}", names.join(", "), more);
        }
        let json = format!(
            "{{\"event\": \"repeat\", \"class\": {}, \"api\": {}, \"site\": {}, \"chain\": {}, \"caller\": {}, \"python\": {}, \
             \"function\": {}, \"count\": {}, \"shown\": {}, \"callers\": {}, \"uses\": {}, \"tests\": {}, \"pid\": {}}}",
            json_str(r.class),
            r.api.map(json_str).unwrap_or_else(|| "null".into()),
            r.site.as_ref().map(site_json).unwrap_or_else(|| "null".into()),
            chain_json(&r.chain),
            r.caller.as_ref().map(short_frame_json).unwrap_or_else(|| "null".into()),
            r.python.as_ref().map(python_json).unwrap_or_else(|| "null".into()),
            r.function.as_ref().map(|f| json_str(&f.frame.name())).unwrap_or_else(|| "null".into()),
            total,
            shown,
            callers_json(s, true),
            uses_json(r.class, s, true),
            tests_json(s, true),
            std::process::id()
        );
        if late {
            log::emit_direct(&format!("{}{}", LATE, text), &json);
        } else {
            log::emit(r.class, &text, &json);
        }
    }
    rows.len()
}

fn more_line(out: &mut String, n: usize, what: &str) {
    if n > SHOWN_PER_FINDING {
        let _ = writeln!(out, "    ... and {} more {}", n - SHOWN_PER_FINDING, what);
    }
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum Callback {
    None,
    Handle,
    Builder,
}

/// What identifies a report cheaply, before it is built: the call site
/// (return address into the extension), or the extension function for
/// reports made when it returns.  Not the Python line: that is a caller
/// of the finding, counted under it.
fn key_here(class: &'static str, api: Option<&'static str>) -> repeats::Key {
    repeats::Key { class, api, ra: ctx::caller_ra() }
}

fn key_about(class: &'static str, c: Callee) -> repeats::Key {
    repeats::Key { class, api: None, ra: c.func }
}

fn has_gil() -> bool {
    unsafe { pyo3::ffi::PyGILState_Check() != 0 }
}

/// The running Python instruction, if this thread may look (it holds the GIL).
fn python_instr() -> usize {
    if has_gil() {
        pyframe::current_instr()
    } else {
        0
    }
}

/// The Python caller to list under a finding (needs the GIL).
fn python_caller() -> Option<PyLocation> {
    if !has_gil() {
        return None;
    }
    pyframe::locate(pyframe::is_tooling_file).map(|(loc, code)| {
        unsafe { pyo3::ffi::Py_DecRef(code) };
        loc
    })
}

/// A finding: counted; built (by `build`), completed, written and kept
/// only while within the limit of identical reports, so that a flood of
/// the same misuse costs a hash lookup each; then the callback or the
/// policy decides.  `policy: false`: report and go on regardless.
fn finding(key: repeats::Key, cb: Callback, policy: bool, build: impl FnOnce() -> Report) -> Outcome {
    count_class(key.class);
    let slot = match cb {
        Callback::Handle if SETTINGS.has_callback() => Some(&SETTINGS.on_invalid_handle),
        Callback::Builder if SETTINGS.has_callback() => Some(&SETTINGS.on_invalid_builder_handle),
        _ => None,
    };
    let callback = slot.and_then(|slot| Python::attach(|py| lock(slot).as_ref().map(|c| c.clone_ref(py))));
    // A call site seen for the first time is built and symbolised, to
    // learn which finding it is; after that, a hash lookup.
    let mut built = None;
    let mut build = Some(build);
    let fid = match repeats::lookup(&key) {
        Some(fid) => fid,
        None => {
            let mut r = build.take().map(|b| b()).unwrap_or_else(|| Report::new(key.class, key.api, "", String::new(), ""));
            r.complete();
            let fid = repeats::bind(&key, r.symbol());
            built = Some(r);
            fid
        }
    };
    let instr = python_instr();
    let seen = repeats::count(fid, instr, key.ra, current_test);
    if seen.new_caller {
        let loc = match &built {
            Some(r) => r.python.clone(),
            None => python_caller(),
        };
        repeats::set_caller(fid, instr, loc);
    }
    let mut message = None;
    if seen.window <= repeats::limit() {
        let mut r = match built {
            Some(r) => r,
            None => {
                let mut r = build.take().map(|b| b()).unwrap_or_else(|| Report::new(key.class, key.api, "", String::new(), ""));
                r.complete();
                r
            }
        };
        r.key = key;
        r.fid = Some(fid);
        r.callback = callback.is_some();
        r.total = seen.total;
        if seen.total <= repeats::limit() {
            let text = if SUMMARY_DONE.load(Ordering::Relaxed) { format!("{}{}", LATE, r.text()) } else { r.text() };
            log::emit(r.class, &text, &r.json());
        }
        if seen.total == 1 {
            lock(&FIRSTS).push(r.clone());
        }
        message = Some(r.message.clone());
        keep(&r);
    }
    if !policy {
        return Outcome::Continue;
    }
    if let Some(callback) = callback {
        Python::attach(|py| {
            // An exception may be pending (the extension is returning an
            // error): keep it across the callback.
            let pending = PyErr::take(py);
            if let Err(e) = callback.call0(py) {
                eprintln!("Error when executing the on_invalid_(builder_)handle callback");
                e.print(py);
            }
            if let Some(e) = pending {
                e.restore(py);
            }
        });
        return Outcome::Continue;
    }
    match SETTINGS.policy() {
        Policy::Abort => fatal(message.as_deref().unwrap_or("hpydbg: invalid usage of the HPy API (see the report above)")),
        Policy::Raise => Outcome::Skip,
        Policy::Log => Outcome::Continue,
    }
}

/// An invalid object handle.
pub fn invalid_handle(u: Use, h: isize, l: Lookup) -> Outcome {
    let (class, first, why, todo): (&'static str, &str, &str, &str) = match (l, u) {
        (_, Use::CloseArg { .. }) => (
            "close-argument",
            "Invalid usage: HPy_Close of an argument handle",
            "argument handles belong to the caller: the runtime closes them when the function returns",
            "remove this HPy_Close (or close an HPy_Dup of the argument instead); the handle was left open",
        ),
        (Lookup::Closed { .. } | Lookup::Stale { .. }, Use::Close { .. }) => {
            ("double-close", CLOSED_HANDLE, "double close: this handle was already closed", "close each handle exactly once")
        }
        (Lookup::Closed { .. } | Lookup::Stale { .. }, Use::Return(_)) => (
            "return-closed",
            CLOSED_HANDLE,
            "the function returned a handle that is closed (often an argument returned without HPy_Dup)",
            "return HPy_Dup(ctx, h) of a handle you do not own",
        ),
        (Lookup::Closed { .. } | Lookup::Stale { .. }, Use::CallArg(_) | Use::BufferObj(_)) => (
            "argument-closed",
            CLOSED_HANDLE,
            "an argument handle was already closed when the function returned: the runtime owns argument handles and closes them itself",
            "find the close named under 'closed at' and remove it (close an HPy_Dup of the argument if you need a handle of your own)",
        ),
        (Lookup::Closed { .. } | Lookup::Stale { .. }, Use::Arg { .. }) => (
            "use-after-close",
            CLOSED_HANDLE,
            "use after close",
            "do not use a handle after HPy_Close; HPy_Dup it if you need it longer",
        ),
        (Lookup::Immortal { .. }, Use::Return(_)) => (
            "return-constant",
            CLOSED_HANDLE,
            "the function returned a context constant (ctx->h_...) without HPy_Dup",
            "return HPy_Dup(ctx, ctx->h_None) and the like",
        ),
        (Lookup::Immortal { .. }, _) => {
            ("close-constant", CLOSED_HANDLE, "a context constant (ctx->h_...) was closed", "never close ctx->h_* constants")
        }
        (Lookup::Universal, _) => (
            "foreign-handle",
            "Invalid usage of a handle that does not belong to the debug context",
            "an odd value: a universal-mode handle, or a handle from another context",
            "only use handles you got from the ctx passed to this call",
        ),
        (Lookup::NotAHandle, _) => (
            "not-a-handle",
            "Invalid usage of a value that is not an HPy handle",
            "this value was never handed out as a handle (uninitialised variable? garbage?)",
            "check where this value comes from",
        ),
        (Lookup::Open { .. }, _) => ("use-after-close", CLOSED_HANDLE, "invalid use of an open handle", ""),
    };
    let key = match u.callee() {
        Some(c) => key_about(class, c),
        None => key_here(class, u.api()),
    };
    finding(key, Callback::Handle, true, || {
        let r = Report::new(class, u.api(), first, why.to_string(), todo);
        let mut r = match u.callee() {
            Some(c) => r.about(c),
            None => r.here(),
        }
        .with_handle(h, l);
        r.use_ = Some(u);
        if let (Some(c), "return-constant") = (r.constant, class) {
            r.detail = format!("the function returned ctx->{} without HPy_Dup: the context's constants are not the function's to give away", c);
            r.todo = format!("return HPy_Dup(ctx, ctx->{})", c);
        }
        if let Use::BufferObj(_) = u {
            r.detail = "view->obj is a borrowed handle (an argument of the slot, which the runtime closes when the slot returns): \
                        the buffer would hold a closed handle"
                .into();
            r.todo = "set view->obj to HPy_Dup(ctx, self) (or another handle you own) in the getbuffer slot".into();
        }
        r
    })
}

/// An invalid builder or tracker.
pub fn invalid_aux(api: &'static str, kind: AuxKind, h: isize, e: AuxError) -> Outcome {
    let (class, first, cb) = if kind == AuxKind::Tracker {
        ("tracker-after-close", CLOSED_TRACKER, Callback::Handle)
    } else {
        ("builder-after-close", CLOSED_BUILDER, Callback::Builder)
    };
    let why = match e {
        AuxError::Closed => format!("this {} was already built, cancelled or closed", kind.what()),
        AuxError::WrongKind(k) => format!("expected a {}, got a live {}", kind.what(), k.what()),
        AuxError::NotAHandle => format!("this value ({:#x}) was never a {}", h, kind.what()),
    };
    finding(key_here(class, Some(api)), cb, true, || {
        Report::new(class, Some(api), first, why, "use a builder until its Build or Cancel call, and a tracker until its Close").here()
    })
}

/// A broken `tp_traverse` contract (`func::traverse`), found at an
/// `HPyField_Store`: then the callback of `set_on_invalid_handle`, or the
/// policy (the store has been made either way).
pub fn traverse_contract(class: &'static str, api: &'static str, message: &str, detail: String, todo: &str) -> Outcome {
    finding(key_here(class, Some(api)), Callback::Handle, true, || Report::new(class, Some(api), message, detail, todo).here())
}

/// A finding that is reported and counted but never stops or changes the
/// call, whatever the policy (`field-without-gc`: HPy accepts such types,
/// and its own tests define them on purpose).
pub fn warning(class: &'static str, api: &'static str, message: &str, detail: String, todo: &str) {
    let _ = finding(key_here(class, Some(api)), Callback::None, false, || Report::new(class, Some(api), message, detail, todo).here());
}

/// A builder's items misused (index out of range, an item set twice, an
/// item never set by Build): the site of the call, and where the builder
/// was opened (`opened`, an id of the site table); then the callback of
/// `set_on_invalid_builder_handle`, or the policy.
pub fn builder_item(class: &'static str, api: &'static str, message: &str, detail: String, todo: &str, opened: u32, note: Option<String>) -> Outcome {
    finding(key_here(class, Some(api)), Callback::Builder, true, || {
        let mut r = Report::new(class, Some(api), message, detail, todo).here();
        if opened != 0 {
            r.opened_site = site_ref(opened);
        }
        r.note = note;
        r
    })
}

/// HPy_NULL passed where the API needs an object.  HPy defines most API
/// functions to raise SystemError on HPy_NULL (and HPy's own tests rely on
/// it), so unless the universal context would crash (`crashes`), the default
/// policy reports and goes on.
pub fn null_handle(api: &'static str, name: &'static str, crashes: bool) -> Outcome {
    // Unless the universal context would crash, the call goes on (it raises).
    let policy = crashes || SETTINGS.policy() != Policy::Abort;
    finding(key_here("null-handle", Some(api)), Callback::Handle, policy, || {
        let mut r = Report::new(
            "null-handle",
            Some(api),
            "Invalid usage of HPy_NULL",
            format!("argument '{}' of {}() is HPy_NULL", name, api),
            "HPy_NULL is what a failed call returns (with an exception set), or an absent optional value: \\
             check the call that produced it, or test for HPy_IsNull before this call",
        )
        .here();
        r.use_ = Some(Use::Arg { api, name });
        r
    })
}

/// A NULL pointer argument that CPython would dereference (the rule:
/// `func::pointers`); the call is not made, whatever the callback of
/// `set_on_invalid_handle` or the policy say.
pub fn null_pointer(api: &'static str, name: &'static str) -> Outcome {
    finding(key_here("null-pointer", Some(api)), Callback::Handle, true, || {
        Report::new(
            "null-pointer",
            Some(api),
            "Invalid usage of a NULL pointer",
            format!("argument '{}' of {}() is NULL: the universal context passes it to CPython, which dereferences it", name, api),
            "check the pointer before the call (a lookup that found nothing? a failed conversion?)",
        )
        .here()
    })
}

/// An argument check failed (HPy's message first).
pub fn bad_argument(api: &'static str, message: &str) -> Outcome {
    finding(key_here("bad-argument", Some(api)), Callback::None, true, || {
        Report::new("bad-argument", Some(api), message, message.to_string(), "see the HPy documentation of this function").here()
    })
}

/// An API call between HPy_LeavePythonExecution and HPy_ReenterPythonExecution.
pub fn outside_python(api: &'static str) -> Outcome {
    finding(key_here("outside-python", Some(api)), Callback::None, true, || {
        Report::new(
            "outside-python",
            Some(api),
            "Invalid HPy API call while outside Python execution",
            format!("{}() was called after HPy_LeavePythonExecution and before HPy_ReenterPythonExecution", api),
            "only plain C code may run between HPy_LeavePythonExecution and HPy_ReenterPythonExecution",
        )
        .here()
    })
}

/// A context that is not current was used; `refused`: by a thread without
/// the GIL, so the call is not made.
pub fn wrong_context(api: &'static str, ctx: *const crate::abi::HPyContext, refused: bool) -> Outcome {
    finding(key_here("wrong-context", Some(api)), Callback::None, true, || {
        let mut r = Report::new(
            "wrong-context",
            Some(api),
            WRONG_CONTEXT,
            format!(
                "{}() was called with context {:p}, which is not the context of the current call: a context is valid \
                 only during the call it was passed to, on that thread",
                api, ctx
            ),
            "pass down the ctx your function received; do not keep it in a global or use it from another thread",
        )
        .here();
        if refused {
            r.note = Some(format!(
                "this thread does not hold the GIL, so {}() was not called: it returns its error value, with no exception set",
                api
            ));
        }
        r
    })
}

/// A fault in protected raw data (called from the SIGSEGV handler).
pub fn raw_data_fault(api: &'static str, h: isize, write: bool, closed: bool, ip: usize) {
    let (class, first, why, todo) = if write {
        (
            "raw-data-write",
            "Invalid write to read-only raw data",
            format!("the extension wrote to memory returned by {}(), which is read-only", api),
            "copy the data if you need to modify it",
        )
    } else {
        (
            "raw-data-after-close",
            "Invalid read of raw data after its handle was closed",
            format!("the extension read memory returned by {}() after the handle it belongs to was {}", api, if closed { "closed" } else { "released" }),
            "copy the data, or keep the handle open while you use the pointer",
        )
    };
    let l = TABLE.lock().lookup(h);
    let mut r = Report::new(class, Some(api), first, why, todo).here().with_handle(h, l);
    // The process stops after this: no de-duplication.  The site is the
    // faulting instruction (symbolisation looks up the address before a
    // return address, hence + 1), else the first extension frame above.
    r.complete();
    r.site = crate::base::stacktrace::site_of(&crate::base::stacktrace::resolve(ip + 1)).or_else(|| Trace::capture(48).site());
    r.usage = Some(format!("pointer returned by {}()", api));
    log::emit(r.class, &r.text(), &r.json());
    keep(&r);
}

/// Stop the process: through the universal context when there is one.
pub fn fatal(message: &str) -> ! {
    let _ = std::io::stderr().flush();
    if ctx::contexts().is_some() {
        let msg = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
        if let Some(f) = ctx::u().FatalError {
            unsafe { f(ctx::uctx(), msg.as_ptr()) };
        }
    }
    std::process::abort()
}

/// A misuse that cannot be survived (e.g. a debug context given where a
/// universal one is needed): message, then stop.
pub fn fatal_api(message: &str) -> ! {
    eprintln!("{}", message);
    fatal(message)
}

/// Set `hpydbg.HPyDebugError` (the caller returns its error value).
pub fn set_debug_error(message: &str) {
    Python::attach(|py| HPyDebugError::new_err(message.to_string()).restore(py));
}

// ~~~ lifetime classes (contexts, fields and globals, Leave/Reenter) ~~~

/// A misuse of one of the lifetime classes of docs/REPORTS.md whose report
/// is made by `func::execution` or `func::fields`: no handle, the site is
/// the current stack; then the policy (no user callback, as for
/// `outside-python`).
pub fn lifetime(class: &'static str, api: &'static str, message: &str, detail: String, todo: &str, note: Option<String>) -> Outcome {
    finding(key_here(class, Some(api)), Callback::None, true, || {
        let mut r = Report::new(class, Some(api), message, detail, todo).here();
        r.note = note;
        r
    })
}
