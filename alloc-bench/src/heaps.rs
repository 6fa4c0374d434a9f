//! The heap side of the comparison: one trait over Mosaic's kernel heap as
//! the kernel builds it (slab caches up to 1 KiB, whole buddy blocks above,
//! both from Mosaic's `PageAllocator` over the frames of one host buffer)
//! and the peer crates' heaps over a buffer of the same size; a global
//! allocator that sends the workloads' `Vec`s and `BTreeMap`s to the heap
//! under test; and ArceOS's four workloads.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr::{null_mut, NonNull};
use mosaic_kernel::mm::page::{pages, Page, PageOwner, MAX_ORDER, PAGE_SIZE};
use mosaic_kernel::mm::page_alloc::{PageAllocator, ZoneType};
use mosaic_kernel::mm::slab::{Large, PageSource, SlabAllocator};
use mosaic_kernel::rand::XorShift64;
use std::alloc::System;
use std::collections::BTreeMap;
use std::io::Write;
use x86_64::PhysAddr;

/// ArceOS's pool size, for every heap.
pub const ARENA_BYTES: usize = 128 << 20;
/// The arena is aligned to Mosaic's largest block, so that its buddy blocks
/// are aligned to their size in memory as they are in frame numbers.
const ARENA_ALIGN: usize = PAGE_SIZE as usize * (1 << MAX_ORDER);

/// A heap over one arena, used by one thread.
pub trait Heap {
    /// Null when the heap cannot serve `layout`.
    fn alloc(&mut self, layout: Layout) -> *mut u8;
    /// # Safety
    /// `ptr` came from `alloc` of this heap with `layout`, not yet freed.
    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout);
    /// Whether `ptr` lies in this heap's arena.
    fn owns(&self, ptr: *mut u8) -> bool;
    /// The most arena memory the heap held at any time, in bytes (see
    /// `Footprint`).
    fn peak_bytes(&self) -> usize;
}

/// A buffer from the system allocator, aligned to `ARENA_ALIGN`.
pub struct Arena {
    base: NonNull<u8>,
    len: usize,
}

impl Arena {
    pub fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len, ARENA_ALIGN).expect("arena layout");
        // SAFETY: the layout is not zero-sized.
        let base = NonNull::new(unsafe { System.alloc(layout) }).expect("arena from the system allocator");
        // Touch every page now, so that no heap pays the host's page faults
        // inside the timing (a kernel's heap memory is mapped already).
        // SAFETY: the buffer is `len` bytes long and ours.
        unsafe { base.write_bytes(0, len) };
        Arena { base, len }
    }

    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn contains(&self, ptr: *mut u8) -> bool {
        (ptr as usize).wrapping_sub(self.base() as usize) < self.len
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(self.len, ARENA_ALIGN).expect("arena layout");
        // SAFETY: allocated in `new` with this layout.
        unsafe { System.dealloc(self.base(), layout) }
    }
}

/// For the peer heaps, which carve one contiguous arena: the high-water
/// mark of the highest byte handed out, as an offset from the arena's base.
/// Memory below it is theirs (free or not), and not available to anyone else.
#[derive(Default)]
struct Footprint {
    peak: usize,
}

impl Footprint {
    #[inline]
    fn note(&mut self, arena: &Arena, ptr: *mut u8, layout: Layout) {
        let end = ptr as usize + layout.size() - arena.base() as usize;
        self.peak = self.peak.max(end);
    }
}

/// Mosaic's frames over the arena: frame n is the arena's n-th page, and
/// its "physical address" is the offset into the arena. The slab caches'
/// page source, and the large-allocation path, as in kernel/src/mm/heap.rs.
pub struct MosaicPages {
    alloc: Option<PageAllocator<'static>>,
    map: *mut [Page],
    arena: Arena,
    /// Frames held (slab pages and large blocks) now, and at most.
    held: u64,
    peak: u64,
}

