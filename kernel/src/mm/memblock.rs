//! Boot-time memory setup: from the bootloader's memory map to a running
//! buddy allocator.
//!
//! Linux does this in two steps: an early boot allocator (bootmem in 2.4,
//! memblock today) hands out memory while `mem_map` is being built, then
//! `mem_init` releases every free page to the buddy allocator (Gorman ch. 5).
//! Mosaic needs one early allocation only, `mem_map` itself, so it simply
//! carves it out of the first usable region big enough, then gives the rest
//! of usable RAM to the buddy allocator. In a lab-1 skeleton, where the
//! buddy allocator is not written yet, most of it goes to a boot allocator
//! instead (page_alloc/bootmem.rs), which the kernel then keeps.
//!
//! Never handed out: anything the bootloader did not mark `Usable` (the
//! kernel image, its stack, the page tables, the boot information, firmware
//! memory), `mem_map`, and frame 0 (so physical address 0 is never valid).

use super::layout::phys_to_virt;
use super::page::{Page, PageOwner, PAGE_SIZE};
use super::page_alloc::ZoneType;
use super::page_alloc::{buddy_self_check, PageAllocator};
use bootloader_api::info::{MemoryRegionKind, MemoryRegions};
use core::ops::Range;
use x86_64::PhysAddr;

/// The memory map, kept for `first_ram_in` (Linux keeps memblock's RAM
/// ranges after boot for the same kind of question).
static RAM: spin::Once<&'static MemoryRegions> = spin::Once::new();

/// Where `mem_map` lives (frames), for the checks of `usercopy.rs`.
static MEM_MAP: spin::Once<Range<u64>> = spin::Once::new();

/// True if the region kind is RAM: what the bootloader marked usable or
/// used itself (the kernel image, its stack, page tables, boot info).
fn is_ram(kind: MemoryRegionKind) -> bool {
    matches!(kind, MemoryRegionKind::Usable | MemoryRegionKind::Bootloader)
}

/// Bytes of RAM in [start, end) (the regions never overlap). The direct
/// map keeps what has some (`direct_map.rs`).
pub fn ram_bytes_in(start: u64, end: u64) -> u64 {
    let Some(regions) = RAM.get() else { return 0 };
    regions.iter().filter(|r| is_ram(r.kind)).map(|r| r.end.min(end).saturating_sub(r.start.max(start))).sum()
}

/// The frames (PFNs) that hold `mem_map`.
pub fn mem_map_frames() -> Range<u64> {
    MEM_MAP.get().cloned().unwrap_or(0..0)
}

/// The first RAM address in [phys, last], if any. RAM is what the
/// bootloader marked usable or used itself: ioremap must refuse it, or
/// the same frame would be mapped cached and uncached at once.
pub fn first_ram_in(phys: u64, last: u64) -> Option<u64> {
    let regions = RAM.get()?;
    regions.iter().filter(|r| is_ram(r.kind) && r.start <= last && phys < r.end).map(|r| r.start.max(phys)).min()
}

/// Whether the page at `phys` may be read through the direct map: it is
/// RAM, or the memory map is not known yet (early boot, when only the
/// bootloader's tables exist). The oops's page-table walk asks, so that a
/// corrupt entry pointing at a device or beyond memory is not followed.
pub fn may_read_page(phys: u64) -> bool {
    RAM.get().is_none() || first_ram_in(phys, phys) == Some(phys)
}

/// Builds `mem_map` and the buddy allocator from the memory map; None if
/// no usable region can hold `mem_map`.
pub fn init(regions: &'static MemoryRegions) -> Option<PageAllocator<'static>> {
    RAM.call_once(|| regions);
    let usable = || regions.iter().filter(|r| r.kind == MemoryRegionKind::Usable).map(|r| frames(r.start..r.end));
    let max_pfn = regions.iter().filter(|r| is_ram(r.kind)).map(|r| r.end.div_ceil(PAGE_SIZE)).max().unwrap_or(0);
    let map_pages = (max_pfn * core::mem::size_of::<Page>() as u64).div_ceil(PAGE_SIZE);
    let map_at = place_mem_map(usable, map_pages)?;
    let map_frames = map_at..map_at + map_pages;
    MEM_MAP.call_once(|| map_frames.clone());

    // SAFETY: the frames were Usable (nobody else uses them) and lie in the
    // direct map; from here on they belong to mem_map for good.
    let map: &'static mut [Page] = unsafe {
        let ptr = phys_to_virt(PhysAddr::new(map_at * PAGE_SIZE)).as_mut_ptr::<Page>();
        core::slice::from_raw_parts_mut(ptr, max_pfn as usize)
    };
    let mut pages = PageAllocator::new(map);
    // A student skeleton whose buddy allocator is not written yet still
    // boots: the kernel then runs on the boot allocator (page_alloc/bootmem.rs).
    pages.run_on_boot_allocator(buddy_self_check());
    for range in usable() {
        for piece in subtract(range.clone(), map_frames.clone()) {
            pages.add_ram(piece.start.max(1)..piece.end);
        }
        if range.contains(&0) {
            pages.note_reserved(0..1);
        }
    }
    pages.note_reserved(map_frames.clone());
    for r in regions.iter().filter(|r| r.kind == MemoryRegionKind::Bootloader) {
        pages.note_reserved(frames(r.start..r.end));
    }
    name_reserved(&mut pages, regions, map_frames);
    Some(pages)
}

/// Tells `mem_map` what each reserved frame is, for `memmap`: frames the
/// memory map does not list stay holes; whatever it lists but the
/// allocator does not manage is the kernel's (what the bootloader used),
/// `mem_map`'s, or firmware's (frame 0 included).
fn name_reserved(pages: &mut PageAllocator, regions: &MemoryRegions, map_frames: Range<u64>) {
    for r in regions.iter() {
        let owner = match r.kind {
            MemoryRegionKind::Bootloader => PageOwner::Kernel,
            _ => PageOwner::Firmware,
        };
        // Partial frames at a region's edges count as the region's too.
        pages.set_reserved_owner(r.start / PAGE_SIZE..r.end.div_ceil(PAGE_SIZE), owner);
    }
    pages.set_reserved_owner(map_frames, PageOwner::MemMap);
}

/// The whole frames inside the byte range `bytes`.
fn frames(bytes: Range<u64>) -> Range<u64> {
    bytes.start.div_ceil(PAGE_SIZE)..bytes.end / PAGE_SIZE
}

/// First frame of a run of `count` usable frames for `mem_map`, preferring
/// memory above the DMA zone, which is scarce.
fn place_mem_map<I: Iterator<Item = Range<u64>>>(usable: impl Fn() -> I, count: u64) -> Option<u64> {
    let above_dma = ZoneType::Dma.end_pfn();
    let fit = |r: Range<u64>, floor: u64| {
        let start = r.start.max(floor).max(1);
        (start + count <= r.end).then_some(start)
    };
    usable().find_map(|r| fit(r, above_dma)).or_else(|| usable().find_map(|r| fit(r, 0)))
}

/// `range` without `hole`: zero, one or two ranges.
fn subtract(range: Range<u64>, hole: Range<u64>) -> impl Iterator<Item = Range<u64>> {
    let below = range.start..range.end.min(hole.start);
    let above = range.start.max(hole.end)..range.end;
    [below, above].into_iter().filter(|r| !r.is_empty())
}
