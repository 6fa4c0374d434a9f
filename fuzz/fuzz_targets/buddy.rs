//! Fuzz target: the buddy page allocator (`PageAllocator`) against a model
//! that knows which frames are free without knowing about blocks.
//!
//! The input picks a memory map (how many frames, which ranges are RAM) and
//! a sequence of allocations, good frees and bad frees. After every step the
//! allocator's own `check()` must pass and its page counts must match the
//! model's; every free, good or bad, must give exactly the result the model
//! predicts; every allocation must come from the right zone and be split
//! from the smallest free block that holds it. At the end the free lists
//! must hold exactly the blocks the buddy rule implies: once every possible
//! merge is done, the free blocks are the largest aligned pieces of the runs
//! of free frames, so the model can work them out from the runs alone.
//!
//! The model keeps runs and blocks in ordered maps rather than a state per
//! frame: coverage instrumentation makes a loop over a million frames (a
//! map that reaches the Normal zone) cost about 20 ms.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mosaic_kernel::mm::page::{pages, Page, MAX_ORDER, NR_ORDERS, PAGE_SIZE};
use mosaic_kernel::mm::page_alloc::ZoneType;
use mosaic_kernel::mm::page_alloc::{AllocError, FreeError, PageAllocator};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Range;
use x86_64::PhysAddr;

/// First frame of DMA32 and of Normal.
const DMA32_START: u64 = (16 << 20) / PAGE_SIZE;
const NORMAL_START: u64 = (4 << 30) / PAGE_SIZE;
/// At most this many RAM/hole boundaries in a memory map.
const MAX_CUTS: usize = 32;
/// The `layout` byte that asks for a map reaching the Normal zone. One
/// value in 256, because such a map has a million frames and each run
/// spends milliseconds resetting them; coverage feedback finds it anyway.
const NORMAL_LAYOUT: u8 = b'N';

#[derive(Arbitrary, Debug)]
struct Input {
    layout: u8,
    /// Frames beyond the smallest map of the chosen kind.
    extra: u16,
    /// Boundaries between alternating holes and RAM, the first range a hole.
    cuts: Vec<u32>,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// `order` above MAX_ORDER must be refused.
    Alloc { order: u8, zone: u8 },
    /// Frees the live block the index picks, with its own order.
    Free(u16),
    /// Frees near a live block (or frame 0), with any order: mostly wrong.
    FreeNear { pick: u16, delta: i16, order: u8 },
    /// Frees at any address up to a little past the end of the map.
    FreeAt { addr: u64, order: u8 },
    /// `allocated_order` near a live block.
    Query { pick: u16, delta: i16, unaligned: bool },
}

thread_local! {
    /// `mem_map`, kept from run to run so that a 12 MB map is not allocated
    /// afresh each time (the allocator resets every entry anyway).
    static MAP: RefCell<Vec<Page>> = const { RefCell::new(Vec::new()) };
}

fuzz_target!(|input: Input| MAP.with_borrow_mut(|map| run(input, map)));

fn run(input: Input, map: &mut Vec<Page>) {
    let len = map_len(&input);
    let ram = ram_ranges(len, &input.cuts);
    map.resize(len as usize, Page::RESERVED);
    let mut alloc = PageAllocator::new(map);
    for range in &ram {
        alloc.add_free_range(range.clone());
    }
    let mut model = Model::new(len, &ram);
    agree(&alloc, &model);
    let boot_lists = model.free_lists();
    assert_eq!(free_lists(&alloc), boot_lists, "boot memory is not in the largest aligned blocks");
    for op in input.ops {
        step(&mut alloc, &mut model, op);
        agree(&alloc, &model);
    }
    assert_eq!(free_lists(&alloc), model.free_lists(), "free lists are not the fully merged blocks");
    while let Some((&pfn, &order)) = model.live.first_key_value() {
        assert_eq!(alloc.free_pages(addr(pfn), order), Ok(()));
        model.give_back(pfn);
    }
    agree(&alloc, &model);
    assert_eq!(free_lists(&alloc), boot_lists, "freeing everything did not restore the boot state");
}

fn map_len(input: &Input) -> u64 {
    if input.layout == NORMAL_LAYOUT {
        NORMAL_START + u64::from(input.extra % 8192)
    } else {
        1 + u64::from(input.extra) % (3 * DMA32_START)
    }
}

/// Cuts `0..len` at the given points; every second piece is RAM. The RAM
/// ranges come out sorted, disjoint and never touching.
fn ram_ranges(len: u64, cuts: &[u32]) -> Vec<Range<u64>> {
    let mut points: Vec<u64> = cuts.iter().take(MAX_CUTS).map(|&c| u64::from(c) % (len + 1)).collect();
    points.sort_unstable();
    points.dedup();
    points.push(len);
    points.windows(2).step_by(2).map(|w| w[0]..w[1]).filter(|r| !r.is_empty()).collect()
}

