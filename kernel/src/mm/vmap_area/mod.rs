//! Address-range bookkeeping for the vmalloc area: which kernel virtual
//! ranges are handed out, which are free, and where the next one goes.
//!
//! `vmalloc` needs two things: a range of virtual addresses, and physical
//! pages mapped into it. This module is the first half only. It owns a fixed
//! span of addresses (the kernel's is the 32 TiB from `0xffff_c900_0000_0000`
//! to `0xffff_e900_0000_0000`), hands out pieces of it, and remembers each
//! busy piece with a payload chosen by the caller (the kernel keeps its
//! `VmStruct` there). It never touches page tables or memory, so it is
//! unit-tested on the host.
//!
//! Both implementations follow one policy: a request goes to the *lowest*
//! address where it fits. They differ in how they find that address.
//!
//! # `ListAllocator`: Linux 2.4 (Gorman, sections 7.1-7.3)
//!
//! Linux 2.4 describes each busy area with a `struct vm_struct` and chains
//! them, in address order, on one list, `vmlist`. To reserve a range,
//! `get_vm_area` walks the list from the bottom of the vmalloc area, looking
//! at the hole in front of each area, and stops at the first hole big enough
//! (first fit). Free space is never written down anywhere: it is simply
//! whatever lies between busy areas. Freeing walks the list as well. Every
//! operation is O(n) in the number of busy areas, which was fine when only
//! modules and swap maps were vmalloc'd. A sorted `Vec` stands in for the
//! linked list here.
//!
//! # `TreeAllocator`: Linux since 5.2 (mm/vmalloc.c)
//!
//! Today every kernel thread stack lives in the vmalloc area, so there can be
//! tens of thousands of areas and a linear walk is too slow. Since 2019 Linux
//! keeps two trees of `struct vmap_area`, both sorted by address: the busy
//! areas (`vmap_area_root`) and the *free blocks* (`free_vmap_area_root`).
//! Every node of the free tree also stores `subtree_max_size`, the size of
//! the largest free block in the subtree below it. With that one number,
//! `find_vmap_lowest_match` can tell, before descending, whether a subtree
//! holds any block large enough, and so walks straight down to the
//! lowest-addressed block that fits, in O(log n). A freed area is merged with
//! the free blocks on either side (`merge_or_add_vmap_area`), so two free
//! blocks never touch.
//!
//! Here `FreeTree` is the free tree, written out in full: an AVL tree
//! (Linux uses a red-black tree; both keep the height O(log n), and AVL is
//! shorter to write) whose nodes live in a `Vec` and point to each other by
//! index, each to its children and to its parent (as Linux's `rb_node`
//! does): a node found once can be shrunk or removed without a second
//! search, and every change is one descent plus a short climb back up.
//! The tree also keeps its lowest block at hand (as Linux's
//! `rb_root_cached` does): allocation goes to the lowest address that
//! fits, so the lowest block is where most requests are settled, and
//! there neither a fit nor a freed range needs a descent.
//! Unlike a `BTreeMap`, whose nodes come from the heap in the middle of an
//! insert (and a failed heap allocation panics the kernel), the arena can
//! be grown before anything changes, so running out of memory is an error.
//!
//! The busy areas are where Mosaic departs from Linux. The calls that free
//! an area (`vfree`, `vunmap`, `iounmap`) name its start, so a hash table
//! keyed by start address finds it in O(1), where a second tree costs a
//! descent for every lookup and every insertion, and a rebalancing climb
//! for every removal. (Linux 6.9 went part of the way: it spreads its busy
//! areas over several "vmap nodes", picked by hashing the address.) What a
//! hash cannot do is find the area around an address *inside* it, which
//! fault reports and error messages ask for; the free tree answers that
//! instead, since between two free blocks the busy areas follow each other
//! without a gap (see `slot_inside`).
//!
//! | operation                       | list   | tree                                     |
//! |---------------------------------|--------|------------------------------------------|
//! | `alloc`                         | O(n)   | O(log n)                                 |
//! | `remove`, `find` at a start     | O(n)   | O(log n): the free blocks; O(1) the hash |
//! | `find` inside an area           | O(n)   | O(log n + k), k areas packed before it   |
//! | `largest_free`                  | O(n)   | O(1)                                     |
//!
//! # Alignment
//!
//! Addresses and sizes are always whole pages. When a caller asks for a
//! larger alignment, both allocators still return the lowest aligned fit, so
//! they always agree. For the tree this costs O(log n + k), where k counts
//! the free blocks that are big enough but cannot hold an *aligned* range.
//! Linux avoids that extra term by searching for a block of at least
//! `size + align - 1` bytes, which can always hold an aligned range, at the
//! price of sometimes choosing a higher block than necessary, or failing when
//! only a tight fit exists.
//!
//! # Guard pages
//!
//! Linux 2.4 makes every area one page longer than requested and leaves that
//! page unmapped, so that running off the end of a buffer faults instead of
//! silently overwriting the next area. This module does not add the page
//! itself: a caller that wants a guard page asks for one more page.
//!
//! # The data structures
//!
//! ```text
//!  span.start                                                    span.end
//!  |[ A ][ B ]........[ C ]...............[ D ][ E ]..................|
//!             hole 1        hole 2                     hole 3
//!
//!  ListAllocator (list.rs): the busy areas only, sorted; holes implicit
//!
//!    areas: [A] -> [B] -> [C] -> [D] -> [E]        (Linux 2.4: vmlist)
//!
//!  TreeAllocator (tree.rs): the holes written down, in a tree by address
//!  (free_tree.rs, balanced by avl.rs); each node knows the largest hole
//!  in its subtree
//!
//!                  +------------------+
//!                  | hole 2           |    free_vmap_area_root
//!                  | subtree_max_size |
//!                  +------------------+
//!                    /              \
//!         +------------------+  +------------------+
//!  first->| hole 1           |  | hole 3           |
//!         +------------------+  +------------------+
//!
//!  and the busy areas in slots, found by start address through a hash
//!  (start_index.rs; Linux: a second tree, vmap_area_root)
//!
//!    index: A.start -> 0, B.start -> 3, C.start -> 1, ...
//!    areas: [A][C][ ][B][D][E]     (an empty slot waits on `spare`)
//! ```
//!
//! # Files
//!
//! - `list.rs`: `ListAllocator`, Linux 2.4's `vmlist` (lab 2: `first_fit`).
//! - `free_tree.rs`: `FreeTree`, the free blocks, and the search for the
//!   lowest fit (lab 4: `find_fit`, `lowest_fit`); carving a range out of a
//!   block and giving one back.
//! - `avl.rs`: what keeps the free tree balanced and its `subtree_max_size`
//!   right: rotations, and adding and taking out a node.
//! - `tree.rs`: `TreeAllocator`, the free tree plus the busy areas.
//! - `start_index.rs`: the hash of busy areas by start address.
//! - `resize.rs`: growing and shrinking a busy area in place, for both
//!   (`try_extend`, `shrink`: what `vrealloc` asks of them).
//! - `check.rs`: `CheckAllocator`, the oracle of boot option
//!   `vmalloc=check`: both allocators answer every request, and the first
//!   disagreement stops the kernel with a report.
//! - `tests.rs`: both allocators, side by side with a model;
//!   `resize_tests.rs` and `check_tests.rs`: the two above.
//!
//! This file holds what they share: `Area`, `AreaError`, the
//! `AreaAllocator` trait, and the helpers both allocators use.

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

