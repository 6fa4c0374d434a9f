//! The zoned page allocator: `alloc_pages` and `free_pages` over all zones.
//!
//! This is the hardware-free core of Linux's mm/page_alloc.c (Gorman ch. 6,
//! Mauerer ch. 3.5.4-3.5.6): it owns `mem_map` and one buddy allocator per
//! zone, picks the zone for a request with Linux's fallback order (a Normal
//! request may be served from DMA32, then DMA; never the other way), and
//! checks every free against `mem_map` so that a double free or a wrong
//! order is reported instead of corrupting the free lists.
//!
//! ```text
//!   PageAllocator
//!   +-- map: mem_map, one Page per frame (page.rs)
//!   +-- zones[DMA, DMA32, Normal]        zone.rs: split (alloc), merge (free)
//!   |     +-- free_area[0..=MAX_ORDER]   one free list per order
//!   |     +-- pcp                        pcp.rs: per-CPU list of single pages
//!   +-- fail                             fail.rs: fail_page_alloc
//! ```
//!
//! The files: `zone.rs` is the buddy algorithm itself (LAB 1), `pcp.rs`
//! and the bulk calls below are tuning, `fail.rs` is for tests, and
//! `global.rs` is the one locked instance the running kernel uses.
//!
//! While lab 1 is not written (a student skeleton: `Zone::alloc` or
//! `Zone::free` is still a `lab_missing!` stub, which `buddy_self_check`
//! finds at boot), the kernel's own requests go to `bootmem.rs`, a simple
//! first-fit allocator, and only the DMA zone is the student's: the
//! shell's `alloc_pages`, `free_pages` and `buddyinfo` (the `_buddy` calls
//! below) use it. With lab 1 written, `boot` is None and nothing changes.

mod bootmem;
mod fail;
#[cfg(target_os = "none")]
pub(super) mod global;
mod pcp;
mod zone;

pub use bootmem::BootAllocator;
pub use fail::FailPageAlloc;
pub use pcp::Pcp;
pub use zone::{FreeArea, Zone, ZoneType};

use super::page::{pages, pfn_to_frame, Page, PageOwner, PageState, MAX_ORDER, NR_ORDERS, PAGE_SIZE};
use crate::lab::{probe, Missing};
use core::fmt;
use core::ops::Range;
use x86_64::structures::paging::PhysFrame;
use x86_64::PhysAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    BadOrder(usize),
    /// No free block of the order in the zone or any zone it may fall back to.
    OutOfMemory {
        order: usize,
        zone: ZoneType,
    },
    /// No run of this many free largest-order blocks next to each other
    /// (`alloc_contig_blocks`), or a run of none asked for.
    NoContiguousRun {
        blocks: u64,
        zone: ZoneType,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    BadOrder(usize),
    /// The address is not page-aligned.
    Unaligned(u64),
    /// The frame is not RAM the allocator manages.
    NotManaged(u64),
    /// The frame heads a free block: a double free.
    AlreadyFree(u64),
    /// The frame is inside a block, not at its start.
    NotBlockStart(u64),
    /// The block was allocated with another order.
    WrongOrder {
        addr: u64,
        allocated: usize,
        given: usize,
    },
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            AllocError::BadOrder(o) => write!(f, "order {o} is out of range (0..={MAX_ORDER})"),
            AllocError::OutOfMemory { order, zone } => {
                write!(f, "out of memory: no free block of order {order} in zone {zone} or below")
            }
            AllocError::NoContiguousRun { blocks, zone } => write!(
                f,
                "out of memory: no {blocks} free blocks of order {MAX_ORDER} next to each other in zone {zone} or below"
            ),
        }
    }
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            FreeError::BadOrder(o) => write!(f, "order {o} is out of range (0..={MAX_ORDER})"),
            FreeError::Unaligned(a) => write!(f, "{a:#x} is not page-aligned"),
            FreeError::NotManaged(a) => write!(f, "{a:#x} is not memory the page allocator manages"),
            FreeError::AlreadyFree(a) => write!(f, "{a:#x} is already free (double free?)"),
            FreeError::NotBlockStart(a) => write!(f, "{a:#x} is not the start of an allocated block"),
            FreeError::WrongOrder { addr, allocated, given } => {
                write!(f, "{addr:#x} was allocated with order {allocated}, not {given}")
            }
        }
    }
}

