//! Growing and shrinking a busy area where it lies: what `vrealloc`
//! (mm/vmalloc/resize.rs) asks of the area allocators before it falls back
//! to allocating, copying and freeing.
//!
//! Linux 6.12's `vrealloc` shrinks inside the area it has and grows in
//! place only into pages the area already holds; it never asks the area
//! allocator for the range after the area. Both of Mosaic's allocators can
//! answer that question cheaply, so it is asked: the list looks at the next
//! busy area (O(n) to find the area, as every list operation), the tree at
//! the free block that starts where the area ends (O(log n)). Growing takes
//! the front of that free block (Linux's LE_FIT or FL_FIT case of
//! `adjust_va_to_fit_type`); shrinking gives the tail back, merged with the
//! block after it (`merge_or_add_vmap_area`).

use super::{AreaError, ListAllocator, TreeAllocator, PAGE_SIZE};

/// Checks a new size against the old one: whole pages, not zero, and
/// larger (`grow`) or smaller (not `grow`).
fn new_size_ok(old: u64, new: u64, grow: bool) -> Result<(), AreaError> {
    if new == 0 || !new.is_multiple_of(PAGE_SIZE) {
        return Err(AreaError::BadSize);
    }
    match grow {
        true if new > old => Ok(()),
        false if new < old => Ok(()),
        _ => Err(AreaError::BadSize),
    }
}

impl<T> ListAllocator<T> {
    /// `try_extend` on Linux 2.4's list: the range up to the next busy
    /// area (or the end of the span) is free by definition.
    pub(super) fn extend_in_place(&mut self, start: u64, new_size: u64) -> bool {
        let Some(i) = self.areas.iter().position(|a| a.start == start) else { return false };
        if new_size_ok(self.areas[i].size, new_size, true).is_err() {
            return false;
        }
        let limit = self.areas.get(i + 1).map_or(self.span.end, |next| next.start);
        if start.checked_add(new_size).is_none_or(|end| end > limit) {
            return false;
        }
        self.busy_bytes += new_size - self.areas[i].size;
        self.areas[i].size = new_size;
        true
    }

    /// `shrink` on the list: the tail becomes part of the hole after the
    /// area just by the area's size going down.
    pub(super) fn shrink_in_place(&mut self, start: u64, new_size: u64) -> Result<(), AreaError> {
        let area = self.areas.iter_mut().find(|a| a.start == start).ok_or(AreaError::NotAnArea)?;
        new_size_ok(area.size, new_size, false)?;
        self.busy_bytes -= area.size - new_size;
        area.size = new_size;
        Ok(())
    }
}

impl<T> TreeAllocator<T> {
    /// `try_extend` on the tree: the free block that starts where the area
    /// ends, if there is one and it reaches far enough, loses its front.
    /// That adds no node; but room is made first for the node that
    /// shrinking the area back would add, so that a caller whose next step
    /// fails can undo this without the heap (vrealloc does). No room: false.
    pub(super) fn extend_in_place(&mut self, start: u64, new_size: u64) -> bool {
        let Some(slot) = self.index.get(start) else { return false };
        let Some(area) = self.areas[slot].as_ref() else { return false };
        if new_size_ok(area.size, new_size, true).is_err() {
            return false;
        }
        let (end, old_size) = (area.end(), area.size);
        let Some(new_end) = start.checked_add(new_size) else { return false };
        let Some(block) = self.free.floor(end).filter(|&b| self.free.nodes[b].start == end) else {
            return false;
        };
        if self.free.nodes[block].end() < new_end || self.free.reserve(self.index.len() + 2).is_err() {
            return false;
        }
        self.free.carve(block, end..new_end);
        self.areas[slot].as_mut().expect("checked above").size = new_size;
        self.busy_bytes += new_size - old_size;
        true
    }

    /// `shrink` on the tree: the tail goes back to the free blocks. That
    /// may add a block (when a busy area follows), so room for it is made
    /// first: a failure changes nothing.
    pub(super) fn shrink_in_place(&mut self, start: u64, new_size: u64) -> Result<(), AreaError> {
        let slot = self.index.get(start).ok_or(AreaError::NotAnArea)?;
        let area = self.areas[slot].as_ref().ok_or(AreaError::NotAnArea)?;
        new_size_ok(area.size, new_size, false)?;
        let tail = start + new_size..area.end();
        self.free.reserve(self.index.len() + 2)?;
        self.busy_bytes -= tail.end - tail.start;
        self.areas[slot].as_mut().expect("checked above").size = new_size;
        self.free.give_back(tail);
        Ok(())
    }
}
