//! Host tests of the slab caches, over a page source backed by the
//! host's allocator.

use super::*;
use proptest::prelude::*;
use std::collections::HashSet;
use std::vec::Vec;

fn page_layout() -> Layout {
    Layout::from_size_align(SLAB_SIZE, SLAB_SIZE).unwrap()
}

/// Pages from the host's allocator. It remembers which pages are out, so
/// tests can check that each one comes back exactly once, and it can be
/// told to run dry after a number of pages.
struct TestPages {
    out: HashSet<*mut u8>,
    budget: usize,
}

impl TestPages {
    fn new() -> Self {
        Self::with_budget(usize::MAX)
    }

    fn with_budget(budget: usize) -> Self {
        TestPages { out: HashSet::new(), budget }
    }

    fn outstanding(&self) -> usize {
        self.out.len()
    }
}

impl PageSource for TestPages {
    fn alloc_page(&mut self) -> Option<NonNull<u8>> {
        if self.budget == 0 {
            return None;
        }
        self.budget -= 1;
        // SAFETY: the layout is not zero-sized.
        let page = NonNull::new(unsafe { std::alloc::alloc(page_layout()) })?;
        // Junk rather than zeroes, so that no test passes by accident.
        // SAFETY: the page was just allocated with SLAB_SIZE bytes.
        unsafe { page.write_bytes(0xa5, SLAB_SIZE) };
        self.out.insert(page.as_ptr());
        Some(page)
    }

    unsafe fn free_page(&mut self, page: NonNull<u8>) {
        assert!(self.out.remove(&page.as_ptr()), "{page:p} is freed but is not out");
        // SAFETY: the page came from `alloc_page`, with this layout.
        unsafe { std::alloc::dealloc(page.as_ptr(), page_layout()) };
    }
}

impl Drop for TestPages {
    /// Frees what a failed test left behind.
    fn drop(&mut self) {
        for &page in &self.out {
            // SAFETY: the test that used these pages is over.
            unsafe { std::alloc::dealloc(page, page_layout()) };
        }
    }
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// The byte pattern of object `id`: differs between objects and along one.
fn pattern(id: u64, i: usize) -> u8 {
    let mix = id.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mix >> 56) as u8 ^ i as u8
}

fn fill(ptr: NonNull<u8>, len: usize, id: u64) {
    for i in 0..len {
        // SAFETY: the tests only fill objects they own, within their size.
        unsafe { ptr.add(i).write(pattern(id, i)) };
    }
}

fn check(ptr: NonNull<u8>, len: usize, id: u64) {
    for i in 0..len {
        // SAFETY: as in `fill`.
        let byte = unsafe { ptr.add(i).read() };
        assert_eq!(byte, pattern(id, i), "object {id} at {ptr:p} corrupted at byte {i}");
    }
}

fn free_all(slab: &mut SlabAllocator, objs: Vec<NonNull<u8>>, layout: Layout, pages: &mut TestPages) {
    for p in objs {
        // SAFETY: every pointer in `objs` came from `alloc` with `layout`.
        unsafe { slab.dealloc(p, layout, pages) };
    }
}

fn assert_empty(slab: &SlabAllocator, pages: &TestPages) {
    for (stats, &size) in slab.stats().iter().zip(&SIZE_CLASSES) {
        assert_eq!(*stats, CacheStats { object_size: size, ..CacheStats::default() });
    }
    assert_eq!(pages.outstanding(), 0);
}

#[test]
fn class_for_edge_sizes_and_alignments() {
    let class = |size, align| SlabAllocator::class_for(layout(size, align));
    assert_eq!(class(0, 1), Some(0));
    assert_eq!(class(1, 1), Some(0));
    assert_eq!(class(16, 1), Some(0));
    assert_eq!(class(17, 1), Some(1));
    assert_eq!(class(1024, 1), Some(6));
    assert_eq!(class(1025, 1), None);
    assert_eq!(class(8, 64), Some(2));
    assert_eq!(class(1, 1024), Some(6));
    assert_eq!(class(1, 2048), None);
    assert_eq!(class(0, 2048), None);
}