pub struct PageAllocator<'a> {
    map: &'a mut [Page],
    zones: [Zone; 3],
    /// Fault injection and the count of `alloc_pages` calls (fail.rs).
    fail: FailPageAlloc,
    /// Set while lab 1 is not written: see the top of this file.
    boot: Option<BootMode>,
}

/// The kernel on the boot allocator, and why.
struct BootMode {
    alloc: BootAllocator,
    /// The lab-1 function found missing (`Zone::alloc` first).
    missing: Missing,
    /// `Zone::free` is written: the DMA zone's RAM goes to the zones.
    free_written: bool,
}

/// What `buddy_self_check` found of lab 1's functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuddyCheck {
    pub alloc: Option<Missing>,
    pub free: Option<Missing>,
}

impl BuddyCheck {
    /// The missing function to name, if any: alloc first, as the handout
    /// asks for it first.
    pub fn missing(&self) -> Option<Missing> {
        self.alloc.or(self.free)
    }
}

/// Calls `Zone::free` then `Zone::alloc` on a scratch zone of two frames,
/// apart from any real memory, and says which of them is still a stub.
/// A written function does its work there and changes nothing else.
pub fn buddy_self_check() -> BuddyCheck {
    let mut map = [Page::RESERVED; 2];
    map[0] = Page { state: PageState::Allocated, ..Page::RESERVED };
    let mut zone = Zone::new(ZoneType::Dma, map.len() as u64);
    let free = probe(|| zone.free(0, 0, &mut map));
    let alloc = probe(|| {
        zone.alloc(0, &mut map);
    });
    BuddyCheck { alloc, free }
}

impl<'a> PageAllocator<'a> {
    /// An allocator with no memory yet; every frame of `map` starts Reserved.
    pub fn new(map: &'a mut [Page]) -> Self {
        map.fill(Page::RESERVED);
        let len = map.len() as u64;
        let zones = ZoneType::ALL.map(|z| Zone::new(z, len));
        for zone in &zones {
            for page in &mut map[zone.start_pfn as usize..zone.end_pfn as usize] {
                page.zone = zone.kind as u8;
            }
        }
        PageAllocator { map, zones, fail: FailPageAlloc::default(), boot: None }
    }

    /// From now on the kernel's requests go to the boot allocator, because
    /// lab 1 is not written (`check` says what is missing). Call before
    /// any RAM is added.
    pub fn run_on_boot_allocator(&mut self, check: BuddyCheck) {
        let Some(missing) = check.missing() else { return };
        self.boot = Some(BootMode { alloc: BootAllocator::default(), missing, free_written: check.free.is_none() });
    }

    /// The lab-1 function whose absence put the kernel on the boot
    /// allocator, if it runs on it.
    pub fn buddy_missing(&self) -> Option<Missing> {
        self.boot.as_ref().map(|b| b.missing)
    }

    /// Hands the usable frames `pfns` over at boot: to the buddy
    /// allocator, or while on the boot allocator, the DMA zone's part to
    /// the student's zones (if `Zone::free` is written: it adds them) and
    /// the rest to the boot allocator.
    pub fn add_ram(&mut self, pfns: Range<u64>) {
        let Some(boot) = &mut self.boot else { return self.add_free_range(pfns) };
        let split = ZoneType::Dma.end_pfn().clamp(pfns.start, pfns.end);
        boot.alloc.add_range(split..pfns.end, self.map);
        if boot.free_written {
            self.add_free_range(pfns.start..split);
        }
    }

