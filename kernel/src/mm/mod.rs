//! The memory manager: the subject of Mosaic, and nothing else.
//!
//! # A map by book chapter
//!
//! Gorman, *Understanding the Linux Virtual Memory Manager* (printed book;
//! the online edition numbers each chapter one higher), and Mauerer,
//! *Professional Linux Kernel Architecture*, ch. 3:
//!
//! | chapter                                  | here                                  |
//! |------------------------------------------|---------------------------------------|
//! | Gorman 2, Mauerer 3.2: nodes, zones, pages | `page.rs` (mem_map), `page_alloc/zone.rs` (`ZoneType`) |
//! | Gorman 3, Mauerer 3.3: page tables (Intel SDM vol. 3, 4.5) | `layout.rs`, `pgtable.rs` (`pgtable/walk.rs`: read-only walks; `pgtable/huge.rs`: 2 MiB PMD leaves), `aspace.rs`, `direct_map.rs` (RAM only, W^X) |
//! | Gorman 5, Mauerer 3.4: boot memory       | `memblock.rs`                          |
//! | Gorman 2 and 6, pictured: who holds each frame | `memmap.rs` (`page.rs`'s `PageOwner`) |
//! | Gorman 6, Mauerer 3.5.1-3.5.6: the buddy allocator | `page_alloc/` (zone: split, merge; LAB 1) |
//! | Gorman 7, Mauerer 3.5.7: vmalloc         | `vmalloc/` (mod: vmalloc, vfree, LAB 2; vmap: vmap, ioremap, LAB 4; query; huge: Linux 5.13+'s `vmalloc_huge`), `page_list.rs`, `vmap_area/` (list: LAB 2, free_tree: LAB 4), `redzone.rs` (the overrun check), `vmap_block/` (Linux 2.6.28+'s vm_map_ram blocks), `vmap_purge/` + `vmalloc/purge.rs` (Linux 2.6.28+'s lazy purge of vfree) |
//! | Gorman 7.2: the vmalloc fault            | `fault/vmalloc_fault.rs` (LAB 3), `aspace.rs` |
//! | Gorman 4: the process address space (faults, what an address is) | `fault/`, `explain.rs` (`explain <addr>`, Linux's `mem_dump_obj`) |
//! | Gorman 8, Mauerer 3.6: the slab allocator | `slab/`, `heap.rs` (kmalloc)          |
//! | Linux's exception tables                 | `fault/extable.rs`                     |
//! | Linux's hardened usercopy (mm/usercopy.c) | `usercopy.rs` (what `poke` may write) |
//!
//! # Rules (tests/module_deps.rs checks the first two)
//!
//! - Nothing in `mm` imports `shell`, `ktest`, `ktests`, `bench` or `boot`;
//!   outside `mm` it uses only `arch`'s page primitives and small leaves.
//!   Tests of `mm` live in `ktests/` (in the kernel) or in a sibling
//!   `tests.rs` (on the host).
//! - `aspace -> pgtable`, never back: the walk reports the top-level entries
//!   it creates through a hook that `aspace::init` sets.
//! - `page`, `page_alloc`, `memmap`, `slab`, `vmap_area`, `vmap_block`, `vmap_purge` and `page_list` touch no
//!   hardware: they build and run on the host, for unit tests and fuzzing.
//!
//! # Bring-up order (boot.rs calls these, in this order)
//!
//! `mm::init` (memblock -> buddy allocator), `pgtable::init`,
//! `direct_map::init` (trim the bootloader's direct map to RAM, protect
//! the kernel's alias), `aspace::init`, `vmalloc::init`.

pub mod layout;
pub mod memmap;
pub mod page;
pub mod page_alloc;
pub mod page_list;
pub mod redzone;
pub mod slab;
pub use vmap_area::start_index;
pub mod vmap_area;
pub mod vmap_block;
pub mod vmap_purge;

// What touches hardware: bare-metal target only.
#[cfg(target_os = "none")]
pub mod aspace;
#[cfg(target_os = "none")]
pub mod direct_map;
#[cfg(target_os = "none")]
pub mod explain;
#[cfg(target_os = "none")]
pub mod fault;
/// The one hardware-free part of `fault/`, for its host tests.
#[cfg(all(test, not(target_os = "none")))]
#[path = "fault/retry.rs"]
mod fault_retry;
#[cfg(target_os = "none")]
pub mod heap;
#[cfg(target_os = "none")]
mod memblock;
#[cfg(target_os = "none")]
pub mod pgtable;
#[cfg(target_os = "none")]
pub mod usercopy;
#[cfg(target_os = "none")]
pub mod vmalloc;

#[cfg(target_os = "none")]
pub use page_alloc::global::*;

/// The least memory, in KiB, the buddy allocator must have free once
/// `mem_map` is built for the kernel to work: the heap, the page tables,
/// vmalloc and the shell's commands all draw on it. Below it the kernel
/// says so and exits instead of failing later in some allocation.
pub const MIN_FREE_KIB: u64 = 4096;

/// The machine has too little memory for the kernel: the KiB free after
/// boot (0 if `mem_map` itself did not fit).
#[derive(Clone, Copy, Debug)]
pub struct TooLittleMemory(pub u64);

/// Sets up the page allocator from the bootloader's memory map: memblock
/// builds `mem_map` and hands the usable RAM to the buddy allocator.
#[cfg(target_os = "none")]
pub fn init(boot_info: &'static bootloader_api::BootInfo) -> Result<(), TooLittleMemory> {
    let mut pages = memblock::init(&boot_info.memory_regions).ok_or(TooLittleMemory(0))?;
    let free_kib = pages.free_pages_total() * page::PAGE_SIZE / 1024;
    if free_kib < MIN_FREE_KIB {
        return Err(TooLittleMemory(free_kib));
    }
    pages.enable_pcp();
    page_alloc::global::install(pages);
    Ok(())
}

/// Free pages plus the pages bookkeeping keeps: page tables (kept once
/// made, as in Linux) and the heap's slabs and large blocks. A
/// vmalloc/vfree cycle, or any call that fails and rolls back, leaves it
/// as it was; a data page not given back shows as a drop. Takes the
/// page-allocator lock and the heap lock one after the other, never both.
#[cfg(target_os = "none")]
pub fn pages_accounted() -> u64 {
    let heap = heap::stats();
    with_pages(|p| p.free_pages_total()) + pgtable::table_pages() + heap.slab_pages() + heap.large_pages
}
