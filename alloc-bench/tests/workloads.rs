//! Every workload of the comparison, at small sizes, on every allocator:
//! each block or object handed out is in range, aligned, not overlapping
//! another one in use, writable, and everything is back at the end. Also
//! checks the free-block reckoning used for buddy_system_allocator against
//! Mosaic's own counts.

use alloc_bench::frames::{
    free_blocks_of, BuddySystemFrames, FrameWorkload, Frames, MosaicFrames, MosaicPcpFrames, NewFrames,
};
use alloc_bench::heaps::{new_heap, on_heap, Heap, MosaicHeap, Workload, HEAPS};
use core::alloc::Layout;
use mosaic_kernel::mm::page::NR_ORDERS;

/// Wraps a frame allocator and checks every block against a map of frames
/// in use.
struct CheckedFrames<F> {
    inner: F,
    used: Vec<bool>,
    live: usize,
}

impl<F: Frames> Frames for CheckedFrames<F> {
    fn alloc(&mut self, order: usize) -> Option<u64> {
        let pfn = self.inner.alloc(order)?;
        let n = 1u64 << order;
        assert_eq!(pfn % n, 0, "order-{order} block at frame {pfn} is not aligned");
        let blk = &mut self.used[pfn as usize..(pfn + n) as usize];
        assert!(blk.iter().all(|u| !u), "block {pfn}+{n} overlaps a block in use");
        blk.fill(true);
        self.live += 1;
        Some(pfn)
    }

    fn free(&mut self, pfn: u64, order: usize) {
        let blk = &mut self.used[pfn as usize..(pfn + (1 << order)) as usize];
        assert!(blk.iter().all(|&u| u), "freeing block {pfn} of order {order} that is not in use");
        blk.fill(false);
        self.live -= 1;
        self.inner.free(pfn, order)
    }

    fn free_blocks(&mut self, live: &[(u64, u8)]) -> [u64; NR_ORDERS] {
        assert_eq!(live.len(), self.live, "the workload's list of live blocks is off");
        let theirs = self.inner.free_blocks(live);
        assert_eq!(theirs, free_blocks_of(self.used.len() as u64, live), "free blocks reckoned wrongly");
        theirs
    }
}

const SMALL: [FrameWorkload; 3] = [
    FrameWorkload::Mixed { frames: 8192, steps: 20_000 },
    FrameWorkload::Churn { frames: 8192, rounds: 300 },
    FrameWorkload::Fragmenting { frames: 8192 },
];

fn frames_workloads_on<F: NewFrames>() {
    for w in SMALL {
        let frames = w.frames();
        let mut f = CheckedFrames { inner: F::with_frames(frames), used: vec![false; frames as usize], live: 0 };
        let out = w.run(&mut f);
        assert_eq!(f.live, 0, "{} {w:?}: blocks left allocated", F::NAME);
        assert!(f.used.iter().all(|u| !u));
        assert!(out.ops > 0);
        // Everything free again: one free block of the largest order per 1024 frames.
        let all = f.inner.free_blocks(&[]);
        assert_eq!(all[NR_ORDERS - 1], frames / 1024, "{} {w:?}: not all merged back: {all:?}", F::NAME);
        if let FrameWorkload::Fragmenting { .. } = w {
            assert!(out.order3_after > 0, "the frees made no order-3 block at all");
        }
    }
}

#[test]
fn frame_workloads_mosaic() {
    frames_workloads_on::<MosaicFrames>();
}

#[test]
fn frame_workloads_mosaic_pcp() {
    frames_workloads_on::<MosaicPcpFrames>();
}

#[test]
fn frame_workloads_buddy_system() {
    frames_workloads_on::<BuddySystemFrames>();
}

/// Wraps a heap and checks each allocation against the others in use. Its
/// records are made before the workload runs and never grow, so they do not
/// allocate from the heap they check.
struct CheckedHeap {
    inner: Box<dyn Heap>,
    /// (start, size) of the allocations in use, sorted by start.
    live: Vec<(usize, usize)>,
    errors: Vec<&'static str>,
    allocs: u64,
}

impl Heap for CheckedHeap {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        let p = self.inner.alloc(layout);
        self.allocs += 1;
        let errors = &mut self.errors;
        let mut fail = |e| {
            if errors.len() < errors.capacity() {
                errors.push(e)
            }
        };
        if p.is_null() {
            fail("allocation refused");
            return p;
        }
        let (start, size) = (p as usize, layout.size());
        if start % layout.align() != 0 {
            fail("misaligned");
        }
        if !self.inner.owns(p) || !self.inner.owns(p.wrapping_add(size.max(1) - 1)) {
            fail("outside the arena");
        }
        let i = self.live.partition_point(|&(s, _)| s < start);
        if i > 0 && self.live[i - 1].0 + self.live[i - 1].1 > start {
            fail("overlaps the allocation below");
        }
        if i < self.live.len() && start + size > self.live[i].0 {
            fail("overlaps the allocation above");
        }
        if self.live.len() == self.live.capacity() {
            fail("checker out of room");
            return p;
        }
        self.live.insert(i, (start, size));
        // Writable, every byte.
        // SAFETY: the heap just gave us `size` bytes at `p`.
        unsafe { p.write_bytes(0x5a, size) };
        p
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        match self.live.binary_search_by_key(&(ptr as usize), |&(s, _)| s) {
            Ok(i) if self.live[i].1 == layout.size() => {
                self.live.remove(i);
            }
            _ => {
                if self.errors.len() < self.errors.capacity() {
                    self.errors.push("freed something not allocated, or with another size")
                }
            }
        }
        // SAFETY: passed on from our caller.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        self.inner.owns(ptr)
    }

    fn peak_bytes(&self) -> usize {
        self.inner.peak_bytes()
    }
}

