//! Machine words per thread in *static* TLS, each read or compared in one
//! instruction.
//!
//! Rust's `thread_local!` in a shared object goes through `__tls_get_addr`
//! (a call).  This word is declared in assembly in `.tbss` and reached in
//! the initial-exec model: its offset from the thread pointer is a constant
//! the dynamic linker puts in the GOT, so `equals` is `mov off, [GOT]` (a
//! constant, hoisted by the compiler) plus `cmp v, fs:[off]` and a branch:
//! one load and one compare, as the context check needs.
//!
//! The cost: the object is marked `DF_STATIC_TLS`, so its TLS block (a few
//! hundred bytes with Rust's own thread-locals) comes from glibc's static
//! TLS surplus when Python dlopens it (there is room for that; glibc
//! reserves it for such libraries).  Other targets use a `thread_local!`.

/// A module with `get`, `set` and `equals` of one static-TLS word named
/// `$sym` in assembly.
macro_rules! static_tls_word {
    ($module:ident, $sym:literal) => {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        pub mod $module {
            std::arch::global_asm!(
                ".pushsection .tbss,\"awT\",@nobits",
                ".p2align 3",
                // Global for the other codegen units, hidden: never exported.
                concat!(".globl ", $sym),
                concat!(".hidden ", $sym),
                concat!(".type ", $sym, ",@object"),
                concat!(".size ", $sym, ",8"),
                concat!($sym, ":"),
                ".zero 8",
                ".popsection",
            );

            /// The word's offset from the thread pointer (the same in every thread).
            #[inline(always)]
            fn offset() -> isize {
                let o: isize;
                unsafe {
                    std::arch::asm!(
                        concat!("mov {o}, qword ptr [rip + ", $sym, "@GOTTPOFF]"),
                        o = out(reg) o,
                        options(pure, readonly, nostack, preserves_flags)
                    );
                }
                o
            }

            #[inline(always)]
            pub fn get() -> usize {
                let v: usize;
                unsafe {
                    std::arch::asm!(
                        "mov {v}, qword ptr fs:[{o}]",
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
                        "mov qword ptr fs:[{o}], {v}",
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
                        "cmp {v}, qword ptr fs:[{o}]",
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
static_tls_word!(context, "__hpydbg_tls_word");
// The Python instruction (its address / 2) the thread's innermost call
// into the extension was made from, once a site record read it: 1 until
// then, 0 outside calls.  It cannot change while the call runs
// (`func::call::site_here`).
static_tls_word!(call_instr, "__hpydbg_tls_call_instr");

pub use context::{equals, get, set};

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
}