    /// Hands the frames `pfns` to the allocator (boot time). They must be
    /// Reserved so far. Freed as the largest aligned blocks that fit, which
    /// then merge with free neighbours.
    pub fn add_free_range(&mut self, pfns: Range<u64>) {
        let mut pfn = pfns.start;
        let end = pfns.end.min(self.map.len() as u64);
        while pfn < end {
            let fits = |o: usize| pfn.is_multiple_of(pages(o)) && pfn + pages(o) <= end;
            let order = (0..=MAX_ORDER).rev().find(|&o| fits(o)).unwrap_or(0);
            debug_assert!(self.map[pfn as usize].state == PageState::Reserved);
            for tail in pfn..pfn + pages(order) {
                self.map[tail as usize].state = PageState::Tail;
            }
            let head = &mut self.map[pfn as usize];
            head.state = PageState::Allocated;
            head.order = order as u8;
            let zone = self.zone_index(pfn);
            self.zones[zone].managed += pages(order);
            self.zones[zone].free(pfn, order, self.map);
            pfn += pages(order);
        }
    }

    /// Records the frames `pfns` as RAM that stays reserved (for zoneinfo).
    pub fn note_reserved(&mut self, pfns: Range<u64>) {
        for pfn in pfns.start..pfns.end.min(self.map.len() as u64) {
            let zone = self.zone_index(pfn);
            self.zones[zone].reserved += 1;
        }
    }

    /// Says who holds the reserved frames `pfns` (memblock, at boot, from
    /// the memory map); frames that are not Reserved keep their owner.
    pub fn set_reserved_owner(&mut self, pfns: Range<u64>, owner: PageOwner) {
        let end = pfns.end.min(self.map.len() as u64);
        for page in &mut self.map[pfns.start.min(end) as usize..end as usize] {
            if page.state == PageState::Reserved {
                page.owner = owner;
            }
        }
    }

    fn zone_index(&self, pfn: u64) -> usize {
        ZoneType::of(pfn) as usize
    }

    /// Allocates 2^order contiguous frames from `zone` or a lower one.
    pub fn alloc_pages(&mut self, order: usize, zone: ZoneType) -> Result<PhysFrame, AllocError> {
        self.alloc(order, zone, true, PageOwner::Other)
    }

    /// `alloc_pages` that records who holds the block (on its head only:
    /// one store to a line the allocation has just written).
    pub fn alloc_pages_for(&mut self, owner: PageOwner, order: usize, zone: ZoneType) -> Result<PhysFrame, AllocError> {
        self.alloc(order, zone, true, owner)
    }

    /// Like `alloc_pages`, but a single page too comes straight from the
    /// buddy lists, past the per-CPU lists: for the shell's `alloc_pages`,
    /// so that buddyinfo shows every split it makes.
    pub fn alloc_pages_buddy(&mut self, order: usize, zone: ZoneType) -> Result<PhysFrame, AllocError> {
        self.alloc(order, zone, false, PageOwner::Shell)
    }

    fn alloc(&mut self, order: usize, zone: ZoneType, hot: bool, owner: PageOwner) -> Result<PhysFrame, AllocError> {
        if order > MAX_ORDER {
            return Err(AllocError::BadOrder(order));
        }
        if self.fail.should_fail() {
            return Err(AllocError::OutOfMemory { order, zone });
        }
        let pfn = match self.take(order, zone, hot) {
            Some(pfn) => Some(pfn),
            // Free pages may be parked on the per-CPU lists, where they
            // cannot merge: give them back and try once more (as Linux's
            // slow path drains them before it gives up).
            None if self.pcp_pages() > 0 => {
                self.drain_pcp();
                self.take(order, zone, hot)
            }
            None => None,
        };
        let pfn = pfn.ok_or(AllocError::OutOfMemory { order, zone })?;
        self.map[pfn as usize].owner = owner;
        Ok(pfn_to_frame(pfn))
    }

    /// A block from `zone` or the first lower zone that has one; single
    /// pages through the per-CPU lists. Zones with no free page at all are
    /// passed over without a look at their lists (Linux's zonelists leave
    /// out empty zones): below 4 GiB of RAM the Normal zone is empty, and
    /// every request for it would otherwise scan its 11 empty lists first.
    fn take(&mut self, order: usize, zone: ZoneType, hot: bool) -> Option<u64> {
        // The kernel's requests (`hot`; the shell's are not) while lab 1
        // is not written.
        if let Some(boot) = self.boot.as_mut().filter(|_| hot) {
            return boot.alloc.alloc(order, zone, self.map);
        }
        for z in (0..=zone as usize).rev() {
            let zone = &mut self.zones[z];
            if zone.free_pages == 0 {
                continue;
            }
            let pfn = if order == 0 && hot { zone.alloc_hot(self.map) } else { zone.alloc(order, self.map) };
            if pfn.is_some() {
                return pfn;
            }
        }
        None
    }

