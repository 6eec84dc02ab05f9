//! A bug or impossible state inside hpydbg itself: say so and stop.  The
//! lowest layer, so that every module can call it.

use std::io::Write;

pub fn fatal_internal(message: &str) -> ! {
    eprintln!("hpydbg internal error: {}", message);
    let _ = std::io::stderr().flush();
    std::process::abort()
}
