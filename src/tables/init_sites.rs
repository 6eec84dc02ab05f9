//! Sites first seen while a module's exec slot (`HPy_mod_exec`) ran: a
//! handle opened there and still open later is usually kept in a C global
//! for the module's lifetime (piconumpy's `h_ArrayType`), which the leak
//! report answers with "use an HPyGlobal" rather than "close it".
//!
//! Site ids are handed out in order (`tables::sites`), so the sites of one
//! exec call are a range: one pair per module imported, nothing per handle.

use std::sync::Mutex;

/// `[first, end)` ranges of site ids.
static RANGES: Mutex<Vec<(u32, u32)>> = Mutex::new(Vec::new());

/// The exec slot that started when the next site id was `first` has
/// returned, and the next id is now `end`.
pub fn record(first: u32, end: u32) {
    if end > first {
        RANGES.lock().unwrap_or_else(|e| e.into_inner()).push((first, end));
    }
}

/// Whether site `id` was first seen during a module's exec slot.
pub fn contains(id: u32) -> bool {
    id != 0 && RANGES.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|&(a, b)| a <= id && id < b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranges() {
        super::record(5, 9);
        super::record(12, 12);
        assert!(super::contains(5) && super::contains(8));
        assert!(!super::contains(9) && !super::contains(12) && !super::contains(0));
    }
}
