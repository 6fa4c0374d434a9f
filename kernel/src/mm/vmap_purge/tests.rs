//! Host tests of the purge bookkeeping: the limit, the one flush over the
//! span, the ranges going back, `fits` against the allocators, and a
//! property test against a model of what may be handed out when.

use super::*;
use crate::mm::vmap_area::{ListAllocator, TreeAllocator};
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

const BASE: u64 = 0xffff_c900_0000_0000;
const P: u64 = PAGE_SIZE;

fn tree(pages: u64) -> TreeAllocator<u32> {
    TreeAllocator::new(BASE..BASE + pages * P)
}

#[test]
fn one_cpu_gets_32_mib_worth() {
    assert_eq!(lazy_max_pages(1), 8192);
    assert_eq!(lazy_max_pages(2), 2 * 8192);
    assert_eq!(lazy_max_pages(4), 3 * 8192);
}

#[test]
fn a_purge_is_due_only_past_the_limit() {
    let mut l = PurgeList::new(10);
    l.reserve().unwrap();
    assert!(!l.push(BASE, 10), "exactly the limit is not past it");
    l.reserve().unwrap();
    assert!(l.push(BASE + 11 * P, 1));
    assert_eq!((l.lazy_nr(), l.len()), (11, 2));
    l.set_max_pages(100);
    assert!(!l.due());
}

/// `push` alone (lab 5 step 1): every range is kept, in the order freed,
/// and `lazy_nr` is the sum of their pages.
#[test]
fn push_keeps_every_range_and_counts_its_pages() {
    let mut l = PurgeList::new(1000);
    let ranges = [(BASE + 40 * P, 3), (BASE, 1), (BASE + 9 * P, 7)];
    for (i, &(start, pages)) in ranges.iter().enumerate() {
        l.reserve().unwrap();
        assert!(!l.push(start, pages), "{} pages are not past 1000", l.lazy_nr());
        assert_eq!((l.len(), l.lazy_nr()), (i + 1, ranges[..=i].iter().map(|r| r.1).sum()));
    }
    let kept: Vec<Lazy> = l.iter().copied().collect();
    assert_eq!(kept, ranges.map(|(start, pages)| Lazy { start, pages }));
    assert!(!l.due());
    l.set_max_pages(10);
    assert!(l.due(), "11 pages are past a limit of 10");
}

/// The flush starts at the lowest range and ends at the highest one's
/// end, whatever the order of the frees (lab 5 step 2).
#[test]
fn the_flush_spans_ranges_freed_in_any_order() {
    let mut a = tree(64);
    let starts: Vec<u64> = (0..5).map(|i| a.alloc((i + 2) * P, P, i as u32).unwrap()).collect();
    let mut l = PurgeList::new(1000);
    // Free the middle one first, then the last, then the first, each with
    // all its pages but the guard mapped.
    for i in [2, 4, 0] {
        l.reserve().unwrap();
        l.push(starts[i], i as u64 + 1);
    }
    let mut flushes = vec![];
    let done = l.purge(&mut a, &mut |s, n| flushes.push((s, n)));
    let end = starts[4] + 5 * P;
    assert_eq!(flushes, vec![(starts[0], (end - starts[0]) / P)], "one flush, lowest start to highest end");
    assert_eq!((done.areas, done.pages), (3, 1 + 3 + 5));
    assert_eq!((done.flush_start, done.flush_pages), flushes[0]);
    for (i, &s) in starts.iter().enumerate() {
        assert_eq!(a.find(s).is_some(), i % 2 == 1, "area {i} at {s:#x}");
    }
    assert!(l.is_empty() && l.lazy_nr() == 0 && !l.due());
    a.check().unwrap();
}

#[test]
fn one_flush_covers_the_span_and_the_ranges_go_back() {
    let mut a = tree(64);
    let starts: Vec<u64> = (0..4).map(|i| a.alloc(3 * P, P, i).unwrap()).collect();
    let mut l = PurgeList::new(1000);
    // Free the 2nd and 4th lazily (2 mapped pages each, plus a guard).
    for &s in [starts[1], starts[3]].iter() {
        l.reserve().unwrap();
        l.push(s, 2);
    }
    let mut flushes = vec![];
    let done = l.purge(&mut a, &mut |s, n| flushes.push((s, n)));
    assert_eq!(flushes, vec![(starts[1], (starts[3] + 2 * P - starts[1]) / P)]);
    assert_eq!(done, Purged { areas: 2, pages: 4, flush_start: starts[1], flush_pages: flushes[0].1 });
    assert!(a.find(starts[1]).is_none() && a.find(starts[3]).is_none());
    assert!(a.find(starts[0]).is_some() && a.find(starts[2]).is_some());
    assert!(l.is_empty() && l.lazy_nr() == 0);
    assert_eq!(l.purge(&mut a, &mut |_, _| panic!("nothing to flush")), Purged::default());
    a.check().unwrap();
}

