//! vmap and ioremap: mapping pages that are already there into the
//! vmalloc area (Gorman ch. 7 does not cover them; Linux mm/vmalloc.c's
//! `vmap`/`vunmap` and arch/x86/mm/ioremap.c). `vmap` maps pages the caller
//! allocated; `ioremap` maps device memory, which has no `struct page`.
//! Both reserve their range with `get_vm_area` (mod.rs) and undo it with
//! `__vunmap`, or, with `vfree=lazy`, purge.rs's lazy free (outside the
//! lab's regions). Lab 4 writes the bodies marked LAB 4.

use super::{
    __vunmap, get_vm_area, take_area, with, CacheMode, VmError, PAGE_KERNEL, VM_IOREMAP, VM_MAP, VM_MAP_PUT_PAGES,
};
use crate::mm::page::PAGE_SIZE;
use crate::mm::page_list::PageList;
use crate::mm::pgtable;
use core::panic::Location;
use x86_64::structures::paging::{PageTableFlags as Flags, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

/// Maps pages the caller owns into one virtual range (Linux's `vmap`).
/// With `VM_MAP_PUT_PAGES` in `flags`, `vunmap` frees them. The area keeps
/// a copy of the list; `vmap_list` takes the list itself instead.
#[track_caller]
pub fn vmap(pages: &[PhysFrame], flags: u32) -> Result<VirtAddr, VmError> {
    let caller = Location::caller();
    if pages.is_empty() {
        return Err(VmError::ZeroSize);
    }
    let mut owned = PageList::try_from_slice(pages).ok_or(VmError::NoMemory)?;
    __vmap(&mut owned, flags, caller)
}

/// `vmap` of a list the area then owns (for lists too long to be one
/// slice, see page_list.rs), as Linux's `vmap` keeps the caller's array
/// under `VM_MAP_PUT_PAGES`. On failure the list comes back with the
/// error, so that the caller can free its pages.
#[track_caller]
pub fn vmap_list(mut pages: PageList, flags: u32) -> Result<VirtAddr, (VmError, PageList)> {
    if pages.is_empty() {
        return Err((VmError::ZeroSize, pages));
    }
    // `__vmap` takes the list out of `pages` only once the area is mapped,
    // so after any error (a stubbed `__vmap`'s too) it is still here to
    // hand back.
    __vmap(&mut pages, flags, Location::caller()).map_err(|e| (e, pages))
}

/// Maps `pages` into a new `VM_MAP` area; on success the area takes the
/// list (leaving `pages` empty), on error `pages` is left as it was.
fn __vmap(pages: &mut PageList, flags: u32, caller: &'static Location<'static>) -> Result<VirtAddr, VmError> {
    // LAB 4 BEGIN: get_vm_area (VM_MAP), vmap_pages_range with the caller's pages, release on error, then keep the list
    let count = pages.len() as u64;
    with(|v| {
        let start = get_vm_area(v, count * PAGE_SIZE, PAGE_SIZE, VM_MAP | (flags & VM_MAP_PUT_PAGES), caller)?;
        if let Err(e) = pgtable::vmap_pages_range(start, count, pages.iter().copied(), PAGE_KERNEL) {
            v.areas.remove(start.as_u64());
            return Err(e.into());
        }
        let pages = core::mem::take(pages);
        v.areas.find_mut(start.as_u64()).expect("just reserved").data.pages = pages;
        Ok(start)
    })
    // LAB 4 END
}

/// Unmaps a `vmap` area (Linux's `vunmap`). Returns its pages to the
/// caller, or frees them if the area was made with `VM_MAP_PUT_PAGES`.
pub fn vunmap(addr: VirtAddr) -> Result<PageList, VmError> {
    if let Some(done) = super::purge::vunmap_lazily(addr) {
        return done;
    }
    // LAB 4 BEGIN: take the VM_MAP area, __vunmap it; free the pages if VM_MAP_PUT_PAGES, else return them
    with(|v| {
        let area = take_area(v, addr.as_u64(), VM_MAP, "vmap")?;
        let put = area.data.flags & VM_MAP_PUT_PAGES != 0;
        __vunmap(&area, put);
        Ok(if put { PageList::new() } else { area.data.pages })
    })
    // LAB 4 END
}

/// Maps `size` bytes of device memory at `phys` (Linux's `ioremap`,
/// uncached, and `ioremap_cache`). Returns the virtual address of `phys`
/// itself, so an unaligned `phys` keeps its offset into the page.
#[track_caller]
pub fn ioremap_prot(phys: u64, size: u64, mode: CacheMode) -> Result<VirtAddr, VmError> {
    // 2 MiB-aligned ranges of 2 MiB and more get PMD leaves (huge.rs),
    // ahead of the lab's body, which maps 4 KiB pages.
    if let Some(done) = super::huge::ioremap_huge(phys, size, mode, Location::caller()) {
        return done;
    }
    // LAB 4 BEGIN: refuse bad ranges, RAM and tables_cannot_fit, map the frames (uncached: NO_CACHE | WRITE_THROUGH), keep the offset
    let caller = Location::caller();
    if size == 0 {
        return Err(VmError::ZeroSize);
    }
    let last = phys.checked_add(size - 1).ok_or(VmError::BadPhys(phys))?;
    if PhysAddr::try_new(last).is_err() {
        return Err(VmError::BadPhys(phys));
    }
    if let Some(ram) = overlapping_ram(phys, last) {
        return Err(VmError::IsRam(ram));
    }
    let offset = phys % PAGE_SIZE;
    let base = phys - offset;
    let count = (offset + size).div_ceil(PAGE_SIZE);
    if pgtable::tables_cannot_fit(count) {
        return Err(VmError::NoMemory);
    }
    let mut flags = PAGE_KERNEL;
    if mode == CacheMode::Uncached {
        flags |= Flags::NO_CACHE | Flags::WRITE_THROUGH;
    }
    with(|v| {
        let start = get_vm_area(v, count * PAGE_SIZE, PAGE_SIZE, VM_IOREMAP, caller)?;
        // Device frames are not RAM: they are computed, not allocated.
        let frames = (0..count).map(|i| PhysFrame::containing_address(PhysAddr::new(base + i * PAGE_SIZE)));
        let result = pgtable::vmap_pages_range(start, count, frames, flags);
        if let Err(e) = result {
            v.areas.remove(start.as_u64());
            return Err(e.into());
        }
        v.areas.find_mut(start.as_u64()).expect("just reserved").data.phys_addr = Some(PhysAddr::new(phys));
        Ok(start + offset)
    })
    // LAB 4 END
}

/// Uncached mapping of device memory (Linux's `ioremap`).
#[track_caller]
pub fn ioremap(phys: u64, size: u64) -> Result<VirtAddr, VmError> {
    ioremap_prot(phys, size, CacheMode::Uncached)
}

/// The first RAM address in [phys, last], if any: RAM must not be mapped
/// uncached behind the allocator's back (memblock keeps the RAM ranges).
fn overlapping_ram(phys: u64, last: u64) -> Option<u64> {
    crate::mm::memblock::first_ram_in(phys, last)
}

/// Undoes `ioremap`; `addr` may be anywhere in the area's first page, as
/// returned by ioremap (Linux's `iounmap`).
pub fn iounmap(addr: VirtAddr) -> Result<(), VmError> {
    if let Some(done) = super::purge::iounmap_lazily(addr.align_down(PAGE_SIZE)) {
        return done;
    }
    // LAB 4 BEGIN: take the VM_IOREMAP area starting at addr's page, __vunmap it without freeing pages
    let start = addr.align_down(PAGE_SIZE).as_u64();
    with(|v| {
        let area = take_area(v, start, VM_IOREMAP, "ioremap")?;
        __vunmap(&area, false);
        Ok(())
    })
    // LAB 4 END
}
