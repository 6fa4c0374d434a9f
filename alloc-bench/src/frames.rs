//! The page-allocator side of the comparison: one trait over Mosaic's zoned
//! buddy allocator (with and without its per-CPU lists) and
//! `buddy_system_allocator::FrameAllocator`, the three workloads that every
//! one of them runs, and the count of free blocks per order left at the end.

use buddy_system_allocator::FrameAllocator;
use mosaic_kernel::mm::page::{Page, MAX_ORDER, NR_ORDERS, PAGE_SIZE};
use mosaic_kernel::mm::page_alloc::{PageAllocator, ZoneType};
use mosaic_kernel::rand::XorShift64;
use x86_64::PhysAddr;

/// Frames in 1 GiB of 4 KiB pages: the size the issue asks for.
pub const GIB_FRAMES: u64 = (1 << 30) / PAGE_SIZE;

/// A frame allocator over frames `0..frames`, handing out aligned blocks of
/// 2^order frames. Every workload goes through this and nothing else.
pub trait Frames {
    fn alloc(&mut self, order: usize) -> Option<u64>;
    fn free(&mut self, pfn: u64, order: usize);
    /// Free blocks per order, orders 0..=MAX_ORDER, given the blocks still
    /// allocated (`live`). Not allocator work: the benches run the
    /// workloads without it (`FrameWorkload::run_timed`).
    fn free_blocks(&mut self, live: &[(u64, u8)]) -> [u64; NR_ORDERS];
}

/// Mosaic's `PageAllocator` with its own `mem_map`. The map is leaked into
/// a `'static` borrow for the allocator and taken back on drop.
pub struct MosaicFrames {
    alloc: Option<PageAllocator<'static>>,
    map: *mut [Page],
}

impl MosaicFrames {
    /// Frames `0..frames`, all free; `pcp` turns on the per-CPU lists.
    pub fn new(frames: u64, pcp: bool) -> Self {
        let map: &'static mut [Page] = Box::leak(vec![Page::RESERVED; frames as usize].into_boxed_slice());
        let ptr = map as *mut [Page];
        let mut alloc = PageAllocator::new(map);
        alloc.add_free_range(0..frames);
        if pcp {
            alloc.enable_pcp();
        }
        MosaicFrames { alloc: Some(alloc), map: ptr }
    }

    pub fn inner(&mut self) -> &mut PageAllocator<'static> {
        self.alloc.as_mut().expect("allocator present until drop")
    }
}

impl Drop for MosaicFrames {
    fn drop(&mut self) {
        self.alloc = None;
        // SAFETY: `map` came from `Box::leak` in `new`, and the only borrow
        // of it, the allocator, is gone.
        drop(unsafe { Box::from_raw(self.map) });
    }
}

impl Frames for MosaicFrames {
    #[inline]
    fn alloc(&mut self, order: usize) -> Option<u64> {
        self.inner().alloc_pages(order, ZoneType::Normal).ok().map(|f| f.start_address().as_u64() / PAGE_SIZE)
    }

    #[inline]
    fn free(&mut self, pfn: u64, order: usize) {
        self.inner().free_pages(PhysAddr::new(pfn * PAGE_SIZE), order).expect("block was allocated with this order");
    }

    /// Mosaic's own counts (buddyinfo), after the per-CPU lists are drained
    /// back into the buddy lists, as the `buddyinfo` command does.
    fn free_blocks(&mut self, _live: &[(u64, u8)]) -> [u64; NR_ORDERS] {
        let a = self.inner();
        a.drain_pcp();
        a.nr_free_total()
    }
}

/// rCore's frame allocator: one `BTreeSet` of free block starts per order.
/// `ORDER = 11` gives it Mosaic's largest block, 2^10 frames.
pub struct BuddySystemFrames {
    alloc: FrameAllocator<NR_ORDERS>,
    frames: u64,
}

impl BuddySystemFrames {
    pub fn new(frames: u64) -> Self {
        let mut alloc = FrameAllocator::<NR_ORDERS>::new();
        alloc.add_frame(0, frames as usize);
        BuddySystemFrames { alloc, frames }
    }
}

impl Frames for BuddySystemFrames {
    #[inline]
    fn alloc(&mut self, order: usize) -> Option<u64> {
        self.alloc.alloc(1 << order).map(|f| f as u64)
    }

    #[inline]
    fn free(&mut self, pfn: u64, order: usize) {
        self.alloc.dealloc(pfn as usize, 1 << order)
    }

    /// The crate keeps its free lists private, so the blocks are worked out
    /// from what is allocated: it merges a freed block with its buddy
    /// whenever it can, so its free blocks are the largest aligned blocks of
    /// free frames (the tests check the same reckoning against Mosaic's own
    /// counts).
    fn free_blocks(&mut self, live: &[(u64, u8)]) -> [u64; NR_ORDERS] {
        free_blocks_of(self.frames, live)
    }
}

