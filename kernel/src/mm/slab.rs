//! Slab caches: the kernel heap's allocator for small objects.
//!
//! The buddy allocator deals in whole pages, but most heap objects (a `Box`
//! of a small struct, a short `String`, a `BTreeMap` node) are a few dozen
//! bytes. Giving each one a page would waste almost all of it, so the heap
//! sends small layouts here instead. There is one cache per size class in
//! [`SIZE_CLASSES`]; a cache takes single pages from a [`PageSource`] and
//! cuts each one, a *slab*, into objects of its size. A request is rounded up
//! to the smallest class that fits both its size and its alignment.
//!
//! This is a much simplified version of the idea behind Linux's SLAB and SLUB
//! allocators (Jeff Bonwick's slab allocator from SunOS, 1994). Everything
//! that makes those fast on real hardware is left out: there are no object
//! constructors, no cache colouring and no per-CPU caches, and every slab is
//! exactly one page.
//!
//! # One slab
//!
//! A small header sits at the start of the page. Objects start after it, at
//! the first multiple of the object size, so that each object is aligned to
//! its size (every class is a power of two). The 64-byte cache, for example:
//!
//! ```text
//!   0        32       64       128      192      256              4096
//!   +--------+--------+--------+--------+--------+----- ... ------+
//!   | header | unused | obj 0  | obj 1  | obj 2  | obj 3 ... 62   |
//!   +--------+--------+--------+--------+--------+----- ... ------+
//!                                                 ^ untouched = 3
//!   header.free --> obj 1 --> None    (obj 0 and obj 2 are in use)
//! ```
//!
//! The header is 32 bytes: the head of the slab's free list, the links of
//! the cache's list of partial slabs, the number of objects in use, the
//! number of slots ever handed out (`untouched`, the first slot never
//! used) and the object size. A freed object holds the pointer to the next
//! free object in its own first word, so the free list costs no memory at
//! all. Slots from `untouched` on were never handed out and are on no list:
//! they are handed out in address order once the free list is empty. So a
//! new slab costs a page and a header, not a pass over all its objects
//! (which the 16-byte class would make 254 stores long). Since a slab is
//! one page-aligned page, the header of any object is found by rounding its
//! address down to the page boundary; no lookup table is needed.
//!
//! How many objects fit: 254, 127, 63, 31, 15, 7 and 3 for the classes from
//! 16 to 1024 bytes. The 1024-byte class loses a quarter of each page to the
//! header's padding; a real allocator would use bigger slabs for it.
//!
//! # One cache
//!
//! ```text
//!   cache.partial --> slab <--> slab <--> slab      (each has a free object)
//!                     full slabs are on no list; empty slabs are freed
//! ```
//!
//! Allocation takes an object from the first partial slab and only asks the
//! page source for a new slab when there is no partial one. A slab that
//! becomes full leaves the list, and rejoins it at the front as soon as one
//! of its objects is freed. A slab whose last object is freed goes straight
//! back to the page source. Linux keeps a few empty slabs around to avoid
//! freeing and re-allocating a page when one object comes and goes; we give
//! that up so that the accounting is exact: once every object is freed,
//! every page is back. All of these steps are O(1).
//!
//! The code touches no hardware, so it is unit-tested on the host against a
//! page source backed by the host's allocator.

use core::alloc::Layout;
use core::mem::{align_of, size_of};
use core::ptr::NonNull;

pub const PAGE_SIZE: usize = 4096;

/// Object sizes served by the caches; larger (or more aligned) layouts go to the page allocator.
pub const SIZE_CLASSES: [usize; 7] = [16, 32, 64, 128, 256, 512, 1024];

const NR_CLASSES: usize = SIZE_CLASSES.len();

/// Supplies 4096-byte, 4096-aligned pages.
pub trait PageSource {
    fn alloc_page(&mut self) -> Option<NonNull<u8>>;
    /// # Safety
    /// `page` came from `alloc_page` of this source and is no longer used.
    unsafe fn free_page(&mut self, page: NonNull<u8>);
}

