//! `vrealloc`: changing the size of a vmalloc'd buffer, keeping its
//! contents (Linux 6.12's `vrealloc`, mm/vmalloc.c; Gorman's 2.4 has no
//! such call: a 2.4 driver allocated anew, copied and freed by hand).
//!
//! Three ways, cheapest first:
//!
//! 1. **Shrink in place** (fewer pages): the tail pages are unmapped and
//!    freed, and the page after the new end, which was a data page, becomes
//!    the guard page; the area allocator takes the rest back (`shrink`).
//! 2. **Grow in place** (more pages): if the range after the area is free,
//!    the area allocator lengthens the area into it (`try_extend`), the old
//!    guard page and what follows are mapped to fresh pages, and a new guard
//!    page follows the new end. Linux 6.12 grows in place only within the
//!    pages an area already has; Mosaic's allocators can also say cheaply
//!    whether the following range is free, so they are asked.
//! 3. **Move**: a new area, the old contents copied, the old area freed.
//!
//! A size within the same number of pages changes only the record: the
//! requested size, and with it the redzone of mm/redzone.rs, which is
//! checked before the change (an overrun is reported as `vfree` reports
//! it) and laid out again after it.
//!
//! Every failure leaves everything as it was: whatever can fail (the page
//! list, the pages, the page tables) is done before the old state is given
//! up, and growing in place undoes the lengthened area if a later step
//! fails (the tree made room for that in `try_extend`, so undoing it needs
//! no memory).

use super::{
    __vmalloc, check_area, free_pages_array, poison_redzone, redzone_overwrite, report_overrun, vfree,
    vm_area_alloc_pages, with, VmError, Vmalloc, PAGE_KERNEL, VM_ALLOC,
};
use crate::mm::page::PAGE_SIZE;
use crate::mm::page_alloc::ZoneType;
use crate::mm::page_list::PageList;
use crate::mm::pgtable;
use crate::mm::redzone;
use crate::mm::vmap_area::AreaError;
use core::cmp::Ordering;
use core::panic::Location;
use x86_64::structures::paging::PhysFrame;
use x86_64::VirtAddr;

/// How `vrealloc` did it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resized {
    /// A null address: a new area (Linux: `vrealloc(NULL, size)`).
    Allocated,
    /// Size 0: the area was freed (Linux returns NULL then).
    Freed,
    /// Same number of pages: only the requested size changed.
    SamePages,
    ShrunkInPlace {
        pages_freed: u64,
    },
    GrownInPlace {
        pages_added: u64,
    },
    /// Contents copied to a new area; the old one, at `from`, is freed.
    Moved {
        from: u64,
    },
}

/// Resizes the VM_ALLOC area at `addr` to `size` bytes, keeping the
/// first `min(old, new)` bytes; returns where the buffer is now and how it
/// got there. On an error nothing changed.
#[track_caller]
pub fn vrealloc(addr: VirtAddr, size: u64) -> Result<(VirtAddr, Resized), VmError> {
    let caller = Location::caller();
    if addr.is_null() {
        return __vmalloc(size, PAGE_SIZE, ZoneType::Normal, false, caller).map(|a| (a, Resized::Allocated));
    }
    if size == 0 {
        vfree(addr)?;
        return Ok((VirtAddr::zero(), Resized::Freed));
    }
    let pages = size.div_ceil(PAGE_SIZE);
    if pages > crate::mm::managed_pages() {
        return Err(VmError::TooLarge(size));
    }
    match with(|v| resize_in_place(v, addr.as_u64(), size, pages))? {
        Some(how) => Ok((addr, how)),
        None => move_area(addr, size, caller),
    }
}

/// The area at `start` as `vfree` would accept it: a VM_ALLOC area that
/// starts there. Returns its mapped pages and the bytes asked for.
/// (A range freed lazily and not purged yet is no area: `NotAnArea`.)
fn vm_alloc_area(v: &Vmalloc, start: u64) -> Result<(u64, u64), VmError> {
    check_area(v, start, VM_ALLOC, "vmalloc")?;
    let area = v.areas.find(start).expect("checked above");
    Ok((area.data.nr_pages, area.data.requested))
}

/// Checks the old redzone, as `vfree` does (a moved area is checked by
/// the `vfree` of the move).
fn check_redzone(v: &mut Vmalloc, start: u64) {
    let area = v.areas.find(start).expect("checked by vm_alloc_area");
    if let Some(hit) = redzone_overwrite(&area.data) {
        report_overrun(area, hit);
        v.overruns += 1;
    }
}

/// Shrinks or grows the area where it lies; `Ok(None)` if it must move.
/// The old redzone is checked once the area is known to stay, before its
/// pages change (its bytes are found through the last page).
fn resize_in_place(v: &mut Vmalloc, start: u64, size: u64, pages: u64) -> Result<Option<Resized>, VmError> {
    let (old, _) = vm_alloc_area(v, start)?;
    // A huge area's pages are whole order-9 blocks: it moves instead.
    if pages != old && super::huge::is_huge(v, start) {
        return Ok(None);
    }
    let how = match pages.cmp(&old) {
        Ordering::Equal => {
            check_redzone(v, start);
            Resized::SamePages
        }
        Ordering::Less => {
            check_redzone(v, start);
            shrink(v, start, old, pages)?
        }
        Ordering::Greater => match grow(v, start, old, pages)? {
            Some(how) => how,
            None => return Ok(None),
        },
    };
    let vm = &mut v.areas.find_mut(start).expect("resized in place").data;
    vm.requested = size;
    vm.redzone = redzone::enabled() && poison_redzone(vm);
    Ok(Some(how))
}

