//! Turning a fault in protected raw data into a report.
//!
//! Raw data handed out for a handle lives in pages of its own (read-only,
//! inaccessible after close).  A SIGSEGV whose address falls in one of them
//! is reported (which handle, which API function handed the pointer out,
//! read after close or write) and stops the process, or under the go-on
//! policies makes the page accessible again and goes on (the access lands
//! in the copy); any other fault goes to the handler that was installed
//! before ours.

use std::mem::MaybeUninit;
use std::sync::Once;

use crate::state::ctx::TABLE;

static INSTALL: Once = Once::new();
static mut PREVIOUS: MaybeUninit<libc::sigaction> = MaybeUninit::uninit();

/// Install the handler (once, when raw data is first handed out).
pub fn install() {
    INSTALL.call_once(|| unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_segv as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGSEGV, &sa, (&raw mut PREVIOUS).cast());
    });
}

unsafe extern "C" fn on_segv(sig: libc::c_int, info: *mut libc::siginfo_t, uc: *mut libc::c_void) {
    let addr = (*info).si_addr() as usize;
    // The faulting thread is in extension code, not in ours, and (unless it
    // left Python execution) holds the GIL that guards the table.
    let found = TABLE.peek().find_raw(addr);
    if let Some((h, api, closed)) = found {
        let regs = &(*(uc as *mut libc::ucontext_t)).uc_mcontext.gregs;
        let write = regs[libc::REG_ERR as usize] & 2 != 0;
        // The faulting instruction itself (not a return address).
        let ip = regs[libc::REG_RIP as usize] as usize;
        crate::diag::report::raw_data_fault(api, h, write, closed, ip);
        if crate::state::ctx::SETTINGS.go_on() {
            // Going on as universal mode does (it reads the freed buffer,
            // or writes into the object's): the copy's page is made
            // accessible again and the instruction runs again, on the copy.
            let page = addr & !4095;
            let prot = if write { libc::PROT_READ | libc::PROT_WRITE } else { libc::PROT_READ };
            libc::mprotect(page as *mut libc::c_void, 4096, prot);
            return;
        }
        crate::diag::report::fatal(if write { "Invalid write to read-only raw data" } else { "Invalid read of raw data after its handle was closed" });
    }
    // Not ours: put the previous handler back; the faulting instruction runs
    // again and faults into it.
    let _ = sig;
    libc::sigaction(libc::SIGSEGV, (&raw const PREVIOUS).cast(), std::ptr::null_mut());
}
