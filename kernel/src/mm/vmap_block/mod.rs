//! vmap blocks: the bookkeeping of Linux's cache of small vmap ranges.
//!
//! Reading: Linux mm/vmalloc.c, `struct vmap_block`, `vb_alloc`,
//! `vb_free`, `purge_fragmented_blocks` and `_vm_unmap_aliases` (2.6.28
//! onwards; Gorman's 2.4 has nothing like it). Mosaic's `vmap` asks the
//! area allocator for every mapping and flushes the TLB at every
//! `vunmap`. For the many short, small mappings some drivers make
//! (`vm_map_ram`: a file system mapping a few pages to copy through them),
//! Linux instead reserves 4 MiB at a time and carves small ranges out of
//! it with a bump pointer:
//!
//! ```text
//!  one block: 1024 pages (4 MiB), allocations of 2^order pages, bump from the left
//!
//!  | used | freed | used  used | freed freed |  never handed out ...          |
//!  0                                         ^ 1024 - free                   1024
//!                                    dirty_min..dirty_max: freed, TLB not flushed
//! ```
//!
//! A range given back is never handed out again while its block lives:
//! only the bump pointer hands out pages. So a freed range needs no TLB
//! flush until someone needs the flush (`vm_unmap_aliases`) or the whole
//! block goes back to the area allocator, and then one flush covers every
//! range freed meanwhile. That is the lazy flush. A block whose pages are
//! all either freed or never handed out but that cannot serve the next
//! request is *fragmented*; a purge flushes it and gives it back.
//!
//! Linux keeps one queue of blocks per CPU; Mosaic has one CPU and one
//! queue. This file is the hardware-free part (host-tested: tests.rs);
//! `vmalloc/vm_map_ram.rs` maps, unmaps and flushes.

use alloc::vec::Vec;

/// Pages in one block: 4 MiB (Linux's VMAP_BBMAP_BITS on 64-bit).
pub const VMAP_BBMAP_BITS: u64 = 1024;
/// Bytes in one block (Linux's VMAP_BLOCK_SIZE).
pub const VMAP_BLOCK_SIZE: u64 = VMAP_BBMAP_BITS * super::page::PAGE_SIZE;
/// The largest request blocks serve, in pages (Linux's VMAP_MAX_ALLOC,
/// BITS_PER_LONG); larger ones get an area of their own.
pub const VMAP_MAX_ALLOC: u64 = 64;
/// `order_at` of a page where no allocation starts.
const NO_START: u8 = u8::MAX;

/// Why a range cannot be given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VbError {
    /// The address lies in no block.
    NoBlock,
    /// No memory for the queue's bookkeeping.
    NoMemory,
    /// No allocation of this many pages starts there.
    NotAllocated,
}

/// One 4 MiB block (Linux's `struct vmap_block`).
#[derive(Clone)]
pub struct VmapBlock {
    /// The block's first address (its vmalloc area's start).
    pub start: u64,
    /// Pages never handed out, at the top of the block.
    pub free: u64,
    /// Pages handed out and given back since the block was made.
    pub dirty: u64,
    /// The pages freed since the last flush, as [min, max) (min >= max:
    /// nothing to flush). Linux's dirty_min/dirty_max.
    dirty_min: u64,
    dirty_max: u64,
    /// One bit per page handed out and not given back (Linux's used_map).
    used: [u64; (VMAP_BBMAP_BITS / 64) as usize],
    /// The order of the allocation starting at each page, or NO_START: so
    /// that a give-back of the wrong size or at the wrong place is refused
    /// instead of freeing another caller's pages.
    order_at: [u8; VMAP_BBMAP_BITS as usize],
}

/// What one page of a block is doing, for `vmblocks`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageUse {
    Used,
    /// Given back; its TLB entry may still be there (awaits a flush).
    Dirty,
    /// Given back and flushed, but not reusable until the block is purged.
    Freed,
    /// Never handed out yet.
    Free,
}

impl VmapBlock {
    /// A fresh block at `start`, with all its pages free.
    pub fn new(start: u64) -> Self {
        VmapBlock {
            start,
            free: VMAP_BBMAP_BITS,
            dirty: 0,
            dirty_min: VMAP_BBMAP_BITS,
            dirty_max: 0,
            used: [0; (VMAP_BBMAP_BITS / 64) as usize],
            order_at: [NO_START; VMAP_BBMAP_BITS as usize],
        }
    }

    /// Hands out 2^order pages from the bump pointer (Linux's `vb_alloc`
    /// on one block); their page offset, or None if they do not fit.
    pub fn alloc(&mut self, order: u32) -> Option<u64> {
        let n = 1u64 << order;
        if self.free < n {
            return None;
        }
        let offset = VMAP_BBMAP_BITS - self.free;
        self.free -= n;
        self.set_used(offset, n, true);
        self.order_at[offset as usize] = order as u8;
        Some(offset)
    }

