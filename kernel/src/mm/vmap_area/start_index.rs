//! A hash table from the start address of a busy vmalloc area to the slot
//! that holds it: how the tree allocator finds the area `vfree`, `vunmap`
//! and `iounmap` name, in O(1) (see tree.rs). Linux keeps its busy areas
//! in a second red-black tree, `vmap_area_root`; Gorman's book (sections
//! 7.1-7.3) has only Linux 2.4's `vmlist` (list.rs).
//!
//! Open addressing with linear probing: a key lives in the first free
//! bucket at or after its home bucket. Removal shifts the keys behind it
//! back instead of leaving a tombstone, so the table never fills with
//! dead entries and its size depends only on the most keys it has held at
//! once. That keeps the kernel's memory accounting exact: the same
//! workload run twice leaves exactly the same pages free. The table grows
//! (doubling) only in `try_reserve`, where running out of memory is an
//! error, and never during `insert` or `remove`.
//!
//! Hardware-free, so it is unit-tested on the host.

use alloc::vec::Vec;

use super::NIL;

/// One bucket: a start address and its slot, or `NIL` (no slot: the
/// sentinel of the 32-bit links in mod.rs).
#[derive(Clone, Copy, Debug)]
struct Bucket {
    start: u64,
    slot: u32,
}

const VACANT: Bucket = Bucket { start: 0, slot: NIL };

/// `try_reserve` could not get memory for a bigger table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRoom;

/// Start address -> slot, at most half full.
///
/// Tuning, not in the books: see docs/benchmarks.md.
#[derive(Debug, Default)]
pub struct StartIndex {
    buckets: Vec<Bucket>,
    len: usize,
}

/// Mixes a start address with one 64x64->128-bit multiplication whose
/// halves are folded together. Starts are multiples of a page, often of a
/// large power of two: taken as they are, their low bits would be zero and
/// every key would land in the same few buckets.
fn hash(start: u64) -> u64 {
    let product = u128::from(start) * 0x9e37_79b9_7f4a_7c15;
    (product as u64) ^ ((product >> 64) as u64)
}

impl StartIndex {
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of buckets: what the table holds on to.
    pub fn capacity(&self) -> usize {
        self.buckets.len()
    }

    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    fn home(&self, start: u64) -> usize {
        hash(start) as usize & self.mask()
    }

