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

    /// One line per frame, inlined frames included:
    /// `function at file:line (object)`.
    pub fn render(&self, indent: &str) -> String {
        let mut out = String::new();
        for (i, f) in self.resolve().iter().enumerate() {
            let _ = writeln!(out, "{}#{} {}", indent, i, f.text());
        }
        out
    }

    /// Every frame, innermost first; one return address gives several when
    /// the compiler inlined calls there.
    pub fn resolve(&self) -> Vec<Frame> {
        self.0.iter().flat_map(|&ip| resolve(ip)).collect()
    }

    /// The frame a person should look at, with the frame it was inlined
    /// into (see [`site_of`]).
    pub fn site(&self) -> Option<Site> {
        site_of(&self.resolve())
    }
}

/// A resolved frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// Demangled (C++ and Rust).
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub object: String,
    pub ip: usize,
    /// The compiler inlined this function into the next frame (same ip).
    pub inlined: bool,
}

impl Frame {
    pub fn name(&self) -> String {
        self.function.clone().unwrap_or_else(|| format!("{:#x}", self.ip))
    }

    pub fn location(&self) -> String {
        match (&self.file, self.line) {
            (Some(f), Some(l)) => format!("{} at {}:{}", self.name(), f, l),
            _ => self.name(),
        }
    }

    pub fn text(&self) -> String {
        format!("{} ({}){}", self.location(), self.object, if self.inlined { " [inlined]" } else { "" })
    }

    /// The extension's own code: with source information, outside HPy's
    /// headers and helper sources (`hpy/devel/...`), system headers,
    /// CPython, the C library, the universal module and hpydbg.
    pub fn is_extension_code(&self) -> bool {
        let Some(file) = self.file.as_deref() else { return false };
        let o = self.object.as_str();
        !(file.contains("/hpy/devel/")
            || file.contains("/hpy/tools/")
            || file.starts_with("/usr/include/")
            || file.starts_with("/usr/lib/gcc/")
            || o.starts_with("libpython")
            || o.starts_with("python")
            || o.starts_with("libc.")
            || o.starts_with("libstdc++")
            || o.starts_with("universal.")
            || o.starts_with("_hpydbg."))
    }
}

/// Where a report points: the first frame of the extension's own code, and
/// the function it was inlined into, if it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub frame: Frame,
    pub inlined_into: Option<Frame>,
}

impl Site {
    /// `helper at f.c:12 (x.so), inlined into caller at f.c:30`.
    pub fn text(&self) -> String {
        let f = &self.frame;
        let mut s = format!("{} ({})", f.location(), f.object);
        if let Some(outer) = &self.inlined_into {
            let _ = write!(s, ", inlined into {}", outer.location());
        }
        s
    }
}

/// The first frame, inlined or not, that is the extension's own code (see
/// [`Frame::is_extension_code`]); HPy's inline API functions and runtime
/// helpers are skipped, so that the site is the extension line that made
/// the call.
pub fn site_of(frames: &[Frame]) -> Option<Site> {
    let i = frames.iter().position(|f| f.is_extension_code())?;
    let frame = frames[i].clone();
    // An impl inlined into its HPyDef_METH trampoline: at -O3 the
    // trampoline's code can carry the impl's own name, and "f, inlined into
    // f" would say nothing.
    let inlined_into = if frame.inlined { frames.get(i + 1).filter(|o| o.function != frame.function).cloned() } else { None };
    Some(Site { frame, inlined_into })
}

/// All frames at return address `ip`, innermost first (cached: an address
/// is symbolised once per process).
pub fn resolve(ip: usize) -> Vec<Frame> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static CACHE: Mutex<Option<HashMap<usize, Vec<Frame>>>> = Mutex::new(None);
    if let Some(v) = crate::base::sync::lock(&CACHE).get_or_insert_with(HashMap::new).get(&ip) {
        return v.clone();
    }
    let v = resolve_uncached(ip);
    crate::base::sync::lock(&CACHE).get_or_insert_with(HashMap::new).insert(ip, v.clone());
    v
}

