//! Machine words per thread in *static* TLS, each read or compared in one
//! instruction.
//!
//! Rust's `thread_local!` in a shared object goes through `__tls_get_addr`
//! (a call).  These words are declared in assembly in `.tbss` and reached in
//! the initial-exec model: its offset from the thread pointer is a constant
//! the dynamic linker puts in the GOT, so `equals` is `mov off, [GOT]` (a
//! constant, hoisted by the compiler) plus `cmp v, fs:[off]` and a branch:
//! one load and one compare, as the context check needs.
//!
//! The cost: the object is marked `DF_STATIC_TLS`, so its TLS block (a few
//! hundred bytes with Rust's own thread-locals) comes from glibc's static
//! TLS surplus when Python dlopens it (there is room for that; glibc
//! reserves it for such libraries).  Other targets use a `thread_local!`.

/// The block of the words, in assembly in `.tbss`: one symbol, so that
/// one offset (one GOT load, shared by the compiler between the words)
/// reaches all of them.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod block {
    std::arch::global_asm!(
        ".pushsection .tbss,\"awT\",@nobits",
        ".p2align 3",
        // Global for the other codegen units, hidden: never exported.
        ".globl __hpydbg_tls_words",
        ".hidden __hpydbg_tls_words",
        ".type __hpydbg_tls_words,@object",
        ".size __hpydbg_tls_words,16",
        "__hpydbg_tls_words:",
        ".zero 16",
        ".popsection",
    );

    /// The block's offset from the thread pointer (the same in every
    /// thread).  `readonly`, not `nomem`: the compiler then reloads it after
    /// a call rather than keep it in a callee-saved register (a push and a
    /// pop for one load).
    #[inline(always)]
    pub fn offset() -> isize {
        let o: isize;
        unsafe {
            std::arch::asm!(
                "mov {o}, qword ptr [rip + __hpydbg_tls_words@GOTTPOFF]",
                o = out(reg) o,
                options(pure, readonly, nostack, preserves_flags)
            );
        }
        o
    }
}

/// A module with `get`, `set` and `equals` of the static-TLS word at byte
/// `$at` of the block.
macro_rules! static_tls_word {
    ($module:ident, $at:literal) => {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        pub mod $module {
            use super::block::offset;

            #[inline(always)]
            pub fn get() -> usize {
                let v: usize;
                unsafe {
                    std::arch::asm!(
                        concat!("mov {v}, qword ptr fs:[{o} + ", $at, "]"),
                        o = in(reg) offset(),
                        v = out(reg) v,
                        options(readonly, nostack, preserves_flags)
                    );
                }
                v
            }

            #[inline(always)]
            pub fn set(v: usize) {
                unsafe {
                    std::arch::asm!(
                        concat!("mov qword ptr fs:[{o} + ", $at, "], {v}"),
                        o = in(reg) offset(),
                        v = in(reg) v,
                        options(nostack, preserves_flags)
                    );
                }
            }

            /// `get() == v`, as one compare with a memory operand.
            #[inline(always)]
            pub fn equals(v: usize) -> bool {
                unsafe {
                    std::arch::asm!(
                        concat!("cmp {v}, qword ptr fs:[{o} + ", $at, "]"),
                        "jne {no}",
                        o = in(reg) offset(),
                        v = in(reg) v,
                        no = label { return false; },
                        options(readonly, nostack)
                    );
                }
                true
            }
        }

        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        pub mod $module {
            use std::cell::Cell;

            thread_local! {
                static WORD: Cell<usize> = const { Cell::new(0) };
            }

            #[inline(always)]
            pub fn get() -> usize {
                WORD.with(|w| w.get())
            }

            #[inline(always)]
            pub fn set(v: usize) {
                WORD.with(|w| w.set(v))
            }

            #[inline(always)]
            pub fn equals(v: usize) -> bool {
                get() == v
            }
        }
    };
}

// The address of the context of the thread's innermost call into the
// extension while it executes Python (0 otherwise): the context check.
static_tls_word!(context, "0");
// The Python instruction (its address / 2) the thread's innermost call
// into the extension was made from, once a site record read it: 1 until
// then, 0 outside calls.  It cannot change while the call runs
// (`func::call::site_here`).
static_tls_word!(call_instr, "8");

pub use context::{equals, get, set};