mod avl;
pub mod check;
mod free_tree;
mod list;
mod resize;
pub mod start_index;
mod tree;

pub use check::{CheckAllocator, Disagreement};
pub use list::ListAllocator;
pub use tree::TreeAllocator;

/// Areas are whole pages: `mm::page::PAGE_SIZE`, the one definition.
pub use super::page::PAGE_SIZE;

/// A busy range and what it holds.
///
/// `find_mut` hands out `&mut Area`: change `data` only. Moving or resizing
/// an area behind the allocator's back breaks its bookkeeping (`check`
/// reports it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Area<T> {
    pub start: u64,
    pub size: u64,
    pub data: T,
}

impl<T> Area<T> {
    /// One past the last byte. Cannot overflow for an area the allocator
    /// handed out: it lies inside the span.
    pub fn end(&self) -> u64 {
        self.start + self.size
    }

    /// Whether `addr` lies inside the area (written so it cannot overflow).
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.start && addr - self.start < self.size
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaError {
    /// size is 0 or not a multiple of PAGE_SIZE
    BadSize,
    /// align is not a power of two >= PAGE_SIZE
    BadAlign,
    /// no free range is large enough
    NoSpace,
    /// no busy area starts at the address given
    NotAnArea,
    /// the heap could not grow the bookkeeping (nothing was changed)
    NoMemory,
}

impl fmt::Display for AreaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AreaError::BadSize => "size is zero or not a whole number of pages",
            AreaError::BadAlign => "alignment is not a power of two of at least a page",
            AreaError::NoSpace => "no free range is large enough",
            AreaError::NotAnArea => "no busy area starts there",
            AreaError::NoMemory => "no memory for the bookkeeping",
        })
    }
}

