//! `vm_map_ram` and `vm_unmap_ram`: small, short-lived mappings carved
//! from 4 MiB vmap blocks, with the TLB flushed lazily (Linux 2.6.28+,
//! mm/vmalloc.c). The bookkeeping and the picture are in
//! `mm/vmap_block/`; this file maps, unmaps and flushes.
//!
//! Why it is safe not to flush at `vm_unmap_ram`: a freed range keeps its
//! stale TLB entries, but nothing is mapped there again until its block
//! goes back to the area allocator, and that happens only after a flush
//! of the block's dirty range. The caller must not touch the range after
//! `vm_unmap_ram` (as with any free). A caller that needs the stale
//! entries gone now (say, before handing the pages to a device or
//! changing their caching) calls `vm_unmap_aliases`.
//!
//! Requests over `VMAP_MAX_ALLOC` pages get an area of their own through
//! `vmap`, as Linux's do through `alloc_vmap_area`.

use super::{get_vm_area, vmap, vunmap, with, VmError, Vmalloc, PAGE_KERNEL, VM_VMAP_BLOCK};
use crate::mm::page::PAGE_SIZE;
use crate::mm::pgtable;
use crate::mm::vmap_block::{order_of, VmapBlock, VmapBlockQueue, VMAP_BLOCK_SIZE, VMAP_MAX_ALLOC};
use core::panic::Location;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use spin::Mutex;
use x86_64::structures::paging::PhysFrame;
use x86_64::VirtAddr;

/// The one queue of blocks (Linux has one per CPU). Taken only inside the
/// vmalloc lock: lock order vmalloc, then this.
static QUEUE: Mutex<VmapBlockQueue> = Mutex::new(VmapBlockQueue { blocks: alloc::vec::Vec::new() });

/// What the blocks did since boot, for `vmblocks`.
pub struct VmapBlockStats {
    pub maps: u64,
    pub unmaps: u64,
    /// TLB flushes of dirty ranges (a whole block's, or vm_unmap_aliases').
    pub flushes: u64,
    /// Pages those flushes covered.
    pub pages_flushed: u64,
    /// Blocks given back to the area allocator.
    pub blocks_released: u64,
    /// Blocks alive now.
    pub blocks: u64,
}

static MAPS: AtomicU64 = AtomicU64::new(0);
static UNMAPS: AtomicU64 = AtomicU64::new(0);
static FLUSHES: AtomicU64 = AtomicU64::new(0);
static PAGES_FLUSHED: AtomicU64 = AtomicU64::new(0);
static RELEASED: AtomicU64 = AtomicU64::new(0);

/// Maps `pages` into one virtually contiguous range (Linux's
/// `vm_map_ram`): from a vmap block if there are at most VMAP_MAX_ALLOC,
/// else as a `vmap` area. Undo with `vm_unmap_ram` and the same count.
#[track_caller]
pub fn vm_map_ram(pages: &[PhysFrame]) -> Result<VirtAddr, VmError> {
    let count = pages.len() as u64;
    if count == 0 {
        return Err(VmError::ZeroSize);
    }
    if count > VMAP_MAX_ALLOC {
        return vmap(pages, 0);
    }
    let caller = Location::caller();
    let order = order_of(count);
    with(|v| {
        let mut q = QUEUE.lock();
        let (addr, fresh) = match q.alloc(order) {
            Some((_, addr)) => (addr, false),
            None => (new_block(v, &mut q, order, caller)?, true),
        };
        if let Err(e) = pgtable::vmap_pages_range(VirtAddr::new(addr), count, pages.iter().copied(), PAGE_KERNEL) {
            // Nothing of the range is mapped (vmap_pages_range's promise):
            // give it back, and the block too if this call made it.
            let i = q.free(addr, order).expect("handed out just above");
            if fresh {
                release(v, &mut q, i);
            }
            return Err(e.into());
        }
        MAPS.fetch_add(1, Relaxed);
        Ok(VirtAddr::new(addr))
    })
}

