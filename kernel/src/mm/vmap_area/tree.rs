//! `TreeAllocator`: the vmalloc area's ranges as Linux has handed them out
//! since 5.2 (mm/vmalloc.c): `alloc_vmap_area` finds the lowest free block
//! that fits in the free tree (free_tree.rs) and carves the range out of
//! it; `free_vmap_area` gives it back, merged with its neighbours. The busy
//! areas live in slots found through a hash by start address
//! (start_index.rs), where Linux keeps a second tree, `vmap_area_root`.
//!
//! Gorman's book (sections 7.2 and 7.3, `get_vm_area` and `vfree`)
//! describes the same calls on Linux 2.4's list (list.rs).

use alloc::vec::Vec;
use core::cell::Cell;
use core::ops::Range;

use super::free_tree::FreeTree;
use super::start_index::StartIndex;
use super::{assert_span, check_busy, for_each_gap, place, validate, Area, AreaAllocator, AreaError};

/// Free blocks in an augmented AVL tree, where the lowest fit is found in
/// O(log n); busy areas in a hash table keyed by their start address.
#[derive(Debug)]
pub struct TreeAllocator<T> {
    span: Range<u64>,
    /// Free blocks (Linux: `free_vmap_area_root`).
    pub(super) free: FreeTree,
    /// The busy areas, each at a slot that stays put while it lives.
    pub(super) areas: Vec<Option<Area<T>>>,
    /// Empty slots of `areas`, reused first.
    pub(super) spare: Vec<usize>,
    /// The slot of each busy area, by start address. Linux keeps its busy
    /// areas in a second red-black tree (`vmap_area_root`); see
    /// `slot_inside` for what the hash costs instead.
    pub(super) index: StartIndex,
    pub(super) busy_bytes: u64,
    /// The busy slot last made or found. `vmalloc` reserves an area and
    /// then stores its pages in it; `vfree` finds an area, checks it, and
    /// removes it: each time the second call is for the area the first one
    /// reached, and this saves it a lookup. Checked before use, so a stale
    /// value only costs the lookup.
    ///
    /// Tuning, not in the books: see docs/benchmarks.md.
    last: Cell<usize>,
}

impl<T> TreeAllocator<T> {
    /// An allocator for `span`, all free: one free block covering it. Panics
    /// if `span` is not page-aligned or ends before it starts.
    pub fn new(span: Range<u64>) -> Self {
        assert_span(&span);
        let mut free = FreeTree::default();
        if !span.is_empty() {
            free.insert(span.clone());
        }
        TreeAllocator {
            span,
            free,
            areas: Vec::new(),
            spare: Vec::new(),
            index: StartIndex::default(),
            busy_bytes: 0,
            last: Cell::new(usize::MAX),
        }
    }

    /// Grows the bookkeeping, before `alloc` changes anything, so that this
    /// allocation and every later `remove` can be done without the heap:
    /// room for one more busy area, and for as many free blocks as there
    /// can then be (one more than the busy areas: the holes between them).
    fn reserve(&mut self) -> Result<(), AreaError> {
        self.index.try_reserve(1).map_err(|_| AreaError::NoMemory)?;
        // The area takes a spare slot or a new one; later every slot may be
        // on the spare list at once.
        let slots = self.areas.len() + usize::from(self.spare.is_empty());
        if self.areas.capacity() < slots {
            self.areas.try_reserve(slots - self.areas.len()).map_err(|_| AreaError::NoMemory)?;
        }
        if self.spare.capacity() < slots {
            self.spare.try_reserve(slots - self.spare.len()).map_err(|_| AreaError::NoMemory)?;
        }
        self.free.reserve(self.index.len() + 2)
    }

    /// The busy area at `slot`, if the slot holds one.
    fn area(&self, slot: usize) -> Option<&Area<T>> {
        self.areas.get(slot).and_then(Option::as_ref)
    }

    /// The slot of the busy area containing `addr`: the last one reached,
    /// or the one starting there, or else the slow way (`slot_inside`).
    fn slot_of(&self, addr: u64) -> Option<usize> {
        let last = self.last.get();
        if self.area(last).is_some_and(|a| a.contains(addr)) {
            return Some(last);
        }
        let n = match self.index.get(addr) {
            Some(n) => n,
            None => self.slot_inside(addr)?,
        };
        self.last.set(n);
        Some(n)
    }

    /// The slot of the busy area that contains `addr` somewhere after its
    /// start. The free blocks say where to look: between two of them the
    /// busy areas follow each other without a gap (a gap would be a free
    /// block), so the walk starts at the end of the free block below
    /// `addr` and steps from each area to the one starting at its end.
    ///
    /// This is the price of the hash: O(k) for the k areas packed in front
    /// of `addr` (up to all of them), where Linux's busy tree answers in
    /// O(log n). Only error paths and fault reports ask for an address
    /// inside an area; `vfree`, `vunmap` and `iounmap` name its start.
    fn slot_inside(&self, addr: u64) -> Option<usize> {
        if !self.span.contains(&addr) {
            return None;
        }
        let at = match self.free.floor(addr) {
            Some(b) if self.free.range(b).contains(&addr) => return None,
            Some(b) => self.free.nodes[b].end(),
            None => self.span.start,
        };
        self.run_from(at).take_while(|(_, a)| a.start <= addr).find(|(_, a)| a.contains(addr)).map(|(n, _)| n)
    }

