//! What test_vmalloc compares before and after a run to find a leak: the
//! vmalloc areas and the pages accounted (bench/test_vmalloc.rs).

use crate::message::Message;
use crate::mm::vmalloc;
use alloc::vec::Vec;

/// What a leak would change: the vmalloc areas, and the pages that are free
/// or held as page tables or by the heap. Page tables stay once made (as in
/// Linux) and the heap keeps the slabs it grew for the bookkeeping, so free
/// pages alone would move without anything being lost; a data page or an
/// area not given back changes this sum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    pages: u64,
    vmalloc_pages: u64,
    areas: Vec<(u64, u64)>,
}

impl Usage {
    pub fn now() -> Usage {
        let pages = crate::mm::pages_accounted();
        let areas = vmalloc::areas().expect("the heap holds the area list").iter().map(|a| (a.start, a.size)).collect();
        Usage { pages, vmalloc_pages: vmalloc::totals().used_pages, areas }
    }

    /// Describes the difference from `after`, or None if there is none.
    pub(super) fn compare(&self, after: &Usage) -> Option<Message> {
        if self.areas != after.areas {
            return Some(Message::new(format_args!(
                "{} vmalloc areas before, {} after",
                self.areas.len(),
                after.areas.len()
            )));
        }
        if (self.pages, self.vmalloc_pages) != (after.pages, after.vmalloc_pages) {
            return Some(Message::new(format_args!(
                "{} pages free or in page tables and the heap before, {} after (VmallocUsed {} -> {} pages)",
                self.pages, after.pages, self.vmalloc_pages, after.vmalloc_pages
            )));
        }
        None
    }
}
