//! Findings: one per bug.  A report's cheap key (class, API function, the
//! return address into the extension, or the extension function for reports
//! made when it returns) is looked up in a hash table; the first time a key
//! is seen, the report is built and symbolised, and its *finding* (class +
//! the extension's C site with its inline chain; for a kept context, the
//! function that used it: docs/REPORTS.md "Findings") decides which bug it
//! is.  Several keys can be one finding (two calls on one line, the uses of
//! one kept context); the Python line is never part of it: each finding
//! counts its Python callers, its use sites and its tests instead.
//!
//! So a flood of identical misuses costs a hash lookup and a few counters
//! each: no stack capture, no symbolisation, no output.  Counts are kept in
//! all and per window (since the last `take_reports`, so that each test of a
//! pytest run gets its own first report).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::base::pyframe::PyLocation;
use crate::base::sync::lock;

/// What is known before a report is built.
#[derive(Clone, Default, PartialEq, Eq, Hash, Debug)]
pub struct Key {
    pub class: &'static str,
    pub api: Option<&'static str>,
    pub ra: usize,
}

/// A finding's index (stable for the process).
pub type Fid = usize;

/// Occurrences of one finding after one more.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// In the current window, this one included.
    pub window: u64,
    pub total: u64,
    /// This occurrence came from a Python instruction not seen before for
    /// this finding: the caller wants its location (`set_caller`).
    pub new_caller: bool,
}

/// Counts of one Python caller, one use site or one test.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub window: u64,
    pub total: u64,
}

#[derive(Default)]
struct Finding {
    counts: Counts,
    /// Python instruction address -> index in `callers`.
    caller_of: HashMap<usize, usize>,
    callers: Vec<(Option<PyLocation>, Counts)>,
    /// Return address into the extension (where it was used) -> counts.
    uses: HashMap<usize, Counts>,
    /// Tests in the order they hit it.
    tests: Vec<(String, Counts)>,
    test_gen: u64,
    /// The entry of `tests` of the test running at `test_gen`.
    test_now: Option<usize>,
}

/// Distinct Python instructions counted apart per finding; the rest are
/// counted under one unknown caller.
const MAX_CALLERS: usize = 256;

#[derive(Default)]
struct State {
    by_key: HashMap<Key, Fid>,
    by_symbol: HashMap<String, Fid>,
    findings: Vec<Finding>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
/// 0: not read from `HPY_DEBUG_REPORT_LIMIT` yet.
static LIMIT: AtomicU64 = AtomicU64::new(0);
/// Bumped when the test in progress changes (`report::set_test_id`).
static TEST_GEN: AtomicU64 = AtomicU64::new(1);

/// Full reports printed per finding (`HPY_DEBUG_REPORT_LIMIT`, default 1).
pub fn limit() -> u64 {
    match LIMIT.load(Ordering::Relaxed) {
        0 => {
            let n = std::env::var("HPY_DEBUG_REPORT_LIMIT").ok().and_then(|v| v.trim().parse::<u64>().ok()).filter(|&n| n > 0).unwrap_or(1);
            LIMIT.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

pub fn set_limit(n: u64) {
    LIMIT.store(n.max(1), Ordering::Relaxed);
}

pub fn test_changed() {
    TEST_GEN.fetch_add(1, Ordering::Relaxed);
}

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut g = lock(&STATE);
    f(g.get_or_insert_with(State::default))
}

/// The finding of `key`, if it was seen before.
pub fn lookup(key: &Key) -> Option<Fid> {
    with(|s| s.by_key.get(key).copied())
}

/// `key` belongs to the finding named `symbol` (new or not).
pub fn bind(key: &Key, symbol: String) -> Fid {
    with(|s| {
        let n = s.findings.len();
        let fid = *s.by_symbol.entry(symbol).or_insert(n);
        if fid == n {
            s.findings.push(Finding::default());
        }
        s.by_key.insert(key.clone(), fid);
        fid
    })
}

fn bump(c: &mut Counts) {
    c.window += 1;
    c.total += 1;
}

/// Count one occurrence of finding `fid`, made from Python instruction
/// `instr` (0: unknown) at return address `ra`, during `test()`.
pub fn count(fid: Fid, instr: usize, ra: usize, test: impl FnOnce() -> Option<String>) -> Seen {
    let gen = TEST_GEN.load(Ordering::Relaxed);
    with(|s| {
        let f = &mut s.findings[fid];
        bump(&mut f.counts);
        bump(f.uses.entry(ra).or_default());
        let mut new_caller = false;
        let i = match f.caller_of.get(&instr) {
            Some(&i) => i,
            None => {
                let i = if f.callers.len() < MAX_CALLERS || instr == 0 {
                    new_caller = instr != 0;
                    f.callers.push((None, Counts::default()));
                    f.callers.len() - 1
                } else {
                    *f.caller_of.get(&0).unwrap_or(&0)
                };
                f.caller_of.insert(instr, i);
                i
            }
        };
        bump(&mut f.callers[i].1);
        if f.test_gen != gen {
            f.test_gen = gen;
            f.test_now = test().map(|t| match f.tests.iter().position(|(n, _)| *n == t) {
                Some(i) => i,
                None => {
                    f.tests.push((t, Counts::default()));
                    f.tests.len() - 1
                }
            });
        }
        if let Some(i) = f.test_now {
            bump(&mut f.tests[i].1);
        }
        Seen { window: f.counts.window, total: f.counts.total, new_caller }
    })
}

/// Where the Python instruction `instr` of finding `fid` is.
pub fn set_caller(fid: Fid, instr: usize, loc: Option<PyLocation>) {
    with(|s| {
        let f = &mut s.findings[fid];
        if let Some(&i) = f.caller_of.get(&instr) {
            if f.callers[i].0.is_none() {
                f.callers[i].0 = loc;
            }
        }
    })
}

/// What a finding's summary lists.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub counts: Counts,
    /// Python callers by location (the instructions of one line added up),
    /// most frequent first; `None`: unknown.
    pub callers: Vec<(Option<PyLocation>, Counts)>,
    /// Return addresses of the uses, most frequent first.
    pub uses: Vec<(usize, Counts)>,
    pub tests: Vec<(String, Counts)>,
}

fn summary_of(f: &Finding) -> Summary {
    let mut callers: Vec<(Option<PyLocation>, Counts)> = Vec::new();
    for (loc, c) in &f.callers {
        match callers.iter_mut().find(|(l, _)| l == loc) {
            Some(e) => {
                e.1.window += c.window;
                e.1.total += c.total;
            }
            None => callers.push((loc.clone(), c.clone())),
        }
    }
    callers.sort_by(|a, b| b.1.total.cmp(&a.1.total).then_with(|| a.0.as_ref().map(|l| (&l.file, l.line)).cmp(&b.0.as_ref().map(|l| (&l.file, l.line)))));
    let mut uses: Vec<(usize, Counts)> = f.uses.iter().map(|(a, c)| (*a, c.clone())).collect();
    uses.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(&b.0)));
    Summary { counts: f.counts.clone(), callers, uses, tests: f.tests.clone() }
}