/// What one cache holds, for `slabinfo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub object_size: usize,
    pub objects_in_use: usize,
    /// Free objects in the cache's slabs (not counting memory not yet carved into slabs).
    pub objects_free: usize,
    /// Slabs the cache holds; each is one page.
    pub slabs: usize,
}

/// A free object. Only its first word is used: the link to the next free
/// object of the same slab.
struct FreeObject {
    next: Option<NonNull<FreeObject>>,
}

/// The start of every slab page.
#[repr(C)]
struct SlabHeader {
    /// The slab's first free object; `None` when the slab is full.
    free: Option<NonNull<FreeObject>>,
    /// Neighbours on the cache's partial list (both `None` while the slab is full).
    prev: Option<NonNull<SlabHeader>>,
    next: Option<NonNull<SlabHeader>>,
    in_use: u16,
    /// Slots handed out at least once: those from here on are free and on
    /// no list.
    untouched: u16,
    /// Kept only so that `dealloc` can check in debug builds that an object
    /// is freed to the cache it came from.
    object_size: u32,
}

// The module doc's picture and object counts assume a 32-byte header, and the
// smallest object must be able to hold a free-list link.
const _: () = assert!(size_of::<SlabHeader>() == 32);
const _: () = assert!(size_of::<FreeObject>() <= SIZE_CLASSES[0]);
const _: () = assert!(align_of::<FreeObject>() <= SIZE_CLASSES[0]);

/// Offset of a slab's first object: past the header, aligned to the object size.
const fn first_object(size: usize) -> usize {
    size_of::<SlabHeader>().next_multiple_of(size)
}

const fn objects_per_slab(size: usize) -> usize {
    (PAGE_SIZE - first_object(size)) / size
}

/// True if every object of the slab is in use: none was freed, and every
/// slot was handed out.
fn is_full(header: &SlabHeader) -> bool {
    header.free.is_none() && usize::from(header.untouched) == objects_per_slab(header.object_size as usize)
}

/// The header of the slab that `obj` lies in.
///
/// # Safety
/// `obj` points into a slab page (anywhere in it).
unsafe fn slab_of(obj: NonNull<u8>) -> NonNull<SlabHeader> {
    let offset = obj.addr().get() % PAGE_SIZE;
    // SAFETY: a slab is one page-aligned page, so stepping back to the page
    // boundary stays inside the page that `obj` points into, and the page
    // start is not null because the page came from a NonNull.
    unsafe { obj.byte_sub(offset).cast() }
}

/// The cache of one size class.
struct Cache {
    object_size: usize,
    /// Head of the list of slabs with at least one free object.
    partial: Option<NonNull<SlabHeader>>,
    slabs: usize,
    in_use: usize,
}

impl Cache {
    const fn new(object_size: usize) -> Self {
        Cache { object_size, partial: None, slabs: 0, in_use: 0 }
    }

    fn alloc(&mut self, pages: &mut impl PageSource) -> Option<NonNull<u8>> {
        let slab = match self.partial {
            Some(slab) => slab,
            None => self.grow(pages)?,
        };
        // SAFETY: slabs on the partial list are live pages of this cache, and
        // nothing else refers to their headers while we hold `&mut self`.
        let header = unsafe { &mut *slab.as_ptr() };
        let obj = match header.free {
            Some(obj) => {
                // SAFETY: `obj` is on the free list, so it is ours and holds a link.
                header.free = unsafe { obj.as_ref().next };
                obj.cast()
            }
            None => {
                let slot = usize::from(header.untouched);
                debug_assert!(slot < objects_per_slab(self.object_size), "a partial slab has a free object");
                header.untouched += 1;
                // SAFETY: slot `slot` lies inside the slab page (checked above).
                unsafe { slab.cast::<u8>().add(first_object(self.object_size) + slot * self.object_size) }
            }
        };
        header.in_use += 1;
        if is_full(header) {
            // SAFETY: the slab is a live slab of this cache on the partial list.
            unsafe { self.unlink(slab) };
        }
        self.in_use += 1;
        Some(obj)
    }

