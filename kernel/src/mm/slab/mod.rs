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
//! Reading: Gorman ch. 8 (the slab allocator), Mauerer ch. 3.6. This is a
//! much simplified version of the idea behind Linux's SLAB and SLUB
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
//! (which the 16-byte class would make 254 stores long). (`untouched` is
//! tuning, not in the books: see docs/benchmarks.md; Gorman's slab threads
//! every object of a new slab onto its free list at once.) Since a slab is
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

use super::page::{order_for, pages, MAX_ORDER, PAGE_SIZE};
use core::alloc::Layout;
use core::mem::{align_of, size_of};
use core::ptr::NonNull;

/// Bytes in one slab: a slab is one page (`mm::page::PAGE_SIZE`), as a
/// `usize` for the pointer arithmetic below.
pub const SLAB_SIZE: usize = super::page::PAGE_SIZE as usize;

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
    (SLAB_SIZE - first_object(size)) / size
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
    let offset = obj.addr().get() % SLAB_SIZE;
    // SAFETY: a slab is one page-aligned page, so stepping back to the page
    // boundary stays inside the page that `obj` points into, and the page
    // start is not null because the page came from a NonNull.
    unsafe { obj.byte_sub(offset).cast() }
}

/// The size class that the page at `page` looks like a slab of, by its
/// header: an object size that is a class, and counts that fit a slab of
/// it. A guess from the bytes alone (for `mm::explain`): an ordinary page
/// could hold such bytes by chance.
///
/// # Safety
/// `page` points to `SLAB_SIZE` readable bytes, aligned to a page.
pub unsafe fn class_of_page(page: NonNull<u8>) -> Option<usize> {
    // SAFETY: the caller gives a readable, page-aligned page, and a
    // header is 32 bytes of plain integers and pointers: any bits read.
    let header = unsafe { page.cast::<SlabHeader>().as_ptr().read() };
    let size = header.object_size as usize;
    let class = SIZE_CLASSES.iter().position(|&c| c == size)?;
    let fits = usize::from(header.in_use) <= objects_per_slab(size)
        && usize::from(header.untouched) <= objects_per_slab(size)
        && header.in_use <= header.untouched;
    fits.then_some(class)
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
        debug_assert_eq!(page.addr().get() % SLAB_SIZE, 0, "page source gave an unaligned page");
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
        let offset = obj.addr().get() % SLAB_SIZE;
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

/// What the heap gives a layout too big for the caches (Linux's
/// `kmalloc_large`): one buddy block of 2^order pages or, above the largest
/// order, a run of largest-order blocks next to each other
/// (`PageAllocator::alloc_contig_blocks_for`). Size and alignment are both
/// met; an alignment above one largest block (4 MiB) is not served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Large {
    Block(usize),
    Run(u64),
}

impl Large {
    /// None for an alignment above 4 MiB.
    pub fn of(layout: Layout) -> Option<Large> {
        let order = order_for(layout.size().max(layout.align()) as u64);
        if order <= MAX_ORDER {
            return Some(Large::Block(order));
        }
        let block = (pages(MAX_ORDER) * PAGE_SIZE) as usize;
        (layout.align() <= block).then(|| Large::Run(layout.size().div_ceil(block) as u64))
    }

    /// Pages it holds.
    pub fn pages(self) -> u64 {
        match self {
            Large::Block(order) => pages(order),
            Large::Run(n) => n * pages(MAX_ORDER),
        }
    }
}

#[cfg(test)]
mod tests;