/// The free blocks of a fully merged buddy system over frames `0..frames`
/// (a multiple of 2^MAX_ORDER) with the blocks `live` allocated.
pub fn free_blocks_of(frames: u64, live: &[(u64, u8)]) -> [u64; NR_ORDERS] {
    let mut used = vec![false; frames as usize];
    for &(pfn, order) in live {
        used[pfn as usize..(pfn + (1 << order)) as usize].fill(true);
    }
    fn split(used: &[bool], start: usize, order: usize, out: &mut [u64; NR_ORDERS]) {
        let block = &used[start..start + (1 << order)];
        if block.iter().all(|u| !u) {
            out[order] += 1;
        } else if order > 0 && block.iter().any(|u| !u) {
            split(used, start, order - 1, out);
            split(used, start + (1 << (order - 1)), order - 1, out);
        }
    }
    let mut out = [0; NR_ORDERS];
    for start in (0..frames as usize).step_by(1 << MAX_ORDER) {
        split(&used, start, MAX_ORDER, &mut out);
    }
    out
}

/// What a workload did and left behind.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Calls of `alloc` and `free`, failed ones included.
    pub ops: u64,
    /// Allocations refused for want of a free block.
    pub failed: u64,
    /// Free blocks per order at the end, before the last blocks are freed.
    pub free_blocks: [u64; NR_ORDERS],
    /// For the fragmenting workload: order-3 blocks still obtained after the
    /// frees.
    pub order3_after: u64,
}

impl Outcome {
    /// The largest order with a free block, if any is free.
    pub fn largest_free_order(&self) -> Option<usize> {
        (0..NR_ORDERS).rev().find(|&o| self.free_blocks[o] > 0)
    }

    /// Free pages in blocks smaller than `order`: free memory a request of
    /// that order cannot use (the numerator of Linux's unusable index).
    pub fn free_pages_below(&self, order: usize) -> u64 {
        (0..order).map(|o| self.free_blocks[o] << o).sum()
    }
}

/// Blocks in use: what the workloads remember, and free again at the end.
struct Live {
    blocks: Vec<(u64, u8)>,
    pages: u64,
}

impl Live {
    fn with_capacity(n: usize) -> Self {
        Live { blocks: Vec::with_capacity(n), pages: 0 }
    }

    fn push(&mut self, pfn: u64, order: usize) {
        self.blocks.push((pfn, order as u8));
        self.pages += 1 << order;
    }

    fn take(&mut self, i: usize) -> (u64, usize) {
        let (pfn, order) = self.blocks.swap_remove(i);
        self.pages -= 1 << order;
        (pfn, order as usize)
    }
}

/// Frees every live block in a random order.
fn free_all<F: Frames>(f: &mut F, live: &mut Live, rng: &mut XorShift64, out: &mut Outcome) {
    while !live.blocks.is_empty() {
        let (pfn, order) = live.take(rng.below(live.blocks.len() as u64) as usize);
        f.free(pfn, order);
        out.ops += 1;
    }
}

/// Mixed orders 0..=3: fill half of the frames, then `steps` random
/// allocations and frees that keep about half in use, then free everything.
/// The free blocks are counted (if `census`) after the steps, with half
/// still in use.
pub fn mixed<F: Frames>(f: &mut F, frames: u64, steps: u64, seed: u64, census: bool) -> Outcome {
    let mut rng = XorShift64::new(seed);
    let mut out = Outcome::default();
    let mut live = Live::with_capacity(frames as usize / 2);
    let half = frames / 2;
    while live.pages < half {
        let order = rng.below(4) as usize;
        out.ops += 1;
        match f.alloc(order) {
            Some(pfn) => live.push(pfn, order),
            None => break,
        }
    }
    for _ in 0..steps {
        // Allocate with probability 0.6 below half, 0.4 above.
        let p_alloc = if live.pages < half { 6 } else { 4 };
        if live.blocks.is_empty() || rng.below(10) < p_alloc {
            let order = rng.below(4) as usize;
            out.ops += 1;
            match f.alloc(order) {
                Some(pfn) => live.push(pfn, order),
                None => out.failed += 1,
            }
        } else {
            let (pfn, order) = live.take(rng.below(live.blocks.len() as u64) as usize);
            f.free(pfn, order);
            out.ops += 1;
        }
    }
    if census {
        out.free_blocks = f.free_blocks(&live.blocks);
    }
    free_all(f, &mut live, &mut rng, &mut out);
    out
}

/// Single pages: `rounds` bursts of 1 to 64 allocations, each burst freed
/// again in a random order (the pattern of page tables, pipe buffers and
/// slab pages).
pub fn churn<F: Frames>(f: &mut F, rounds: u64, seed: u64, census: bool) -> Outcome {
    let mut rng = XorShift64::new(seed);
    let mut out = Outcome::default();
    let mut live = Live::with_capacity(64);
    for _ in 0..rounds {
        for _ in 0..rng.range(1, 64) {
            out.ops += 1;
            match f.alloc(0) {
                Some(pfn) => live.push(pfn, 0),
                None => out.failed += 1,
            }
        }
        free_all(f, &mut live, &mut rng, &mut out);
    }
    if census {
        out.free_blocks = f.free_blocks(&live.blocks);
    }
    out
}