/// The object holding `ip`: its file and load bias (from the dynamic
/// linker's list, read anew each time: objects are loaded at any time).
fn object_file(ip: usize) -> Option<(String, usize)> {
    struct Found {
        ip: usize,
        out: Option<(String, usize)>,
    }
    unsafe extern "C" fn cb(info: *mut libc::dl_phdr_info, _: usize, data: *mut libc::c_void) -> libc::c_int {
        let d = &mut *(data as *mut Found);
        let info = &*info;
        for i in 0..info.dlpi_phnum as usize {
            let ph = &*info.dlpi_phdr.add(i);
            let start = info.dlpi_addr as usize + ph.p_vaddr as usize;
            if ph.p_type == libc::PT_LOAD && d.ip >= start && d.ip < start + ph.p_memsz as usize {
                let name = if info.dlpi_name.is_null() { String::new() } else { std::ffi::CStr::from_ptr(info.dlpi_name).to_string_lossy().into_owned() };
                // The main program has an empty name.
                let path = if name.is_empty() { std::fs::read_link("/proc/self/exe").map(|p| p.display().to_string()).unwrap_or_default() } else { name };
                d.out = Some((path, info.dlpi_addr as usize));
                return 1;
            }
        }
        0
    }
    let mut found = Found { ip, out: None };
    unsafe { libc::dl_iterate_phdr(Some(cb), &mut found as *mut Found as *mut libc::c_void) };
    found.out
}

thread_local! {
    /// One DWARF loader per object file, kept (parsing is the dear part).
    static LOADERS: std::cell::RefCell<std::collections::HashMap<String, Option<addr2line::Loader>>> = Default::default();
}

fn resolve_uncached(ip: usize) -> Vec<Frame> {
    let object = object_of(ip);
    let mut frames: Vec<Frame> = Vec::new();
    if let Some((path, bias)) = object_file(ip) {
        // Return addresses point after the call: look up the byte before.
        let probe = (ip.wrapping_sub(1).wrapping_sub(bias)) as u64;
        // (try_with: at the very end of the process the thread-locals may be gone)
        let _ = LOADERS.try_with(|l| {
            let mut l = l.borrow_mut();
            let Some(loader) = l.entry(path.clone()).or_insert_with(|| addr2line::Loader::new(&path).ok()) else { return };
            // Every frame at the address, innermost first (inlined ones
            // first, then the function that holds the code).
            if let Ok(mut it) = loader.find_frames(probe) {
                while let Ok(Some(f)) = it.next() {
                    let function = f.function.as_ref().and_then(|n| n.demangle().ok()).map(|n| without_parameters(&n).to_string());
                    let (file, line) = match &f.location {
                        Some(loc) => (loc.file.map(|s| s.to_string()), loc.line),
                        None => (None, None),
                    };
                    frames.push(Frame { function, file, line, object: object.clone(), ip, inlined: true });
                }
            }
            if frames.is_empty() {
                if let Some(name) = loader.find_symbol(probe) {
                    let name = addr2line::demangle_auto(std::borrow::Cow::Borrowed(name), None);
                    frames.push(Frame { function: Some(without_parameters(&name).to_string()), object: object.clone(), ip, ..Default::default() });
                }
            }
        });
    }
    if frames.is_empty() {
        // No file to read (a JIT, a deleted file): what backtrace finds.
        frames = resolve_with_backtrace(ip, &object);
    }
    match frames.last_mut() {
        Some(last) => last.inlined = false,
        None => frames.push(Frame { object, ip, ..Default::default() }),
    }
    frames
}

fn resolve_with_backtrace(ip: usize, object: &str) -> Vec<Frame> {
    let mut frames = Vec::new();
    // `backtrace::resolve` looks up ip - 1 itself.
    backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
        frames.push(Frame {
            function: sym.name().map(|n| without_parameters(&n.to_string()).to_string()),
            file: sym.filename().map(|p| p.display().to_string()),
            line: sym.lineno(),
            object: object.to_string(),
            ip,
            inlined: true,
        });
    });
    frames
}