const SMALL_HEAP: [Workload; 4] = [
    Workload::VecPush(100_000),
    Workload::VecRandFree(2_000, 64),
    Workload::VecRandFree(500, 520),
    Workload::BTreeMap(5_000),
];

#[test]
fn heap_workloads_every_heap() {
    for name in HEAPS {
        for w in SMALL_HEAP {
            let mut h = CheckedHeap {
                inner: new_heap(name, 16 << 20),
                live: Vec::with_capacity(100_000),
                errors: Vec::with_capacity(16),
                allocs: 0,
            };
            on_heap(&mut h, || w.run());
            assert!(h.errors.is_empty(), "{name} {w:?}: {:?}", h.errors);
            assert!(h.live.is_empty(), "{name} {w:?}: {} allocations not freed", h.live.len());
            assert!(h.allocs > 10, "{name} {w:?}: the workload did not reach the heap");
            assert!(h.peak_bytes() > 0);
        }
    }
}

#[test]
fn mosaic_heap_gives_every_page_back() {
    let mut h = MosaicHeap::new(16 << 20);
    let free = h.free_pages();
    for w in SMALL_HEAP {
        on_heap(&mut h, || w.run());
        assert_eq!(h.held_pages(), 0, "{w:?}");
        assert_eq!(h.free_pages(), free, "{w:?}");
    }
}

/// Above 4 MiB the heap takes runs of whole 4 MiB blocks, as the kernel's
/// heap does: writable, given back whole, refused when no run is free.
#[test]
fn mosaic_heap_serves_runs_of_blocks_above_4_mib() {
    let mut h = MosaicHeap::new(32 << 20);
    let free = h.free_pages();
    let big = Layout::from_size_align(12 << 20, 8).unwrap();
    let a = h.alloc(big);
    assert!(!a.is_null());
    assert_eq!(h.held_pages(), 3 * 1024);
    // SAFETY: `a` is a fresh block of `big.size()` bytes.
    unsafe { a.write_bytes(0xa5, big.size()) };
    let b = h.alloc(Layout::from_size_align(16 << 20, 8).unwrap());
    assert!(!b.is_null(), "5 of 8 blocks are still free and next to each other");
    assert!(h.alloc(Layout::from_size_align(8 << 20, 8).unwrap()).is_null(), "one block is left");
    // SAFETY: each pointer came from `alloc` with this layout.
    unsafe {
        h.dealloc(b, Layout::from_size_align(16 << 20, 8).unwrap());
        h.dealloc(a, big);
    }
    assert_eq!(h.held_pages(), 0);
    assert_eq!(h.free_pages(), free);
    on_heap(&mut h, || Workload::VecPush(3_000_000).run());
    assert_eq!(h.free_pages(), free);
}

/// A frame allocator that hands out frame 0 every time.
struct Broken;

impl Frames for Broken {
    fn alloc(&mut self, _order: usize) -> Option<u64> {
        Some(0)
    }
    fn free(&mut self, _pfn: u64, _order: usize) {}
    fn free_blocks(&mut self, _live: &[(u64, u8)]) -> [u64; NR_ORDERS] {
        [0; NR_ORDERS]
    }
}

#[test]
#[should_panic(expected = "overlaps a block in use")]
fn frame_checker_catches_a_block_handed_out_twice() {
    let mut f = CheckedFrames { inner: Broken, used: vec![false; 8192], live: 0 };
    FrameWorkload::Churn { frames: 8192, rounds: 1 }.run(&mut f);
}

/// A heap that gives every allocation the same bytes of a real heap.
struct Overlapping {
    inner: Box<dyn Heap>,
    first: *mut u8,
}

impl Heap for Overlapping {
    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        if self.first.is_null() {
            self.first = self.inner.alloc(Layout::from_size_align(1 << 20, 4096).unwrap());
        }
        assert!(layout.size() <= 1 << 20 && layout.align() <= 4096);
        self.first
    }
    unsafe fn dealloc(&mut self, _ptr: *mut u8, _layout: Layout) {}
    fn owns(&self, ptr: *mut u8) -> bool {
        self.inner.owns(ptr)
    }
    fn peak_bytes(&self) -> usize {
        1
    }
}

#[test]
fn heap_checker_catches_overlapping_allocations() {
    let inner = Overlapping { inner: new_heap("talc", 4 << 20), first: std::ptr::null_mut() };
    let mut h = CheckedHeap {
        inner: Box::new(inner),
        live: Vec::with_capacity(1000),
        errors: Vec::with_capacity(16),
        allocs: 0,
    };
    let l = Layout::from_size_align(64, 8).unwrap();
    let (a, b) = (h.alloc(l), h.alloc(l));
    assert_eq!(a, b);
    assert!(h.errors.iter().any(|e| e.starts_with("overlaps")), "{:?}", h.errors);
}
