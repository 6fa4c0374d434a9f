//! Tests of the oracle (check.rs): two right allocators never disagree,
//! and a deliberately wrong one is caught at its first wrong answer, with
//! a report that shows both sides.

use super::*;
use core::sync::atomic::{AtomicUsize, Ordering};
use proptest::prelude::*;

const BASE: u64 = 0xffff_c900_0000_0000;
const SPAN: Range<u64> = BASE..BASE + 256 * PAGE_SIZE;

const fn pages(n: u64) -> u64 {
    n * PAGE_SIZE
}

fn never(d: &Disagreement) {
    panic!("unexpected disagreement:\n{d}");
}

/// How a wrong allocator goes wrong.
#[derive(Clone, Copy)]
enum Flaw {
    /// Leaves a page unused below every area it hands out.
    SkipsAPage,
    /// Never grows an area in place.
    RefusesToExtend,
}

/// The list allocator, with a flaw.
struct Wrong {
    inner: ListAllocator<()>,
    flaw: Flaw,
}

impl AreaAllocator<()> for Wrong {
    fn name(&self) -> &'static str {
        "wrong"
    }
    fn alloc(&mut self, size: u64, align: u64, data: ()) -> Result<u64, AreaError> {
        if let Flaw::SkipsAPage = self.flaw {
            let pad = self.inner.alloc(PAGE_SIZE, PAGE_SIZE, ())?;
            let start = self.inner.alloc(size, align, data);
            self.inner.remove(pad);
            return start;
        }
        self.inner.alloc(size, align, data)
    }
    fn find(&self, addr: u64) -> Option<&Area<()>> {
        self.inner.find(addr)
    }
    fn find_mut(&mut self, addr: u64) -> Option<&mut Area<()>> {
        self.inner.find_mut(addr)
    }
    fn remove(&mut self, start: u64) -> Option<Area<()>> {
        self.inner.remove(start)
    }
    fn for_each(&self, f: &mut dyn FnMut(&Area<()>)) {
        self.inner.for_each(f)
    }
    fn for_each_free(&self, f: &mut dyn FnMut(Range<u64>)) {
        self.inner.for_each_free(f)
    }
    fn busy_count(&self) -> usize {
        self.inner.busy_count()
    }
    fn busy_bytes(&self) -> u64 {
        self.inner.busy_bytes()
    }
    fn largest_free(&self) -> u64 {
        self.inner.largest_free()
    }
    fn span(&self) -> Range<u64> {
        self.inner.span()
    }
    fn check(&self) -> Result<(), &'static str> {
        self.inner.check()
    }
    fn try_extend(&mut self, start: u64, new_size: u64) -> bool {
        match self.flaw {
            Flaw::RefusesToExtend => false,
            Flaw::SkipsAPage => self.inner.try_extend(start, new_size),
        }
    }
    fn shrink(&mut self, start: u64, new_size: u64) -> Result<(), AreaError> {
        self.inner.shrink(start, new_size)
    }
}

static STOPS: AtomicUsize = AtomicUsize::new(0);

fn count_stop(_: &Disagreement) {
    STOPS.fetch_add(1, Ordering::SeqCst);
}