impl MosaicPages {
    fn new(len: usize) -> Self {
        let frames = (len as u64) / PAGE_SIZE;
        let map: &'static mut [Page] = Box::leak(vec![Page::RESERVED; frames as usize].into_boxed_slice());
        let ptr = map as *mut [Page];
        let mut alloc = PageAllocator::new(map);
        alloc.add_free_range(0..frames);
        // As the kernel does at boot (mm::init).
        alloc.enable_pcp();
        MosaicPages { alloc: Some(alloc), map: ptr, arena: Arena::new(len), held: 0, peak: 0 }
    }

    fn inner(&mut self) -> &mut PageAllocator<'static> {
        self.alloc.as_mut().expect("allocator present until drop")
    }

    #[inline]
    fn take(&mut self, order: usize) -> *mut u8 {
        match self.inner().alloc_pages(order, ZoneType::Normal) {
            Ok(frame) => {
                self.held += pages(order);
                self.peak = self.peak.max(self.held);
                // SAFETY: the frame lies inside the arena (frames cover it).
                unsafe { self.arena.base().add(frame.start_address().as_u64() as usize) }
            }
            Err(_) => null_mut(),
        }
    }

    /// `n` largest-order blocks next to each other (a request above 4 MiB),
    /// as heap.rs takes them.
    fn take_run(&mut self, n: u64) -> *mut u8 {
        match self.inner().alloc_contig_blocks_for(PageOwner::Slab, n, ZoneType::Normal) {
            Ok(frame) => {
                self.held += n * pages(MAX_ORDER);
                self.peak = self.peak.max(self.held);
                // SAFETY: the frames lie inside the arena (frames cover it).
                unsafe { self.arena.base().add(frame.start_address().as_u64() as usize) }
            }
            Err(_) => null_mut(),
        }
    }

    fn give_run(&mut self, ptr: *mut u8, n: u64) {
        let offset = ptr as u64 - self.arena.base() as u64;
        self.inner().free_contig_blocks(PhysAddr::new(offset), n).expect("run was allocated with this length");
        self.held -= n * pages(MAX_ORDER);
    }

    #[inline]
    fn give(&mut self, ptr: *mut u8, order: usize) {
        let offset = ptr as u64 - self.arena.base() as u64;
        self.inner().free_pages(PhysAddr::new(offset), order).expect("block was allocated with this order");
        self.held -= pages(order);
    }

    /// Pages the allocator has free (the per-CPU lists included).
    pub fn free_pages(&self) -> u64 {
        self.alloc.as_ref().expect("allocator present").free_pages_total()
    }
}

impl Drop for MosaicPages {
    fn drop(&mut self) {
        self.alloc = None;
        // SAFETY: `map` came from `Box::leak` in `new`, and its only
        // borrow, the allocator, is gone.
        drop(unsafe { Box::from_raw(self.map) });
    }
}

impl PageSource for MosaicPages {
    #[inline]
    fn alloc_page(&mut self) -> Option<NonNull<u8>> {
        NonNull::new(self.take(0))
    }

    #[inline]
    unsafe fn free_page(&mut self, page: NonNull<u8>) {
        self.give(page.as_ptr(), 0)
    }
}

/// Mosaic's kernel heap on the host: kernel/src/mm/heap.rs without the lock.
pub struct MosaicHeap {
    slabs: SlabAllocator,
    pages: MosaicPages,
}

impl MosaicHeap {
    pub fn new(len: usize) -> Self {
        MosaicHeap { slabs: SlabAllocator::new(), pages: MosaicPages::new(len) }
    }

    /// Frames held right now (0 once everything is freed).
    pub fn held_pages(&self) -> u64 {
        self.pages.held
    }

    pub fn free_pages(&self) -> u64 {
        self.pages.free_pages()
    }
}

