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
//! # `ListAllocator`: Linux 2.4 (Gorman, ch. 8.1 and 8.2)
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

use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt;
use core::ops::Range;

pub mod start_index;

use start_index::StartIndex;

pub const PAGE_SIZE: u64 = 4096;

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
    /// the heap could not grow the bookkeeping (nothing was changed)
    NoMemory,
}

impl fmt::Display for AreaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AreaError::BadSize => "size is zero or not a whole number of pages",
            AreaError::BadAlign => "alignment is not a power of two of at least a page",
            AreaError::NoSpace => "no free range is large enough",
            AreaError::NoMemory => "no memory for the bookkeeping",
        })
    }
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
    assert!(
        span.start <= span.end,
        "vmap_area: span ends before it starts"
    );
}

/// Calls `f` on each hole between the busy `areas` (in address order) inside
/// `span`. The holes are maximal: two of them never touch.
fn for_each_gap<'a, T: 'a>(
    span: &Range<u64>,
    areas: impl Iterator<Item = &'a Area<T>>,
    f: &mut dyn FnMut(Range<u64>),
) {
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
        cursor = area
            .start
            .checked_add(area.size)
            .ok_or("busy area wraps around")?;
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
// The list: Linux 2.4's vmlist
// ---------------------------------------------------------------------------

/// Busy areas in one address-ordered list, searched first-fit from the
/// bottom of the span. All operations are O(n).
#[derive(Debug)]
pub struct ListAllocator<T> {
    span: Range<u64>,
    /// The busy areas sorted by start: `vmlist`.
    areas: Vec<Area<T>>,
    busy_bytes: u64,
}

impl<T> ListAllocator<T> {
    /// An allocator for `span`, all free. Panics if `span` is not
    /// page-aligned or ends before it starts.
    pub fn new(span: Range<u64>) -> Self {
        assert_span(&span);
        ListAllocator {
            span,
            areas: Vec::new(),
            busy_bytes: 0,
        }
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
}

// ---------------------------------------------------------------------------
// The tree: Linux's free_vmap_area_root
// ---------------------------------------------------------------------------

/// A link to a node of the free tree: its index in the arena, or None.
type Link = Option<usize>;

/// How a node stores a link: an arena index, or `NIL`. Four bytes instead
/// of `Option<usize>`'s sixteen keep a node at 40 bytes, so more of the
/// tree shares each cache line and page.
type Raw = u32;
const NIL: Raw = Raw::MAX;

#[inline]
fn link(raw: Raw) -> Link {
    (raw != NIL).then_some(raw as usize)
}

#[inline]
fn raw(link: Link) -> Raw {
    link.map_or(NIL, |n| n as Raw)
}

/// One free block, and the bookkeeping of the subtree it roots.
#[derive(Debug, Clone)]
struct FreeNode {
    start: u64,
    size: u64,
    /// The augmentation: the largest `size` anywhere in this subtree,
    /// this node included. Kept up to date by `update`, which every
    /// operation calls on each node whose subtree it changed.
    subtree_max_size: u64,
    left: Raw,
    right: Raw,
    /// The node above, or NIL at the root. With it a change made at a
    /// node (a block shrunk, a leaf added or taken out) is carried up to
    /// the root without searching for the node again: the walk up stops
    /// as soon as a node's summary comes out unchanged, as Linux's
    /// augmented red-black tree does.
    parent: Raw,
    /// Levels in this subtree (a leaf has 1). An AVL tree keeps the heights
    /// of a node's two subtrees within 1 of each other, which bounds the
    /// height by about 1.44 log2(n).
    height: u8,
}

impl FreeNode {
    fn end(&self) -> u64 {
        self.start + self.size
    }
}

/// The free blocks of the span, in an AVL tree keyed by start address and
/// augmented with `subtree_max_size`.
///
/// Nodes live in `nodes`; a removed node's slot goes on `spare` and is reused
/// by the next insertion, so the arena never holds more slots than the
/// largest number of free blocks seen at once. Indices stay valid while other
/// nodes come and go, which is what lets the allocator hold on to a node
/// it found (to shrink or remove it) without looking it up again.
///
/// Every operation is a loop: one descent to find where to act, then a
/// walk back up the parent links that rebalances and refreshes the
/// summaries, and usually stops a level or two above the change.
#[derive(Debug, Default)]
struct FreeTree {
    nodes: Vec<FreeNode>,
    spare: Vec<usize>,
    root: Link,
    /// The lowest block, kept as blocks come and go (Linux's
    /// `rb_root_cached` keeps its leftmost node the same way). Requests go
    /// to the lowest address that fits, so most of the action is at the
    /// bottom of the span: a fit or a freed range there is settled
    /// without a descent (`find_fit`, `neighbours`).
    first: Link,
}

impl FreeTree {
    // --- small accessors ------------------------------------------------

    #[inline]
    fn left(&self, n: usize) -> Link {
        link(self.nodes[n].left)
    }

    #[inline]
    fn right(&self, n: usize) -> Link {
        link(self.nodes[n].right)
    }

    #[inline]
    fn parent(&self, n: usize) -> Link {
        link(self.nodes[n].parent)
    }

    #[inline]
    fn height(&self, link: Link) -> u8 {
        link.map_or(0, |n| self.nodes[n].height)
    }

    #[inline]
    fn max_size(&self, link: Link) -> u64 {
        link.map_or(0, |n| self.nodes[n].subtree_max_size)
    }

    /// What a parent reads of a subtree: its height and `subtree_max_size`.
    #[inline]
    fn summary(&self, n: usize) -> (u8, u64) {
        (self.nodes[n].height, self.nodes[n].subtree_max_size)
    }

    /// Left height minus right height: AVL keeps it in -1..=1.
    fn balance(&self, n: usize) -> i32 {
        i32::from(self.height(self.left(n))) - i32::from(self.height(self.right(n)))
    }

    #[inline]
    fn range(&self, n: usize) -> Range<u64> {
        self.nodes[n].start..self.nodes[n].end()
    }

    /// Number of free blocks.
    fn len(&self) -> usize {
        self.nodes.len() - self.spare.len()
    }

    /// The largest free block: the root's `subtree_max_size`, in O(1).
    fn largest(&self) -> u64 {
        self.max_size(self.root)
    }

    // --- keeping the augmentation right ---------------------------------

    /// Recomputes `n`'s height and `subtree_max_size` from its children.
    /// Both children must already be correct, so every operation calls this
    /// bottom-up, on its way back towards the root.
    fn update(&mut self, n: usize) {
        let (left, right) = (self.left(n), self.right(n));
        let height = 1 + self.height(left).max(self.height(right));
        let max = self.nodes[n].size.max(self.max_size(left)).max(self.max_size(right));
        self.nodes[n].height = height;
        self.nodes[n].subtree_max_size = max;
    }

    /// Points `parent`'s link that led to `old` (or the root, when
    /// `parent` is NIL) at `new` instead.
    fn replace_child(&mut self, parent: Raw, old: usize, new: Raw) {
        match link(parent) {
            None => self.root = link(new),
            Some(p) if self.nodes[p].left == old as Raw => self.nodes[p].left = new,
            Some(p) => self.nodes[p].right = new,
        }
        if new != NIL {
            self.nodes[new as usize].parent = parent;
        }
    }

    /// Rotates `n` down to the right; returns the subtree's new root.
    ///
    /// ```text
    ///         n              l
    ///        / \            / \
    ///       l   c   ==>    a   n
    ///      / \                / \
    ///     a   b              b   c
    /// ```
    ///
    /// In-order (address) order is unchanged. Only `n` and `l` have new
    /// children, so only they need `update`, `n` first since it is now below.
    fn rotate_right(&mut self, n: usize) -> usize {
        let l = self.left(n).expect("rotate_right needs a left child");
        let b = self.nodes[l].right;
        self.replace_child(self.nodes[n].parent, n, l as Raw);
        self.nodes[n].left = b;
        if b != NIL {
            self.nodes[b as usize].parent = n as Raw;
        }
        self.nodes[l].right = n as Raw;
        self.nodes[n].parent = l as Raw;
        self.update(n);
        self.update(l);
        l
    }

    /// The mirror image of `rotate_right`.
    fn rotate_left(&mut self, n: usize) -> usize {
        let r = self.right(n).expect("rotate_left needs a right child");
        let b = self.nodes[r].left;
        self.replace_child(self.nodes[n].parent, n, r as Raw);
        self.nodes[n].right = b;
        if b != NIL {
            self.nodes[b as usize].parent = n as Raw;
        }
        self.nodes[r].left = n as Raw;
        self.nodes[n].parent = r as Raw;
        self.update(n);
        self.update(r);
        r
    }

    /// Updates `n` after one of its subtrees changed height by at most one,
    /// and rotates if `n` is now out of balance. Returns the subtree's root.
    fn rebalance(&mut self, n: usize) -> usize {
        self.update(n);
        let balance = self.balance(n);
        if balance > 1 {
            // Left-heavy. If the left child leans right, first turn it so it
            // leans left (the "left-right" case), then rotate `n` right.
            let l = self.left(n).expect("left-heavy node has a left child");
            if self.balance(l) < 0 {
                self.rotate_left(l);
            }
            return self.rotate_right(n);
        }
        if balance < -1 {
            let r = self.right(n).expect("right-heavy node has a right child");
            if self.balance(r) > 0 {
                self.rotate_right(r);
            }
            return self.rotate_left(n);
        }
        n
    }

    /// Walks up from `n` to the root, rebalancing and updating each node,
    /// and stops at the first whose summary (height, `subtree_max_size`)
    /// comes out as it was: its parent computed its own from exactly that,
    /// so nothing higher can change. This is Linux's
    /// `augment_tree_propagate_from` and the rebalancing of an insertion
    /// or removal in one walk.
    fn fix_upwards(&mut self, mut n: Link) {
        while let Some(node) = n {
            let before = self.summary(node);
            let top = self.rebalance(node);
            if self.summary(top) == before {
                return;
            }
            n = self.parent(top);
        }
    }

    // --- lookups ----------------------------------------------------------

    /// The block with the highest start at or below `addr`: the only one
    /// that can contain `addr`.
    fn floor(&self, addr: u64) -> Link {
        let (mut n, mut best) = (raw(self.root), NIL);
        while n != NIL {
            let node = &self.nodes[n as usize];
            if node.start <= addr {
                best = n;
                n = node.right;
            } else {
                n = node.left;
            }
        }
        link(best)
    }

    /// The block after `n` in address order: the lowest of its right
    /// subtree, or else the first ancestor reached from its left side.
    fn next(&self, n: usize) -> Link {
        if let Some(mut s) = self.right(n) {
            while let Some(l) = self.left(s) {
                s = l;
            }
            return Some(s);
        }
        let mut child = n;
        while let Some(p) = self.parent(child) {
            if self.left(p) == Some(child) {
                return Some(p);
            }
            child = p;
        }
        None
    }

    /// The blocks on either side of `addr`, found in one descent: the one
    /// with the highest start below `addr` and the one with the lowest start
    /// at or above it.
    fn neighbours(&self, addr: u64) -> (Link, Link) {
        match self.first {
            None => return (None, None),
            Some(f) if addr <= self.nodes[f].start => return (None, Some(f)),
            Some(_) => {}
        }
        let (mut n, mut below, mut above) = (raw(self.root), NIL, NIL);
        while n != NIL {
            let node = &self.nodes[n as usize];
            if node.start < addr {
                below = n;
                n = node.right;
            } else {
                above = n;
                n = node.left;
            }
        }
        (link(below), link(above))
    }

    /// The lowest-addressed block of the tree that can hold `size` bytes at
    /// a multiple of `align`, and where the range would start in it. The
    /// lowest block of all is known (`first`): if it fits, nothing lower
    /// can; only otherwise does the search go down from the root.
    fn find_fit(&self, size: u64, align: u64) -> Option<(usize, u64)> {
        // LAB 4 BEGIN: the lowest block (self.first) if fit_in says it fits, else lowest_fit from the root
        let first = self.first.and_then(|n| Some((n, fit_in(self.range(n), size, align)?)));
        first.or_else(|| self.lowest_fit(self.root, size, align))
        // LAB 4 END
    }

    /// The lowest-addressed block in the subtree `link` that can hold `size`
    /// bytes at a multiple of `align`: returns the block and where the range
    /// would start in it. Linux: `find_vmap_lowest_match`.
    ///
    /// This is where the augmentation pays off. A subtree whose
    /// `subtree_max_size` is below `size` holds no block big enough, whatever
    /// the alignment, so it is skipped in O(1) without looking inside. The
    /// rest is an in-order walk: left subtree (lower addresses) first, then
    /// the node itself, then the right subtree.
    ///
    /// With page alignment every block of at least `size` bytes fits, so the
    /// walk never backtracks: if the left subtree passes the size test the
    /// answer is in there; if not, it is this node or, failing that, the
    /// right subtree, which must then pass the test. One path from the root
    /// down: O(log n). With a larger alignment a block can be big enough yet
    /// hold no aligned range; each such block costs one extra detour, back
    /// up the parent links to the next node in address order.
    ///
    /// Written as a loop, as Linux does: a recursive version is half as
    /// long, but under emulation each level's call and return cost more
    /// than the level's own work.
    fn lowest_fit(&self, link: Link, size: u64, align: u64) -> Option<(usize, u64)> {
        // LAB 4 BEGIN: skip a subtree whose subtree_max_size < size; else left subtree, this node, right
        let fits = |l: Link| self.max_size(l) >= size;
        let top = link.filter(|&n| fits(Some(n)))?;
        let mut n = top;
        loop {
            // Down and to the left, as far as a subtree can hold the block.
            while let Some(l) = self.left(n).filter(|&l| fits(Some(l))) {
                n = l;
            }
            // Nothing on the left of `n` fits: `n` itself, else its right.
            loop {
                if let Some(start) = fit_in(self.range(n), size, align) {
                    return Some((n, start));
                }
                if let Some(r) = self.right(n).filter(|&r| fits(Some(r))) {
                    n = r;
                    break;
                }
                // Up until we leave a left subtree: its parent comes next.
                loop {
                    if n == top {
                        return None;
                    }
                    let child = n;
                    n = self.parent(n).expect("below `top` every node has a parent");
                    if self.left(n) == Some(child) {
                        break;
                    }
                }
            }
        }
        // LAB 4 END
    }

    // --- insertion and removal --------------------------------------------

    /// Makes room for `nodes` nodes in the arena and on the spare list, so
    /// that inserting and removing, as long as no more blocks than that
    /// exist at once, never needs the heap. The kernel heap can fail; the
    /// tree cannot fail half-way through a change.
    fn reserve(&mut self, nodes: usize) -> Result<(), AreaError> {
        if nodes >= NIL as usize {
            return Err(AreaError::NoMemory);
        }
        // `try_reserve` is not inlined: skip the call when there is room.
        if self.nodes.capacity() < nodes {
            self.nodes.try_reserve(nodes - self.nodes.len()).map_err(|_| AreaError::NoMemory)?;
        }
        if self.spare.capacity() < nodes {
            self.spare.try_reserve(nodes - self.spare.len()).map_err(|_| AreaError::NoMemory)?;
        }
        Ok(())
    }

    /// Adds the free block `block` as a new leaf below `parent` (on its
    /// left if `left`), or as the root when `parent` is None, and
    /// rebalances. The caller has found that spot empty and right for
    /// the block's address. Returns the new node's slot.
    fn attach(&mut self, block: Range<u64>, parent: Link, left: bool) -> usize {
        let size = block.end - block.start;
        let node = FreeNode {
            start: block.start,
            size,
            subtree_max_size: size,
            left: NIL,
            right: NIL,
            parent: raw(parent),
            height: 1,
        };
        let n = place(&mut self.nodes, &mut self.spare, node);
        match parent {
            None => self.root = Some(n),
            Some(p) if left => self.nodes[p].left = n as Raw,
            Some(p) => self.nodes[p].right = n as Raw,
        }
        if self.first.is_none_or(|f| block.start < self.nodes[f].start) {
            self.first = Some(n);
        }
        self.fix_upwards(parent);
        n
    }

    /// Adds the free block `block`; the caller guarantees it neither overlaps
    /// nor touches another one. Returns its slot.
    fn insert(&mut self, block: Range<u64>) -> usize {
        let (below, above) = self.neighbours(block.start);
        self.insert_between(block, below, above)
    }

    /// Adds `block`, which lies between the blocks `below` and `above`
    /// (as `neighbours` found them), without a second descent. In a
    /// binary search tree a new key goes under its in-order predecessor
    /// if that has no right child, and otherwise under its successor,
    /// which then has no left child.
    fn insert_between(&mut self, block: Range<u64>, below: Link, above: Link) -> usize {
        match (below, above) {
            (Some(b), _) if self.nodes[b].right == NIL => self.attach(block, Some(b), false),
            (_, Some(a)) => self.attach(block, Some(a), true),
            // Empty tree (a predecessor with a right child has a successor).
            _ => self.attach(block, None, false),
        }
    }

    /// Takes node `n` out of the tree and puts its slot on the spare list.
    /// With two children, `n`'s place goes to its in-order successor, the
    /// lowest node of its right subtree, which keeps the address order.
    fn unlink(&mut self, n: usize) {
        if self.first == Some(n) {
            self.first = self.next(n);
        }
        let FreeNode { left, right, parent, .. } = self.nodes[n];
        if left == NIL || right == NIL {
            self.replace_child(parent, n, if left == NIL { right } else { left });
            self.fix_upwards(link(parent));
        } else {
            let mut s = right as usize;
            while let Some(l) = self.left(s) {
                s = l;
            }
            // Where the walk up starts: where the successor was taken from.
            let from = if s == right as usize {
                s
            } else {
                let sp = self.nodes[s].parent;
                self.replace_child(sp, s, self.nodes[s].right);
                self.nodes[s].right = right;
                self.nodes[right as usize].parent = s as Raw;
                sp as usize
            };
            self.replace_child(parent, n, s as Raw);
            self.nodes[s].left = left;
            self.nodes[left as usize].parent = s as Raw;
            // `s` inherits `n`'s summary, what its parent last saw, so the
            // walk up can stop early; then `s` itself is brought up to date,
            // whether or not that walk passed it (n's size is gone from it).
            (self.nodes[s].height, self.nodes[s].subtree_max_size) = self.summary(n);
            self.fix_upwards(Some(from));
            self.fix_upwards(Some(s));
        }
        self.spare.push(n);
    }

    /// Changes block `n` to cover `block` instead, in place. The caller
    /// guarantees the new start keeps `n` between its neighbours in address
    /// order, so the tree's shape stays valid and no height changes; only
    /// the `subtree_max_size` of `n` and its ancestors can be stale.
    fn reshape(&mut self, n: usize, block: Range<u64>) {
        self.nodes[n].start = block.start;
        self.nodes[n].size = block.end - block.start;
        self.propagate(n);
    }

    /// Recomputes `subtree_max_size` from `n` up, and stops at the first
    /// node where it comes out unchanged: nothing above that can change
    /// either (Linux's `augment_tree_propagate_from`). No rotations: only
    /// for changes that leave the tree's shape alone.
    fn propagate(&mut self, n: usize) {
        let mut n = Some(n);
        while let Some(node) = n {
            let (left, right) = (self.left(node), self.right(node));
            let max = self.nodes[node].size.max(self.max_size(left)).max(self.max_size(right));
            if self.nodes[node].subtree_max_size == max {
                return;
            }
            self.nodes[node].subtree_max_size = max;
            n = self.parent(node);
        }
    }

    // --- what the allocator does with it --------------------------------

    /// Takes `taken` out of free block `n`, which contains it. What is left
    /// of the block falls into Linux's four cases (`adjust_va_to_fit_type`):
    ///
    /// ```text
    ///   FL_FIT  |######|    nothing left: remove the block
    ///   LE_FIT  |###...|    a right part left: move the block's start up
    ///   RE_FIT  |...###|    a left part left: shrink the block
    ///   NE_FIT  |..##..|    both: shrink to the left part, insert the right
    /// ```
    fn carve(&mut self, n: usize, taken: Range<u64>) {
        let block = self.range(n);
        let left = block.start..taken.start;
        let right = taken.end..block.end;
        match (left.is_empty(), right.is_empty()) {
            (true, true) => self.unlink(n),
            (true, false) => self.reshape(n, right),
            (false, true) => self.reshape(n, left),
            (false, false) => {
                self.reshape(n, left);
                self.insert(right);
            }
        }
    }

    /// Returns the range `freed` to the free blocks, merging it with the
    /// block that ends where it starts and the one that starts where it
    /// ends (Linux: `merge_or_add_vmap_area`). Afterwards no two free blocks
    /// touch.
    fn give_back(&mut self, freed: Range<u64>) {
        let (below, above) = self.neighbours(freed.start);
        let before = below.filter(|&b| self.nodes[b].end() == freed.start);
        let after = above.filter(|&a| self.nodes[a].start == freed.end);
        match (before, after) {
            (Some(b), Some(a)) => {
                // Bridge the gap: `b` grows over `freed` and `a`.
                let end = self.nodes[a].end();
                self.unlink(a);
                self.reshape(b, self.nodes[b].start..end);
            }
            (Some(b), None) => self.reshape(b, self.nodes[b].start..freed.end),
            // `a`'s start moves down to `freed.start`: still above the end
            // of the block before it, or that block would have been `before`.
            (None, Some(a)) => self.reshape(a, freed.start..self.nodes[a].end()),
            (None, None) => {
                self.insert_between(freed, below, above);
            }
        }
    }

    /// Calls `f` on every block of the subtree `link` in address order.
    fn for_each(&self, link: Link, f: &mut dyn FnMut(Range<u64>)) {
        if let Some(n) = link {
            self.for_each(self.left(n), f);
            f(self.range(n));
            self.for_each(self.right(n), f);
        }
    }

    // --- invariants ---------------------------------------------------------

    /// Checks the tree's shape: every stored height and `subtree_max_size`
    /// is what the children say, every node is AVL-balanced, each child
    /// lies on the right side of its parent and links back to it (the
    /// global address order is checked by `TreeAllocator::check`, against
    /// the holes). `seen` counts the nodes reached, to catch cycles and lost
    /// nodes. Returns (height, subtree_max_size) of the subtree.
    fn check_below(&self, link: Link, seen: &mut usize) -> Result<(u8, u64), &'static str> {
        let Some(n) = link else { return Ok((0, 0)) };
        *seen += 1;
        if *seen > self.nodes.len() {
            return Err("free tree has a cycle");
        }
        let node = &self.nodes[n];
        let (left, right) = (self.left(n), self.right(n));
        if [left, right].iter().flatten().any(|&c| self.nodes[c].parent != n as Raw) {
            return Err("free tree node's child does not link back to it");
        }
        let (lh, lmax) = self.check_below(left, seen)?;
        let (rh, rmax) = self.check_below(right, seen)?;
        if left.is_some_and(|l| self.nodes[l].start >= node.start)
            || right.is_some_and(|r| self.nodes[r].start <= node.start)
        {
            return Err("free tree is not ordered by address");
        }
        if lh.abs_diff(rh) > 1 {
            return Err("free tree is out of AVL balance");
        }
        if node.height != 1 + lh.max(rh) {
            return Err("free tree node has a stale height");
        }
        if node.subtree_max_size != node.size.max(lmax).max(rmax) {
            return Err("free tree node has a stale subtree_max_size");
        }
        Ok((node.height, node.subtree_max_size))
    }

    fn check(&self) -> Result<(), &'static str> {
        if self.root.is_some_and(|r| self.nodes[r].parent != NIL) {
            return Err("free tree root has a parent");
        }
        let mut seen = 0;
        self.check_below(self.root, &mut seen)?;
        if seen != self.len() {
            return Err("free tree lost or leaked a node");
        }
        let mut lowest = self.root;
        while let Some(l) = lowest.and_then(|n| self.left(n)) {
            lowest = Some(l);
        }
        if self.first != lowest {
            return Err("free tree's cached lowest block is not its lowest");
        }
        Ok(())
    }
}

