//! Isolates made inside isolates (`new ivm.Isolate()` in a context given
//! the library) stay inside the limit of the isolate that made them.
//!
//! A child's memory limit is taken from what is left of its parent's: the
//! parent's heap in use and off-heap memory, less what its live children
//! hold already. The child's whole limit is reserved in the parent's budget
//! ([`Share`]) for as long as the child lives, so the parent's own
//! allocations and its later children count it too. A parent that is
//! disposed, hits its limit or is lost disposes its children at once (and
//! so theirs), rather than when a collector gets to their handles.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::isolate::IsolateInner;
use crate::memory::MemoryBudget;
use crate::{DEFAULT_MEMORY_LIMIT_MB, Error, Isolate, JsError, MIN_MEMORY_LIMIT_MB};

/// The isolate's part in its family: the children it made, and the share
/// of its parent's budget it holds, if a parent made it.
#[derive(Default)]
pub(crate) struct Family {
    children: Mutex<Vec<Weak<IsolateInner>>>,
    share: Mutex<Option<Share>>,
}

/// Bytes of a parent's budget reserved for one child; released when the
/// child is torn down (or never made).
pub(crate) struct Share {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl Drop for Share {
    fn drop(&mut self) {
        self.budget.release_for_child(self.bytes);
    }
}

/// Reserves the memory limit, in MiB, of a child `parent` makes:
/// `requested`, or when none, the default limit or half of what is left if
/// that is less (so that a parent that makes children without naming
/// their limits leaves room for the next). A limit past what is left of the
/// parent's is a RangeError.
pub(crate) fn reserve(parent: &Isolate, requested: Option<usize>) -> Result<(usize, Share), Error> {
    let budget = &parent.inner.memory;
    // The caller is the parent's own call (a host function of its library),
    // so its statistics are read at once; an isolate going away reads none.
    let heap = parent.heap_statistics().map_or(0, |statistics| statistics.used_heap_size);
    let left = budget.limit_bytes().saturating_sub(heap).saturating_sub(budget.off_heap_bytes()) >> 20;
    let limit = requested.unwrap_or(DEFAULT_MEMORY_LIMIT_MB.min(left / 2).max(MIN_MEMORY_LIMIT_MB));
    if limit > left || limit < MIN_MEMORY_LIMIT_MB {
        return Err(Error::Js(JsError::new(
            "RangeError",
            format!(
                "An isolate made inside another may take no more memory than is left of that one's limit: {limit} MB asked, {left} MB left of {} MB",
                budget.limit_bytes() >> 20
            ),
        )));
    }
    let bytes = limit << 20;
    budget.reserve_for_child(bytes);
    Ok((limit, Share { budget: Arc::clone(budget), bytes }))
}

/// Records `child`, made by `parent` with `share` of its budget. A parent
/// disposed meanwhile disposes the child at once.
pub(crate) fn adopt(parent: &Isolate, child: &Isolate, share: Share) {
    *child.inner.family.share.lock().unwrap_or_else(PoisonError::into_inner) = Some(share);
    let mut children = parent.inner.family.children.lock().unwrap_or_else(PoisonError::into_inner);
    // Under the lock `disband` takes: a parent is marked disposed before it
    // disbands, so a child is either taken by that or disposed here.
    if parent.is_disposed() {
        drop(children);
        let _ = child.dispose();
        return;
    }
    children.retain(|child| child.strong_count() > 0);
    children.push(Arc::downgrade(&child.inner));
}

impl Family {
    /// The isolate is being torn down: its share of its parent's budget is
    /// returned, and its children are disposed.
    pub(crate) fn disband(&self) {
        drop(self.share.lock().unwrap_or_else(PoisonError::into_inner).take());
        let children = std::mem::take(&mut *self.children.lock().unwrap_or_else(PoisonError::into_inner));
        for inner in children.iter().filter_map(Weak::upgrade) {
            let _ = Isolate { inner }.dispose();
        }
    }
}
