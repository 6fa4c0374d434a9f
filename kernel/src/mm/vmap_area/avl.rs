//! The general balancing of the free tree (free_tree.rs): recomputing a
//! node's height and `subtree_max_size`, rotations, the climb back up
//! after a change, and adding and taking out a node. Linux balances its
//! free tree as a red-black tree, with lib/rbtree.c's augmented callbacks
//! and, from mm/vmalloc.c, `augment_tree_propagate_from`,
//! `insert_vmap_area_augment` and `unlink_va_augment`; an AVL tree keeps
//! the same O(log n) height and is shorter to write.
//!
//! Not in Gorman's book: Linux 2.4 (sections 7.1-7.3) keeps no tree.
//!
//! These are more methods of `FreeTree`. This file names free_tree.rs,
//! never the other way round.

use core::ops::Range;

use super::free_tree::{FreeNode, FreeTree};
use super::{link, place, raw, Link, Raw, NIL};

impl FreeTree {
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

    /// Left height minus right height: AVL keeps it in -1..=1.
    fn balance(&self, n: usize) -> i32 {
        i32::from(self.height(self.left(n))) - i32::from(self.height(self.right(n)))
    }

    // --- adding and taking out a node -----------------------------------

    /// Adds the free block `block` as a new leaf below `parent` (on its
    /// left if `left`), or as the root when `parent` is None, and
    /// rebalances. The caller has found that spot empty and right for
    /// the block's address. Returns the new node's slot.
    pub(super) fn attach(&mut self, block: Range<u64>, parent: Link, left: bool) -> usize {
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

    /// Takes node `n` out of the tree and puts its slot on the spare list.
    /// With two children, `n`'s place goes to its in-order successor, the
    /// lowest node of its right subtree, which keeps the address order.
    pub(super) fn unlink(&mut self, n: usize) {
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

    /// Recomputes `subtree_max_size` from `n` up, and stops at the first
    /// node where it comes out unchanged: nothing above that can change
    /// either (Linux's `augment_tree_propagate_from`). No rotations: only
    /// for changes that leave the tree's shape alone.
    #[doc(alias = "augment_tree_propagate_from")]
    pub(super) fn propagate(&mut self, n: usize) {
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
}
