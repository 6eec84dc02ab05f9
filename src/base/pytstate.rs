//! Where the running thread's `PyThreadState *` lives, so that the frame
//! reader and the pending-exception test can load it inline instead of
//! calling `PyThreadState_Get()` on every API call.
//!
//! - CPython 3.8 to 3.11 keep it in a global, `_PyRuntime.gilstate
//!   .tstate_current` (exported data): the reader loads one address.
//! - CPython 3.12 and 3.13 keep it only in a thread-local of libpython,
//!   `_Py_tss_tstate`, which is not exported.  When libpython is loaded with
//!   the program (the usual case) its TLS block is *static*: the variable
//!   sits at the same offset from the thread pointer in every thread, so the
//!   reader is one `fs:`-relative load.  The offset is found by looking for
//!   the current thread state in libpython's TLS segment, and proven
//!   constant by computing it again in a fresh thread.
//!
//! The build is for one Python version (`Py_3_12` is pyo3's cfg, set by
//! build.rs), so the choice costs nothing at run time; `locate` proves the
//! place on the live interpreter and says why when it cannot.

use std::ffi::CStr;

use pyo3::ffi;

/// The running interpreter's version string ("3.12.1 (main, ...)"): read at
/// run time (`Py_Version` exists only from 3.11 on).
pub fn runtime_version() -> String {
    unsafe { CStr::from_ptr(ffi::Py_GetVersion()) }.to_string_lossy().into_owned()
}

/// "3.12.1": the first word of `runtime_version`.
pub fn version_number() -> String {
    runtime_version().split_whitespace().next().unwrap_or("?").to_string()
}

/// The major.minor this crate was built for (its struct layouts), e.g. "3.12".
pub fn built_for() -> &'static str {
    if cfg!(Py_3_14) {
        "3.14+"
    } else if cfg!(Py_3_13) {
        "3.13"
    } else if cfg!(Py_3_12) {
        "3.12"
    } else if cfg!(Py_3_11) {
        "3.11"
    } else if cfg!(Py_3_10) {
        "3.10"
    } else if cfg!(Py_3_9) {
        "3.9"
    } else {
        "3.8"
    }
}

/// Whether the running interpreter is the version the layouts are for.
pub fn version_matches() -> bool {
    let v = version_number();
    let mm: Vec<&str> = v.split('.').take(2).collect();
    mm.len() == 2 && format!("{}.{}", mm[0], mm[1]) == built_for()
}

/// `offsetof(_PyRuntimeState, gilstate.tstate_current)` (3.8 to 3.11).
pub const RUNTIME_TSTATE_CURRENT: usize = if cfg!(Py_3_9) { if cfg!(Py_3_11) { 576 } else { 568 } } else { 1368 };

/// Where the thread state pointer is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// At this address (3.8 to 3.11).
    Global(usize),
    /// At this offset from the thread pointer (3.12+).
    Tls(isize),
}