pub fn summary(fid: Fid) -> Summary {
    with(|s| s.findings.get(fid).map(summary_of).unwrap_or_default())
}

/// Start a new window; returns the summaries (window counts included) of
/// the findings seen in the one that ends.
pub fn new_window() -> HashMap<Fid, Summary> {
    with(|s| {
        let mut out = HashMap::new();
        for (fid, f) in s.findings.iter_mut().enumerate() {
            if f.counts.window == 0 {
                continue;
            }
            out.insert(fid, summary_of(f));
            f.counts.window = 0;
            f.callers.iter_mut().for_each(|c| c.1.window = 0);
            f.uses.values_mut().for_each(|c| c.window = 0);
            f.tests.iter_mut().for_each(|c| c.1.window = 0);
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(line: u32) -> Option<PyLocation> {
        Some(PyLocation { file: "/p/app.py".into(), line, function: "main".into() })
    }

    #[test]
    fn one_finding_counts_callers_uses_and_windows() {
        let k = Key { class: "test-class", api: Some("HPy_Repr"), ra: 0x1234 };
        let other = Key { ra: 0x1235, ..k.clone() };
        assert_eq!(lookup(&k), None);
        let f = bind(&k, "test-class|f@x.c:1".into());
        // a second call on the same line: the same finding
        assert_eq!(bind(&other, "test-class|f@x.c:1".into()), f);
        assert_eq!(count(f, 10, 0x1234, || None), Seen { window: 1, total: 1, new_caller: true });
        set_caller(f, 10, loc(3));
        assert_eq!(count(f, 10, 0x1234, || None), Seen { window: 2, total: 2, new_caller: false });
        assert_eq!(count(f, 11, 0x1235, || None), Seen { window: 3, total: 3, new_caller: true });
        set_caller(f, 11, loc(4));
        let w = new_window();
        let s = &w[&f];
        assert_eq!((s.counts.window, s.counts.total), (3, 3));
        assert_eq!(s.callers.iter().map(|(l, c)| (l.as_ref().unwrap().line, c.total)).collect::<Vec<_>>(), vec![(3, 2), (4, 1)]);
        assert_eq!(s.uses.iter().map(|(a, c)| (*a, c.total)).collect::<Vec<_>>(), vec![(0x1234, 2), (0x1235, 1)]);
        assert_eq!(count(f, 10, 0x1234, || None).window, 1);
        assert_eq!(summary(f).counts.total, 4);
    }
}