#[test]
fn objects_per_slab_match_the_module_doc() {
    let counts = SIZE_CLASSES.map(objects_per_slab);
    assert_eq!(counts, [254, 127, 63, 31, 15, 7, 3]);
}

#[test]
fn full_slab_per_class_then_every_page_comes_back() {
    let mut slab = SlabAllocator::new();
    let mut pages = TestPages::new();
    for (class, &size) in SIZE_CLASSES.iter().enumerate() {
        let l = layout(size, 1);
        let n = objects_per_slab(size);
        let mut objs: Vec<_> = (0..n).map(|_| slab.alloc(l, &mut pages).unwrap()).collect();
        let first_page = objs[0].addr().get() / SLAB_SIZE;
        assert!(objs.iter().all(|p| p.addr().get() / SLAB_SIZE == first_page), "one slab");
        let full = CacheStats { object_size: size, objects_in_use: n, objects_free: 0, slabs: 1 };
        assert_eq!(slab.stats()[class], full);

        objs.push(slab.alloc(l, &mut pages).unwrap());
        assert_eq!(slab.stats()[class].slabs, 2);
        assert_eq!(pages.outstanding(), 2);

        free_all(&mut slab, objs, l, &mut pages);
        assert_empty(&slab, &pages);
    }
}

#[test]
fn pointers_are_aligned_to_their_class() {
    let mut slab = SlabAllocator::new();
    let mut pages = TestPages::new();
    for &size in &SIZE_CLASSES {
        let l = layout(size, 1);
        let objs: Vec<_> = (0..3 * objects_per_slab(size)).map(|_| slab.alloc(l, &mut pages).unwrap()).collect();
        for p in &objs {
            assert_eq!(p.addr().get() % size, 0, "{p:p} in the {size}-byte class");
            assert!(p.addr().get() % SLAB_SIZE >= size_of::<SlabHeader>(), "{p:p} overlaps a header");
        }
        free_all(&mut slab, objs, l, &mut pages);
    }
    assert_empty(&slab, &pages);
}

#[test]
fn full_slab_that_gets_an_object_back_is_used_again() {
    let mut slab = SlabAllocator::new();
    let mut pages = TestPages::new();
    let l = layout(1024, 1);
    let mut objs: Vec<_> = (0..4).map(|_| slab.alloc(l, &mut pages).unwrap()).collect();
    // Three objects filled the first slab; the fourth started a second.
    assert_eq!(slab.stats()[6].slabs, 2);

    let back = objs.remove(1);
    // SAFETY: `back` came from `alloc` with `l`.
    unsafe { slab.dealloc(back, l, &mut pages) };
    let again = slab.alloc(l, &mut pages).unwrap();
    assert_eq!(again, back, "the slab that was full is at the front of the list");
    assert_eq!(slab.stats()[6].slabs, 2);
    objs.push(again);

    free_all(&mut slab, objs, l, &mut pages);
    assert_empty(&slab, &pages);
}

