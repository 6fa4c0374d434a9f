//! `struct page`: one small record per physical page frame.
//!
//! Linux keeps an array of `struct page`, `mem_map`, with one entry for every
//! page frame, indexed by page frame number (PFN = physical address / 4096).
//! Mosaic's record holds only what the buddy allocator needs (Gorman ch. 2
//! and 6; Mauerer ch. 3, "Page Frames"): the frame's state, the order of the
//! block it heads, its zone, and the links of the free list it is on.

use core::fmt;
use x86_64::structures::paging::PhysFrame;
use x86_64::PhysAddr;

/// Bytes in a page (4 KiB pages only).
pub const PAGE_SIZE: u64 = 4096;
/// Largest block order: blocks of 2^0 .. 2^10 pages, 4 KiB .. 4 MiB.
pub const MAX_ORDER: usize = 10;
/// Number of free lists per zone.
pub const NR_ORDERS: usize = MAX_ORDER + 1;
/// "No page" in a free-list link.
pub const NIL: u32 = u32::MAX;

/// The frame with page frame number `pfn` (its index in `mem_map`).
pub fn pfn_to_frame(pfn: u64) -> PhysFrame {
    PhysFrame::containing_address(PhysAddr::new(pfn * PAGE_SIZE))
}

/// What a frame is doing. Only the first frame of a block (its head) says
/// whether the block is free or allocated; the others are `Tail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PageState {
    /// Not given to the allocator: a hole, firmware memory, the kernel,
    /// the bootloader's tables, or `mem_map` itself.
    Reserved,
    /// Head of a free block of `order`, linked on that order's free list.
    Free,
    /// Head of a block of `order` handed out by `alloc_pages`.
    Allocated,
    /// Part of a block whose head is another frame.
    Tail,
    /// A free single page on its zone's per-CPU list (see `page_alloc::Pcp`),
    /// not on the buddy lists: free, but not to be merged.
    Pcp,
}

/// Who holds a frame, for the pictures of `memmap` (mm/memmap.rs). Set
/// on the head of an `Allocated` block by the caller that allocates it
/// (`Other` unless it says), and on `Reserved` frames by memblock at boot
/// from the memory map. Meaningless on free frames. Linux keeps no such
/// field (its page_owner debug feature records a stack trace instead);
/// here it fills a padding byte, so `mem_map` does not grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PageOwner {
    /// Allocated by a caller that did not say who it is.
    Other,
    /// A page table (pgtable.rs, aspace.rs, direct_map.rs).
    PageTable,
    /// A slab or a large block of the kernel heap (heap.rs).
    Slab,
    /// A page of a vmalloc or vmap area (vmalloc.rs).
    Vmalloc,
    /// A block the shell's `alloc_pages` command holds.
    Shell,
    /// Reserved: the kernel image and what the bootloader built for it.
    Kernel,
    /// Reserved: `mem_map` itself.
    MemMap,
    /// Reserved: firmware, ACPI, or frame 0.
    Firmware,
    /// Reserved: no RAM at all (a hole in the memory map).
    Hole,
}

/// One entry of `mem_map` (12 bytes per 4 KiB frame, 0.3% of memory).
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Page {
    pub state: PageState,
    /// Order of the block this frame heads (valid for `Free` and `Allocated`).
    pub order: u8,
    /// Index of the frame's zone (see `ZoneType`).
    pub zone: u8,
    /// Who holds the block this frame heads (see `PageOwner`).
    pub owner: PageOwner,
    /// Free-list neighbours, as PFNs (`NIL` at the ends).
    pub prev: u32,
    pub next: u32,
}

impl Page {
    /// The state every frame starts in, before RAM is handed over: a
    /// hole until memblock says what the frame is.
    pub const RESERVED: Page =
        Page { state: PageState::Reserved, order: 0, zone: 0, owner: PageOwner::Hole, prev: NIL, next: NIL };
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{:?}(order {}, zone {})", self.state, self.order, self.zone)
    }
}

/// Pages in a block of `order`.
pub const fn pages(order: usize) -> u64 {
    1 << order
}

/// The smallest order whose block holds `bytes` bytes (0 for 0 bytes).
pub fn order_for(bytes: u64) -> usize {
    let pages = bytes.div_ceil(PAGE_SIZE).max(1);
    pages.next_power_of_two().trailing_zeros() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_small() {
        assert_eq!(core::mem::size_of::<Page>(), 12);
    }

    #[test]
    fn orders_for_sizes() {
        assert_eq!(order_for(0), 0);
        assert_eq!(order_for(1), 0);
        assert_eq!(order_for(4096), 0);
        assert_eq!(order_for(4097), 1);
        assert_eq!(order_for(20000), 3);
        assert_eq!(order_for(4 << 20), 10);
    }
}
