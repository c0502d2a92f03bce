//! Copies of large buffers into fresh memory at close to memcpy speed.
//!
//! A fresh 64 MiB allocation costs more in page faults (16,384 of them, each
//! zeroing a 4 KiB page) than the copy itself. Large copies therefore go to
//! anonymous mappings that ask for transparent huge pages (the kernel faults
//! in 2 MiB at a time), and a few freed mappings are kept for reuse, marked
//! `MADV_FREE` so that the kernel may still reclaim their pages under memory
//! pressure. A reused mapping whose pages survived costs no faults at all.
//!
//! Memory handed to another engine (see [`copy_to_owned`]) is different: it
//! comes back only when that engine's garbage collector frees it, which may
//! be long after, so while such copies are made the process keeps taking
//! memory it has never touched. Fresh huge pages are the slow case (on the
//! machine the benchmarks ran on, 116 ms to fault in and fill 64 MiB of them
//! against 55 ms for 4 KiB pages; 16 to 29 ms for huge pages reused just
//! after a free), so those copies take a pooled mapping if one is free and
//! otherwise ordinary pages.

use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

/// Freed mappings kept for reuse, at most this many.
const POOLED_MAPPINGS: usize = 4;

static POOL: Mutex<Vec<Mapping>> = Mutex::new(Vec::new());

/// From this size on, copies use a huge-page mapping.
const LARGE: usize = 4 << 20;

/// A copy of `data` as immutable bytes.
pub(crate) fn copy_to_bytes(data: &[u8]) -> Bytes {
    copy(data, Pages::Huge)
}

/// A copy of `data` to be handed to another engine, which frees it when its
/// garbage collector decides (see the module's documentation).
pub(crate) fn copy_to_owned(data: &[u8]) -> Bytes {
    copy(data, Pages::Small)
}

/// The pages a new mapping asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pages {
    Huge,
    Small,
}

fn copy(data: &[u8], pages: Pages) -> Bytes {
    if data.len() < LARGE {
        return Bytes::copy_from_slice(data);
    }
    let pooled = {
        let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        pool.iter()
            .position(|m| m.capacity >= data.len() && m.capacity / 2 <= data.len())
            .map(|at| pool.swap_remove(at))
    };
    match pooled.or_else(|| Mapping::new(data.len(), pages)) {
        Some(mut mapping) => {
            mapping.len = data.len();
            mapping.as_mut_slice().copy_from_slice(data);
            Bytes::from_owner(PooledMapping(Some(mapping)))
        }
        None => Bytes::copy_from_slice(data),
    }
}

/// A mapping that goes back to the pool when the bytes over it are dropped.
struct PooledMapping(Option<Mapping>);

impl AsRef<[u8]> for PooledMapping {
    fn as_ref(&self) -> &[u8] {
        self.0.as_ref().map_or(&[], Mapping::as_slice)
    }
}

impl Drop for PooledMapping {
    fn drop(&mut self) {
        let Some(mapping) = self.0.take() else { return };
        // SAFETY: advice on a mapping owned here; its contents are no longer
        // needed, and the kernel may reclaim the pages until they are written.
        unsafe { libc::madvise(mapping.ptr.cast(), mapping.capacity, libc::MADV_FREE) };
        let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < POOLED_MAPPINGS {
            pool.push(mapping);
        }
    }
}

/// An anonymous private mapping of `capacity` bytes, of which the first
/// `len` are in use; unmapped on drop.
struct Mapping {
    ptr: *mut u8,
    capacity: usize,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value alone.
unsafe impl Send for Mapping {}
// SAFETY: shared access only ever reads it (see `as_slice`).
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(len: usize, pages: Pages) -> Option<Mapping> {
        // SAFETY: an anonymous private mapping with no address hint touches
        // no existing memory; failure is reported as MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        if pages == Pages::Huge {
            // SAFETY: advice on a mapping this function owns; a refusal (no
            // THP support) is harmless, so the result is ignored.
            unsafe { libc::madvise(ptr, len, libc::MADV_HUGEPAGE) };
        }
        Some(Mapping { ptr: ptr.cast(), capacity: len, len })
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` maps `capacity >= len` readable bytes that live as
        // long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` maps `capacity >= len` writable bytes owned by
        // `self`, borrowed mutably here.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` created, once.
        unsafe { libc::munmap(self.ptr.cast(), self.capacity) };
    }
}