#[test]
fn exhausted_page_source_gives_none_and_corrupts_nothing() {
    let mut slab = SlabAllocator::new();
    let mut pages = TestPages::with_budget(3);
    let l = layout(200, 8); // the 256-byte class, 15 objects per slab
    let mut objs = Vec::new();
    while let Some(p) = slab.alloc(l, &mut pages) {
        fill(p, l.size(), objs.len() as u64);
        objs.push(p);
    }
    assert_eq!(objs.len(), 3 * 15);
    assert_eq!(slab.alloc(layout(8, 8), &mut pages), None, "another class needs a page too");
    let full = CacheStats { object_size: 256, objects_in_use: 45, objects_free: 0, slabs: 3 };
    assert_eq!(slab.stats()[4], full);
    assert_eq!(slab.stats()[0].slabs, 0);
    for (id, &p) in objs.iter().enumerate() {
        check(p, l.size(), id as u64);
    }

    // A freed object can be handed out again without a new page.
    let back = objs.pop().unwrap();
    // SAFETY: `back` came from `alloc` with `l`.
    unsafe { slab.dealloc(back, l, &mut pages) };
    assert_eq!(slab.alloc(l, &mut pages), Some(back));
    objs.push(back);

    free_all(&mut slab, objs, l, &mut pages);
    assert_empty(&slab, &pages);
    pages.budget = 1;
    let p = slab.alloc(l, &mut pages).expect("memory is back");
    free_all(&mut slab, vec![p], l, &mut pages);
    assert_empty(&slab, &pages);
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "wrong cache")]
fn dealloc_with_the_wrong_layout_is_caught_in_debug_builds() {
    let mut slab = SlabAllocator::new();
    let mut pages = TestPages::new();
    let p = slab.alloc(layout(16, 1), &mut pages).unwrap();
    // Offset 32 is a slot of the 32-byte class too, so only the header
    // check can tell.
    assert_eq!(p.addr().get() % SLAB_SIZE, 32);
    // SAFETY: not sound, on purpose: the debug check must panic first.
    unsafe { slab.dealloc(p, layout(32, 1), &mut pages) };
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "freed twice")]
fn double_free_is_caught_in_debug_builds() {
    let mut slab = SlabAllocator::new();
    let mut pages = TestPages::new();
    let l = layout(64, 1);
    let a = slab.alloc(l, &mut pages).unwrap();
    let _keep_the_slab = slab.alloc(l, &mut pages).unwrap();
    // SAFETY: the first free is fine; the second is the bug under test,
    // and the debug check panics before anything is touched.
    unsafe {
        slab.dealloc(a, l, &mut pages);
        slab.dealloc(a, l, &mut pages);
    }
}

#[derive(Clone, Debug)]
enum Op {
    Alloc(Layout),
    Free(prop::sample::Index),
}