/// Free blocks in an augmented AVL tree, where the lowest fit is found in
/// O(log n); busy areas in a hash table keyed by their start address.
#[derive(Debug)]
pub struct TreeAllocator<T> {
    span: Range<u64>,
    /// Free blocks (Linux: `free_vmap_area_root`).
    free: FreeTree,
    /// The busy areas, each at a slot that stays put while it lives.
    areas: Vec<Option<Area<T>>>,
    /// Empty slots of `areas`, reused first.
    spare: Vec<usize>,
    /// The slot of each busy area, by start address. Linux keeps its busy
    /// areas in a second red-black tree (`vmap_area_root`); see
    /// `slot_inside` for what the hash costs instead.
    index: StartIndex,
    busy_bytes: u64,
    /// The busy slot last made or found. `vmalloc` reserves an area and
    /// then stores its pages in it; `vfree` finds an area, checks it, and
    /// removes it: each time the second call is for the area the first one
    /// reached, and this saves it a lookup. Checked before use, so a stale
    /// value only costs the lookup.
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
        let mut visit = |from: u64, to: u64| self.run_from(from).take_while(|(_, a)| a.start < to).for_each(|(n, _)| f(n));
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

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
// `[a..b]` in the tests is meant: a list holding one range.
#[allow(clippy::single_range_in_vec_init)]
mod tests;
