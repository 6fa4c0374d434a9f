//! Tests of growing and shrinking areas in place (resize.rs), for both
//! allocators, against a page-by-page model: the decisions `vrealloc`
//! builds on (grow in place, or move).

use super::*;
use alloc::boxed::Box;
use proptest::prelude::*;

const BASE: u64 = 0xffff_c900_0000_0000;
/// Pages in the span of these tests: small, so that areas touch often.
const SPAN_PAGES: u64 = 128;
const SPAN: Range<u64> = BASE..BASE + SPAN_PAGES * PAGE_SIZE;

const fn pages(n: u64) -> u64 {
    n * PAGE_SIZE
}

fn both() -> [Box<dyn AreaAllocator<u32>>; 2] {
    [Box::new(ListAllocator::new(SPAN)), Box::new(TreeAllocator::new(SPAN))]
}

#[test]
fn extend_takes_the_free_range_after_the_area() {
    for mut a in both() {
        let x = a.alloc(pages(2), PAGE_SIZE, 0).unwrap();
        let y = a.alloc(pages(2), PAGE_SIZE, 1).unwrap();
        a.alloc(pages(1), PAGE_SIZE, 2).unwrap();
        a.remove(y).unwrap();
        // Pages 2..4 are free, 4 is busy: x may grow to 4 pages, not 5.
        assert!(!a.try_extend(x, pages(5)), "{}", a.name());
        assert!(a.try_extend(x, pages(3)), "{}", a.name());
        assert!(a.try_extend(x, pages(4)), "{}", a.name());
        assert_eq!(a.find(x + pages(3)).map(|r| (r.start, r.size, r.data)), Some((x, pages(4), 0)));
        assert_eq!(a.busy_bytes(), pages(5));
        assert_eq!(free_ranges(&*a), [BASE + pages(5)..SPAN.end]);
        a.check().unwrap();
    }
}

#[test]
fn extend_stops_at_the_end_of_the_span() {
    for mut a in both() {
        let x = a.alloc(pages(SPAN_PAGES - 1), PAGE_SIZE, 0).unwrap();
        assert!(!a.try_extend(x, pages(SPAN_PAGES + 1)), "{}", a.name());
        assert!(!a.try_extend(x, u64::MAX - (PAGE_SIZE - 1)), "{}", a.name());
        assert!(a.try_extend(x, pages(SPAN_PAGES)), "{}", a.name());
        assert!(free_ranges(&*a).is_empty());
        a.check().unwrap();
    }
}

#[test]
fn extend_refuses_bad_requests_and_changes_nothing() {
    for mut a in both() {
        let x = a.alloc(pages(2), PAGE_SIZE, 0).unwrap();
        for (start, size) in [(x, pages(2)), (x, pages(1)), (x, pages(3) + 1), (x, 0), (x + PAGE_SIZE, pages(4))] {
            assert!(!a.try_extend(start, size), "{} {start:#x} {size:#x}", a.name());
        }
        assert_eq!(a.busy_bytes(), pages(2));
        a.check().unwrap();
    }
}

#[test]
fn shrink_gives_the_tail_back_merged() {
    for mut a in both() {
        let x = a.alloc(pages(4), PAGE_SIZE, 0).unwrap();
        let y = a.alloc(pages(2), PAGE_SIZE, 1).unwrap();
        // A busy area follows: the tail becomes a free range of its own.
        a.shrink(x, pages(1)).unwrap();
        assert_eq!(free_ranges(&*a), [x + pages(1)..y, BASE + pages(6)..SPAN.end], "{}", a.name());
        // Free follows: the tail merges with it.
        a.shrink(y, pages(1)).unwrap();
        assert_eq!(free_ranges(&*a), [x + pages(1)..y, y + pages(1)..SPAN.end], "{}", a.name());
        assert_eq!(a.busy_bytes(), pages(2));
        a.check().unwrap();
    }
}

#[test]
fn shrink_refuses_bad_requests_and_changes_nothing() {
    for mut a in both() {
        let x = a.alloc(pages(2), PAGE_SIZE, 0).unwrap();
        assert_eq!(a.shrink(x + PAGE_SIZE, pages(1)), Err(AreaError::NotAnArea));
        assert_eq!(a.shrink(x, pages(2)), Err(AreaError::BadSize));
        assert_eq!(a.shrink(x, pages(3)), Err(AreaError::BadSize));
        assert_eq!(a.shrink(x, 0), Err(AreaError::BadSize));
        assert_eq!(a.shrink(x, 100), Err(AreaError::BadSize));
        assert_eq!(a.busy_bytes(), pages(2));
        a.check().unwrap();
    }
}

// --- property test against a page model ------------------------------

/// Who owns each page, and where each live area starts and how long it is.
struct Model {
    owner: Vec<Option<u32>>,
    live: Vec<(u64, u64)>,
}

