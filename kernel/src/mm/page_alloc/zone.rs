//! Zones and the buddy algorithm that runs inside each of them.
//!
//! Physical memory is split into zones by what hardware can reach (Gorman
//! ch. 2.2, Mauerer ch. 3.2.1): `DMA` below 16 MiB for old ISA devices with
//! 24-bit addresses, `DMA32` below 4 GiB for devices with 32-bit addresses,
//! and `Normal` for the rest. Each zone runs its own buddy allocator (Gorman
//! ch. 6, Mauerer ch. 3.5): a free list per order, where a block of order `k`
//! is 2^k pages aligned to 2^k pages. Its *buddy* is the other half of the
//! block of order `k + 1` that contains it, found by flipping bit `k` of the
//! PFN. Allocation splits a larger block when no block of the right order is
//! free; freeing merges a block with its buddy for as long as the buddy is
//! free and of the same order.
//!
//! Zone boundaries (16 MiB, 4 GiB) are multiples of the largest block
//! (4 MiB), so a block and its buddy always lie in the same zone.
//!
//! One order's free list, linked through `mem_map` (both ways, so that a
//! buddy is unlinked in O(1) when it merges):
//!
//! ```text
//!   free_area[k].head --> mem_map[p] <--> mem_map[q] <--> ... --> NIL
//!                         Free, order k   Free, order k
//!   block p = pages p .. p + 2^k;  its buddy starts at p ^ 2^k
//! ```
//!
//! A block is taken from the head of its list, and `push` puts a block
//! back at the head (the page freed last is still in the cache), except
//! one that will merge as soon as a single block comes back: its buddy is
//! allocated, whole, at the same order. That one goes to the tail, so that
//! it is handed out last and has time to merge (Mosaic's version of
//! Linux's `buddy_merge_likely`, which looks one order further up).
//! Measured on alloc-bench's mixed workload (30 seeds), it leaves 28%
//! fewer free pages stranded in blocks below order 4 than pushing every
//! block at the head, and 15% fewer than `buddy_system_allocator`, which
//! always takes the lowest-addressed block (docs/benchmarks.md).
//!
//! Lab 1 is the two methods `alloc` (split) and `free` (merge); both put
//! blocks on the lists with `push` and need not know where it puts them.

use super::super::page::{pages, Page, PageOwner, PageState, MAX_ORDER, NIL, NR_ORDERS};
use super::pcp::Pcp;
use core::fmt;
use x86_64::structures::paging::PhysFrame;

/// The zones, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ZoneType {
    Dma = 0,
    Dma32 = 1,
    Normal = 2,
}

impl ZoneType {
    pub const ALL: [ZoneType; 3] = [ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal];

