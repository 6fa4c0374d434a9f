//! `ListAllocator`: Linux 2.4's `vmlist`, the busy areas in one list in
//! address order, searched first fit from the bottom of the span (Gorman,
//! sections 7.1-7.3; Linux 2.4's `get_vm_area` and `vfree`, mm/vmalloc.c).
//! Free space is not written down: it is the holes between busy areas.
//!
//! Lab 2 fills in `first_fit`.

use alloc::vec::Vec;
use core::ops::Range;

use super::{assert_span, check_busy, fit_in, for_each_gap, validate, Area, AreaAllocator, AreaError};

/// Busy areas in one address-ordered list, searched first-fit from the
/// bottom of the span. All operations are O(n).
#[derive(Debug)]
pub struct ListAllocator<T> {
    pub(super) span: Range<u64>,
    /// The busy areas sorted by start: `vmlist`.
    pub(super) areas: Vec<Area<T>>,
    pub(super) busy_bytes: u64,
}

impl<T> ListAllocator<T> {
    /// An allocator for `span`, all free. Panics if `span` is not
    /// page-aligned or ends before it starts.
    pub fn new(span: Range<u64>) -> Self {
        assert_span(&span);
        ListAllocator { span, areas: Vec::new(), busy_bytes: 0 }
    }

    /// First fit: the index in `areas` where the new area goes and its start.
    /// Like `get_vm_area`, look at the hole in front of each area in turn,
    /// then at the hole after the last one.
    fn first_fit(&self, size: u64, align: u64) -> Option<(usize, u64)> {
        // LAB 2 BEGIN: try the hole before each area in turn, then the one after the last (fit_in)
        let mut hole_start = self.span.start;
        for (i, area) in self.areas.iter().enumerate() {
            if let Some(start) = fit_in(hole_start..area.start, size, align) {
                return Some((i, start));
            }
            hole_start = area.end();
        }
        let start = fit_in(hole_start..self.span.end, size, align)?;
        Some((self.areas.len(), start))
        // LAB 2 END
    }
}

impl<T> AreaAllocator<T> for ListAllocator<T> {
    fn name(&self) -> &'static str {
        "list"
    }

    fn alloc(&mut self, size: u64, align: u64, data: T) -> Result<u64, AreaError> {
        validate(size, align)?;
        let (index, start) = self.first_fit(size, align).ok_or(AreaError::NoSpace)?;
        // The kernel heap can run out: fail here, not in `insert`.
        self.areas.try_reserve(1).map_err(|_| AreaError::NoMemory)?;
        self.areas.insert(index, Area { start, size, data });
        self.busy_bytes += size;
        Ok(start)
    }

    fn find(&self, addr: u64) -> Option<&Area<T>> {
        self.areas.iter().find(|a| a.contains(addr))
    }

    fn find_mut(&mut self, addr: u64) -> Option<&mut Area<T>> {
        self.areas.iter_mut().find(|a| a.contains(addr))
    }

    fn remove(&mut self, start: u64) -> Option<Area<T>> {
        let index = self.areas.iter().position(|a| a.start == start)?;
        let area = self.areas.remove(index);
        self.busy_bytes -= area.size;
        Some(area)
    }

    fn for_each(&self, f: &mut dyn FnMut(&Area<T>)) {
        self.areas.iter().for_each(f);
    }

    fn for_each_free(&self, f: &mut dyn FnMut(Range<u64>)) {
        for_each_gap(&self.span, self.areas.iter(), f);
    }

    fn busy_count(&self) -> usize {
        self.areas.len()
    }

    fn busy_bytes(&self) -> u64 {
        self.busy_bytes
    }

    fn largest_free(&self) -> u64 {
        let mut largest = 0;
        self.for_each_free(&mut |hole| largest = largest.max(hole.end - hole.start));
        largest
    }

    fn span(&self) -> Range<u64> {
        self.span.clone()
    }

    fn check(&self) -> Result<(), &'static str> {
        check_busy(&self.span, self.areas.iter(), self.busy_bytes)
    }

    fn try_extend(&mut self, start: u64, new_size: u64) -> bool {
        self.extend_in_place(start, new_size)
    }

    fn shrink(&mut self, start: u64, new_size: u64) -> Result<(), AreaError> {
        self.shrink_in_place(start, new_size)
    }
}