#[test]
fn make_room_purges_only_when_the_request_cannot_fit() {
    let mut a = tree(8);
    let x = a.alloc(4 * P, P, 0).unwrap();
    let _y = a.alloc(4 * P, P, 1).unwrap();
    let mut l = PurgeList::new(1000);
    l.reserve().unwrap();
    l.push(x, 3);
    let mut flushes = 0;
    assert_eq!(l.make_room(&mut a, 0, P, &mut |_, _| flushes += 1), None, "a bad request is alloc's to refuse");
    let done = l.make_room(&mut a, 2 * P, P, &mut |_, _| flushes += 1).expect("full: purge");
    assert_eq!((done.areas, flushes), (1, 1));
    assert_eq!(a.alloc(2 * P, P, 2), Ok(x), "the purged range serves the retry");
    assert_eq!(l.make_room(&mut a, P, P, &mut |_, _| flushes += 1), None, "nothing waits");
}

#[test]
fn fits_needs_an_aligned_start() {
    let mut a = tree(16);
    // Free: pages 1..9 (8 pages, from an odd page), then 12..16.
    let first = a.alloc(P, P, 0).unwrap();
    let mid = a.alloc(8 * P, P, 1).unwrap();
    let _ = a.alloc(3 * P, P, 2).unwrap();
    a.remove(mid).unwrap();
    assert_eq!(first, BASE);
    assert!(fits(&a, 8 * P, P));
    assert!(!fits(&a, 8 * P, 2 * P), "8 pages free, but not from an even page");
    assert!(fits(&a, 6 * P, 2 * P));
    assert!(fits(&a, 4 * P, 4 * P), "pages 12..16");
    assert!(!fits(&a, 9 * P, P));
}

#[derive(Clone, Debug)]
enum Op {
    /// Allocate this many pages at this alignment (pages, log2).
    Alloc(u64, u32),
    /// Free the n-th live area (modulo their count) lazily.
    Free(usize),
    Purge,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u64..6, 0u32..3).prop_map(|(p, a)| Op::Alloc(p, a)),
        4 => (0usize..64).prop_map(Op::Free),
        1 => Just(Op::Purge),
    ]
}

/// The model: live areas, and lazily freed ranges with whether a flush has
/// covered them since their free.
#[derive(Default)]
struct Model {
    live: Vec<(u64, u64)>,
    lazy: Vec<(u64, u64)>,
}

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.0 + b.1 * P && b.0 < a.0 + a.1 * P
}

fn run(ops: &[Op], areas: &mut dyn AreaAllocator<u32>, max: u64) {
    let mut l = PurgeList::new(max);
    let mut m = Model::default();
    let mut flushed: Vec<(u64, u64)> = Vec::new();
    for op in ops {
        flushed.clear();
        let mut flush = |s, n| flushed.push((s, n));
        match *op {
            Op::Alloc(pages, log) => {
                let (size, align) = (pages * P, P << log);
                let purged = l.make_room(areas, size, align, &mut flush);
                if purged.is_some() {
                    m.lazy.clear();
                }
                let expect = fits(areas, size, align);
                match areas.alloc(size, align, 0) {
                    Ok(s) => {
                        assert!(expect, "fits said no, alloc found {s:#x}");
                        assert!(!m.lazy.iter().any(|&r| overlaps(r, (s, pages))), "a lazy range was handed out");
                        m.live.push((s, pages));
                    }
                    Err(_) => {
                        assert!(!expect, "fits said yes, alloc failed");
                        assert!(l.is_empty(), "failed with lazy ranges left unpurged");
                    }
                }
            }
            Op::Free(n) if !m.live.is_empty() => {
                let r = m.live.remove(n % m.live.len());
                l.reserve().unwrap();
                let due = l.push(r.0, r.1);
                m.lazy.push(r);
                assert_eq!(due, m.lazy.iter().map(|r| r.1).sum::<u64>() > max);
                if due {
                    l.purge(areas, &mut flush);
                    m.lazy.clear();
                }
            }
            Op::Free(_) => {}
            Op::Purge => {
                let purged = m.lazy.clone();
                let done = l.purge(areas, &mut flush);
                assert_eq!(done.areas, purged.len() as u64);
                for r in &purged {
                    let f = flushed[0];
                    assert!(f.0 <= r.0 && r.0 + r.1 * P <= f.0 + f.1 * P, "the flush missed {r:?}");
                }
                m.lazy.clear();
            }
        }
        assert!(flushed.len() <= 1, "one flush per purge");
        assert_eq!(l.lazy_nr(), m.lazy.iter().map(|r| r.1).sum::<u64>());
        assert_eq!(l.len(), m.lazy.len());
        assert_eq!(areas.busy_count(), m.live.len() + m.lazy.len());
        areas.check().unwrap();
    }
}

proptest! {
    #[test]
    fn the_tree_never_hands_out_a_lazy_range_before_its_purge(ops in proptest::collection::vec(op(), 1..200), max in 1u64..40) {
        run(&ops, &mut tree(64), max);
    }

    #[test]
    fn nor_does_the_list(ops in proptest::collection::vec(op(), 1..200), max in 1u64..40) {
        run(&ops, &mut ListAllocator::new(BASE..BASE + 64 * P), max);
    }
}