#[test]
fn a_wrong_alloc_is_caught_at_once_with_both_sides() {
    let wrong = Wrong { inner: ListAllocator::new(SPAN), flaw: Flaw::SkipsAPage };
    let mut a = CheckAllocator::<u32, _, _>::pair(TreeAllocator::new(SPAN), wrong, count_stop);
    let before = STOPS.load(Ordering::SeqCst);
    // The tree's answer is kept and handed back.
    assert_eq!(a.alloc(pages(2), PAGE_SIZE, 7), Ok(BASE));
    assert_eq!(STOPS.load(Ordering::SeqCst), before + 1, "stop is called once");
    let d = a.disagreement().expect("the flaw shows on the first request").clone();
    assert_eq!(d.request, check::Request::Alloc { size: pages(2), align: PAGE_SIZE });
    assert_eq!((d.first.0, d.first.1), ("tree", check::Answer::Value(BASE)));
    assert_eq!((d.second.0, d.second.1), ("wrong", check::Answer::Value(BASE + PAGE_SIZE)));
    assert_eq!(d.at, BASE);
    // Around BASE the tree has BASE busy; the wrong one has it free.
    assert_eq!(d.first.2.busy, Some(BASE..BASE + pages(2)));
    assert_eq!(d.second.2.busy, None);
    assert_eq!(d.second.2.free[0], Some(BASE..BASE + PAGE_SIZE));
    let text = d.to_string();
    assert!(text.contains("disagree on: alloc 0x2000 bytes aligned to 0x1000"), "{text}");
    assert!(text.contains("tree: 0xffffc90000000000"), "{text}");
    assert!(text.contains("wrong: 0xffffc90000001000"), "{text}");
    // Later disagreements do not replace the first or stop again.
    a.alloc(pages(1), PAGE_SIZE, 8).unwrap();
    assert_eq!(a.disagreement(), Some(&d));
    assert_eq!(STOPS.load(Ordering::SeqCst), before + 1);
    assert!(a.check().is_err());
}

#[test]
fn a_wrong_in_place_decision_is_caught() {
    let wrong = Wrong { inner: ListAllocator::new(SPAN), flaw: Flaw::RefusesToExtend };
    let mut a = CheckAllocator::<u32, _, _>::pair(TreeAllocator::new(SPAN), wrong, count_stop);
    let x = a.alloc(pages(2), PAGE_SIZE, 0).unwrap();
    assert!(a.disagreement().is_none());
    assert!(a.try_extend(x, pages(3)));
    let d = a.disagreement().expect("refused where the tree grew");
    assert_eq!(d.request, check::Request::Extend { start: x, new_size: pages(3) });
    assert_eq!((d.first.1, d.second.1), (check::Answer::Done(true), check::Answer::Done(false)));
}

#[test]
fn a_difference_in_totals_alone_is_caught() {
    // Same answer to the remove, but the wrong one keeps a page busy that
    // the tree does not: the totals after it differ.
    let mut wrong = ListAllocator::new(SPAN);
    wrong.alloc(pages(2), PAGE_SIZE, ()).unwrap();
    wrong.shrink(BASE, PAGE_SIZE).unwrap();
    wrong.alloc(PAGE_SIZE, PAGE_SIZE, ()).unwrap();
    let mut tree = TreeAllocator::new(SPAN);
    tree.alloc(PAGE_SIZE, PAGE_SIZE, 0).unwrap();
    let mut a = CheckAllocator::<u32, _, _>::pair(tree, wrong, count_stop);
    a.remove(BASE).unwrap();
    let d = a.disagreement().expect("totals differ after the remove");
    assert!(matches!(d.first.1, check::Answer::Totals { count: 0, .. }), "{d}");
    assert!(matches!(d.second.1, check::Answer::Totals { count: 1, .. }), "{d}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// The tree and the list never disagree, whatever the requests.
    #[test]
    fn tree_and_list_always_agree(steps in prop::collection::vec((0..4u8, 1..=16u64, 0..4u32, any::<prop::sample::Index>()), 1..200)) {
        let mut a = CheckAllocator::<u32>::new(SPAN, never);
        let mut live: Vec<u64> = Vec::new();
        for (id, (kind, n, k, pick)) in (0u32..).zip(steps) {
            let target = (!live.is_empty()).then(|| pick.index(live.len()));
            match (kind, target) {
                (0, _) => {
                    if let Ok(start) = a.alloc(pages(n), PAGE_SIZE << k, id) {
                        live.push(start);
                    }
                }
                (1, Some(i)) => {
                    prop_assert!(a.remove(live.swap_remove(i)).is_some());
                }
                (2, Some(i)) => {
                    a.try_extend(live[i], pages(n));
                }
                (3, Some(i)) => {
                    let _ = a.shrink(live[i], pages(n));
                }
                _ => {}
            }
        }
        prop_assert!(a.disagreement().is_none());
        prop_assert_eq!(a.check(), Ok(()));
    }
}