/// Find and prove the place of the current thread state (GIL held).
pub fn locate() -> Result<Place, String> {
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        return Err("only x86_64 Linux layouts are known".into());
    }
    if !version_matches() {
        return Err(format!("hpydbg was built for CPython {}", built_for()));
    }
    let ts = unsafe { ffi::PyThreadState_Get() } as usize;
    if ts == 0 {
        return Err("no thread state".into());
    }
    if cfg!(Py_3_12) {
        locate_tls(ts).map(Place::Tls)
    } else {
        extern "C" {
            static _PyRuntime: u8;
        }
        let slot = std::ptr::addr_of!(_PyRuntime) as usize + RUNTIME_TSTATE_CURRENT;
        if unsafe { *(slot as *const usize) } != ts {
            return Err("_PyRuntime.gilstate.tstate_current is not the current thread state".into());
        }
        Ok(Place::Global(slot))
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod tls {
    /// The thread pointer (`%fs:0` holds its own address on x86_64 Linux).
    #[inline(always)]
    pub fn thread_pointer() -> usize {
        let tp: usize;
        unsafe { std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp, options(readonly, nostack, preserves_flags)) };
        tp
    }

    /// The word at `off` from the thread pointer.
    #[inline(always)]
    pub fn read(off: isize) -> usize {
        let v: usize;
        unsafe { std::arch::asm!("mov {}, qword ptr fs:[{}]", out(reg) v, in(reg) off, options(readonly, nostack, preserves_flags)) };
        v
    }

    /// Every (module name, address of this thread's word) in the TLS
    /// segments of the loaded objects that holds `value`.
    pub fn words_holding(value: usize) -> Vec<(String, usize, usize)> {
        struct Acc {
            value: usize,
            found: Vec<(String, usize, usize)>,
        }
        unsafe extern "C" fn each(info: *mut libc::dl_phdr_info, _size: libc::size_t, data: *mut libc::c_void) -> libc::c_int {
            let acc = &mut *(data as *mut Acc);
            let info = &*info;
            if info.dlpi_tls_data.is_null() {
                return 0;
            }
            for i in 0..info.dlpi_phnum as usize {
                let ph = &*info.dlpi_phdr.add(i);
                if ph.p_type != libc::PT_TLS {
                    continue;
                }
                let base = info.dlpi_tls_data as usize;
                let name = if info.dlpi_name.is_null() { String::new() } else { std::ffi::CStr::from_ptr(info.dlpi_name).to_string_lossy().into_owned() };
                let mut a = (base + 7) & !7;
                while a + 8 <= base + ph.p_memsz as usize {
                    if *(a as *const usize) == acc.value {
                        acc.found.push((name.clone(), a - base, a));
                    }
                    a += 8;
                }
            }
            0
        }
        let mut acc = Acc { value, found: Vec::new() };
        unsafe { libc::dl_iterate_phdr(Some(each), &mut acc as *mut Acc as *mut libc::c_void) };
        acc.found
    }

    /// This thread's address of the word at `rel` in the TLS segment of
    /// the object named `name` (None if not allocated in this thread).
    pub fn word_in(name: &str, rel: usize) -> Option<usize> {
        struct Q<'a> {
            name: &'a str,
            rel: usize,
            at: Option<usize>,
        }
        unsafe extern "C" fn each(info: *mut libc::dl_phdr_info, _size: libc::size_t, data: *mut libc::c_void) -> libc::c_int {
            let q = &mut *(data as *mut Q);
            let info = &*info;
            let name = if info.dlpi_name.is_null() { String::new() } else { std::ffi::CStr::from_ptr(info.dlpi_name).to_string_lossy().into_owned() };
            if name == q.name && !info.dlpi_tls_data.is_null() {
                q.at = Some(info.dlpi_tls_data as usize + q.rel);
                return 1;
            }
            0
        }
        let mut q = Q { name, rel, at: None };
        unsafe { libc::dl_iterate_phdr(Some(each), &mut q as *mut Q as *mut libc::c_void) };
        q.at
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub use tls::read as read_tls;

/// Not x86_64 Linux: no TLS reads (`locate` refuses first).
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
#[inline(always)]
pub fn read_tls(_off: isize) -> usize {
    0
}

/// The offset from the thread pointer of the one TLS word that holds `ts`,
/// proven to be the same in another thread (static TLS).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn locate_tls(ts: usize) -> Result<isize, String> {
    let found = tls::words_holding(ts);
    let [(name, rel, at)] = found.as_slice() else {
        return Err(format!("the current thread state is in {} TLS words, not one", found.len()));
    };
    let off = *at as isize - tls::thread_pointer() as isize;
    if tls::read(off) != ts {
        return Err("the thread-local thread state does not read back".into());
    }
    let (name2, rel2) = (name.clone(), *rel);
    let other = std::thread::spawn(move || tls::word_in(&name2, rel2).map(|a| a as isize - tls::thread_pointer() as isize))
        .join()
        .ok()
        .flatten();
    if other != Some(off) {
        return Err(format!("the thread-local thread state of {:?} is not in static TLS", name));
    }
    Ok(off)
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn locate_tls(_ts: usize) -> Result<isize, String> {
    Err("only x86_64 Linux layouts are known".into())
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn a_static_tls_word_is_found_at_one_offset_in_every_thread() {
        use super::tls;
        thread_local! {
            static MARK: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        }
        // Rust's own thread-locals of this test binary are static TLS.
        let v = 0x5eed_0000_1234usize;
        MARK.with(|m| m.set(v));
        let found = tls::words_holding(v);
        assert_eq!(found.len(), 1, "{:?}", found);
        let off = found[0].2 as isize - tls::thread_pointer() as isize;
        assert_eq!(tls::read(off), v);
        let (name, rel) = (found[0].0.clone(), found[0].1);
        let other = std::thread::spawn(move || tls::word_in(&name, rel).map(|a| a as isize - tls::thread_pointer() as isize)).join().unwrap();
        assert_eq!(other, Some(off));
        assert_eq!(std::thread::spawn(move || tls::read(off)).join().unwrap(), 0, "another thread has its own word");
    }
}