    /// Gives back the 2^order pages at `offset` (Linux's `vb_free`); they
    /// join the dirty range and are not handed out again.
    pub fn free(&mut self, offset: u64, order: u32) -> Result<(), VbError> {
        if offset >= VMAP_BBMAP_BITS || self.order_at[offset as usize] != order as u8 {
            return Err(VbError::NotAllocated);
        }
        let n = 1u64 << order;
        self.order_at[offset as usize] = NO_START;
        self.set_used(offset, n, false);
        self.dirty += n;
        self.dirty_min = self.dirty_min.min(offset);
        self.dirty_max = self.dirty_max.max(offset + n);
        Ok(())
    }

    /// The pages freed since the last flush as (first page, count), and
    /// forgets them: the caller flushes the TLB for that range.
    pub fn take_dirty(&mut self) -> Option<(u64, u64)> {
        if self.dirty_min >= self.dirty_max {
            return None;
        }
        let range = (self.dirty_min, self.dirty_max - self.dirty_min);
        self.dirty_min = VMAP_BBMAP_BITS;
        self.dirty_max = 0;
        Some(range)
    }

    /// Every page was handed out and given back: the block can go.
    pub fn all_dirty(&self) -> bool {
        self.dirty == VMAP_BBMAP_BITS
    }

    /// Nothing is in use, but part of the block was used: it can serve
    /// only from its bump pointer, so a purge gives it back whole (Linux's
    /// test in `purge_fragmented_block`, `free + dirty == VMAP_BBMAP_BITS
    /// && dirty != VMAP_BBMAP_BITS`).
    pub fn fragmented(&self) -> bool {
        self.free + self.dirty == VMAP_BBMAP_BITS && self.dirty != VMAP_BBMAP_BITS && self.dirty > 0
    }

    /// Pages in use.
    pub fn used_pages(&self) -> u64 {
        VMAP_BBMAP_BITS - self.free - self.dirty
    }

    /// What page `i` of the block is doing.
    pub fn page(&self, i: u64) -> PageUse {
        if self.used[(i / 64) as usize] & (1 << (i % 64)) != 0 {
            PageUse::Used
        } else if i >= VMAP_BBMAP_BITS - self.free {
            PageUse::Free
        } else if (self.dirty_min..self.dirty_max).contains(&i) {
            PageUse::Dirty
        } else {
            PageUse::Freed
        }
    }

    /// True if `addr` lies in this block.
    pub fn contains(&self, addr: u64) -> bool {
        (self.start..self.start + VMAP_BLOCK_SIZE).contains(&addr)
    }

    fn set_used(&mut self, offset: u64, n: u64, on: bool) {
        for i in offset..offset + n {
            let (word, bit) = ((i / 64) as usize, i % 64);
            if on {
                self.used[word] |= 1 << bit;
            } else {
                self.used[word] &= !(1 << bit);
            }
        }
    }
}

/// The smallest order whose block of pages holds `pages` pages.
pub fn order_of(pages: u64) -> u32 {
    pages.max(1).next_power_of_two().trailing_zeros()
}

/// The queue of blocks (Linux's per-CPU `vmap_block_queue`; one here).
#[derive(Default)]
pub struct VmapBlockQueue {
    pub blocks: Vec<VmapBlock>,
}

impl VmapBlockQueue {
    /// Hands out 2^order pages from the first block with room: the block's
    /// index and the pages' address; None if no block has room (the
    /// caller makes one with `add`).
    pub fn alloc(&mut self, order: u32) -> Option<(usize, u64)> {
        self.blocks.iter_mut().enumerate().find_map(|(i, b)| {
            let offset = b.alloc(order)?;
            Some((i, b.start + offset * super::page::PAGE_SIZE))
        })
    }

    /// Adds a fresh block at `start`; its index.
    pub fn add(&mut self, start: u64) -> Result<usize, VbError> {
        self.blocks.try_reserve(1).map_err(|_| VbError::NoMemory)?;
        self.blocks.push(VmapBlock::new(start));
        Ok(self.blocks.len() - 1)
    }

    /// The index of the block holding `addr`.
    pub fn find(&self, addr: u64) -> Option<usize> {
        self.blocks.iter().position(|b| b.contains(addr))
    }

    /// Gives back 2^order pages at `addr`; the index of their block.
    pub fn free(&mut self, addr: u64, order: u32) -> Result<usize, VbError> {
        let i = self.find(addr).ok_or(VbError::NoBlock)?;
        let b = &mut self.blocks[i];
        let offset = addr - b.start;
        if !offset.is_multiple_of(super::page::PAGE_SIZE) {
            return Err(VbError::NotAllocated);
        }
        b.free(offset / super::page::PAGE_SIZE, order)?;
        Ok(i)
    }

    /// Takes block `i` out of the queue (its range goes back to the area
    /// allocator, after a flush).
    pub fn remove(&mut self, i: usize) -> VmapBlock {
        let block = self.blocks.swap_remove(i);
        if self.blocks.is_empty() {
            // No block left: give the list's heap block back too, so that
            // a kernel with no vm_map_ram mapping holds nothing for them
            // (the leak checks count heap objects).
            self.blocks = Vec::new();
        }
        block
    }
}

#[cfg(test)]
mod tests;
