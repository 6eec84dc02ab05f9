//! Point `hpy.universal`'s calls to `hpy_debug_get_ctx` at ours.
//!
//! `universal.so` calls `hpy_debug_get_ctx` through its GOT.  Whatever the
//! import order, we rewrite those GOT entries (found through the object's
//! dynamic section, reachable with `dl_iterate_phdr`) to our export.

use std::ffi::{c_void, CStr};

#[repr(C)]
struct Elf64Rela {
    r_offset: u64,
    r_info: u64,
    r_addend: i64,
}

#[repr(C)]
struct Elf64Sym {
    st_name: u32,
    st_info: u8,
    st_other: u8,
    st_shndx: u16,
    st_value: u64,
    st_size: u64,
}

const DT_NULL: i64 = 0;
const DT_PLTRELSZ: i64 = 2;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_RELA: i64 = 7;
const DT_RELASZ: i64 = 8;
const DT_JMPREL: i64 = 23;
const R_X86_64_GLOB_DAT: u32 = 6;
const R_X86_64_JUMP_SLOT: u32 = 7;
const PT_DYNAMIC: u32 = 2;
const PT_GNU_RELRO: u32 = 0x6474_e552;

struct Job<'a> {
    path: &'a [u8],
    symbol: &'a [u8],
    target: usize,
    found_object: bool,
    patched: usize,
    error: Option<String>,
}

/// Rebind `symbol` in the object loaded from `path` to `target`.
/// Returns the number of GOT entries rewritten.
pub fn rebind(path: &str, symbol: &str, target: usize) -> Result<usize, String> {
    let real = std::fs::canonicalize(path).map_err(|e| format!("{}: {}", path, e))?;
    let real = real.to_string_lossy().into_owned();
    let mut job = Job { path: real.as_bytes(), symbol: symbol.as_bytes(), target, found_object: false, patched: 0, error: None };
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut job as *mut Job as *mut c_void) };
    if let Some(e) = job.error {
        return Err(e);
    }
    if !job.found_object {
        return Err(format!("{} is not loaded in this process", real));
    }
    Ok(job.patched)
}

unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> libc::c_int {
    let job = &mut *(data as *mut Job);
    let info = &*info;
    if info.dlpi_name.is_null() {
        return 0;
    }
    let name = CStr::from_ptr(info.dlpi_name).to_bytes();
    let same = name == job.path
        || std::fs::canonicalize(std::str::from_utf8(name).unwrap_or(""))
            .map(|p| p.to_string_lossy().as_bytes() == job.path)
            .unwrap_or(false);
    if !same {
        return 0;
    }
    job.found_object = true;
    let base = info.dlpi_addr as usize;
    let mut dynamic: *const [i64; 2] = std::ptr::null();
    let mut relro = (0usize, 0usize);
    for i in 0..info.dlpi_phnum as usize {
        let ph = &*info.dlpi_phdr.add(i);
        if ph.p_type == PT_DYNAMIC {
            dynamic = (base + ph.p_vaddr as usize) as *const [i64; 2];
        } else if ph.p_type == PT_GNU_RELRO {
            relro = (base + ph.p_vaddr as usize, base + (ph.p_vaddr + ph.p_memsz) as usize);
        }
    }
    if dynamic.is_null() {
        job.error = Some("no dynamic section".into());
        return 1;
    }
    let (mut strtab, mut symtab, mut rela, mut relasz, mut jmprel, mut pltrelsz) = (0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    let mut d = dynamic;
    loop {
        let [tag, val] = *d;
        let v = val as usize;
        match tag {
            DT_NULL => break,
            DT_STRTAB => strtab = v,
            DT_SYMTAB => symtab = v,
            DT_RELA => rela = v,
            DT_RELASZ => relasz = v,
            DT_JMPREL => jmprel = v,
            DT_PLTRELSZ => pltrelsz = v,
            _ => {}
        }
        d = d.add(1);
    }
    // glibc relocates these in place; other loaders may not.
    let fix = |p: usize| if p != 0 && p < base { p + base } else { p };
    let (strtab, symtab, rela, jmprel) = (fix(strtab), fix(symtab), fix(rela), fix(jmprel));
    if strtab == 0 || symtab == 0 {
        job.error = Some("no symbol table".into());
        return 1;
    }
    for (table, size) in [(jmprel, pltrelsz), (rela, relasz)] {
        if table == 0 {
            continue;
        }
        let n = size / std::mem::size_of::<Elf64Rela>();
        for i in 0..n {
            let r = &*(table as *const Elf64Rela).add(i);
            let kind = (r.r_info & 0xffff_ffff) as u32;
            if kind != R_X86_64_JUMP_SLOT && kind != R_X86_64_GLOB_DAT {
                continue;
            }
            let sym = &*(symtab as *const Elf64Sym).add((r.r_info >> 32) as usize);
            let sname = CStr::from_ptr((strtab + sym.st_name as usize) as *const libc::c_char).to_bytes();
            if sname != job.symbol {
                continue;
            }
            let slot = (base + r.r_offset as usize) as *mut usize;
            let in_relro = (slot as usize) >= relro.0 && (slot as usize) < relro.1;
            if let Err(e) = write_got(slot, job.target, in_relro) {
                job.error = Some(e);
                return 1;
            }
            job.patched += 1;
        }
    }
    1
}

/// Write a GOT entry; one inside the RELRO segment is read-only, so it is
/// made writable for the write and read-only again after it.
unsafe fn write_got(slot: *mut usize, value: usize, in_relro: bool) -> Result<(), String> {
    if !in_relro {
        std::ptr::write_volatile(slot, value);
        return Ok(());
    }
    let ps = libc::sysconf(libc::_SC_PAGESIZE) as usize;
    let page = (slot as usize) & !(ps - 1);
    if libc::mprotect(page as *mut c_void, ps, libc::PROT_READ | libc::PROT_WRITE) != 0 {
        return Err(format!("mprotect failed: {}", std::io::Error::last_os_error()));
    }
    std::ptr::write_volatile(slot, value);
    libc::mprotect(page as *mut c_void, ps, libc::PROT_READ);
    Ok(())
}
