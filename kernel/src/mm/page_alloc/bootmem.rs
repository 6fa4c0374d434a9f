//! The boot allocator: what the kernel runs on while lab 1's buddy
//! allocator is not written yet (a student skeleton, see mm/memblock.rs).
//!
//! Deliberately not a buddy allocator: first fit over `mem_map`, which
//! serves as its bitmap (a frame is `Free` or not). A block of 2^order
//! frames starts at a multiple of its size, as the buddy allocator's do,
//! since callers may rely on that. Linux's early allocators (bootmem in
//! 2.4, Gorman ch. 5; memblock today) are as simple, for the same reason:
//! they only have to last until the real allocator is up. Each search
//! starts at `hint`, the lowest frame that may be free, so that single
//! pages (most requests) cost little; larger blocks cost a scan.
//!
//! Its frames are marked in `mem_map` as the buddy allocator marks its
//! own (`Allocated` head with its order, `Tail`s; a free frame is `Free`
//! of order 0 on no list), so that `PageAllocator`'s checks of every free
//! and `block_of` work unchanged.

use super::ZoneType;
use crate::mm::page::{pages, Page, PageState};
use core::ops::Range;

/// Empty until `add_range`.
#[derive(Default)]
pub struct BootAllocator {
    /// The frames it was given, lowest to highest (holes stay Reserved).
    span: Range<u64>,
    /// No frame below `hint` is free.
    hint: u64,
    pub managed: u64,
    pub free: u64,
}

impl BootAllocator {
    /// Hands it the frames `pfns`, Reserved so far.
    pub fn add_range(&mut self, pfns: Range<u64>, map: &mut [Page]) {
        let pfns = pfns.start..pfns.end.min(map.len() as u64);
        if pfns.is_empty() {
            return;
        }
        if self.managed == 0 {
            (self.span, self.hint) = (pfns.clone(), pfns.start);
        }
        for page in &mut map[pfns.start as usize..pfns.end as usize] {
            debug_assert!(page.state == PageState::Reserved);
            *page = Page { state: PageState::Free, order: 0, ..*page };
        }
        let count = pfns.end.saturating_sub(pfns.start);
        self.managed += count;
        self.free += count;
        self.span = self.span.start.min(pfns.start)..self.span.end.max(pfns.end);
        self.hint = self.hint.min(pfns.start);
    }

    pub fn contains(&self, pfn: u64) -> bool {
        self.span.contains(&pfn)
    }

    /// The lowest free, size-aligned block of 2^order frames below the end
    /// of `zone`, marked allocated; its head PFN.
    pub fn alloc(&mut self, order: usize, zone: ZoneType, map: &mut [Page]) -> Option<u64> {
        let size = pages(order);
        let end = self.span.end.min(zone.end_pfn());
        let mut pfn = self.hint.next_multiple_of(size);
        while pfn + size <= end {
            match (pfn..pfn + size).find(|&p| map[p as usize].state != PageState::Free) {
                // Not free: the next candidate is the first aligned one past it.
                Some(used) => pfn = (used + 1).next_multiple_of(size),
                None => return Some(self.take(pfn, order, map)),
            }
        }
        None
    }

    fn take(&mut self, pfn: u64, order: usize, map: &mut [Page]) -> u64 {
        for tail in pfn + 1..pfn + pages(order) {
            map[tail as usize].state = PageState::Tail;
        }
        map[pfn as usize] = Page { state: PageState::Allocated, order: order as u8, ..map[pfn as usize] };
        if order == 0 {
            // A single page is the first free frame at or past the hint.
            self.hint = pfn + 1;
        }
        self.free -= pages(order);
        pfn
    }

    /// Frees the block at `pfn`, which `PageAllocator` has checked is an
    /// allocated block of this order.
    pub fn free(&mut self, pfn: u64, order: usize, map: &mut [Page]) {
        for page in &mut map[pfn as usize..(pfn + pages(order)) as usize] {
            *page = Page { state: PageState::Free, order: 0, ..*page };
        }
        self.free += pages(order);
        self.hint = self.hint.min(pfn);
    }
}