/// Which area allocator serves the vmalloc area (boot option `vmalloc=`,
/// read by cmdline.rs; `vmalloc::init` makes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Areas {
    /// Linux 2.4's sorted list (`vmalloc=list`, lab 2).
    List,
    /// The augmented free tree (the default).
    Tree,
    /// Both, compared on every request (`vmalloc=check`, check.rs).
    Check,
}

/// What both allocators offer, so that callers and tests can swap them.
pub trait AreaAllocator<T> {
    /// "list" or "tree".
    fn name(&self) -> &'static str;
    /// Reserves a free range of `size` bytes starting at a multiple of
    /// `align` and records `data` for it; returns its start. Policy: lowest
    /// address first.
    fn alloc(&mut self, size: u64, align: u64, data: T) -> Result<u64, AreaError>;
    /// The busy area containing `addr` (start <= addr < start + size).
    fn find(&self, addr: u64) -> Option<&Area<T>>;
    /// Like `find`, to update the area's `data`.
    fn find_mut(&mut self, addr: u64) -> Option<&mut Area<T>>;
    /// Removes and returns the busy area that starts exactly at `start`;
    /// None (and no change) otherwise.
    fn remove(&mut self, start: u64) -> Option<Area<T>>;
    /// Calls `f` on every busy area in address order.
    fn for_each(&self, f: &mut dyn FnMut(&Area<T>));
    /// Calls `f` on every maximal free range in address order.
    fn for_each_free(&self, f: &mut dyn FnMut(Range<u64>));
    fn busy_count(&self) -> usize;
    fn busy_bytes(&self) -> u64;
    /// Size of the largest free range (Linux's VmallocChunk).
    fn largest_free(&self) -> u64;
    /// The span managed.
    fn span(&self) -> Range<u64>;
    /// Verifies the allocator's invariants; the error says which one broke.
    fn check(&self) -> Result<(), &'static str>;
    /// Grows the busy area that starts at `start` to `new_size` bytes by
    /// taking the free range right after it, if all of that is free; false,
    /// and nothing changed, otherwise (also for a `new_size` that is not a
    /// whole number of pages or not larger). Linux's `vrealloc` (6.12+)
    /// grows in place only inside pages it already has; this is the step
    /// past it (resize.rs).
    fn try_extend(&mut self, start: u64, new_size: u64) -> bool;
    /// Shrinks the busy area that starts at `start` to `new_size` bytes
    /// (non-zero, whole pages, smaller) and gives the tail back to the free
    /// space. On an error nothing changed.
    fn shrink(&mut self, start: u64, new_size: u64) -> Result<(), AreaError>;
}

/// Every maximal free range of `a`, in address order (for tests, and for
/// the fuzz target that compares the two allocators).
pub fn free_ranges<T>(a: &dyn AreaAllocator<T>) -> Vec<Range<u64>> {
    let mut v = Vec::new();
    a.for_each_free(&mut |r| v.push(r));
    v
}

/// Copies of every busy area of `a`, in address order (see `free_ranges`).
pub fn busy_areas<T: Clone>(a: &dyn AreaAllocator<T>) -> Vec<Area<T>> {
    let mut v = Vec::new();
    a.for_each(&mut |area| v.push(area.clone()));
    v
}

// ---------------------------------------------------------------------------
// Helpers shared by both allocators
// ---------------------------------------------------------------------------

/// Rejects requests no allocator could ever satisfy.
fn validate(size: u64, align: u64) -> Result<(), AreaError> {
    if size == 0 || !size.is_multiple_of(PAGE_SIZE) {
        return Err(AreaError::BadSize);
    }
    if !align.is_power_of_two() || align < PAGE_SIZE {
        return Err(AreaError::BadAlign);
    }
    Ok(())
}