    /// The bucket holding `start`, if any.
    fn position(&self, start: u64) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut i = self.home(start);
        loop {
            let b = self.buckets[i];
            if b.slot == NIL {
                return None;
            }
            if b.start == start {
                return Some(i);
            }
            i = (i + 1) & self.mask();
        }
    }

    /// The slot stored for `start`.
    pub fn get(&self, start: u64) -> Option<usize> {
        self.position(start).map(|i| self.buckets[i].slot as usize)
    }

    /// Makes room for `additional` more keys, growing the table (to keep it
    /// at most half full) if it must. On failure nothing has changed.
    pub fn try_reserve(&mut self, additional: usize) -> Result<(), NoRoom> {
        let wanted = self.len.checked_add(additional).and_then(|n| n.checked_mul(2)).ok_or(NoRoom)?;
        if wanted <= self.buckets.len() {
            return Ok(());
        }
        let size = wanted.max(8).checked_next_power_of_two().ok_or(NoRoom)?;
        let mut buckets = Vec::new();
        buckets.try_reserve_exact(size).map_err(|_| NoRoom)?;
        buckets.resize(size, VACANT);
        let old = core::mem::replace(&mut self.buckets, buckets);
        self.len = 0;
        for b in old.into_iter().filter(|b| b.slot != NIL) {
            self.insert(b.start, b.slot as usize);
        }
        Ok(())
    }

    /// Adds `start` -> `slot`. The caller has made room (`try_reserve`) and
    /// `start` is not in the table yet.
    pub fn insert(&mut self, start: u64, slot: usize) {
        assert!((self.len + 1) * 2 <= self.buckets.len() && slot < NIL as usize, "StartIndex::insert without room");
        let mut i = self.home(start);
        while self.buckets[i].slot != NIL {
            debug_assert!(self.buckets[i].start != start, "start {start:#x} indexed twice");
            i = (i + 1) & self.mask();
        }
        self.buckets[i] = Bucket { start, slot: slot as u32 };
        self.len += 1;
    }

    /// Takes `start` out and returns its slot. The keys after it in its
    /// run of full buckets move back into the hole when their home bucket
    /// allows, so every key stays reachable from its home without gaps.
    pub fn remove(&mut self, start: u64) -> Option<usize> {
        let mut hole = self.position(start)?;
        let slot = self.buckets[hole].slot as usize;
        let mut next = hole;
        loop {
            next = (next + 1) & self.mask();
            let b = self.buckets[next];
            if b.slot == NIL {
                break;
            }
            // `b` may move back into the hole only if its home does not lie
            // (cyclically) after the hole: else it could not be found there.
            let home = self.home(b.start);
            let home_after_hole = if hole <= next { hole < home && home <= next } else { hole < home || home <= next };
            if !home_after_hole {
                self.buckets[hole] = b;
                hole = next;
            }
        }
        self.buckets[hole] = VACANT;
        self.len -= 1;
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const PAGE: u64 = 4096;

    #[test]
    fn insert_get_remove() {
        let mut t = StartIndex::default();
        assert_eq!(t.get(PAGE), None);
        assert_eq!(t.remove(PAGE), None);
        t.try_reserve(3).unwrap();
        for (i, s) in [PAGE, 2 * PAGE, 1 << 40].into_iter().enumerate() {
            t.insert(s, i);
        }
        assert_eq!((t.get(2 * PAGE), t.get(1 << 40), t.get(3 * PAGE)), (Some(1), Some(2), None));
        assert_eq!(t.remove(2 * PAGE), Some(1));
        assert_eq!((t.get(2 * PAGE), t.get(PAGE), t.len()), (None, Some(0), 2));
    }

    /// Against std's map, with starts that pile up in a small table
    /// (multiples of a large power of two) and churn that would leave
    /// tombstones behind in a table that kept them.
    #[test]
    fn agrees_with_a_map_under_churn() {
        let (mut t, mut model) = (StartIndex::default(), HashMap::new());
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for step in 0..20_000usize {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let start = (rng % 64) << if step % 2 == 0 { 12 } else { 30 };
            if let Some(slot) = model.remove(&start) {
                assert_eq!(t.remove(start), Some(slot));
            } else {
                t.try_reserve(1).unwrap();
                t.insert(start, step);
                model.insert(start, step);
            }
            assert_eq!(t.len(), model.len());
            if step % 97 == 0 {
                for s in (0..64).flat_map(|k| [k << 12, k << 30]) {
                    assert_eq!(t.get(s), model.get(&s).copied(), "step {step}, start {s:#x}");
                }
            }
        }
    }

    /// The size follows the most keys held at once, not the history: a
    /// second round of the same churn does not grow the table.
    #[test]
    fn size_depends_on_the_peak_only() {
        let mut t = StartIndex::default();
        let key = |i: u64| (i % 100) * PAGE + (i / 100) * (1 << 30);
        let round = |t: &mut StartIndex| {
            for i in 0..10_040u64 {
                if i < 10_000 {
                    t.try_reserve(1).unwrap();
                    t.insert(key(i), i as usize);
                }
                if i >= 40 {
                    assert_eq!(t.remove(key(i - 40)), Some(i as usize - 40));
                }
            }
            assert!(t.is_empty());
            t.capacity()
        };
        let first = round(&mut t);
        assert_eq!(round(&mut t), first);
        assert_eq!(first, 128, "41 keys at most: the smallest power of two at least twice that");
    }
}