/// `ns::Type::method(int, char*) const` -> `ns::Type::method`: the
/// demangled C++ parameter list says nothing a file:line does not.  GCC's
/// clone suffixes stay (`f(int) [clone .isra.0]` -> `f [clone .isra.0]`).
fn without_parameters(name: &str) -> std::borrow::Cow<'_, str> {
    let mut base = name;
    while let Some(i) = base.rfind(" [clone ") {
        if !base.ends_with(']') {
            break;
        }
        base = &base[..i];
    }
    let head = without_scope_parameters(without_parameter_list(base));
    if head.len() == name.len() {
        return std::borrow::Cow::Borrowed(name);
    }
    std::borrow::Cow::Owned(format!("{}{}", head, &name[base.len()..]))
}

/// `outer(int)::{lambda(int)#1}::operator()` -> `outer::{lambda(int)#1}::operator()`:
/// the parameter lists of enclosing functions (of local classes, lambdas).
fn without_scope_parameters(name: &str) -> String {
    let mut s = name.to_string();
    let mut from = s.len();
    while let Some(end) = s[..from].rfind(")::") {
        let mut depth = 0;
        let mut start = None;
        for (i, c) in s[..=end].char_indices().rev() {
            match c {
                ')' => depth += 1,
                '(' => {
                    depth -= 1;
                    if depth == 0 {
                        start = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(start) = start else { break };
        let head = &s[..start];
        // `operator()` and lambdas' `{lambda(int)#1}` keep theirs.
        if !(head.is_empty() || head.ends_with("operator") || head.ends_with("{lambda")) {
            s.replace_range(start..=end, "");
        }
        from = start;
    }
    s
}

fn without_parameter_list(name: &str) -> &str {
    let t = name.trim_end_matches(" const").trim_end_matches(" volatile");
    if !t.ends_with(')') {
        return name;
    }
    let mut depth = 0;
    for (i, c) in t.char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' => {
                depth -= 1;
                if depth == 0 {
                    // `operator()` keeps its own parentheses.
                    let head = &t[..i];
                    return if head.is_empty() || head.ends_with("operator") { name } else { head };
                }
            }
            _ => {}
        }
    }
    name
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cxx_parameters_are_dropped() {
        assert_eq!(without_parameters("geo::Path::area(_HPyContext_s*, _HPy_s)"), "geo::Path::area");
        assert_eq!(without_parameters("a::b<int (*)(int)>::c(int) const"), "a::b<int (*)(int)>::c");
        assert_eq!(without_parameters("f::operator()"), "f::operator()");
        assert_eq!(without_parameters("plain_c"), "plain_c");
        assert_eq!(without_parameters("convert_xys_to_array(_HPyContext_s*, _HPy_s) [clone .isra.0]"), "convert_xys_to_array [clone .isra.0]");
        assert_eq!(without_parameters("f(int) [clone .cold] [clone .isra.0]"), "f [clone .cold] [clone .isra.0]");
        assert_eq!(without_parameters("outer(int)::{lambda(int)#1}::operator()(int) const"), "outer::{lambda(int)#1}::operator()");
        assert_eq!(without_parameters("Arr::operator[](long)"), "Arr::operator[]");
    }

    fn frame(function: &str, file: &str, inlined: bool) -> Frame {
        Frame { function: Some(function.into()), file: Some(file.into()), line: Some(1), object: "x.hpy0.so".into(), ip: 1, inlined }
    }

    #[test]
    fn the_site_is_the_first_extension_frame_even_if_inlined() {
        let frames = vec![
            frame("HPy_Dup", "/v/lib/python3.11/site-packages/hpy/devel/include/hpy/universal/autogen_trampolines.h", true),
            frame("helper", "/p/x.c", true),
            frame("caller", "/p/x.c", false),
        ];
        let s = site_of(&frames).unwrap();
        assert_eq!(s.frame.function.as_deref(), Some("helper"));
        assert_eq!(s.inlined_into.unwrap().function.as_deref(), Some("caller"));
        let s = site_of(&frames[2..]).unwrap();
        assert!(s.inlined_into.is_none());
        assert!(site_of(&frames[..1]).is_none());
    }

    #[test]
    fn an_impl_inlined_into_its_namesake_trampoline_names_no_caller() {
        let frames = vec![frame("pair_twice_impl", "/p/x.c", true), frame("pair_twice_impl", "/p/x.c", false)];
        let s = site_of(&frames).unwrap();
        assert_eq!(s.frame.function.as_deref(), Some("pair_twice_impl"));
        assert!(s.inlined_into.is_none(), "{}", s.text());
    }
}