    /// `n` blocks of the largest order (4 MiB each) next to each other, from
    /// `zone` or a lower one, all or none: the heap's path for a request
    /// larger than one block (see `Zone::alloc_contig`). The first block's
    /// frame is returned; each block is freed on its own with
    /// `free_pages(.., MAX_ORDER)` (or all with `free_contig_blocks`).
    /// Counts as one `alloc_pages` call for fault injection.
    pub fn alloc_contig_blocks_for(
        &mut self,
        owner: PageOwner,
        n: u64,
        zone: ZoneType,
    ) -> Result<PhysFrame, AllocError> {
        let refused = AllocError::NoContiguousRun { blocks: n, zone };
        if self.fail.should_fail() || self.boot.is_some() {
            return Err(refused);
        }
        // As in `alloc`: pages parked on the per-CPU lists may split a block
        // that would otherwise be whole; give them back and look again.
        let pfn = match self.take_contig(n, zone) {
            None if self.pcp_pages() > 0 => {
                self.drain_pcp();
                self.take_contig(n, zone)
            }
            found => found,
        };
        let pfn = pfn.ok_or(refused)?;
        for head in (pfn..pfn + n * pages(MAX_ORDER)).step_by(pages(MAX_ORDER) as usize) {
            self.map[head as usize].owner = owner;
        }
        Ok(pfn_to_frame(pfn))
    }

    /// A run of `n` largest-order blocks from `zone` or the first lower
    /// zone that has one.
    fn take_contig(&mut self, n: u64, zone: ZoneType) -> Option<u64> {
        let map = &mut *self.map;
        self.zones[..=zone as usize].iter_mut().rev().find_map(|z| z.alloc_contig(n, map))
    }

    /// Frees `n` largest-order blocks from `addr` on, as
    /// `alloc_contig_blocks_for` handed them out; stops at the first that
    /// is not such a block and reports it.
    pub fn free_contig_blocks(&mut self, addr: PhysAddr, n: u64) -> Result<(), FreeError> {
        let block = pages(MAX_ORDER) * PAGE_SIZE;
        (0..n).try_for_each(|i| self.free_pages(addr + i * block, MAX_ORDER))
    }

    /// Turns on every zone's per-CPU list of single pages (pcp.rs).
    /// Off by default: the host tests of the buddy lists and the fuzz
    /// model see the plain buddy allocator.
    pub fn enable_pcp(&mut self) {
        self.zones.iter_mut().for_each(Zone::enable_pcp);
    }

    /// Gives every page on the per-CPU lists back to the buddy lists
    /// (Linux's `drain_all_pages`), so that buddyinfo shows all free memory.
    pub fn drain_pcp(&mut self) {
        for zone in &mut self.zones {
            zone.drain_pcp(zone.pcp.count, self.map);
        }
    }

    /// Pages on the per-CPU lists of all zones.
    pub fn pcp_pages(&self) -> u64 {
        self.zones.iter().map(|z| z.pcp.count).sum()
    }

    /// Fills `frames` with single pages from `zone` or a lower one, all or
    /// none (Linux's `alloc_pages_bulk_array`, which vmalloc uses since 5.13).
    /// One call under one lock instead of one per page. Each page counts as
    /// one `alloc_pages` call for fault injection; on a failure the pages
    /// already taken are given back and `frames` is left as it was.
    ///
    /// Tuning, not in the books: see docs/benchmarks.md. While no failure
    /// is to be injected, pages come straight off the per-CPU list of the
    /// zone `take` would pick, as many as it holds at once; only a refill
    /// goes through `alloc_pages`.
    pub fn alloc_pages_bulk(&mut self, zone: ZoneType, frames: &mut [PhysFrame]) -> Result<(), AllocError> {
        self.alloc_pages_bulk_for(PageOwner::Other, zone, frames)
    }

