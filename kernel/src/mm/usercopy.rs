//! Which kernel memory the shell's `poke` may write.
//!
//! Linux checks the kernel side of every copy from user space against
//! what the memory is (hardened usercopy, mm/usercopy.c:
//! `__check_object_size` refuses kernel text, a stack frame that is not
//! the caller's, a slab object overrun). Mosaic has no user space; `poke`
//! is its one path from outside data to kernel memory, and it is checked
//! here the other way round, by a whitelist: a write may go to
//!
//! - an address in the vmalloc area (a live vmalloc, vmap or ioremap
//!   area; anywhere else there the write faults and is reported);
//! - through any other mapping, a frame that belongs to a live vmalloc or
//!   vmap area (the two-aliases lesson), to a block the caller says it
//!   holds (the shell's `alloc_pages`), or that is free;
//! - an address that is not mapped at all (the write faults, and the
//!   fault report says why).
//!
//! Everything else is refused, with what it is when that is known: the
//! kernel image (text, rodata, data: through the image mapping or the
//! direct map), a page table of any address space, the kernel stack,
//! `mem_map`, the heap, memory reserved at boot.

use super::direct_map;
use super::layout::{in_vmalloc_area, KERNEL_STACK_GUARD, KERNEL_STACK_SIZE};
use super::page::{PageState, PAGE_SIZE};
use super::{aspace, memblock, pgtable, vmalloc};
use core::fmt;
use x86_64::structures::paging::PhysFrame;
use x86_64::{PhysAddr, VirtAddr};

/// Why a write was refused: what the memory is, and the frame behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub what: &'static str,
    pub phys: u64,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} (physical {:#x})", self.what, self.phys)
    }
}

/// Checks a write of at most 8 aligned bytes at `addr` (so within one
/// page). `holds(phys)` says whether the caller owns the allocated block
/// whose first frame is at `phys`.
pub fn check_kernel_write(addr: VirtAddr, holds: impl Fn(u64) -> bool) -> Result<(), Refusal> {
    if in_vmalloc_area(addr.as_u64()) {
        return Ok(());
    }
    // The kernel half is the same in every address space, and the lower
    // half is copied from the master too.
    let Some((phys, _)) = pgtable::walk(pgtable::master_pgd(), addr).phys else { return Ok(()) };
    let phys = phys.as_u64();
    let refuse = |what| Err(Refusal { what, phys });
    let frame = PhysFrame::containing_address(PhysAddr::new(phys));
    if let Some(kind) = direct_map::image_kind(phys) {
        return refuse(kind.name());
    }
    if is_kernel_stack(frame) {
        return refuse("the kernel stack");
    }
    if memblock::mem_map_frames().contains(&(phys / PAGE_SIZE)) {
        return refuse("mem_map (the page descriptors)");
    }
    let pgd = |id| aspace::info(id).map(|i| i.pgd);
    if (0..aspace::MAX_SPACES).any(|id| pgd(id) == Some(frame.start_address().as_u64()))
        || vmalloc::is_master_table(frame)
    {
        return refuse("a page table");
    }
    match super::with_pages(|p| p.block_of(phys / PAGE_SIZE)) {
        None => refuse("memory the page allocator does not manage"),
        Some((_, PageState::Reserved, _)) => refuse("memory reserved at boot (bootloader data or firmware)"),
        Some((_, PageState::Free | PageState::Pcp, _)) => Ok(()),
        Some((head, _, _)) if holds(head * PAGE_SIZE) => Ok(()),
        Some(_) if vmalloc::area_owning(frame).is_some() => Ok(()),
        // Allocated, and not by the caller, a vmalloc area or a page
        // table: the heap's slab pages and large blocks.
        Some(_) => refuse("the kernel heap"),
    }
}

/// True if `frame` is one of the kernel stack's frames.
fn is_kernel_stack(frame: PhysFrame) -> bool {
    let first = KERNEL_STACK_GUARD + PAGE_SIZE;
    (0..KERNEL_STACK_SIZE / PAGE_SIZE).any(|i| {
        let walk = pgtable::walk(pgtable::master_pgd(), VirtAddr::new(first + i * PAGE_SIZE));
        walk.phys.is_some_and(|(p, _)| PhysFrame::containing_address(p) == frame)
    })
}