impl Model {
    fn page(addr: u64) -> usize {
        ((addr - BASE) / PAGE_SIZE) as usize
    }

    fn alloc(&mut self, n: u64, id: u32) -> Option<u64> {
        let n = n as usize;
        let p = (0..self.owner.len())
            .find(|&p| p + n <= self.owner.len() && self.owner[p..p + n].iter().all(Option::is_none))?;
        self.owner[p..p + n].fill(Some(id));
        let start = BASE + pages(p as u64);
        self.live.push((start, pages(n as u64)));
        Some(start)
    }

    /// The in-place decision: every page from the end to the new end free.
    fn extend(&mut self, i: usize, new_size: u64) -> bool {
        let (start, size) = self.live[i];
        if new_size <= size {
            return false;
        }
        let (from, to) = (Self::page(start + size), Self::page(start) + (new_size / PAGE_SIZE) as usize);
        if to > self.owner.len() || self.owner[from..to].iter().any(Option::is_some) {
            return false;
        }
        let id = self.owner[Self::page(start)];
        self.owner[from..to].fill(id);
        self.live[i].1 = new_size;
        true
    }

    fn shrink(&mut self, i: usize, new_size: u64) -> bool {
        let (start, size) = self.live[i];
        if new_size == 0 || new_size >= size {
            return false;
        }
        self.owner[Self::page(start + new_size)..Self::page(start + size)].fill(None);
        self.live[i].1 = new_size;
        true
    }

    fn free_ranges(&self) -> Vec<Range<u64>> {
        let mut v: Vec<Range<u64>> = Vec::new();
        for (p, o) in self.owner.iter().enumerate() {
            let addr = BASE + pages(p as u64);
            match (o, v.last_mut()) {
                (None, Some(r)) if r.end == addr => r.end += PAGE_SIZE,
                (None, _) => v.push(addr..addr + PAGE_SIZE),
                _ => {}
            }
        }
        v
    }
}

#[derive(Debug, Clone)]
enum Op {
    Alloc(u64),
    Remove(prop::sample::Index),
    /// Grow or shrink the picked area to this many pages.
    Resize(prop::sample::Index, u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1..=12u64).prop_map(Op::Alloc),
        1 => any::<prop::sample::Index>().prop_map(Op::Remove),
        4 => (any::<prop::sample::Index>(), 1..=20u64).prop_map(|(i, n)| Op::Resize(i, n)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn in_place_decisions_match_the_model(steps in prop::collection::vec(op(), 1..120)) {
        let mut list = ListAllocator::new(SPAN);
        let mut tree = TreeAllocator::new(SPAN);
        let mut model = Model { owner: vec![None; SPAN_PAGES as usize], live: Vec::new() };
        for (id, op) in (0u32..).zip(steps) {
            match op {
                Op::Alloc(n) => {
                    let want = model.alloc(n, id).ok_or(AreaError::NoSpace);
                    prop_assert_eq!(list.alloc(pages(n), PAGE_SIZE, id), want);
                    prop_assert_eq!(tree.alloc(pages(n), PAGE_SIZE, id), want);
                }
                Op::Remove(pick) if !model.live.is_empty() => {
                    let i = pick.index(model.live.len());
                    let (start, size) = model.live.swap_remove(i);
                    model.owner[Model::page(start)..Model::page(start + size)].fill(None);
                    prop_assert!(list.remove(start).is_some());
                    prop_assert!(tree.remove(start).is_some());
                }
                Op::Resize(pick, n) if !model.live.is_empty() => {
                    let i = pick.index(model.live.len());
                    let (start, size) = model.live[i];
                    if pages(n) > size {
                        let want = model.extend(i, pages(n));
                        prop_assert_eq!(list.try_extend(start, pages(n)), want);
                        prop_assert_eq!(tree.try_extend(start, pages(n)), want);
                    } else {
                        let want = if model.shrink(i, pages(n)) { Ok(()) } else { Err(AreaError::BadSize) };
                        prop_assert_eq!(list.shrink(start, pages(n)), want);
                        prop_assert_eq!(tree.shrink(start, pages(n)), want);
                    }
                }
                _ => {}
            }
            prop_assert_eq!(list.check(), Ok(()));
            prop_assert_eq!(tree.check(), Ok(()));
            let want = model.free_ranges();
            prop_assert_eq!(&free_ranges(&list), &want);
            prop_assert_eq!(&free_ranges(&tree), &want);
            prop_assert_eq!(busy_areas(&list), busy_areas(&tree));
            let bytes: u64 = model.live.iter().map(|&(_, s)| s).sum();
            prop_assert_eq!(tree.busy_bytes(), bytes);
            prop_assert_eq!(tree.largest_free(), list.largest_free());
        }
    }
}
