//! `vmalloc_huge` and huge ioremap: areas mapped with 2 MiB PMD leaves
//! (Linux 5.13+'s `VM_ALLOW_HUGE_VMAP`, mm/vmalloc.c; the books predate
//! it). pgtable/huge.rs makes the leaves; this file decides when.
//!
//! A `vmalloc_huge` request of at least 2 MiB is rounded up to whole
//! 2 MiB blocks (as Linux rounds it to the mapping's page size), reserved
//! at a 2 MiB boundary, and backed by order-9 blocks of the buddy
//! allocator, one PMD leaf each. If the buddy allocator cannot give every
//! block, the blocks taken go back and the whole request is served as an
//! ordinary vmalloc of 4 KiB pages at its own size: one kind of mapping
//! per area, as Linux falls back for the whole area (`__vmalloc_node_range`
//! retries with `PAGE_SHIFT`). `vmallocinfo` tells the two apart.
//!
//! The area's page list still holds every 4 KiB frame, as Linux's
//! `vm_struct.pages` does, so that the redzone, `vmalloc_to_page` and the
//! reverse lookups work unchanged; freeing gives each order-9 block back
//! whole (`free_huge_blocks`).
//!
//! `ioremap` maps device ranges whose physical start is 2 MiB aligned and
//! that are at least 2 MiB long with leaves too: the area is reserved at a
//! 2 MiB boundary, the whole 2 MiB blocks become leaves, and a shorter
//! tail gets ordinary PTEs.