impl Heap for MosaicHeap {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        if SlabAllocator::class_for(layout).is_some() {
            return self.slabs.alloc(layout, &mut self.pages).map_or(null_mut(), NonNull::as_ptr);
        }
        match Large::of(layout) {
            Some(Large::Block(order)) => self.pages.take(order),
            Some(Large::Run(n)) => self.pages.take_run(n),
            None => null_mut(),
        }
    }

    #[inline]
    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        if SlabAllocator::class_for(layout).is_some() {
            // SAFETY: the caller's promise; this layout went to the caches.
            unsafe { self.slabs.dealloc(NonNull::new_unchecked(ptr), layout, &mut self.pages) };
            return;
        }
        match Large::of(layout).expect("alloc served this layout") {
            Large::Block(order) => self.pages.give(ptr, order),
            Large::Run(n) => self.pages.give_run(ptr, n),
        }
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        self.pages.arena.contains(ptr)
    }

    /// Frames held at most (slab pages and large blocks): the rest of the
    /// arena stayed free in the page allocator for any other user.
    fn peak_bytes(&self) -> usize {
        (self.pages.peak * PAGE_SIZE) as usize
    }
}

/// `talc` 5 with its default binning, one claimed arena.
pub struct TalcHeap {
    talc: talc::base::Talc<talc::source::Manual, talc::DefaultBinning>,
    arena: Arena,
    footprint: Footprint,
}

impl TalcHeap {
    pub fn new(len: usize) -> Self {
        let arena = Arena::new(len);
        let mut talc = talc::base::Talc::new(talc::source::Manual);
        // SAFETY: the arena is ours alone and outlives the allocator.
        unsafe { talc.claim(arena.base(), arena.len()) }.expect("talc claims the arena");
        TalcHeap { talc, arena, footprint: Footprint::default() }
    }
}

impl Heap for TalcHeap {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        // SAFETY: `layout` is a valid layout; talc asks nothing more.
        match unsafe { self.talc.allocate(layout) } {
            Some(p) => {
                self.footprint.note(&self.arena, p.as_ptr(), layout);
                p.as_ptr()
            }
            None => null_mut(),
        }
    }

    #[inline]
    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's promise.
        unsafe { self.talc.deallocate(ptr, layout) }
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        self.arena.contains(ptr)
    }

    fn peak_bytes(&self) -> usize {
        self.footprint.peak
    }
}

/// `rlsf` 0.2's TLSF (ArceOS's default heap). 28 first-level classes of 32
/// second-level ones reach past the 128 MiB arena.
pub struct RlsfHeap {
    tlsf: rlsf::Tlsf<'static, u32, u32, 28, 32>,
    arena: Arena,
    footprint: Footprint,
}

impl RlsfHeap {
    pub fn new(len: usize) -> Self {
        let arena = Arena::new(len);
        let mut tlsf = rlsf::Tlsf::new();
        let block = NonNull::slice_from_raw_parts(arena.base, arena.len());
        // SAFETY: the arena is ours alone and outlives the allocator.
        let got = unsafe { tlsf.insert_free_block_ptr(block) }.expect("rlsf takes the arena");
        assert!(got.get() > len - 4096, "rlsf took only {got} bytes of the arena");
        RlsfHeap { tlsf, arena, footprint: Footprint::default() }
    }
}

impl Heap for RlsfHeap {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        match self.tlsf.allocate(layout) {
            Some(p) => {
                self.footprint.note(&self.arena, p.as_ptr(), layout);
                p.as_ptr()
            }
            None => null_mut(),
        }
    }

    #[inline]
    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's promise.
        unsafe { self.tlsf.deallocate(NonNull::new_unchecked(ptr), layout.align()) }
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        self.arena.contains(ptr)
    }

    fn peak_bytes(&self) -> usize {
        self.footprint.peak
    }
}

/// `linked_list_allocator` 0.10 (blog_os, MOROS): first fit over one
/// address-ordered free list.
pub struct LinkedListHeap {
    heap: linked_list_allocator::Heap,
    arena: Arena,
    footprint: Footprint,
}

impl LinkedListHeap {
    pub fn new(len: usize) -> Self {
        let arena = Arena::new(len);
        // SAFETY: the arena is ours alone and outlives the allocator.
        let heap = unsafe { linked_list_allocator::Heap::new(arena.base(), arena.len()) };
        LinkedListHeap { heap, arena, footprint: Footprint::default() }
    }
}

