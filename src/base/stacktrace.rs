//! Stack traces of handle operations: captured as bare instruction pointers
//! (cheap, opt-in, with a frame limit) and symbolised only when printed.

use std::fmt::Write;

/// Instruction pointers, innermost first.
#[derive(Clone, Debug)]
pub struct Trace(Box<[usize]>);

impl Trace {
    /// Capture up to `limit` frames, leaving out hpydbg's own frames: with
    /// the caching unwinder (`base::unwind`), with libgcc's where it cannot
    /// start.
    pub fn capture(limit: usize) -> Trace {
        // on the stack for the usual limits: one exact-size allocation
        let mut small = [0usize; 64];
        let mut big = Vec::new();
        let buf = if limit <= small.len() {
            &mut small[..limit]
        } else {
            big.resize(limit, 0);
            &mut big[..]
        };
        let n = crate::base::unwind::capture(buf);
        if n == 0 {
            return Trace::capture_slow(limit);
        }
        let ips = &buf[..n];
        if crate::base::unwind::checking() {
            crate::base::unwind::record_check(ips, &Trace::capture_slow(limit).0);
        }
        Trace(ips.into())
    }

    /// The same with `backtrace::trace` (libgcc's unwinder): the fallback,
    /// and the reference the fast capture is checked and measured against.
    pub fn capture_slow(limit: usize) -> Trace {
        let mut ips = Vec::with_capacity(limit);
        backtrace::trace(|frame| {
            let ip = frame.ip() as usize;
            // libgcc ends with the outermost frame's return address, 0
            if ip != 0 && !is_own_frame(ip) {
                ips.push(ip);
            }
            ips.len() < limit
        });
        Trace(ips.into_boxed_slice())
    }

    /// The instruction pointers, innermost first.
    pub fn ips(&self) -> &[usize] {
        &self.0
    }

    /// One line per frame: `function at file:line (object)`.
    pub fn render(&self, indent: &str) -> String {
        let mut out = String::new();
        for (i, f) in self.resolve().iter().enumerate() {
            let _ = writeln!(out, "{}#{} {}", indent, i, f.text());
        }
        out
    }

    pub fn resolve(&self) -> Vec<Frame> {
        self.0.iter().map(|&ip| resolve(ip)).collect()
    }

    /// The frame a person should look at: the first one in extension code,
    /// i.e. with source information, outside HPy's own headers and helper
    /// sources (`hpy/devel/...`), CPython and the C library.
    pub fn site(&self) -> Option<Frame> {
        self.0.iter().map(|&ip| resolve(ip)).find(|f| f.is_extension_code())
    }
}

/// A resolved frame.
#[derive(Clone, Debug, Default)]
pub struct Frame {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub object: String,
    pub ip: usize,
}

impl Frame {
    pub fn text(&self) -> String {
        let name = self.function.clone().unwrap_or_else(|| format!("{:#x}", self.ip));
        match (&self.file, self.line) {
            (Some(f), Some(l)) => format!("{} at {}:{} ({})", name, f, l, self.object),
            _ => format!("{} ({})", name, self.object),
        }
    }

    fn is_extension_code(&self) -> bool {
        let Some(file) = self.file.as_deref() else { return false };
        let o = self.object.as_str();
        !(file.contains("/hpy/devel/")
            || file.contains("/hpy/tools/")
            || o.starts_with("libpython")
            || o.starts_with("python")
            || o.starts_with("libc.")
            || o.starts_with("universal.")
            || o.starts_with("_hpydbg."))
    }
}

fn resolve(ip: usize) -> Frame {
    let mut f = Frame { ip, object: object_of(ip), ..Default::default() };
    // Return addresses point after the call: look up ip - 1.
    backtrace::resolve((ip.saturating_sub(1)) as *mut std::ffi::c_void, |sym| {
        if f.function.is_some() {
            return;
        }
        f.function = sym.name().map(|n| n.to_string());
        f.file = sym.filename().map(|p| p.display().to_string());
        f.line = sym.lineno();
    });
    f
}

fn own_range() -> (usize, usize) {
    use std::sync::OnceLock;
    static RANGE: OnceLock<(usize, usize)> = OnceLock::new();
    *RANGE.get_or_init(|| {
        let base = own_base();
        (base.0, base.1)
    })
}

fn own_base() -> (usize, usize) {
    // The text range of the object containing this function.
    let here = own_base as *const () as usize;
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    if unsafe { libc::dladdr(here as *const libc::c_void, &mut info) } == 0 {
        return (0, 0);
    }
    let start = info.dli_fbase as usize;
    let mut end = start;
    // Find the end of the mapping that holds our code via dl_iterate_phdr.
    unsafe extern "C" fn cb(info: *mut libc::dl_phdr_info, _: usize, data: *mut libc::c_void) -> libc::c_int {
        let data = &mut *(data as *mut (usize, usize));
        let info = &*info;
        if info.dlpi_addr as usize != data.0 {
            return 0;
        }
        for i in 0..info.dlpi_phnum as usize {
            let ph = &*info.dlpi_phdr.add(i);
            if ph.p_type == libc::PT_LOAD {
                let e = info.dlpi_addr as usize + ph.p_vaddr as usize + ph.p_memsz as usize;
                if e > data.1 {
                    data.1 = e;
                }
            }
        }
        1
    }
    let mut data = (start, end);
    unsafe { libc::dl_iterate_phdr(Some(cb), &mut data as *mut _ as *mut libc::c_void) };
    end = data.1;
    (start, end)
}

fn is_own_frame(ip: usize) -> bool {
    let (s, e) = own_range();
    ip >= s && ip < e
}

/// The shared object an address belongs to (file name only).
pub fn object_of(ip: usize) -> String {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    if unsafe { libc::dladdr(ip as *const libc::c_void, &mut info) } == 0 || info.dli_fname.is_null() {
        return "?".into();
    }
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) }.to_string_lossy().into_owned();
    name.rsplit('/').next().unwrap_or(&name).to_string()
}