fn addr(pfn: u64) -> PhysAddr {
    PhysAddr::new(pfn * PAGE_SIZE)
}

fn zone_of(pfn: u64) -> usize {
    ZoneType::of(pfn) as usize
}

fn free_lists(alloc: &PageAllocator) -> [[u64; NR_ORDERS]; 3] {
    ZoneType::ALL.map(|z| alloc.zone(z).nr_free())
}

/// The frame `delta` frames from the live block `pick` (or from frame 0).
fn near(model: &Model, pick: u16, delta: i16) -> u64 {
    let base = match model.live.len() {
        0 => 0,
        n => *model.live.keys().nth(usize::from(pick) % n).unwrap(),
    };
    base.saturating_add_signed(i64::from(delta))
}

fn step(alloc: &mut PageAllocator, model: &mut Model, op: Op) {
    match op {
        Op::Alloc { order, zone } => {
            check_alloc(alloc, model, usize::from(order % 13), ZoneType::ALL[usize::from(zone % 3)])
        }
        Op::Free(pick) if !model.live.is_empty() => {
            let (&pfn, &order) = model.live.iter().nth(usize::from(pick) % model.live.len()).unwrap();
            assert_eq!(alloc.free_pages(addr(pfn), order), Ok(()));
            model.give_back(pfn);
        }
        Op::Free(_) => {}
        Op::FreeNear { pick, delta, order } => {
            check_free(alloc, model, near(model, pick, delta) * PAGE_SIZE, usize::from(order % 13))
        }
        Op::FreeAt { addr, order } => {
            check_free(alloc, model, addr % ((model.len + 16) * PAGE_SIZE), usize::from(order % 13))
        }
        Op::Query { pick, delta, unaligned } => {
            let pfn = near(model, pick, delta);
            let at = PhysAddr::new(pfn * PAGE_SIZE + if unaligned { 8 } else { 0 });
            let want = model.live.get(&pfn).filter(|_| !unaligned).copied();
            assert_eq!(alloc.allocated_order(at), want, "allocated_order({at:?})");
        }
    }
}

/// Any free: the result must be exactly the model's prediction.
fn check_free(alloc: &mut PageAllocator, model: &mut Model, at: u64, order: usize) {
    let want = model.expected_free(at, order);
    assert_eq!(alloc.free_pages(PhysAddr::new(at), order), want, "free_pages({at:#x}, {order})");
    if want.is_ok() {
        model.give_back(at / PAGE_SIZE);
    }
}

/// An allocation must come from the highest allowed zone that has a big
/// enough block, and be split from that zone's smallest such block
/// (Linux's `__rmqueue_smallest`).
fn check_alloc(alloc: &mut PageAllocator, model: &mut Model, order: usize, zone: ZoneType) {
    let before = free_lists(alloc);
    let result = alloc.alloc_pages(order, zone);
    if order > MAX_ORDER {
        assert_eq!(result, Err(AllocError::BadOrder(order)));
        return;
    }
    let server = (0..=zone as usize).rev().find(|&z| before[z][order..].iter().any(|&n| n > 0));
    let Some(z) = server else {
        assert_eq!(result, Err(AllocError::OutOfMemory { order, zone }));
        assert!(!model.has_free_block(order, zone), "refused order {order} in {zone} although frames were free");
        return;
    };
    let pfn = result.expect("refused although a free list had a block").start_address().as_u64() / PAGE_SIZE;
    assert_eq!(pfn % pages(order), 0, "block {pfn:#x} of order {order} is misaligned");
    assert_eq!(zone_of(pfn), z, "block {pfn:#x} came from the wrong zone");
    assert!(model.all_free(pfn, pages(order)), "block {pfn:#x} of order {order} was not free");
    let split = (order..=MAX_ORDER).find(|&o| before[z][o] > 0).unwrap();
    let mut want = before[z];
    want[split] -= 1;
    want[order..split].iter_mut().for_each(|n| *n += 1);
    assert_eq!(free_lists(alloc)[z], want, "order {order} was not split from the smallest block (order {split})");
    model.take(pfn, order);
}

/// What must hold after every step.
fn agree(alloc: &PageAllocator, model: &Model) {
    assert_eq!(alloc.check(), Ok(()));
    for z in ZoneType::ALL {
        let i = z as usize;
        assert_eq!(alloc.zone(z).managed, model.managed[i], "managed pages of {z}");
        assert_eq!(alloc.zone(z).free_pages, model.managed[i] - model.used[i], "free pages of {z}");
    }
    assert_eq!(alloc.max_pfn(), model.len);
}