    /// `alloc_pages_bulk` that records who holds the pages (vmalloc).
    pub fn alloc_pages_bulk_for(
        &mut self,
        owner: PageOwner,
        zone: ZoneType,
        frames: &mut [PhysFrame],
    ) -> Result<(), AllocError> {
        let mut i = 0;
        while i < frames.len() {
            if self.fail.pending().is_none() {
                let taken = self.take_hot_bulk(zone, &mut frames[i..]);
                self.set_owner(&frames[i..i + taken], owner);
                self.fail.count_unarmed(taken as u64);
                i += taken;
                if i == frames.len() {
                    break;
                }
            }
            match self.alloc_pages_for(owner, 0, zone) {
                Ok(frame) => frames[i] = frame,
                Err(e) => {
                    self.free_pages_bulk(&frames[..i]).expect("pages just allocated");
                    frames[..i].fill(PhysFrame::containing_address(PhysAddr::zero()));
                    return Err(e);
                }
            }
            i += 1;
        }
        Ok(())
    }

    /// Records `owner` on single pages just allocated (their cache lines
    /// are warm: the per-CPU list has just written them).
    fn set_owner(&mut self, frames: &[PhysFrame], owner: PageOwner) {
        for frame in frames {
            self.map[(frame.start_address().as_u64() / PAGE_SIZE) as usize].owner = owner;
        }
    }

    /// Fills the front of `frames` from the per-CPU list of the first zone,
    /// from `zone` down, that has free pages (the zone `take` picks);
    /// returns how many it filled.
    ///
    /// Tuning, not in the books: see docs/benchmarks.md.
    fn take_hot_bulk(&mut self, zone: ZoneType, frames: &mut [PhysFrame]) -> usize {
        if self.boot.is_some() {
            return 0;
        }
        let map = &mut *self.map;
        match self.zones[..=zone as usize].iter_mut().rev().find(|z| z.free_pages > 0) {
            Some(z) => z.pcp_take(frames, map),
            None => 0,
        }
    }

    /// Frees single pages, as `free_pages(.., 0)` on each; stops at the
    /// first that was not an allocated order-0 page and reports it.
    ///
    /// Never inlined: the compiler inlined it into `free_page_list`'s two
    /// loops once a test added an unrelated caller elsewhere, and each page
    /// freed then cost about 10 more guest instructions (`bench --icount`,
    /// docs/benchmarks.md); why the inlined copies are slower was not
    /// traced. Tuning, not in the books.
    #[inline(never)]
    pub fn free_pages_bulk(&mut self, frames: &[PhysFrame]) -> Result<(), FreeError> {
        frames.iter().try_for_each(|f| self.free(f.start_address(), 0, true))
    }

    /// Fault injection, as Linux's fail_page_alloc: `Some(n)` makes the n-th
    /// `alloc_pages` call from now fail with `OutOfMemory` (1 = the next
    /// one), after which the switch turns itself off; `None` (or `Some(0)`)
    /// turns it off. Calls with a bad order are refused before they count.
    /// See fail.rs.
    pub fn fail_nth(&mut self, n: Option<u64>) {
        self.fail.fail_nth(n)
    }

    /// Which call from now will fail (1 = the next), if one is set to.
    pub fn fail_nth_pending(&self) -> Option<u64> {
        self.fail.pending()
    }

    /// Calls of `alloc_pages` since boot, failed ones included.
    pub fn alloc_calls(&self) -> u64 {
        self.fail.calls()
    }

    /// Failures `fail_nth` has injected since boot.
    pub fn injected_failures(&self) -> u64 {
        self.fail.injected()
    }

    /// Frees the block of 2^order frames starting at `addr`, after checking
    /// that exactly such a block was allocated there.
    pub fn free_pages(&mut self, addr: PhysAddr, order: usize) -> Result<(), FreeError> {
        self.free(addr, order, true)
    }

    /// Like `free_pages`, but a single page too goes straight back to the
    /// buddy lists and merges at once (the shell's `free_pages`).
    pub fn free_pages_buddy(&mut self, addr: PhysAddr, order: usize) -> Result<(), FreeError> {
        self.free(addr, order, false)
    }