/// Fragmenting: fill every frame with blocks of orders 0..=3, free a random
/// three quarters of the blocks, then take order-3 blocks until none is
/// left. The free blocks are counted then, with everything still held, and
/// `order3_after` says how many order-3 blocks the frees made available.
pub fn fragmenting<F: Frames>(f: &mut F, frames: u64, seed: u64, census: bool) -> Outcome {
    let mut rng = XorShift64::new(seed);
    let mut out = Outcome::default();
    let mut live = Live::with_capacity(frames as usize);
    loop {
        let order = rng.below(4) as usize;
        out.ops += 1;
        match f.alloc(order) {
            Some(pfn) => live.push(pfn, order),
            None if order == 0 => break,
            // A larger block may be gone while single pages are left.
            None => out.failed += 1,
        }
    }
    for _ in 0..live.blocks.len() * 3 / 4 {
        let (pfn, order) = live.take(rng.below(live.blocks.len() as u64) as usize);
        f.free(pfn, order);
        out.ops += 1;
    }
    loop {
        out.ops += 1;
        match f.alloc(3) {
            Some(pfn) => {
                live.push(pfn, 3);
                out.order3_after += 1;
            }
            None => break,
        }
    }
    if census {
        out.free_blocks = f.free_blocks(&live.blocks);
    }
    free_all(f, &mut live, &mut rng, &mut out);
    out
}

/// Mosaic's allocator with its per-CPU lists on, as the kernel runs it.
pub struct MosaicPcpFrames(pub MosaicFrames);

impl Frames for MosaicPcpFrames {
    #[inline]
    fn alloc(&mut self, order: usize) -> Option<u64> {
        self.0.alloc(order)
    }

    #[inline]
    fn free(&mut self, pfn: u64, order: usize) {
        self.0.free(pfn, order)
    }

    fn free_blocks(&mut self, live: &[(u64, u8)]) -> [u64; NR_ORDERS] {
        self.0.free_blocks(live)
    }
}

/// A frame allocator the benches and the report can make by type.
pub trait NewFrames: Frames {
    const NAME: &'static str;
    /// All of frames `0..frames` free.
    fn with_frames(frames: u64) -> Self;
}

impl NewFrames for MosaicFrames {
    const NAME: &'static str = "mosaic";
    fn with_frames(frames: u64) -> Self {
        MosaicFrames::new(frames, false)
    }
}

impl NewFrames for MosaicPcpFrames {
    const NAME: &'static str = "mosaic+pcp";
    fn with_frames(frames: u64) -> Self {
        MosaicPcpFrames(MosaicFrames::new(frames, true))
    }
}

impl NewFrames for BuddySystemFrames {
    const NAME: &'static str = "buddy_system";
    fn with_frames(frames: u64) -> Self {
        BuddySystemFrames::new(frames)
    }
}

/// The benches' seed for every workload's xorshift64.
pub const SEED: u64 = 0x5eed_0018;

/// The three workloads at the sizes of the benches.
#[derive(Clone, Copy, Debug)]
pub enum FrameWorkload {
    /// Orders 0..=3 over `frames`, with this many random steps.
    Mixed {
        frames: u64,
        steps: u64,
    },
    /// Single pages in this many bursts.
    Churn {
        frames: u64,
        rounds: u64,
    },
    Fragmenting {
        frames: u64,
    },
}

impl FrameWorkload {
    pub const BENCH: [(&'static str, FrameWorkload); 3] = [
        ("mixed", FrameWorkload::Mixed { frames: GIB_FRAMES, steps: 500_000 }),
        ("churn", FrameWorkload::Churn { frames: GIB_FRAMES, rounds: 20_000 }),
        ("fragmenting", FrameWorkload::Fragmenting { frames: GIB_FRAMES }),
    ];

    pub fn frames(self) -> u64 {
        match self {
            FrameWorkload::Mixed { frames, .. }
            | FrameWorkload::Churn { frames, .. }
            | FrameWorkload::Fragmenting { frames } => frames,
        }
    }

    /// Runs the workload and counts the free blocks it leaves.
    pub fn run<F: Frames>(self, f: &mut F) -> Outcome {
        self.run_with(f, true)
    }

    /// Runs the workload without counting free blocks, for timing: the
    /// count is not allocator work, and costs the allocators differently
    /// (a scan of 262,144 frames for buddy_system's, a drain and a sum of
    /// counters for Mosaic's).
    pub fn run_timed<F: Frames>(self, f: &mut F) -> Outcome {
        self.run_with(f, false)
    }

    fn run_with<F: Frames>(self, f: &mut F, census: bool) -> Outcome {
        match self {
            FrameWorkload::Mixed { frames, steps } => mixed(f, frames, steps, SEED, census),
            FrameWorkload::Churn { rounds, .. } => churn(f, rounds, SEED, census),
            FrameWorkload::Fragmenting { frames } => fragmenting(f, frames, SEED, census),
        }
    }
}