/// Makes a block (purging fragmented ones and trying again if the area
/// allocator is full) and hands out 2^order pages of it (Linux's
/// `new_vmap_block`).
fn new_block(
    v: &mut Vmalloc,
    q: &mut VmapBlockQueue,
    order: u32,
    caller: &'static Location<'static>,
) -> Result<u64, VmError> {
    let start = match get_vm_area(v, VMAP_BLOCK_SIZE, VMAP_BLOCK_SIZE, VM_VMAP_BLOCK, caller) {
        Ok(start) => start,
        Err(_) if purge(v, q) > 0 => get_vm_area(v, VMAP_BLOCK_SIZE, VMAP_BLOCK_SIZE, VM_VMAP_BLOCK, caller)?,
        Err(e) => return Err(e),
    };
    if q.add(start.as_u64()).is_err() {
        v.areas.remove(start.as_u64());
        return Err(VmError::NoMemory);
    }
    Ok(q.alloc(order).expect("a fresh block has room").1)
}

/// Unmaps what `vm_map_ram` mapped at `addr` (`count` as given to it),
/// without a TLB flush for block mappings (Linux's `vm_unmap_ram`). The
/// pages stay the caller's.
pub fn vm_unmap_ram(addr: VirtAddr, count: u64) -> Result<(), VmError> {
    if count == 0 {
        return Err(VmError::ZeroSize);
    }
    if count > VMAP_MAX_ALLOC {
        return vunmap(addr).map(drop);
    }
    with(|v| {
        let mut q = QUEUE.lock();
        // Checked (and booked) before anything is unmapped.
        let i = q
            .free(addr.as_u64(), order_of(count))
            .map_err(|_| VmError::NotMapRam { addr: addr.as_u64(), pages: count })?;
        pgtable::vunmap_range_noflush(addr, count);
        UNMAPS.fetch_add(1, Relaxed);
        if q.blocks[i].all_dirty() {
            release(v, &mut q, i);
        }
        Ok(())
    })
}

/// Flushes the TLB for every range freed lazily, and gives back the blocks
/// that can serve nothing more (Linux's `vm_unmap_aliases`); the areas
/// `vfree=lazy` freed are purged too (purge.rs), as Linux's
/// `_vm_unmap_aliases` ends in `__purge_vmap_area_lazy`. Returns the
/// blocks given back.
pub fn vm_unmap_aliases() -> u64 {
    with(|v| {
        let mut q = QUEUE.lock();
        for b in q.blocks.iter_mut() {
            flush_dirty(b);
        }
        let released = purge(v, &mut q);
        super::purge::purge_locked(v);
        released
    })
}

/// Gives back every fragmented block (nothing in use, not all of it
/// handed out: Linux's `purge_fragmented_blocks`); how many.
fn purge(v: &mut Vmalloc, q: &mut VmapBlockQueue) -> u64 {
    let mut purged = 0;
    let mut i = 0;
    while i < q.blocks.len() {
        if q.blocks[i].fragmented() {
            release(v, q, i);
            purged += 1;
        } else {
            i += 1;
        }
    }
    purged
}

/// Flushes block `i`'s dirty range and gives its 4 MiB back to the area
/// allocator (Linux's `free_vmap_block`).
fn release(v: &mut Vmalloc, q: &mut VmapBlockQueue, i: usize) {
    let mut block = q.remove(i);
    flush_dirty(&mut block);
    v.areas.remove(block.start);
    RELEASED.fetch_add(1, Relaxed);
}

/// One flush for all the pages of `b` freed since its last flush.
fn flush_dirty(b: &mut VmapBlock) {
    if let Some((first, pages)) = b.take_dirty() {
        pgtable::flush_tlb_kernel_range(VirtAddr::new(b.start + first * PAGE_SIZE), pages);
        FLUSHES.fetch_add(1, Relaxed);
        PAGES_FLUSHED.fetch_add(pages, Relaxed);
    }
}

/// The counters, and the number of blocks alive.
pub fn vmap_block_stats() -> VmapBlockStats {
    let blocks = with(|_| QUEUE.lock().blocks.len() as u64);
    VmapBlockStats {
        maps: MAPS.load(Relaxed),
        unmaps: UNMAPS.load(Relaxed),
        flushes: FLUSHES.load(Relaxed),
        pages_flushed: PAGES_FLUSHED.load(Relaxed),
        blocks_released: RELEASED.load(Relaxed),
        blocks,
    }
}

/// A copy of block `i` (for `vmblocks`, which prints outside the lock).
pub fn vmap_block(i: usize) -> Option<VmapBlock> {
    with(|_| QUEUE.lock().blocks.get(i).cloned())
}
