//! The lazy purge of freed vmalloc ranges: its bookkeeping.
//!
//! Reading: Linux mm/vmalloc.c from 2.6.28 on: `free_vmap_area_noflush`,
//! `vmap_lazy_nr`, `lazy_max_pages`, `__purge_vmap_area_lazy` and the
//! retry in `alloc_vmap_area` (`reclaim_and_purge_vmap_areas` in 6.x).
//! Gorman's 2.4 frees eagerly: `vfree` clears the PTEs and flushes the TLB
//! at once (`vmfree_area_pages`, ch. 7.3), one flush per free.
//!
//! A lazy free clears the PTEs and frees the pages like an eager one, but
//! neither flushes the TLB nor gives the range back. The range stays busy
//! in the area allocator, marked freed, and goes on the purge list; the
//! pages it held are counted in `lazy_nr`. When `lazy_nr` passes
//! `max_pages`, or an allocation finds no room, or someone asks
//! (`vm_unmap_aliases`, the shell's `purge`), one flush covers the span of
//! every range on the list and the ranges return to the allocator:
//!
//! ```text
//!  vmalloc area:  [ A ][ x ][ B ][ x ][ x ][ C ] ...     x: freed, PTEs clear,
//!                        |         |    |                   TLB may hold them
//!  purge list:    x@1 -> x@3 -> x@4          lazy_nr = pages of the three x
//!
//!  purge: flush [start of x@1, end of x@4) once, then free the three ranges
//!  vmalloc area:  [ A ]......[ B ]...........[ C ] ...
//! ```
//!
//! Why no flush is missed: a stale TLB entry can only be used by an access
//! to the freed range, and nothing is given that range again until the
//! purge has flushed it, because it stays busy in the allocator until
//! then. (The caller must not touch memory it freed, as with any free.)
//!
//! This file is hardware-free (host-tested: tests.rs); the flush is the
//! caller's function. `vmalloc/purge.rs` uses it under the vmalloc lock.
//! Course lab 5 (docs/labs/lab5-lazy-purge.md) has students write `push`,
//! `due`, `purge` and `make_room`: the `LAB 5` regions.

use super::page::PAGE_SIZE;
use super::vmap_area::AreaAllocator;
use crate::lab::{Missing, Stub};
use alloc::vec::Vec;

/// Linux's `lazy_max_pages()`: 32 MiB worth of pages times
/// `fls(num_online_cpus())`, so 8,192 pages on Mosaic's one CPU.
pub fn lazy_max_pages(cpus: u32) -> u64 {
    let fls = u64::from(u32::BITS - cpus.leading_zeros());
    fls * (32 << 20) / PAGE_SIZE
}

/// One lazily freed range: where its mapping started and how many pages
/// were mapped (the guard page after them never was, so needs no flush).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lazy {
    pub start: u64,
    pub pages: u64,
}

/// What one purge did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Ranges given back to the area allocator.
    pub areas: u64,
    /// Pages they had mapped (what `lazy_nr` dropped by).
    pub pages: u64,
    /// The one flush: its first address and its length in pages (0: no
    /// flush, the list was empty).
    pub flush_start: u64,
    pub flush_pages: u64,
}

/// The purge list could not grow (the heap is out of memory); nothing
/// was changed. The caller frees eagerly instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRoom;

/// Linux's purge list (`purge_vmap_area_list`) and `vmap_lazy_nr`.
pub struct PurgeList {
    list: Vec<Lazy>,
    lazy_nr: u64,
    max_pages: u64,
}

impl PurgeList {
    pub const fn new(max_pages: u64) -> Self {
        PurgeList { list: Vec::new(), lazy_nr: 0, max_pages }
    }

    /// Makes room for one more range, so that `push` cannot fail: call it
    /// before changing anything, as the free cannot be undone after.
    pub fn reserve(&mut self) -> Result<(), NoRoom> {
        self.list.try_reserve(1).map_err(|_| NoRoom)
    }

    /// Records a lazily freed range (Linux's `free_vmap_area_noflush`);
    /// true if the lazy pages now pass `max_pages` and a purge is due.
    /// `reserve` must have been called since the last push.
    pub fn push(&mut self, start: u64, pages: u64) -> bool {
        assert!(self.list.len() < self.list.capacity(), "PurgeList::push without reserve");
        // LAB 5 BEGIN: record the range on the list, count its pages in lazy_nr, answer whether a purge is due
        self.list.push(Lazy { start, pages });
        self.lazy_nr += pages;
        self.due()
        // LAB 5 END
    }