impl Heap for LinkedListHeap {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        match self.heap.allocate_first_fit(layout) {
            Ok(p) => {
                self.footprint.note(&self.arena, p.as_ptr(), layout);
                p.as_ptr()
            }
            Err(()) => null_mut(),
        }
    }

    #[inline]
    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's promise.
        unsafe { self.heap.deallocate(NonNull::new_unchecked(ptr), layout) }
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        self.arena.contains(ptr)
    }

    fn peak_bytes(&self) -> usize {
        self.footprint.peak
    }
}

/// `buddy_system_allocator` 0.13's heap (rCore): power-of-two blocks on
/// intrusive free lists, one per order.
pub struct BuddySystemHeap {
    heap: buddy_system_allocator::Heap<32>,
    arena: Arena,
    /// Peak of the crate's own count of bytes in allocated blocks: it hands
    /// out the upper half of each block it splits, so the highest address
    /// says nothing; the free halves below stay on its lists.
    peak: usize,
}

impl BuddySystemHeap {
    pub fn new(len: usize) -> Self {
        let arena = Arena::new(len);
        let mut heap = buddy_system_allocator::Heap::<32>::new();
        // SAFETY: the arena is ours alone and outlives the allocator.
        unsafe { heap.init(arena.base() as usize, arena.len()) };
        BuddySystemHeap { heap, arena, peak: 0 }
    }
}

impl Heap for BuddySystemHeap {
    #[inline]
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        match self.heap.alloc(layout) {
            Ok(p) => {
                self.peak = self.peak.max(self.heap.stats_alloc_actual());
                p.as_ptr()
            }
            Err(()) => null_mut(),
        }
    }

    #[inline]
    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's promise.
        unsafe { self.heap.dealloc(NonNull::new_unchecked(ptr), layout) }
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        self.arena.contains(ptr)
    }

    fn peak_bytes(&self) -> usize {
        self.peak
    }
}

// The heap the workloads of this thread allocate from, while `on_heap` runs.
thread_local! {
    static ACTIVE: Cell<Option<*mut dyn Heap>> = const { Cell::new(None) };
}

/// The process's global allocator: the system's, except inside `on_heap`,
/// where the calling thread's allocations go to the heap under test. A free
/// goes to the heap if the pointer lies in its arena, so that memory from
/// before `on_heap` may be freed inside it. `realloc` is GlobalAlloc's
/// default (allocate, copy, free) for every heap, as in ArceOS's runs.
pub struct Router;

