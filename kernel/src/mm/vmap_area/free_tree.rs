//! The free blocks of the vmalloc area in a tree sorted by address, each
//! node augmented with the largest block below it, and the search for the
//! lowest block that fits: Linux's `free_vmap_area_root` and
//! `find_vmap_lowest_match` (mm/vmalloc.c, since 5.2). Taking a range out
//! of a block and giving one back mirror `adjust_va_to_fit_type` and
//! `merge_or_add_vmap_area`.
//!
//! Gorman's book predates the tree: in Linux 2.4 (sections 7.1-7.3) free
//! space is only the holes between the areas on `vmlist` (list.rs), and
//! this tree replaces the walk of that list in `get_vm_area` (section 7.2).
//! What keeps the tree balanced is in avl.rs; the allocator built on it is
//! in tree.rs.
//!
//! Lab 4 fills in `find_fit` and `lowest_fit`.

use alloc::vec::Vec;
use core::ops::Range;

use super::{fit_in, link, raw, AreaError, Link, Raw, NIL};

/// One free block, and the bookkeeping of the subtree it roots.
#[derive(Debug, Clone)]
pub(super) struct FreeNode {
    pub(super) start: u64,
    pub(super) size: u64,
    /// The augmentation: the largest `size` anywhere in this subtree,
    /// this node included. Kept up to date by `update`, which every
    /// operation calls on each node whose subtree it changed.
    pub(super) subtree_max_size: u64,
    pub(super) left: Raw,
    pub(super) right: Raw,
    /// The node above, or NIL at the root. With it a change made at a
    /// node (a block shrunk, a leaf added or taken out) is carried up to
    /// the root without searching for the node again: the walk up stops
    /// as soon as a node's summary comes out unchanged, as Linux's
    /// augmented red-black tree does.
    pub(super) parent: Raw,
    /// Levels in this subtree (a leaf has 1). An AVL tree keeps the heights
    /// of a node's two subtrees within 1 of each other, which bounds the
    /// height by about 1.44 log2(n).
    pub(super) height: u8,
}

impl FreeNode {
    pub(super) fn end(&self) -> u64 {
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
pub(super) struct FreeTree {
    pub(super) nodes: Vec<FreeNode>,
    pub(super) spare: Vec<usize>,
    pub(super) root: Link,
    /// The lowest block, kept as blocks come and go (Linux's
    /// `rb_root_cached` keeps its leftmost node the same way). Requests go
    /// to the lowest address that fits, so most of the action is at the
    /// bottom of the span: a fit or a freed range there is settled
    /// without a descent (`find_fit`, `neighbours`).
    ///
    /// Tuning, not in the books: see docs/benchmarks.md.
    pub(super) first: Link,
}

impl FreeTree {
    // --- small accessors ------------------------------------------------

    #[inline]
    pub(super) fn left(&self, n: usize) -> Link {
        link(self.nodes[n].left)
    }

    #[inline]
    pub(super) fn right(&self, n: usize) -> Link {
        link(self.nodes[n].right)
    }

    #[inline]
    pub(super) fn parent(&self, n: usize) -> Link {
        link(self.nodes[n].parent)
    }

    #[inline]
    pub(super) fn height(&self, link: Link) -> u8 {
        link.map_or(0, |n| self.nodes[n].height)
    }

    #[inline]
    pub(super) fn max_size(&self, link: Link) -> u64 {
        link.map_or(0, |n| self.nodes[n].subtree_max_size)
    }

    /// What a parent reads of a subtree: its height and `subtree_max_size`.
    #[inline]
    pub(super) fn summary(&self, n: usize) -> (u8, u64) {
        (self.nodes[n].height, self.nodes[n].subtree_max_size)
    }

    #[inline]
    pub(super) fn range(&self, n: usize) -> Range<u64> {
        self.nodes[n].start..self.nodes[n].end()
    }

    /// Number of free blocks.
    pub(super) fn len(&self) -> usize {
        self.nodes.len() - self.spare.len()
    }

    /// The largest free block: the root's `subtree_max_size`, in O(1).
    pub(super) fn largest(&self) -> u64 {
        self.max_size(self.root)
    }

    // --- lookups ----------------------------------------------------------

    /// The block with the highest start at or below `addr`: the only one
    /// that can contain `addr`.
    pub(super) fn floor(&self, addr: u64) -> Link {
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
    pub(super) fn next(&self, n: usize) -> Link {
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
    /// can; only otherwise does the search go down from the root (Linux:
    /// `find_vmap_lowest_match`, which has no such shortcut).
    #[doc(alias = "find_vmap_lowest_match")]
    pub(super) fn find_fit(&self, size: u64, align: u64) -> Option<(usize, u64)> {
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
    #[doc(alias = "find_vmap_lowest_match")]
    pub(super) fn lowest_fit(&self, link: Link, size: u64, align: u64) -> Option<(usize, u64)> {
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
    pub(super) fn reserve(&mut self, nodes: usize) -> Result<(), AreaError> {
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

    /// Adds the free block `block`; the caller guarantees it neither overlaps
    /// nor touches another one. Returns its slot.
    pub(super) fn insert(&mut self, block: Range<u64>) -> usize {
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

    /// Changes block `n` to cover `block` instead, in place. The caller
    /// guarantees the new start keeps `n` between its neighbours in address
    /// order, so the tree's shape stays valid and no height changes; only
    /// the `subtree_max_size` of `n` and its ancestors can be stale.
    fn reshape(&mut self, n: usize, block: Range<u64>) {
        self.nodes[n].start = block.start;
        self.nodes[n].size = block.end - block.start;
        self.propagate(n);
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
    #[doc(alias = "adjust_va_to_fit_type")]
    pub(super) fn carve(&mut self, n: usize, taken: Range<u64>) {
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
    #[doc(alias = "merge_or_add_vmap_area")]
    pub(super) fn give_back(&mut self, freed: Range<u64>) {
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
    pub(super) fn for_each(&self, link: Link, f: &mut dyn FnMut(Range<u64>)) {
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

    pub(super) fn check(&self) -> Result<(), &'static str> {
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