    fn free(&mut self, addr: PhysAddr, order: usize, hot: bool) -> Result<(), FreeError> {
        let a = addr.as_u64();
        if order > MAX_ORDER {
            return Err(FreeError::BadOrder(order));
        }
        if !a.is_multiple_of(PAGE_SIZE) {
            return Err(FreeError::Unaligned(a));
        }
        let pfn = a / PAGE_SIZE;
        let Some(page) = self.map.get(pfn as usize) else { return Err(FreeError::NotManaged(a)) };
        match page.state {
            PageState::Reserved => Err(FreeError::NotManaged(a)),
            PageState::Free | PageState::Pcp => Err(FreeError::AlreadyFree(a)),
            PageState::Tail => Err(FreeError::NotBlockStart(a)),
            PageState::Allocated if page.order as usize != order => {
                Err(FreeError::WrongOrder { addr: a, allocated: page.order as usize, given: order })
            }
            PageState::Allocated => {
                if let Some(boot) = self.boot.as_mut().filter(|b| b.alloc.contains(pfn)) {
                    boot.alloc.free(pfn, order, self.map);
                    return Ok(());
                }
                let zone = self.zone_index(pfn);
                match order {
                    0 if hot => self.zones[zone].free_hot(pfn, self.map),
                    _ => self.zones[zone].free(pfn, order, self.map),
                }
                Ok(())
            }
        }
    }

    /// The order of the allocated block starting at `addr`, if there is one.
    pub fn allocated_order(&self, addr: PhysAddr) -> Option<usize> {
        let page = self.map.get((addr.as_u64() / PAGE_SIZE) as usize)?;
        (page.state == PageState::Allocated && addr.as_u64().is_multiple_of(PAGE_SIZE)).then_some(page.order as usize)
    }

    /// The block frame `pfn` belongs to: its head's PFN and state, and its
    /// order. Blocks are aligned to their size, so the head is `pfn` with
    /// its low bits cleared, for the first order whose candidate is not a
    /// tail. A reserved frame is a block of one. None beyond `mem_map`.
    pub fn block_of(&self, pfn: u64) -> Option<(u64, PageState, usize)> {
        self.map.get(pfn as usize)?;
        (0..=MAX_ORDER).find_map(|order| {
            let head = pfn & !(pages(order) - 1);
            let page = self.map[head as usize];
            let size =
                if matches!(page.state, PageState::Free | PageState::Allocated) { page.order as usize } else { 0 };
            (page.state != PageState::Tail && head + pages(size) > pfn).then_some((head, page.state, size))
        })
    }

    pub fn zone(&self, kind: ZoneType) -> &Zone {
        &self.zones[kind as usize]
    }

    /// Zones that have memory, lowest first (like /proc/buddyinfo).
    pub fn populated_zones(&self) -> impl Iterator<Item = &Zone> {
        self.zones.iter().filter(|z| z.managed > 0)
    }

    /// Free pages, the boot allocator's included.
    pub fn free_pages_total(&self) -> u64 {
        self.zones.iter().map(|z| z.free_pages).sum::<u64>() + self.boot.as_ref().map_or(0, |b| b.alloc.free)
    }

    pub fn managed_pages_total(&self) -> u64 {
        self.zones.iter().map(|z| z.managed).sum::<u64>() + self.boot.as_ref().map_or(0, |b| b.alloc.managed)
    }

    /// Free blocks per order summed over all zones.
    pub fn nr_free_total(&self) -> [u64; NR_ORDERS] {
        let mut total = [0; NR_ORDERS];
        for zone in &self.zones {
            for (t, n) in total.iter_mut().zip(zone.nr_free()) {
                *t += n;
            }
        }
        total
    }

    /// `mem_map`, read-only: for the pictures of `memmap` (mm/memmap.rs).
    pub fn mem_map(&self) -> &[Page] {
        self.map
    }

    /// Number of frames `mem_map` describes (highest PFN + 1).
    pub fn max_pfn(&self) -> u64 {
        self.map.len() as u64
    }

    /// Checks every zone's free lists and counters against `mem_map`.
    pub fn check(&self) -> Result<(), &'static str> {
        self.zones.iter().try_for_each(|z| z.check(self.map))
    }
}

#[cfg(test)]
mod tests;
