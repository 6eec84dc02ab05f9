//! De-duplication of reports: an identical report (same class, API and
//! site) is printed in full the first `limit` times and only counted after.
//!
//! The key is cheap to get: the return address into the extension (or the
//! address of the extension function, for reports made when it returns)
//! and the code object of the innermost Python frame.  So a flood of identical misuses
//! costs a hash lookup each, no stack capture, no symbolisation, no output.
//! Counts are kept in all and per window (since the last `take_reports`, so
//! that each test of a pytest run gets its own first report).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::base::sync::lock;

#[derive(Clone, Default, PartialEq, Eq, Hash, Debug)]
pub struct Key {
    pub class: &'static str,
    pub api: Option<&'static str>,
    pub ra: usize,
    pub code: usize,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Occurrences in the current window, this one included.
    pub window: u64,
    pub total: u64,
}

static COUNTS: Mutex<Option<HashMap<Key, Seen>>> = Mutex::new(None);
/// 0: not read from `HPY_DEBUG_REPORT_LIMIT` yet.
static LIMIT: AtomicU64 = AtomicU64::new(0);

/// Full reports printed per key (`HPY_DEBUG_REPORT_LIMIT`, default 1).
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

/// Count one occurrence of `key`.
pub fn seen(key: &Key) -> Seen {
    let mut g = lock(&COUNTS);
    let m = g.get_or_insert_with(HashMap::new);
    let e = m.entry(key.clone()).or_insert(Seen { window: 0, total: 0 });
    e.window += 1;
    e.total += 1;
    *e
}

/// Total occurrences of `key`.
pub fn total(key: &Key) -> u64 {
    lock(&COUNTS).as_ref().and_then(|m| m.get(key)).map_or(0, |s| s.total)
}

/// Start a new window; returns the counts of the one that ends
/// (`(window, total)` by key, for keys seen in it).
pub fn new_window() -> HashMap<Key, (u64, u64)> {
    let mut g = lock(&COUNTS);
    let mut out = HashMap::new();
    if let Some(m) = g.as_mut() {
        for (k, s) in m.iter_mut() {
            if s.window > 0 {
                out.insert(k.clone(), (s.window, s.total));
                s.window = 0;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_window_and_in_all() {
        let k = Key { class: "use-after-close", api: Some("HPy_Repr"), ra: 0x1234, code: 7 };
        let other = Key { ra: 0x1235, ..k.clone() };
        assert_eq!(seen(&k), Seen { window: 1, total: 1 });
        assert_eq!(seen(&k), Seen { window: 2, total: 2 });
        assert_eq!(seen(&other), Seen { window: 1, total: 1 });
        let w = new_window();
        assert_eq!(w.get(&k), Some(&(2, 2)));
        assert_eq!(seen(&k), Seen { window: 1, total: 3 });
        assert_eq!(total(&k), 3);
    }
}