/// Entering a call into the extension: the context word becomes `ctx`, the
/// instruction word 1 ("not read yet"); returns the instruction word of the
/// enclosing call, for `leave_call`.  One block: the words' offset is loaded
/// once (separate `set`s reload it after each store).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline(always)]
pub fn enter_call(ctx: usize) -> usize {
    let prev: usize;
    unsafe {
        std::arch::asm!(
            "mov qword ptr fs:[{o}], {c}",
            "mov {p}, qword ptr fs:[{o} + 8]",
            "mov qword ptr fs:[{o} + 8], 1",
            o = in(reg) block::offset(),
            c = in(reg) ctx,
            // Not `lateout`: written before `o`'s last use, so it must
            // not share `o`'s register.
            p = out(reg) prev,
            options(nostack, preserves_flags)
        );
    }
    prev
}

/// Leaving a call: both words back to the enclosing call's values.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline(always)]
pub fn leave_call(ctx: usize, instr: usize) {
    unsafe {
        std::arch::asm!(
            "mov qword ptr fs:[{o}], {c}",
            "mov qword ptr fs:[{o} + 8], {i}",
            o = in(reg) block::offset(),
            c = in(reg) ctx,
            i = in(reg) instr,
            options(nostack, preserves_flags)
        );
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
#[inline(always)]
pub fn enter_call(ctx: usize) -> usize {
    set(ctx);
    let prev = call_instr::get();
    call_instr::set(1);
    prev
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
#[inline(always)]
pub fn leave_call(ctx: usize, instr: usize) {
    call_instr::set(instr);
    set(ctx);
}

/// Bytes of static TLS for a per-thread struct of words (`state::ctx`'s
/// `ThreadState`), zero at thread start: its address without a call.
pub const BLOCK_BYTES: usize = 64;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
std::arch::global_asm!(
    ".pushsection .tbss,\"awT\",@nobits",
    ".p2align 3",
    ".globl __hpydbg_tls_block",
    ".hidden __hpydbg_tls_block",
    ".type __hpydbg_tls_block,@object",
    ".size __hpydbg_tls_block,64",
    "__hpydbg_tls_block:",
    ".zero 64",
    ".popsection",
);

/// This thread's `BLOCK_BYTES` (8-byte aligned, zero at thread start): the
/// thread pointer (`fs:0` holds it) plus the block's offset from it, two
/// loads, where a `thread_local!` in a shared object is a `__tls_get_addr`
/// call.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline(always)]
pub fn block() -> *mut u8 {
    let p: usize;
    unsafe {
        std::arch::asm!(
            "mov {p}, qword ptr fs:[0]",
            "add {p}, qword ptr [rip + __hpydbg_tls_block@GOTTPOFF]",
            p = out(reg) p,
            options(pure, readonly, nostack)
        );
    }
    p as *mut u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_thread_word() {
        set(0x1234);
        assert!(equals(0x1234));
        assert!(!equals(0x1235));
        let other = std::thread::spawn(|| {
            let before = get();
            set(7);
            (before, equals(7), equals(0x1234))
        })
        .join()
        .unwrap();
        assert_eq!(other, (0, true, false), "a new thread starts at 0 and has its own word");
        assert_eq!(get(), 0x1234);
        call_instr::set(99);
        assert_eq!((get(), call_instr::get()), (0x1234, 99), "two words");
        call_instr::set(0);
    }

    #[test]
    fn enter_and_leave_a_call() {
        set(0x10);
        call_instr::set(0x20);
        let prev = enter_call(0x30);
        assert_eq!((prev, get(), call_instr::get()), (0x20, 0x30, 1));
        leave_call(0x10, prev);
        assert_eq!((get(), call_instr::get()), (0x10, 0x20));
        set(0);
        call_instr::set(0);
    }

    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn per_thread_block() {
        let b = block() as usize;
        assert_eq!(b % 8, 0);
        unsafe { *(b as *mut usize) = 5 };
        let other = std::thread::spawn(|| {
            let b = block();
            let before = unsafe { *(b as *const usize) };
            (b as usize, before)
        })
        .join()
        .unwrap();
        assert_ne!(other.0, b, "a block per thread");
        assert_eq!(other.1, 0, "zero at thread start");
        assert_eq!(unsafe { *(b as *const usize) }, 5);
        unsafe { *(b as *mut usize) = 0 };
    }
}