use super::{
    __vmalloc, get_vm_area, poison_redzone, with, CacheMode, VmError, Vmalloc, PAGE_KERNEL, VM_ALLOC, VM_IOREMAP,
};
use crate::mm::layout::PMD_SIZE;
use crate::mm::page::{PageOwner, PAGE_SIZE};
use crate::mm::page_alloc::ZoneType;
use crate::mm::page_list::PageList;
use crate::mm::pgtable::{self, huge::HUGE_ORDER, huge::PAGES_PER_PMD};
use crate::mm::redzone;
use core::panic::Location;
use x86_64::structures::paging::{PageTableFlags as Flags, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

/// The caller allows a huge mapping (Linux's value).
pub const VM_ALLOW_HUGE_VMAP: u32 = 0x400;
/// The area is mapped with PMD leaves (Mosaic's; Linux records the
/// mapping's `page_order` in the `vm_struct` instead).
pub const VM_HUGE_PMD: u32 = 0x8000;

/// Allocates `size` bytes of virtually contiguous memory, mapped with
/// 2 MiB leaves where it can be (Linux's `vmalloc_huge`). Below 2 MiB,
/// without a free order-9 block for every 2 MiB, or if the huge mapping
/// fails, it is an ordinary `vmalloc` marked `VM_ALLOW_HUGE_VMAP` only.
#[track_caller]
pub fn vmalloc_huge(size: u64) -> Result<VirtAddr, VmError> {
    let caller = Location::caller();
    if size >= PMD_SIZE && size <= crate::mm::managed_pages() * PAGE_SIZE {
        if let Some(blocks) = alloc_huge_blocks(size.div_ceil(PMD_SIZE)) {
            match with(|v| map_huge_area(v, size, blocks, caller)) {
                // A lab stub on the way (lab.rs): the small path has it too.
                Err(VmError::Missing(m)) => return Err(VmError::Missing(m)),
                // No 2 MiB-aligned range, or no page for a table: the
                // blocks are back; 4 KiB pages may still fit, as in Linux.
                Err(_) => {}
                done => return done,
            }
        }
    }
    let start = __vmalloc(size, PAGE_SIZE, ZoneType::Normal, false, caller)?;
    with(|v| v.areas.find_mut(start.as_u64()).expect("just made").data.flags |= VM_ALLOW_HUGE_VMAP);
    Ok(start)
}

/// `chunks` order-9 blocks, every 4 KiB frame of them listed in order, or
/// None if the heap (for the list) or the buddy allocator (for a block)
/// cannot: then nothing is kept.
fn alloc_huge_blocks(chunks: u64) -> Option<PageList> {
    let mut list = PageList::try_with_len((chunks * PAGES_PER_PMD) as usize)?;
    let taken = crate::mm::with_pages(|p| {
        let mut heads = list.chunks_mut().flat_map(|c| c.iter_mut()).step_by(PAGES_PER_PMD as usize);
        let mut taken = 0;
        while taken < chunks {
            let Ok(block) = p.alloc_pages_for(PageOwner::Vmalloc, HUGE_ORDER, ZoneType::Normal) else { break };
            *heads.next().expect("one slot per block") = block;
            taken += 1;
        }
        taken
    });
    if taken < chunks {
        let heads = list.iter().step_by(PAGES_PER_PMD as usize).take(taken as usize);
        crate::mm::with_pages(|p| heads.for_each(|h| p.free_pages(h.start_address(), HUGE_ORDER).expect("just taken")));
        return None;
    }
    // Fill in the tail frames of each block after its head.
    let mut head = PhysAddr::zero();
    for (i, slot) in list.chunks_mut().flat_map(|c| c.iter_mut()).enumerate() {
        let within = i as u64 % PAGES_PER_PMD;
        if within == 0 {
            head = slot.start_address();
        }
        *slot = PhysFrame::containing_address(head + within * PAGE_SIZE);
    }
    Some(list)
}

/// Reserves a 2 MiB-aligned area for `blocks` and maps them with leaves.
/// On an error the blocks go back and the range is released.
fn map_huge_area(
    v: &mut Vmalloc,
    size: u64,
    blocks: PageList,
    caller: &'static Location<'static>,
) -> Result<VirtAddr, VmError> {
    let chunks = blocks.len() as u64 / PAGES_PER_PMD;
    let flags = VM_ALLOC | VM_ALLOW_HUGE_VMAP | VM_HUGE_PMD;
    let start = match get_vm_area(v, chunks * PMD_SIZE, PMD_SIZE, flags, caller) {
        Ok(start) => start,
        Err(e) => {
            free_huge_blocks(&blocks);
            return Err(e);
        }
    };
    let heads = blocks.iter().step_by(PAGES_PER_PMD as usize).map(|f| f.start_address());
    if let Err(e) = pgtable::huge::vmap_huge_range(start, chunks, heads, PAGE_KERNEL) {
        free_huge_blocks(&blocks);
        v.areas.remove(start.as_u64());
        return Err(e.into());
    }
    pgtable::flush_cache_vmap(start, start + chunks * PMD_SIZE);
    v.vmalloc_pages += chunks * PAGES_PER_PMD;
    let vm = &mut v.areas.find_mut(start.as_u64()).expect("just reserved").data;
    vm.pages = blocks;
    vm.requested = size;
    // The redzone sits in the last page of the list: only where the bytes
    // asked for end in it (not when rounding to 2 MiB added pages).
    vm.redzone = redzone::enabled() && size.div_ceil(PAGE_SIZE) == vm.nr_pages && poison_redzone(vm);
    Ok(start)
}

/// Gives back the order-9 blocks of a huge area's page list (every
/// 512th frame is a block's head) and returns true; false, freeing
/// nothing, if the list is not made of such blocks. Only a list of a
/// whole number of blocks is looked at, so a small area pays one
/// comparison.
pub(super) fn free_huge_blocks(pages: &PageList) -> bool {
    let len = pages.len() as u64;
    if len == 0 || !len.is_multiple_of(PAGES_PER_PMD) {
        return false;
    }
    crate::mm::with_pages(|p| {
        let first = pages.iter().next().expect("not empty").start_address();
        if p.allocated_order(first) != Some(HUGE_ORDER) {
            return false;
        }
        for head in pages.iter().step_by(PAGES_PER_PMD as usize) {
            p.free_pages(head.start_address(), HUGE_ORDER).expect("a huge area's blocks are order 9");
        }
        true
    })
}

/// True if the area at `start` is mapped with PMD leaves (vrealloc then
/// moves it instead of resizing it in place).
pub(super) fn is_huge(v: &Vmalloc, start: u64) -> bool {
    v.areas.find(start).is_some_and(|a| a.data.flags & VM_HUGE_PMD != 0)
}

/// The huge half of `ioremap_prot`: for a range that starts on a 2 MiB
/// boundary and is at least 2 MiB long, maps the whole 2 MiB blocks with
/// leaves and the rest with PTEs, in a 2 MiB-aligned area; None for any
/// other range (the ordinary path takes it). The checks are the ordinary
/// path's: a bad range, RAM.
pub(super) fn ioremap_huge(
    phys: u64,
    size: u64,
    mode: CacheMode,
    caller: &'static Location<'static>,
) -> Option<Result<VirtAddr, VmError>> {
    if !phys.is_multiple_of(PMD_SIZE) || size < PMD_SIZE {
        return None;
    }
    let last = phys.checked_add(size - 1).filter(|&l| PhysAddr::try_new(l).is_ok());
    let Some(last) = last else { return Some(Err(VmError::BadPhys(phys))) };
    if let Some(ram) = crate::mm::memblock::first_ram_in(phys, last) {
        return Some(Err(VmError::IsRam(ram)));
    }
    let count = size.div_ceil(PAGE_SIZE);
    let (chunks, tail) = (count / PAGES_PER_PMD, count % PAGES_PER_PMD);
    if pgtable::tables_cannot_fit(tail) {
        return Some(Err(VmError::NoMemory));
    }
    let mut flags = PAGE_KERNEL;
    if mode == CacheMode::Uncached {
        // PCD and PWT are bits 4 and 3 at both levels; only PAT moves
        // (pgtable/huge.rs), and neither mode uses it.
        flags |= Flags::NO_CACHE | Flags::WRITE_THROUGH;
    }
    Some(with(|v| {
        let start = get_vm_area(v, count * PAGE_SIZE, PMD_SIZE, VM_IOREMAP | VM_HUGE_PMD, caller)?;
        if let Err(e) = map_io(start, phys, chunks, tail, flags) {
            v.areas.remove(start.as_u64());
            return Err(e);
        }
        v.areas.find_mut(start.as_u64()).expect("just reserved").data.phys_addr = Some(PhysAddr::new(phys));
        Ok(start)
    }))
}

/// Maps `chunks` leaves then `tail` PTEs of device memory from `phys` at
/// `start`; on an error nothing stays mapped.
fn map_io(start: VirtAddr, phys: u64, chunks: u64, tail: u64, flags: Flags) -> Result<(), VmError> {
    let blocks = (0..chunks).map(|i| PhysAddr::new(phys + i * PMD_SIZE));
    pgtable::huge::vmap_huge_range(start, chunks, blocks, flags)?;
    if tail == 0 {
        return Ok(());
    }
    let base = phys + chunks * PMD_SIZE;
    let frames = (0..tail).map(|i| PhysFrame::containing_address(PhysAddr::new(base + i * PAGE_SIZE)));
    let result = pgtable::vmap_pages_range(start + chunks * PMD_SIZE, tail, frames, flags);
    if result.is_err() {
        pgtable::vunmap_range(start, chunks * PAGES_PER_PMD);
    }
    result.map_err(VmError::from)
}