    /// Whether the lazy pages passed the limit (Linux's test in
    /// `free_vmap_area_noflush`).
    pub fn due(&self) -> bool {
        // LAB 5 BEGIN: true once lazy_nr is past max_pages (at the limit exactly is not past it)
        self.lazy_nr > self.max_pages
        // LAB 5 END
    }

    /// Pages freed lazily and not purged yet (`vmap_lazy_nr`).
    pub fn lazy_nr(&self) -> u64 {
        self.lazy_nr
    }

    /// Ranges waiting for the purge.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn max_pages(&self) -> u64 {
        self.max_pages
    }

    /// Sets the limit; a purge may be due afterwards (see `due`).
    pub fn set_max_pages(&mut self, pages: u64) {
        self.max_pages = pages;
    }

    /// The ranges in the order they were freed.
    pub fn iter(&self) -> impl Iterator<Item = &Lazy> {
        self.list.iter()
    }

    /// Linux's `__purge_vmap_area_lazy`: one call of `flush` (first
    /// address, pages) over the span from the lowest range's start to the
    /// highest one's end, then every range goes back to `areas`. The
    /// list's memory goes back to the heap too, so that an empty list
    /// holds none (the leak checks compare heap objects).
    pub fn purge<T>(&mut self, areas: &mut dyn AreaAllocator<T>, flush: &mut dyn FnMut(u64, u64)) -> Purged {
        // LAB 5 BEGIN: span = lowest start to highest end of the list; ONE flush over it; areas.remove each range; reset
        let Some(low) = self.list.iter().map(|l| l.start).min() else { return Purged::default() };
        let high = self.list.iter().map(|l| l.start + l.pages * PAGE_SIZE).max().expect("not empty");
        let flush_pages = (high - low) / PAGE_SIZE;
        if flush_pages > 0 {
            flush(low, flush_pages);
        }
        for l in &self.list {
            // The range stayed busy since its free: only this purge takes it out.
            areas.remove(l.start).expect("a lazily freed range is busy until its purge");
        }
        let done = Purged { areas: self.list.len() as u64, pages: self.lazy_nr, flush_start: low, flush_pages };
        self.list = Vec::new();
        self.lazy_nr = 0;
        done
        // LAB 5 END
    }

    /// Linux's retry in `alloc_vmap_area`: if `areas` has no room for
    /// `size` bytes at `align` but lazily freed ranges wait, purge them so
    /// the allocation can be tried (once) on the freed space. None if no
    /// purge was needed or possible.
    pub fn make_room<T>(
        &mut self,
        areas: &mut dyn AreaAllocator<T>,
        size: u64,
        align: u64,
        flush: &mut dyn FnMut(u64, u64),
    ) -> Option<Purged> {
        // LAB 5 BEGIN: None if nothing waits or the request fits already (fits); else purge and say what it did
        if self.is_empty() || fits(areas, size, align) {
            return None;
        }
        Some(self.purge(areas, flush))
        // LAB 5 END
    }
}

/// A skeleton's stubbed `purge` purged nothing (lab.rs: a stub evaluates
/// to the failure its caller handles).
impl Stub for Purged {
    fn missing(_: Missing) -> Self {
        Purged::default()
    }
}

/// True if `areas` has a free range that holds `size` bytes at a multiple
/// of `align` (or the request is one no allocator takes: `alloc` reports
/// that itself). Decided from the largest free range when it can be; the
/// free ranges are walked only when the alignment leaves it open.
pub fn fits<T>(areas: &dyn AreaAllocator<T>, size: u64, align: u64) -> bool {
    if size == 0 || !align.is_power_of_two() {
        return true;
    }
    let align = align.max(PAGE_SIZE);
    let largest = areas.largest_free();
    if largest < size {
        return false;
    }
    if largest >= size.saturating_add(align - PAGE_SIZE) {
        return true;
    }
    let mut found = false;
    areas.for_each_free(&mut |r| {
        let start = r.start.checked_add(align - 1).map(|s| s & !(align - 1));
        found |= start.and_then(|s| s.checked_add(size)).is_some_and(|end| end <= r.end);
    });
    found
}

#[cfg(test)]
mod tests;