    /// The busy areas that follow each other from `at` on, each starting
    /// where the one before it ends, with their slots: as far as that
    /// chain goes (to the next free block, or the end of the span).
    fn run_from(&self, at: u64) -> impl Iterator<Item = (usize, &Area<T>)> + '_ {
        let slot = move |start: u64| self.index.get(start).and_then(|n| Some((n, self.area(n)?)));
        core::iter::successors(slot(at), move |(_, a)| slot(a.start.checked_add(a.size)?))
    }

    /// Calls `f` on the slot of every busy area in address order: the runs
    /// of areas that fill the gaps between free blocks. A run that breaks
    /// off (only a corrupted allocator has one) is left there; `check`
    /// counts the slots reached.
    fn for_each_slot(&self, f: &mut dyn FnMut(usize)) {
        let mut visit =
            |from: u64, to: u64| self.run_from(from).take_while(|(_, a)| a.start < to).for_each(|(n, _)| f(n));
        let mut at = self.span.start;
        self.free.for_each(self.free.root, &mut |block| {
            visit(at, block.start);
            at = block.end;
        });
        visit(at, self.span.end);
    }

    /// Number of free blocks (the nodes of the free tree).
    pub fn free_block_count(&self) -> usize {
        self.free.len()
    }

    /// Height of the free tree (0 when empty): for students to see the
    /// O(log n) bound.
    pub fn free_tree_height(&self) -> u8 {
        self.free.height(self.free.root)
    }
}

impl<T> AreaAllocator<T> for TreeAllocator<T> {
    fn name(&self) -> &'static str {
        "tree"
    }

    fn alloc(&mut self, size: u64, align: u64, data: T) -> Result<u64, AreaError> {
        validate(size, align)?;
        let (block, start) = self.free.find_fit(size, align).ok_or(AreaError::NoSpace)?;
        self.reserve()?;
        // `fit_in` checked that start + size stays inside the block.
        self.free.carve(block, start..start + size);
        let n = place(&mut self.areas, &mut self.spare, Some(Area { start, size, data }));
        self.index.insert(start, n);
        self.last.set(n);
        self.busy_bytes += size;
        Ok(start)
    }

    fn find(&self, addr: u64) -> Option<&Area<T>> {
        self.area(self.slot_of(addr)?)
    }

    fn find_mut(&mut self, addr: u64) -> Option<&mut Area<T>> {
        let n = self.slot_of(addr)?;
        self.areas[n].as_mut()
    }

    fn remove(&mut self, start: u64) -> Option<Area<T>> {
        let n = self.index.remove(start)?;
        let area = self.areas[n].take().expect("an indexed slot holds its area");
        self.spare.push(n);
        self.busy_bytes -= area.size;
        self.free.give_back(area.start..area.end());
        Some(area)
    }

    fn for_each(&self, f: &mut dyn FnMut(&Area<T>)) {
        self.for_each_slot(&mut |n| f(self.area(n).expect("for_each_slot reaches live slots only")));
    }

    fn for_each_free(&self, f: &mut dyn FnMut(Range<u64>)) {
        self.free.for_each(self.free.root, f);
    }

    fn busy_count(&self) -> usize {
        self.index.len()
    }

    fn busy_bytes(&self) -> u64 {
        self.busy_bytes
    }

    fn largest_free(&self) -> u64 {
        self.free.largest()
    }

    fn span(&self) -> Range<u64> {
        self.span.clone()
    }

    fn try_extend(&mut self, start: u64, new_size: u64) -> bool {
        self.extend_in_place(start, new_size)
    }

    fn shrink(&mut self, start: u64, new_size: u64) -> Result<(), AreaError> {
        self.shrink_in_place(start, new_size)
    }

    /// Beyond the busy areas' own invariants: the hash indexes every busy
    /// area under its start and nothing else; walking the runs between
    /// free blocks reaches every busy area; the free tree is a valid
    /// augmented AVL tree, and its blocks are exactly the holes between the
    /// busy areas (which makes them disjoint, non-empty and non-adjacent).
    fn check(&self) -> Result<(), &'static str> {
        let live = self.areas.iter().flatten().count();
        if live != self.index.len() || live + self.spare.len() != self.areas.len() {
            return Err("busy areas, their index and the spare slots do not add up");
        }
        if self.areas.iter().enumerate().any(|(n, a)| a.as_ref().is_some_and(|a| self.index.get(a.start) != Some(n))) {
            return Err("a busy area is not indexed under its start");
        }
        let mut slots = Vec::new();
        self.for_each_slot(&mut |n| slots.push(n));
        if slots.len() != live {
            return Err("the busy areas do not fill the gaps between free blocks");
        }
        let areas = || slots.iter().filter_map(|&n| self.area(n));
        check_busy(&self.span, areas(), self.busy_bytes)?;
        self.free.check()?;
        let mut holes = Vec::new();
        for_each_gap(&self.span, areas(), &mut |hole| holes.push(hole));
        let mut blocks = Vec::new();
        self.for_each_free(&mut |block| blocks.push(block));
        if holes != blocks {
            return Err("free blocks are not exactly the holes between busy areas");
        }
        Ok(())
    }
}