/// The free frames as maximal runs, and the allocated blocks. A frame in
/// neither is reserved.
struct Model {
    len: u64,
    /// Runs of free frames, start -> end; two runs never touch.
    free: BTreeMap<u64, u64>,
    /// Allocated blocks, first frame -> order.
    live: BTreeMap<u64, usize>,
    managed: [u64; 3],
    used: [u64; 3],
}

impl Model {
    fn new(len: u64, ram: &[Range<u64>]) -> Model {
        let mut model = Model { len, free: BTreeMap::new(), live: BTreeMap::new(), managed: [0; 3], used: [0; 3] };
        for r in ram {
            model.free.insert(r.start, r.end);
            for z in ZoneType::ALL {
                let (start, end) = (r.start.max(z.start_pfn()), r.end.min(z.end_pfn()));
                model.managed[z as usize] += end.saturating_sub(start);
            }
        }
        model
    }

    /// The run of free frames holding `pfn`.
    fn run(&self, pfn: u64) -> Option<Range<u64>> {
        let (&start, &end) = self.free.range(..=pfn).next_back()?;
        (pfn < end).then_some(start..end)
    }

    /// The allocated block holding `pfn`: its first frame and order.
    fn block(&self, pfn: u64) -> Option<(u64, usize)> {
        let (&start, &order) = self.live.range(..=pfn).next_back()?;
        (pfn < start + pages(order)).then_some((start, order))
    }

    fn all_free(&self, start: u64, n: u64) -> bool {
        self.run(start).is_some_and(|r| start + n <= r.end)
    }

    fn take(&mut self, pfn: u64, order: usize) {
        let run = self.run(pfn).expect("taking frames that are not free");
        let end = pfn + pages(order);
        self.free.remove(&run.start);
        if run.start < pfn {
            self.free.insert(run.start, pfn);
        }
        if end < run.end {
            self.free.insert(end, run.end);
        }
        self.live.insert(pfn, order);
        self.used[zone_of(pfn)] += pages(order);
    }

    /// Frees the live block at `pfn`, joining the runs on either side.
    fn give_back(&mut self, pfn: u64) {
        let order = self.live.remove(&pfn).expect("giving back a block that is not live");
        let (mut start, mut end) = (pfn, pfn + pages(order));
        if let Some((&s, _)) = self.free.range(..start).next_back().filter(|(_, &e)| e == start) {
            self.free.remove(&s);
            start = s;
        }
        if let Some(e) = self.free.remove(&end) {
            end = e;
        }
        self.free.insert(start, end);
        self.used[zone_of(pfn)] -= pages(order);
    }

    /// The first frame of the free block holding the free frame `pfn`: the
    /// start of the largest aligned, entirely free block around it.
    fn free_block_head(&self, pfn: u64) -> u64 {
        (0..=MAX_ORDER)
            .map(|order| (pfn & !(pages(order) - 1), pages(order)))
            .take_while(|&(start, n)| self.all_free(start, n))
            .last()
            .map_or(pfn, |(start, _)| start)
    }

    /// What `free_pages(at, order)` must return.
    fn expected_free(&self, at: u64, order: usize) -> Result<(), FreeError> {
        if order > MAX_ORDER {
            return Err(FreeError::BadOrder(order));
        }
        if !at.is_multiple_of(PAGE_SIZE) {
            return Err(FreeError::Unaligned(at));
        }
        let pfn = at / PAGE_SIZE;
        if self.run(pfn).is_some() {
            return Err(if self.free_block_head(pfn) == pfn {
                FreeError::AlreadyFree(at)
            } else {
                FreeError::NotBlockStart(at)
            });
        }
        match self.block(pfn) {
            None => Err(FreeError::NotManaged(at)),
            Some((start, _)) if start != pfn => Err(FreeError::NotBlockStart(at)),
            Some((_, o)) if o != order => Err(FreeError::WrongOrder { addr: at, allocated: o, given: order }),
            Some(_) => Ok(()),
        }
    }

    /// Whether some aligned block of `order` in `zone` or below is free.
    fn has_free_block(&self, order: usize, zone: ZoneType) -> bool {
        let n = pages(order);
        self.free.iter().any(|(&start, &end)| start.next_multiple_of(n) + n <= end.min(zone.end_pfn()))
    }

    /// The free blocks per zone and order that the buddy rule implies: each
    /// run cut, from its start, into the largest aligned blocks that fit. A
    /// block cut this way cannot be part of a larger free block, or the cut
    /// would have met that block first.
    fn free_lists(&self) -> [[u64; NR_ORDERS]; 3] {
        let mut lists = [[0; NR_ORDERS]; 3];
        for (&start, &end) in &self.free {
            let mut pfn = start;
            while pfn < end {
                let order = (0..=MAX_ORDER).rev().find(|&o| pfn % pages(o) == 0 && pfn + pages(o) <= end).unwrap();
                lists[zone_of(pfn)][order] += 1;
                pfn += pages(order);
            }
        }
        lists
    }
}