    /// # Safety
    /// `obj` came from `alloc` of this cache and is not freed yet.
    unsafe fn dealloc(&mut self, obj: NonNull<u8>, pages: &mut impl PageSource) {
        // SAFETY: the caller promises `obj` is one of our objects, which all
        // live in slab pages.
        let slab = unsafe { slab_of(obj) };
        // SAFETY: `slab` is a live slab of this cache and nothing else refers
        // to its header while we hold `&mut self`.
        let header = unsafe { &mut *slab.as_ptr() };
        self.debug_check(header, obj);
        let was_full = is_full(header);
        let obj = obj.cast::<FreeObject>();
        // SAFETY: the caller is done with `obj`, and it is aligned and big
        // enough for a link (checked by the const asserts above).
        unsafe { obj.write(FreeObject { next: header.free }) };
        header.free = Some(obj);
        header.in_use -= 1;
        let now_empty = header.in_use == 0;
        self.in_use -= 1;

        if now_empty {
            if !was_full {
                // SAFETY: a slab with a free object is on the partial list.
                unsafe { self.unlink(slab) };
            }
            self.slabs -= 1;
            // SAFETY: the page came from `pages` in `grow`, holds no objects
            // in use, and is on no list any more.
            unsafe { pages.free_page(slab.cast()) };
        } else if was_full {
            // SAFETY: a full slab is on no list; it has a free object now.
            unsafe { self.push(slab) };
        }
    }

    /// Takes a page from `pages`, writes a header saying that no slot was
    /// ever used, and puts the new slab on the partial list.
    fn grow(&mut self, pages: &mut impl PageSource) -> Option<NonNull<SlabHeader>> {
        let page = pages.alloc_page()?;
        debug_assert_eq!(page.addr().get() % PAGE_SIZE, 0, "page source gave an unaligned page");
        let slab = page.cast::<SlabHeader>();
        let size = self.object_size as u32;
        let header = SlabHeader { free: None, prev: None, next: None, in_use: 0, untouched: 0, object_size: size };
        // SAFETY: the header fits before the first object, and a page start
        // is aligned for it. After writing it, it is a live slab on no list.
        unsafe {
            slab.write(header);
            self.push(slab);
        }
        self.slabs += 1;
        Some(slab)
    }

    /// Puts `slab` at the front of the partial list.
    ///
    /// # Safety
    /// `slab` is a live slab of this cache that is not on the partial list.
    unsafe fn push(&mut self, slab: NonNull<SlabHeader>) {
        // SAFETY: `slab` and the list head are live slabs of this cache, so
        // their headers may be written.
        unsafe {
            (*slab.as_ptr()).prev = None;
            (*slab.as_ptr()).next = self.partial;
            if let Some(head) = self.partial {
                (*head.as_ptr()).prev = Some(slab);
            }
        }
        self.partial = Some(slab);
    }

    /// Takes `slab` off the partial list.
    ///
    /// # Safety
    /// `slab` is a live slab of this cache on the partial list.
    unsafe fn unlink(&mut self, slab: NonNull<SlabHeader>) {
        // SAFETY: `slab` and its neighbours are live slabs on our list.
        unsafe {
            let SlabHeader { prev, next, .. } = *slab.as_ptr();
            match prev {
                Some(prev) => (*prev.as_ptr()).next = next,
                None => self.partial = next,
            }
            if let Some(next) = next {
                (*next.as_ptr()).prev = prev;
            }
            (*slab.as_ptr()).prev = None;
            (*slab.as_ptr()).next = None;
        }
    }

    /// Cheap checks, in debug builds only, for the usual misuses of
    /// `dealloc`: a wrong layout, a pointer into the middle of an object, and
    /// freeing the same object twice in a row. (A double free with other
    /// frees in between would need a walk of the free list; not done here.)
    fn debug_check(&self, header: &SlabHeader, obj: NonNull<u8>) {
        let size = self.object_size;
        let offset = obj.addr().get() % PAGE_SIZE;
        debug_assert!(
            offset >= first_object(size) && offset.is_multiple_of(size),
            "{obj:p} is not an object slot of the {size}-byte cache"
        );
        debug_assert_eq!(header.object_size as usize, size, "{obj:p} is freed to the wrong cache");
        debug_assert!(header.in_use > 0, "{obj:p} is freed to a slab with no objects in use");
        debug_assert_ne!(header.free, Some(obj.cast()), "{obj:p} is freed twice");
    }

