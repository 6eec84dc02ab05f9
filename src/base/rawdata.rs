//! Raw data tied to a handle's lifetime (`HPyUnicode_AsUTF8AndSize`,
//! `HPyBytes_AsString`, `HPyBytes_AS_STRING`, `HPyType_GetName`).
//!
//! The extension gets a copy in pages of their own, read-only from the start
//! (writing through the `const char *` is a bug) and made inaccessible when
//! the handle closes, so a read after close faults at the faulty line instead
//! of silently reading memory that happens to still be there.

use std::ptr;

pub struct RawData {
    ptr: *mut u8,
    map_len: usize,
    len: usize,
    /// The API function that handed the pointer out.
    api: &'static str,
}

// The mapping is owned by this value; the handle table is behind a lock.
unsafe impl Send for RawData {}

fn page_size() -> usize {
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

impl RawData {
    /// Copy `len` bytes at `src` into fresh read-only pages.
    /// `None` if the system refuses the mapping.
    ///
    /// # Safety
    /// `src` must be readable for `len` bytes.
    pub unsafe fn copy_read_only(src: *const u8, len: usize, api: &'static str) -> Option<RawData> {
        let ps = page_size();
        let map_len = len.max(1).div_ceil(ps) * ps;
        let p = libc::mmap(
            ptr::null_mut(),
            map_len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return None;
        }
        let p = p as *mut u8;
        ptr::copy_nonoverlapping(src, p, len);
        libc::mprotect(p as *mut libc::c_void, map_len, libc::PROT_READ);
        Some(RawData { ptr: p, map_len, len, api })
    }

    pub fn api(&self) -> &'static str {
        self.api
    }

    pub fn as_ptr(&self) -> *const u8 {
        self.ptr
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `addr` falls in this copy's pages.
    pub fn contains(&self, addr: usize) -> bool {
        let start = self.ptr as usize;
        addr >= start && addr < start + self.map_len
    }

    /// Pages mapped for this copy.
    pub fn map_len(&self) -> usize {
        self.map_len
    }

    /// Make the copy inaccessible (the handle was closed) and give its
    /// physical memory back: the address range stays reserved, so a read
    /// still faults, but it no longer costs memory.
    pub fn protect_no_access(&mut self) {
        unsafe {
            libc::mprotect(self.ptr as *mut libc::c_void, self.map_len, libc::PROT_NONE);
            libc::madvise(self.ptr as *mut libc::c_void, self.map_len, libc::MADV_DONTNEED);
        }
    }
}

impl Drop for RawData {
    fn drop(&mut self) {
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.map_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_is_equal_and_sized() {
        let s = b"hello\0";
        let r = unsafe { RawData::copy_read_only(s.as_ptr(), s.len(), "test") }.unwrap();
        assert_eq!(r.len(), 6);
        let back = unsafe { std::slice::from_raw_parts(r.as_ptr(), 6) };
        assert_eq!(back, s);
        assert!(r.contains(r.as_ptr() as usize + 3));
        assert!(!r.contains(r.as_ptr() as usize + 1_000_000));
    }
}