/// Rounds `addr` up to a multiple of `align` (a power of two); None if that
/// would pass the top of the address space.
fn align_up(addr: u64, align: u64) -> Option<u64> {
    Some(addr.checked_add(align - 1)? & !(align - 1))
}

/// Where a range of `size` bytes aligned to `align` would start inside the
/// free range `hole`, if it fits there at all.
fn fit_in(hole: Range<u64>, size: u64, align: u64) -> Option<u64> {
    let start = align_up(hole.start, align)?;
    let end = start.checked_add(size)?;
    (end <= hole.end).then_some(start)
}

/// Puts `item` in the slot of `slots` that `spare` last got back, or in a
/// new one at the end; returns its index. (Both arenas of the tree reuse
/// their slots this way, so that an index stays valid while it is in use.)
fn place<T>(slots: &mut Vec<T>, spare: &mut Vec<usize>, item: T) -> usize {
    match spare.pop() {
        Some(n) => {
            slots[n] = item;
            n
        }
        None => {
            slots.push(item);
            slots.len() - 1
        }
    }
}

/// Panics unless `span` is a valid span: page-aligned, start <= end.
fn assert_span(span: &Range<u64>) {
    assert!(
        span.start.is_multiple_of(PAGE_SIZE) && span.end.is_multiple_of(PAGE_SIZE),
        "vmap_area: span bounds must be page-aligned"
    );
    assert!(span.start <= span.end, "vmap_area: span ends before it starts");
}

/// Calls `f` on each hole between the busy `areas` (in address order) inside
/// `span`. The holes are maximal: two of them never touch.
fn for_each_gap<'a, T: 'a>(span: &Range<u64>, areas: impl Iterator<Item = &'a Area<T>>, f: &mut dyn FnMut(Range<u64>)) {
    let mut cursor = span.start;
    for area in areas {
        if cursor < area.start {
            f(cursor..area.start);
        }
        cursor = area.end();
    }
    if cursor < span.end {
        f(cursor..span.end);
    }
}

/// Checks that `areas` are page-aligned, non-empty, sorted, disjoint, inside
/// `span`, and add up to `busy_bytes`. Uses checked arithmetic throughout:
/// it must report a corrupted area, not overflow on it.
fn check_busy<'a, T: 'a>(
    span: &Range<u64>,
    areas: impl Iterator<Item = &'a Area<T>>,
    busy_bytes: u64,
) -> Result<(), &'static str> {
    let mut cursor = span.start;
    let mut total: u64 = 0;
    for area in areas {
        if area.size == 0 || !area.size.is_multiple_of(PAGE_SIZE) {
            return Err("busy area has a bad size");
        }
        if !area.start.is_multiple_of(PAGE_SIZE) {
            return Err("busy area is not page-aligned");
        }
        if area.start < cursor {
            return Err("busy areas overlap, are unsorted, or start below the span");
        }
        cursor = area.start.checked_add(area.size).ok_or("busy area wraps around")?;
        if cursor > span.end {
            return Err("busy area ends past the span");
        }
        total = total.checked_add(area.size).ok_or("busy bytes overflow")?;
    }
    if total != busy_bytes {
        return Err("busy_bytes does not match the busy areas");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The free tree's 32-bit links (free_tree.rs, avl.rs; start_index.rs's NIL)
// ---------------------------------------------------------------------------

/// A link to a node of the free tree: its index in the arena, or None.
type Link = Option<usize>;

/// How a node stores a link: an arena index, or `NIL`. Four bytes instead
/// of `Option<usize>`'s sixteen keep a node at 40 bytes, so more of the
/// tree shares each cache line and page.
///
/// Tuning, not in the books: see docs/benchmarks.md.
type Raw = u32;
/// The empty link: `mm::page::NIL`, the sentinel `mem_map`'s lists use too.
use super::page::NIL;

#[inline]
fn link(raw: Raw) -> Link {
    (raw != NIL).then_some(raw as usize)
}

#[inline]
fn raw(link: Link) -> Raw {
    link.map_or(NIL, |n| n as Raw)
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
// `[a..b]` in the tests is meant: a list holding one range.
#[allow(clippy::single_range_in_vec_init)]
mod tests;

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod resize_tests;

#[cfg(test)]
mod check_tests;
