//! Host tests of the vmap-block bookkeeping: the bump pointer, the used
//! bitmap, the dirty range, and a property test against a model.

use super::*;
use crate::mm::page::PAGE_SIZE;
use proptest::prelude::*;
use std::collections::BTreeMap;

const BASE: u64 = 0xffff_c900_0000_0000;

#[test]
fn allocations_bump_and_are_never_reused_before_a_purge() {
    let mut b = VmapBlock::new(BASE);
    assert_eq!(b.alloc(0), Some(0));
    assert_eq!(b.alloc(2), Some(1), "4 pages right after the first one");
    assert_eq!(b.free, VMAP_BBMAP_BITS - 5);
    b.free(0, 0).unwrap();
    assert_eq!(b.alloc(0), Some(5), "the freed page 0 is not handed out again");
    assert_eq!(b.used_pages(), 5);
    assert_eq!(b.page(0), PageUse::Dirty);
    assert_eq!(b.page(1), PageUse::Used);
    assert_eq!(b.page(6), PageUse::Free);
}

#[test]
fn a_wrong_give_back_is_refused_and_changes_nothing() {
    let mut b = VmapBlock::new(BASE);
    b.alloc(0).unwrap();
    b.alloc(0).unwrap();
    assert_eq!(b.free(0, 1), Err(VbError::NotAllocated), "two one-page allocations are not one of two pages");
    assert_eq!(b.free(2, 0), Err(VbError::NotAllocated), "never handed out");
    assert_eq!(b.free(5000, 0), Err(VbError::NotAllocated), "outside the block");
    assert_eq!(b.used_pages(), 2);
    b.free(1, 0).unwrap();
    assert_eq!(b.free(1, 0), Err(VbError::NotAllocated), "a double free");
}

#[test]
fn the_dirty_range_covers_what_was_freed_since_the_last_flush() {
    let mut b = VmapBlock::new(BASE);
    let offsets: Vec<u64> = (0..4).map(|_| b.alloc(1).unwrap()).collect();
    assert_eq!(b.take_dirty(), None);
    b.free(offsets[1], 1).unwrap();
    b.free(offsets[3], 1).unwrap();
    assert_eq!(b.take_dirty(), Some((2, 6)), "pages 2..8");
    assert_eq!(b.take_dirty(), None, "flushed once");
    assert_eq!(b.page(2), PageUse::Freed);
    assert_eq!(b.dirty, 4);
}

#[test]
fn a_block_used_and_emptied_is_fragmented_and_a_full_one_all_dirty() {
    let mut b = VmapBlock::new(BASE);
    let first = b.alloc(6).unwrap();
    assert!(!b.fragmented());
    b.free(first, 6).unwrap();
    assert!(b.fragmented(), "nothing used, some space spent");
    let mut full = VmapBlock::new(BASE);
    let all: Vec<u64> = (0..VMAP_BBMAP_BITS / 64).map(|_| full.alloc(6).unwrap()).collect();
    assert_eq!(full.alloc(0), None);
    for o in all {
        full.free(o, 6).unwrap();
    }
    assert!(full.all_dirty() && !full.fragmented());
}

#[test]
fn the_queue_finds_blocks_by_address() {
    let mut q = VmapBlockQueue::default();
    assert_eq!(q.alloc(0), None);
    q.add(BASE).unwrap();
    q.add(BASE + VMAP_BLOCK_SIZE).unwrap();
    let (i, addr) = q.alloc(0).unwrap();
    assert_eq!((i, addr), (0, BASE));
    assert_eq!(q.free(BASE + VMAP_BLOCK_SIZE, 0), Err(VbError::NotAllocated));
    assert_eq!(q.free(BASE + 2 * VMAP_BLOCK_SIZE, 0), Err(VbError::NoBlock));
    assert_eq!(q.free(BASE + 1, 0), Err(VbError::NotAllocated), "not page aligned");
    assert_eq!(q.free(addr, 0), Ok(0));
    q.remove(1);
    q.remove(0);
    assert_eq!(q.blocks.capacity(), 0, "an empty queue holds no heap block");
    assert_eq!(order_of(1), 0);
    assert_eq!(order_of(3), 2);
    assert_eq!(order_of(64), 6);
}

proptest! {
    /// Random allocations and give-backs against a model that records
    /// each live range: ranges never overlap, live ranges are exactly the
    /// used pages, and no page is handed out twice in a block's life.
    #[test]
    fn agrees_with_a_model(ops in proptest::collection::vec((any::<bool>(), 0u32..7, any::<u16>()), 1..400)) {
        let mut q = VmapBlockQueue::default();
        let mut live: BTreeMap<u64, u32> = BTreeMap::new();
        let mut ever: std::collections::HashSet<u64> = Default::default();
        let mut next_block = BASE;
        for (is_alloc, order, pick) in ops {
            if is_alloc || live.is_empty() {
                let (_, addr) = match q.alloc(order) {
                    Some(x) => x,
                    None => {
                        q.add(next_block).unwrap();
                        next_block += VMAP_BLOCK_SIZE;
                        q.alloc(order).unwrap()
                    }
                };
                for p in 0..(1u64 << order) {
                    prop_assert!(ever.insert(addr + p * PAGE_SIZE), "page handed out twice");
                }
                live.insert(addr, order);
            } else {
                let (&addr, &order) = live.iter().nth(pick as usize % live.len()).unwrap();
                prop_assert!(q.free(addr, order + 1).is_err(), "a wrong size was accepted");
                q.free(addr, order).unwrap();
                live.remove(&addr);
            }
            let used: u64 = q.blocks.iter().map(|b| b.used_pages()).sum();
            let want: u64 = live.values().map(|o| 1u64 << o).sum();
            prop_assert_eq!(used, want);
        }
    }
}
