//! The per-CPU list of single pages that each zone keeps in front of its
//! buddy lists (Linux's `struct per_cpu_pages`; Mauerer ch. 3.5.3, "hot-n-cold
//! pages"). Mosaic has one CPU, so a zone has one list.
//!
//! Tuning, not in the books' buddy algorithm: see docs/benchmarks.md.
//!
//! Most allocations are single pages and most are freed soon: a page freed
//! goes on the front of this list and the next request takes it straight
//! back, skipping the buddy allocator's split and merge while the page and
//! its `mem_map` entry are still in the cache. A page whose buddy is free
//! skips the list and merges (`Zone::free_hot`). The zone (zone.rs) refills the
//! list and empties it `batch` pages at a time; above `high` pages a batch
//! goes back to the buddy lists. The pages count as free (`free_pages`,
//! MemFree), but buddyinfo's free blocks do not include them until
//! `drain_pcp` gives them back, which the `buddyinfo` command does first.
//!
//! The list is linked through `mem_map` like the buddy lists, by `next` only:
//!
//! ```text
//!   Pcp { head } --> mem_map[pfn a].next --> mem_map[pfn b].next --> NIL
//!                    state Pcp               state Pcp
//! ```

use super::super::page::{pfn_to_frame, Page, PageOwner, PageState, NIL};
use core::ops::Range;
use x86_64::structures::paging::PhysFrame;

/// One zone's list of free single pages.
#[derive(Clone, Copy, Debug)]
pub struct Pcp {
    head: u32,
    /// Pages on the list.
    pub count: u64,
    /// More than this many, and a batch goes back; 0 turns the list off.
    pub high: u64,
    /// Pages moved between the list and the buddy lists at a time.
    pub batch: u64,
}

impl Pcp {
    /// An empty list, turned off.
    pub const OFF: Pcp = Pcp { head: NIL, count: 0, high: 0, batch: 0 };

    /// Sizes the list for a zone of `managed` pages: a batch of about a
    /// 1024th of the zone, at most 63 pages, as Linux does, and a high mark
    /// of 2 batches, where Linux 2.6 to 5.x used 6. Every page the list
    /// holds is one that cannot merge; on alloc-bench's mixed workload
    /// (with `Zone::free_hot`'s skip), 6 batches left 4% more pages
    /// stranded in small blocks than buddy_system_allocator, 2 batches 7%
    /// fewer, at the same instruction count within 1% (docs/benchmarks.md).
    /// An empty zone keeps its list off.
    pub fn enable(&mut self, managed: u64) {
        if managed > 0 {
            self.batch = (managed / 1024).clamp(1, 63);
            self.high = 2 * self.batch;
        }
    }

    pub fn is_on(&self) -> bool {
        self.high > 0
    }

    /// Puts the allocated page `pfn` of zone number `zone` on the front.
    #[inline]
    pub fn push(&mut self, pfn: u64, zone: u8, map: &mut [Page]) {
        let owner = PageOwner::Other;
        map[pfn as usize] = Page { state: PageState::Pcp, order: 0, zone, owner, prev: NIL, next: self.head };
        self.head = pfn as u32;
        self.count += 1;
    }

    /// Takes the front page off; it comes back Allocated.
    #[inline]
    pub fn pop(&mut self, map: &mut [Page]) -> Option<u64> {
        if self.head == NIL {
            return None;
        }
        let pfn = self.head as u64;
        let page = &mut map[pfn as usize];
        self.head = page.next;
        self.count -= 1;
        let (zone, owner) = (page.zone, PageOwner::Other);
        *page = Page { state: PageState::Allocated, order: 0, zone, owner, prev: NIL, next: NIL };
        Some(pfn)
    }

    /// Moves pages off the list into the front of `frames`, as many as both
    /// hold; returns how many.
    pub fn take(&mut self, frames: &mut [PhysFrame], map: &mut [Page]) -> usize {
        let n = frames.len().min(self.count as usize);
        for frame in &mut frames[..n] {
            let pfn = self.pop(map).expect("count pages are on the list");
            *frame = pfn_to_frame(pfn);
        }
        n
    }

    /// Checks the list against `map` for a zone spanning `span`; returns
    /// its length.
    pub fn check(&self, map: &[Page], span: Range<u64>) -> Result<u64, &'static str> {
        let (mut pfn, mut count) = (self.head, 0);
        while pfn != NIL {
            let page = &map[pfn as usize];
            if page.state != PageState::Pcp || !span.contains(&(pfn as u64)) {
                return Err("a page on the per-CPU list is not a Pcp page of its zone");
            }
            count += 1;
            if count > span.end - span.start {
                return Err("the per-CPU list has a cycle");
            }
            pfn = page.next;
        }
        if count != self.count {
            return Err("the per-CPU list's count differs from its length");
        }
        Ok(count)
    }
}