/// A layout the slab serves: size up to 1024, any power-of-two alignment
/// up to the size rounded up to a power of two.
fn small_layout() -> impl Strategy<Value = Layout> {
    (0..=1024usize).prop_flat_map(|size| {
        let max_shift = size.max(1).next_power_of_two().trailing_zeros();
        (0..=max_shift).prop_map(move |shift| layout(size, 1 << shift))
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => small_layout().prop_map(Op::Alloc),
        2 => any::<prop::sample::Index>().prop_map(Op::Free),
    ]
}

struct Live {
    id: u64,
    ptr: NonNull<u8>,
    layout: Layout,
    class: usize,
}

impl Live {
    /// The bytes the object occupies in its slab: the whole slot.
    fn span(&self) -> core::ops::Range<usize> {
        let start = self.ptr.addr().get();
        start..start + SIZE_CLASSES[self.class]
    }
}

fn check_new_object(obj: &Live, live: &[Live]) {
    let span = obj.span();
    assert_eq!(span.start % obj.layout.align(), 0, "{:p} for {:?}", obj.ptr, obj.layout);
    assert_eq!(span.start % SIZE_CLASSES[obj.class], 0);
    for other in live {
        let o = other.span();
        assert!(span.end <= o.start || o.end <= span.start, "objects {} and {} overlap", obj.id, other.id);
    }
}

fn check_stats(slab: &SlabAllocator, pages: &TestPages, live: &[Live]) {
    let stats = slab.stats();
    for (class, s) in stats.iter().enumerate() {
        let live_here = live.iter().filter(|o| o.class == class).count();
        assert_eq!(s.object_size, SIZE_CLASSES[class]);
        assert_eq!(s.objects_in_use, live_here, "class {class}");
        assert_eq!(s.objects_in_use + s.objects_free, s.slabs * objects_per_slab(s.object_size));
        assert_eq!(free_on_partial_list(&slab.caches[class]), s.objects_free, "class {class}");
    }
    assert_eq!(stats.iter().map(|s| s.slabs).sum::<usize>(), pages.outstanding());
}

/// Walks a cache's partial list, checking its links and headers, and
/// counts the objects on the slabs' free lists. Full slabs have none, so
/// the count must equal the cache's `objects_free`.
fn free_on_partial_list(cache: &Cache) -> usize {
    let size = cache.object_size;
    let mut total = 0;
    let mut prev = None;
    let mut slab = cache.partial;
    while let Some(s) = slab {
        // SAFETY: slabs on the partial list are live pages of the cache.
        let header = unsafe { s.as_ref() };
        assert_eq!(header.prev, prev, "broken back link in the {size}-byte cache");
        assert_eq!(header.object_size as usize, size);
        let free = free_objects(s, header);
        assert!(free > 0, "a full slab is on the partial list");
        assert_eq!(header.in_use as usize + free, objects_per_slab(size));
        total += free;
        prev = slab;
        slab = header.next;
    }
    total
}

/// Free objects of a slab: its free list, whose objects must all be in
/// the slab among the slots already handed out, and the slots never
/// handed out.
fn free_objects(slab: NonNull<SlabHeader>, header: &SlabHeader) -> usize {
    let size = header.object_size as usize;
    let untouched = usize::from(header.untouched);
    assert!(untouched <= objects_per_slab(size));
    let mut n = objects_per_slab(size) - untouched;
    let mut obj = header.free;
    while let Some(o) = obj {
        assert_eq!(o.addr().get() & !(SLAB_SIZE - 1), slab.addr().get(), "free object outside its slab");
        let slot = (o.addr().get() % SLAB_SIZE - first_object(size)) / size;
        assert!(slot < untouched, "a slot never handed out is on the free list");
        n += 1;
        assert!(n <= objects_per_slab(header.object_size as usize), "free list loops");
        // SAFETY: objects on a free list hold a link.
        obj = unsafe { o.as_ref().next };
    }
    n
}

fn free_live(slab: &mut SlabAllocator, pages: &mut TestPages, obj: Live) {
    check(obj.ptr, obj.layout.size(), obj.id);
    // SAFETY: every Live object came from `alloc` with its layout and is
    // freed only when it leaves the live list.
    unsafe { slab.dealloc(obj.ptr, obj.layout, pages) };
}

proptest! {
    #[test]
    fn random_allocs_and_frees_keep_objects_intact(ops in prop::collection::vec(op(), 1..400)) {
        let mut slab = SlabAllocator::new();
        let mut pages = TestPages::new();
        let mut live: Vec<Live> = Vec::new();
        for (id, op) in ops.into_iter().enumerate() {
            match op {
                Op::Alloc(layout) => {
                    let class = SlabAllocator::class_for(layout).unwrap();
                    let ptr = slab.alloc(layout, &mut pages).unwrap();
                    let obj = Live { id: id as u64, ptr, layout, class };
                    check_new_object(&obj, &live);
                    fill(ptr, layout.size(), obj.id);
                    live.push(obj);
                }
                Op::Free(_) if live.is_empty() => {}
                Op::Free(index) => {
                    let obj = live.swap_remove(index.index(live.len()));
                    free_live(&mut slab, &mut pages, obj);
                }
            }
            check_stats(&slab, &pages, &live);
        }
        for obj in &live {
            check(obj.ptr, obj.layout.size(), obj.id);
        }
        for obj in live.drain(..) {
            free_live(&mut slab, &mut pages, obj);
        }
        assert_empty(&slab, &pages);
    }
}

#[test]
fn large_layouts_get_one_block_or_a_run_of_blocks() {
    let of = |size: usize, align: usize| Large::of(Layout::from_size_align(size, align).unwrap());
    assert_eq!(of(4097, 8), Some(Large::Block(1)));
    assert_eq!(of(4 << 20, 8), Some(Large::Block(10)));
    assert_eq!(of((4 << 20) + 1, 8), Some(Large::Run(2)));
    assert_eq!(of(16 << 20, 4096), Some(Large::Run(4)));
    assert_eq!(of(16 << 20, 8 << 20), None, "an alignment above 4 MiB");
    assert_eq!(of(12 << 20, 8).map(Large::pages), Some(3 * 1024));
}