    fn stats(&self) -> CacheStats {
        let capacity = self.slabs * objects_per_slab(self.object_size);
        CacheStats {
            object_size: self.object_size,
            objects_in_use: self.in_use,
            objects_free: capacity - self.in_use,
            slabs: self.slabs,
        }
    }
}

/// The slab caches of all size classes.
///
/// All calls on one allocator must use the same page source, since pages go
/// back to the source they are passed with.
pub struct SlabAllocator {
    caches: [Cache; NR_CLASSES],
}

// SAFETY: the raw pointers inside point into pages that this allocator owns
// alone (it got them from its page source and only hands out single objects
// of them). Nothing about those pages is tied to a thread, so moving the
// allocator to another CPU or thread simply moves that ownership along.
unsafe impl Send for SlabAllocator {}

impl Default for SlabAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl SlabAllocator {
    pub const fn new() -> Self {
        const EMPTY: Cache = Cache::new(0);
        let mut caches = [EMPTY; NR_CLASSES];
        let mut i = 0;
        while i < NR_CLASSES {
            caches[i] = Cache::new(SIZE_CLASSES[i]);
            i += 1;
        }
        SlabAllocator { caches }
    }

    /// Index into SIZE_CLASSES for `layout`, or None if it is too big or too
    /// aligned (size or align > 1024). Zero-size layouts use the smallest class.
    pub fn class_for(layout: Layout) -> Option<usize> {
        // Objects are aligned to their size, so a class whose size covers
        // the alignment also meets it.
        let need = layout.size().max(layout.align());
        SIZE_CLASSES.iter().position(|&size| size >= need)
    }

    /// Allocates an object for `layout` (caller guarantees
    /// class_for(layout).is_some()); None only if the page source is exhausted.
    /// A layout without a class also gets None rather than a panic, so that
    /// the global allocator reports it as an ordinary allocation failure.
    pub fn alloc(&mut self, layout: Layout, pages: &mut impl PageSource) -> Option<NonNull<u8>> {
        let class = Self::class_for(layout)?;
        self.caches[class].alloc(pages)
    }

    /// Frees an object, and its slab's page if that was the slab's last object.
    ///
    /// # Safety
    /// `ptr` was returned by `alloc` of this allocator with the same `layout`
    /// and is not freed yet.
    pub unsafe fn dealloc(&mut self, ptr: NonNull<u8>, layout: Layout, pages: &mut impl PageSource) {
        let class = Self::class_for(layout).expect("slab dealloc of a layout that has no size class");
        // SAFETY: the caller's promise: `ptr` came from this class's cache.
        unsafe { self.caches[class].dealloc(ptr, pages) }
    }

    /// One entry per size class.
    pub fn stats(&self) -> [CacheStats; NR_CLASSES] {
        self.caches.each_ref().map(Cache::stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use std::vec::Vec;

    fn page_layout() -> Layout {
        Layout::from_size_align(PAGE_SIZE, PAGE_SIZE).unwrap()
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
            // SAFETY: the page was just allocated with PAGE_SIZE bytes.
            unsafe { page.write_bytes(0xa5, PAGE_SIZE) };
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
            let first_page = objs[0].addr().get() / PAGE_SIZE;
            assert!(objs.iter().all(|p| p.addr().get() / PAGE_SIZE == first_page), "one slab");
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
                assert!(p.addr().get() % PAGE_SIZE >= size_of::<SlabHeader>(), "{p:p} overlaps a header");
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
        assert_eq!(p.addr().get() % PAGE_SIZE, 32);
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
            assert_eq!(o.addr().get() & !(PAGE_SIZE - 1), slab.addr().get(), "free object outside its slab");
            let slot = (o.addr().get() % PAGE_SIZE - first_object(size)) / size;
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
}