/// A list of `len` frames taken from `frames`, or None if the heap cannot
/// hold it.
fn list_of(frames: impl Iterator<Item = PhysFrame>, len: u64) -> Option<PageList> {
    let mut list = PageList::try_with_len(len as usize)?;
    list.chunks_mut().flat_map(|c| c.iter_mut()).zip(frames).for_each(|(slot, f)| *slot = f);
    Some(list)
}

/// What a refused `shrink` means here: only running out of memory can
/// happen (the area and the size were checked just before, under the
/// same lock); anything else is reported as the area not being there.
fn area_error(e: AreaError, start: u64) -> VmError {
    match e {
        AreaError::NoMemory => VmError::NoMemory,
        _ => VmError::NotAnArea(start),
    }
}

/// Case 1: keeps the first `new` pages, unmaps and frees the rest. The two
/// page lists and the area allocator's change can fail; they come first.
fn shrink(v: &mut Vmalloc, start: u64, old: u64, new: u64) -> Result<Resized, VmError> {
    let vm = &v.areas.find(start).expect("checked by vm_alloc_area").data;
    let head = list_of(vm.pages.iter().copied(), new).ok_or(VmError::NoMemory)?;
    let tail = list_of(vm.pages.iter().copied().skip(new as usize), old - new).ok_or(VmError::NoMemory)?;
    // Mapped pages plus one guard page, as get_vm_area reserves.
    v.areas.shrink(start, (new + 1) * PAGE_SIZE).map_err(|e| area_error(e, start))?;
    pgtable::vunmap_range(VirtAddr::new(start + new * PAGE_SIZE), old - new);
    free_pages_array(&tail);
    v.vmalloc_pages -= old - new;
    let vm = &mut v.areas.find_mut(start).expect("just shrunk").data;
    vm.pages = head;
    vm.nr_pages = new;
    Ok(Resized::ShrunkInPlace { pages_freed: old - new })
}

/// Case 2: lengthens the area into the free range after it, if there is
/// one, and maps fresh pages from the old guard page on. `Ok(None)` if the
/// range after the area is not free.
fn grow(v: &mut Vmalloc, start: u64, old: u64, new: u64) -> Result<Option<Resized>, VmError> {
    if !v.areas.try_extend(start, (new + 1) * PAGE_SIZE) {
        return Ok(None);
    }
    check_redzone(v, start);
    match map_tail(v, start, old, new) {
        Ok(()) => Ok(Some(Resized::GrownInPlace { pages_added: new - old })),
        Err(e) => {
            // try_extend made room for this: it cannot fail.
            v.areas.shrink(start, (old + 1) * PAGE_SIZE).expect("undoing try_extend needs no memory");
            Err(e)
        }
    }
}

/// Takes `new - old` pages, maps them after the area's `old` pages and
/// records them; on an error, gives back what it took.
fn map_tail(v: &mut Vmalloc, start: u64, old: u64, new: u64) -> Result<(), VmError> {
    let fresh = vm_area_alloc_pages(new - old, ZoneType::Normal, false)?;
    let vm = &v.areas.find(start).expect("just extended").data;
    let Some(all) = list_of(vm.pages.iter().chain(fresh.iter()).copied(), new) else {
        free_pages_array(&fresh);
        return Err(VmError::NoMemory);
    };
    let from = VirtAddr::new(start + old * PAGE_SIZE);
    if let Err(e) = pgtable::vmap_pages_range(from, new - old, fresh.iter().copied(), PAGE_KERNEL) {
        free_pages_array(&fresh);
        return Err(e.into());
    }
    pgtable::flush_cache_vmap(from, VirtAddr::new(start + new * PAGE_SIZE));
    v.vmalloc_pages += new - old;
    let vm = &mut v.areas.find_mut(start).expect("just extended").data;
    vm.pages = all;
    vm.nr_pages = new;
    Ok(())
}

/// Case 3: a new area, the contents copied, the old area freed. The new
/// area is made first: if that fails, the old one is untouched.
fn move_area(addr: VirtAddr, size: u64, caller: &'static Location<'static>) -> Result<(VirtAddr, Resized), VmError> {
    let kept = with(|v| vm_alloc_area(v, addr.as_u64()))?.1.min(size);
    let new = __vmalloc(size, PAGE_SIZE, ZoneType::Normal, false, caller)?;
    // SAFETY: both areas are mapped VM_ALLOC areas of at least `kept`
    // bytes (the old one asked for that many, the new one for `size`),
    // they are distinct areas so they do not overlap, and nothing else
    // frees them while the command that owns them runs.
    unsafe { core::ptr::copy_nonoverlapping(addr.as_ptr::<u8>(), new.as_mut_ptr::<u8>(), kept as usize) };
    // It was checked above; should it have gone meanwhile, the new area
    // goes too and the error is the answer.
    if let Err(e) = vfree(addr) {
        vfree(new).expect("the area just made");
        return Err(e);
    }
    Ok((new, Resized::Moved { from: addr.as_u64() }))
}