// SAFETY: every call goes either to the system allocator or to the heap
// under test, which is only reached from the thread that installed it and
// for as long as `on_heap` holds the borrow.
unsafe impl GlobalAlloc for Router {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match ACTIVE.with(Cell::get) {
            // SAFETY: `on_heap` keeps the heap borrowed while it is active.
            Some(heap) => unsafe { (*heap).alloc(layout) },
            // SAFETY: the caller's promise (a non-zero-size layout).
            None => unsafe { System.alloc(layout) },
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(heap) = ACTIVE.with(Cell::get) {
            // SAFETY: as above; and `ptr` came from this heap, if it is in
            // its arena.
            unsafe {
                if (*heap).owns(ptr) {
                    return (*heap).dealloc(ptr, layout);
                }
            }
        }
        // SAFETY: the caller's promise; the pointer came from the system.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` with this thread's allocations going to `heap`. Everything `f`
/// allocates must be freed before it returns.
pub fn on_heap<R>(heap: &mut dyn Heap, f: impl FnOnce() -> R) -> R {
    // SAFETY: only the lifetime is erased; the pointer is removed again
    // below, before the borrow of `heap` ends (also on a panic, by the guard).
    let ptr: *mut (dyn Heap + 'static) = unsafe { core::mem::transmute(heap as *mut dyn Heap) };
    struct Off;
    impl Drop for Off {
        fn drop(&mut self) {
            ACTIVE.with(|a| a.set(None));
        }
    }
    assert!(ACTIVE.with(Cell::get).is_none(), "on_heap does not nest");
    ACTIVE.with(|a| a.set(Some(ptr)));
    let _off = Off;
    f()
}

/// The heaps, by name, each over a fresh arena of `ARENA_BYTES`.
pub const HEAPS: [&str; 5] = ["mosaic", "talc", "rlsf", "linked_list", "buddy_system"];

pub fn new_heap(name: &str, len: usize) -> Box<dyn Heap> {
    match name {
        "mosaic" => Box::new(MosaicHeap::new(len)),
        "talc" => Box::new(TalcHeap::new(len)),
        "rlsf" => Box::new(RlsfHeap::new(len)),
        "linked_list" => Box::new(LinkedListHeap::new(len)),
        "buddy_system" => Box::new(BuddySystemHeap::new(len)),
        _ => panic!("no heap called {name}"),
    }
}

/// ArceOS's `vec_push`: a `Vec<u32>` grown one element at a time to `n`.
/// At 3M elements the last buffer is 16 MiB.
pub fn vec_push(n: usize) {
    let mut v: Vec<u32> = Vec::new();
    // One push at a time is the point: each capacity on the way is allocated.
    #[allow(clippy::same_item_push)]
    for _ in 0..n {
        v.push(0xdead_beef);
    }
    std::hint::black_box(&v);
}

/// ArceOS's `vec_rand_free`: `n` vectors of `blk` u64s (so 512 bytes for
/// blk = 64 and 4,160 bytes for blk = 520), then freed in a random order.
pub fn vec_rand_free(n: usize, blk: usize, seed: u64) {
    let mut v: Vec<Vec<u64>> = Vec::new();
    for _ in 0..n {
        v.push(Vec::with_capacity(blk));
    }
    let mut index: Vec<usize> = (0..n).collect();
    let mut rng = XorShift64::new(seed);
    for i in (1..n).rev() {
        index.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for i in index {
        v[i] = Vec::new();
    }
    std::hint::black_box(&v);
}

/// ArceOS's `btree_map`: `n` steps, each a `pop_first` (one in five, when
/// the map is not empty) or an insert of a short formatted key.
pub fn btree_map(n: usize, seed: u64) {
    let mut rng = XorShift64::new(seed);
    let mut m: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    for _ in 0..n {
        if rng.next_u64().is_multiple_of(5) && !m.is_empty() {
            m.pop_first();
        } else {
            let value = rng.next_u64() as u32;
            let mut key = Vec::new();
            write!(&mut key, "key_{value}").expect("a Vec takes any write");
            m.insert(key, value);
        }
    }
    m.clear();
    std::hint::black_box(&m);
}

/// A workload of the comparison, at ArceOS's sizes.
#[derive(Clone, Copy, Debug)]
pub enum Workload {
    VecPush(usize),
    VecRandFree(usize, usize),
    BTreeMap(usize),
}

impl Workload {
    /// ArceOS's four, plus `vec_push` at 1M elements, whose last buffer
    /// (4 MiB) is the largest single buddy block: above it Mosaic's heap
    /// takes runs of blocks (vec_push_3M's 8 and 16 MiB).
    pub const ARCEOS: [(&'static str, Workload); 5] = [
        ("vec_push_3M", Workload::VecPush(3_000_000)),
        ("vec_push_1M", Workload::VecPush(1 << 20)),
        ("vec_rand_free_25K_64", Workload::VecRandFree(25_000, 64)),
        ("vec_rand_free_7500_520", Workload::VecRandFree(7_500, 520)),
        ("btree_map_50K", Workload::BTreeMap(50_000)),
    ];

    pub fn run(self) {
        match self {
            Workload::VecPush(n) => vec_push(n),
            Workload::VecRandFree(n, blk) => vec_rand_free(n, blk, 0xdead_beef),
            Workload::BTreeMap(n) => btree_map(n, 0xdead_beef),
        }
    }
}