    /// Linux's name for the zone, as in /proc/buddyinfo.
    pub fn name(self) -> &'static str {
        match self {
            ZoneType::Dma => "DMA",
            ZoneType::Dma32 => "DMA32",
            ZoneType::Normal => "Normal",
        }
    }

    /// First PFN past the zone (for Normal: no limit).
    pub fn end_pfn(self) -> u64 {
        match self {
            ZoneType::Dma => (16 << 20) / 4096,
            ZoneType::Dma32 => (4 << 30) / 4096,
            ZoneType::Normal => u64::MAX,
        }
    }

    pub fn start_pfn(self) -> u64 {
        match self {
            ZoneType::Dma => 0,
            ZoneType::Dma32 => ZoneType::Dma.end_pfn(),
            ZoneType::Normal => ZoneType::Dma32.end_pfn(),
        }
    }

    /// The zone a PFN belongs to.
    pub fn of(pfn: u64) -> ZoneType {
        ZoneType::ALL.into_iter().find(|z| pfn < z.end_pfn()).unwrap_or(ZoneType::Normal)
    }

    /// Parses `dma`, `dma32` or `normal` (any case).
    pub fn parse(name: &str) -> Option<ZoneType> {
        ZoneType::ALL.into_iter().find(|z| z.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for ZoneType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One order's free list: Linux's `struct free_area`.
#[derive(Clone, Copy, Debug)]
pub struct FreeArea {
    /// PFN of the first free block, or NIL.
    head: u32,
    /// PFN of the last free block, or NIL.
    tail: u32,
    /// Number of free blocks on the list.
    pub nr_free: u64,
}

/// A zone: its PFN span, its counters and its free lists.
#[derive(Clone, Debug)]
pub struct Zone {
    pub kind: ZoneType,
    /// PFNs [start_pfn, end_pfn) that the zone spans (holes included).
    pub start_pfn: u64,
    pub end_pfn: u64,
    /// Pages handed to the buddy allocator at boot.
    pub managed: u64,
    /// Pages of RAM in the span that are reserved (never handed out).
    pub reserved: u64,
    /// Pages currently free: in the buddy lists and on the per-CPU list.
    pub free_pages: u64,
    free_area: [FreeArea; NR_ORDERS],
    pub pcp: Pcp,
}

impl Zone {
    pub fn new(kind: ZoneType, map_len: u64) -> Zone {
        let start_pfn = kind.start_pfn().min(map_len);
        let end_pfn = kind.end_pfn().min(map_len);
        Zone {
            kind,
            start_pfn,
            end_pfn,
            managed: 0,
            reserved: 0,
            free_pages: 0,
            free_area: [FreeArea { head: NIL, tail: NIL, nr_free: 0 }; NR_ORDERS],
            pcp: Pcp::OFF,
        }
    }

    pub fn spanned(&self) -> u64 {
        self.end_pfn - self.start_pfn
    }

    /// Free blocks per order, as /proc/buddyinfo shows them.
    pub fn nr_free(&self) -> [u64; NR_ORDERS] {
        self.free_area.map(|a| a.nr_free)
    }

    pub fn contains(&self, pfn: u64) -> bool {
        (self.start_pfn..self.end_pfn).contains(&pfn)
    }

    /// Takes a block of `order`, splitting a larger one if needed
    /// (Linux's `__rmqueue_smallest` and `expand`). Returns its head PFN.
    pub fn alloc(&mut self, order: usize, map: &mut [Page]) -> Option<u64> {
        // LAB 1 BEGIN: take a block of the smallest non-empty order >= order; free its upper halves (split)
        let found = (order..=MAX_ORDER).find(|&o| self.free_area[o].head != NIL)?;
        let pfn = self.free_area[found].head as u64;
        self.remove(pfn, found, map);
        // Hand the upper halves back, from the largest down: a block of
        // order `found` becomes our block plus one free block of each order
        // from `found - 1` down to `order`.
        for half in (order..found).rev() {
            let buddy = pfn + pages(half);
            self.push(buddy, half, map);
        }
        let head = &mut map[pfn as usize];
        head.state = PageState::Allocated;
        head.order = order as u8;
        self.free_pages -= pages(order);
        Some(pfn)
        // LAB 1 END
    }

    /// Returns the allocated block at `pfn` of `order`, merging it with its
    /// buddy as far as possible (Linux's `__free_one_page`). The caller has
    /// checked that `pfn` heads an allocated block of exactly this order.
    pub fn free(&mut self, mut pfn: u64, mut order: usize, map: &mut [Page]) {
        // LAB 1 BEGIN: merge with the buddy (pfn ^ 2^order) while it is free and of the same order
        debug_assert!(map[pfn as usize].state == PageState::Allocated);
        self.free_pages += pages(order);
        while order < MAX_ORDER {
            let buddy = pfn ^ pages(order);
            if !self.contains(buddy) || !is_free_block(&map[buddy as usize], order) {
                break;
            }
            self.remove(buddy, order, map);
            // The merged block starts at the lower of the two heads; the
            // other head becomes part of it.
            let merged = pfn & buddy;
            map[(pfn ^ buddy ^ merged) as usize].state = PageState::Tail;
            pfn = merged;
            order += 1;
        }
        self.push(pfn, order, map);
        // LAB 1 END
    }

    /// Takes `n` free blocks of the largest order that lie next to each
    /// other, for a heap request larger than one block; returns the first
    /// one's head PFN. Each comes back `Allocated` with order `MAX_ORDER`,
    /// to be freed one by one. Only blocks free as a whole count: Linux's
    /// `alloc_contig_pages` scans the same way but also moves pages out of
    /// the way, which Mosaic cannot. The scan reads one `mem_map` entry
    /// per 4 MiB of the zone (256 for 1 GiB), lowest first.
    pub fn alloc_contig(&mut self, n: u64, map: &mut [Page]) -> Option<u64> {
        let size = pages(MAX_ORDER);
        if n == 0 || self.free_area[MAX_ORDER].nr_free < n {
            return None;
        }
        let (mut start, mut run) = (self.start_pfn.next_multiple_of(size), 0);
        let mut pfn = start;
        while pfn + size <= self.end_pfn && run < n {
            if is_free_block(&map[pfn as usize], MAX_ORDER) {
                run += 1;
            } else {
                (start, run) = (pfn + size, 0);
            }
            pfn += size;
        }
        if run < n {
            return None;
        }
        for head in (start..start + n * size).step_by(size as usize) {
            self.remove(head, MAX_ORDER, map);
            map[head as usize].state = PageState::Allocated;
            map[head as usize].order = MAX_ORDER as u8;
        }
        self.free_pages -= n * size;
        Some(start)
    }

    // --- the per-CPU list ---------------------------------------------------

    /// Turns the per-CPU list on (see pcp.rs for its sizes).
    pub fn enable_pcp(&mut self) {
        self.pcp.enable(self.managed);
    }

    /// One page: from the per-CPU list when it is on (refilled with a batch
    /// from the buddy lists when empty), else from the buddy lists.
    pub fn alloc_hot(&mut self, map: &mut [Page]) -> Option<u64> {
        if !self.pcp.is_on() {
            return self.alloc(0, map);
        }
        if self.pcp.count == 0 {
            for _ in 0..self.pcp.batch {
                let Some(pfn) = self.alloc(0, map) else { break };
                self.free_pages += 1;
                self.pcp.push(pfn, self.kind as u8, map);
            }
        }
        let pfn = self.pcp.pop(map)?;
        self.free_pages -= 1;
        Some(pfn)
    }

    /// Moves pages off the per-CPU list into the front of `frames`, as many
    /// as both hold; returns how many (0 when the list is off or empty).
    pub fn pcp_take(&mut self, frames: &mut [PhysFrame], map: &mut [Page]) -> usize {
        let n = self.pcp.take(frames, map);
        self.free_pages -= n as u64;
        n
    }

    /// Frees one allocated page: onto the per-CPU list when it is on
    /// (sending a batch back to the buddy lists above `high`), unless its
    /// buddy is free, else to the buddy lists.
    #[inline]
    pub fn free_hot(&mut self, pfn: u64, map: &mut [Page]) {
        if !self.pcp.is_on() || self.buddy_is_free(pfn, map) {
            return self.free(pfn, 0, map);
        }
        self.free_pages += 1;
        self.pcp.push(pfn, self.kind as u8, map);
        if self.pcp.count > self.pcp.high {
            self.drain_pcp(self.pcp.batch, map);
        }
    }

    /// True if the single page at `pfn` has a buddy free on the order-0
    /// list: freed to the buddy lists, the two merge at once, where on the
    /// per-CPU list it would be handed out again and strand its buddy.
    /// Linux puts every page on the list; on alloc-bench's mixed workload
    /// this rule leaves 9% fewer pages stranded in small blocks (755.9 to
    /// 690.8), at 3% more instructions on single-page churn, 11 more per
    /// free (docs/benchmarks.md). One
    /// read of a `mem_map` entry that is usually in the freed page's cache
    /// line.
    ///
    /// Tuning, not in the books: see docs/benchmarks.md.
    #[inline]
    fn buddy_is_free(&self, pfn: u64, map: &[Page]) -> bool {
        let buddy = pfn ^ 1;
        self.contains(buddy) && map[buddy as usize].state == PageState::Free
    }

    /// Gives up to `n` pages of the per-CPU list back to the buddy lists,
    /// where they merge with their buddies.
    pub fn drain_pcp(&mut self, n: u64, map: &mut [Page]) {
        for _ in 0..n {
            let Some(pfn) = self.pcp.pop(map) else { break };
            self.free_pages -= 1;
            self.free(pfn, 0, map);
        }
    }

    // --- the buddy lists ----------------------------------------------------

    /// Puts the block at `pfn` on the free list of `order`, in O(1): at the
    /// tail if it will merge as soon as its buddy comes back
    /// (`merges_soon`), so that it is handed out last, else at the head.
    fn push(&mut self, pfn: u64, order: usize, map: &mut [Page]) {
        if self.merges_soon(pfn, order, map) {
            self.push_tail(pfn, order, map);
        } else {
            self.push_head(pfn, order, map);
        }
    }

    /// Puts the block at `pfn` first on the free list of `order`: the next
    /// to be taken.
    fn push_head(&mut self, pfn: u64, order: usize, map: &mut [Page]) {
        let area = &mut self.free_area[order];
        let old_head = area.head;
        map[pfn as usize] = free_head(order, self.kind, NIL, old_head);
        if old_head != NIL {
            map[old_head as usize].prev = pfn as u32;
        } else {
            area.tail = pfn as u32;
        }
        area.head = pfn as u32;
        area.nr_free += 1;
    }

    /// Puts the block at `pfn` last on the free list of `order`: the last
    /// to be taken again.
    fn push_tail(&mut self, pfn: u64, order: usize, map: &mut [Page]) {
        let area = &mut self.free_area[order];
        let old_tail = area.tail;
        map[pfn as usize] = free_head(order, self.kind, old_tail, NIL);
        if old_tail != NIL {
            map[old_tail as usize].next = pfn as u32;
        } else {
            area.head = pfn as u32;
        }
        area.tail = pfn as u32;
        area.nr_free += 1;
    }

    /// True if the block at `pfn` of `order`, about to go on a free list,
    /// has a buddy allocated as one block of the same order: a single free
    /// merges the two. Handing such a block out last keeps that merge
    /// possible, where handing it out first would strand its buddy's
    /// pages once they come back. Linux's `buddy_merge_likely` asks
    /// instead whether the buddy of the parent block is free; measured on
    /// alloc-bench's mixed workload, this rule strands 28% fewer pages
    /// than head pushes alone, and Linux's 3% (docs/benchmarks.md). One
    /// read of the buddy's `mem_map` entry, which `free` has just read.
    ///
    /// Tuning, not in the books: see docs/benchmarks.md.
    fn merges_soon(&self, pfn: u64, order: usize, map: &[Page]) -> bool {
        let buddy = pfn ^ pages(order);
        order < MAX_ORDER && self.contains(buddy) && {
            let page = &map[buddy as usize];
            page.state == PageState::Allocated && page.order as usize == order
        }
    }

    /// Unlinks the free block at `pfn` from the list of `order`, in O(1).
    fn remove(&mut self, pfn: u64, order: usize, map: &mut [Page]) {
        let Page { prev, next, .. } = map[pfn as usize];
        if prev == NIL {
            self.free_area[order].head = next;
        } else {
            map[prev as usize].next = next;
        }
        if next != NIL {
            map[next as usize].prev = prev;
        } else {
            self.free_area[order].tail = prev;
        }
        self.free_area[order].nr_free -= 1;
        let page = &mut map[pfn as usize];
        page.prev = NIL;
        page.next = NIL;
        page.state = PageState::Tail;
    }

    /// Checks the zone's lists against `map` (slow: for tests).
    pub fn check(&self, map: &[Page]) -> Result<(), &'static str> {
        let mut free = 0;
        for (order, area) in self.free_area.iter().enumerate() {
            let (mut pfn, mut prev, mut count) = (area.head, NIL, 0);
            while pfn != NIL {
                let page = &map[pfn as usize];
                if page.state != PageState::Free || page.order as usize != order {
                    return Err("a block on a free list is not a free head of that order");
                }
                if page.prev != prev {
                    return Err("broken back link on a free list");
                }
                if !(pfn as u64).is_multiple_of(pages(order)) || !self.contains(pfn as u64 + pages(order) - 1) {
                    return Err("free block misaligned or outside its zone");
                }
                (prev, pfn) = (pfn, page.next);
                count += 1;
            }
            if count != area.nr_free {
                return Err("nr_free differs from the list length");
            }
            if prev != area.tail {
                return Err("a free list's tail is not its last block");
            }
            free += count * pages(order);
        }
        if free + self.pcp.check(map, self.start_pfn..self.end_pfn)? != self.free_pages {
            return Err("free_pages differs from the free lists");
        }
        Ok(())
    }
}

fn is_free_block(page: &Page, order: usize) -> bool {
    page.state == PageState::Free && page.order as usize == order
}

/// The `mem_map` entry of the head of a free block of `order` in zone
/// `kind`, between free-list neighbours `prev` and `next`.
fn free_head(order: usize, kind: ZoneType, prev: u32, next: u32) -> Page {
    Page { state: PageState::Free, order: order as u8, zone: kind as u8, owner: PageOwner::Other, prev, next }
}
