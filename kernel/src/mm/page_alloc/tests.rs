//! Host tests of the buddy allocator: fixed scenarios, then random
//! sequences checked against a model after every step.

use super::*;
use proptest::prelude::*;

const DMA_PAGES: u64 = 4096;

fn map(len: u64) -> Vec<Page> {
    vec![Page::RESERVED; len as usize]
}

fn addr(frame: PhysFrame) -> PhysAddr {
    frame.start_address()
}

#[test]
fn boot_memory_becomes_the_largest_aligned_blocks() {
    let mut m = map(2 * DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    a.add_free_range(1..2 * DMA_PAGES); // frame 0 stays reserved, as at boot
    assert_eq!(a.zone(ZoneType::Dma).nr_free(), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3]);
    assert_eq!(a.zone(ZoneType::Dma32).nr_free(), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]);
    assert_eq!(a.free_pages_total(), 2 * DMA_PAGES - 1);
    assert_eq!(a.populated_zones().count(), 2);
    a.check().unwrap();
}

#[test]
fn allocation_splits_and_free_merges_back() {
    let mut m = map(2 * DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    a.add_free_range(DMA_PAGES..2 * DMA_PAGES);
    let before = a.zone(ZoneType::Dma32).nr_free();
    let f = a.alloc_pages(0, ZoneType::Dma32).unwrap();
    assert_eq!(a.zone(ZoneType::Dma32).nr_free(), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3]);
    assert_eq!(a.allocated_order(addr(f)), Some(0));
    a.check().unwrap();
    a.free_pages(addr(f), 0).unwrap();
    assert_eq!(a.zone(ZoneType::Dma32).nr_free(), before);
    a.check().unwrap();
}

#[test]
fn allocations_record_their_owner_on_the_head() {
    let mut m = map(2 * DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    a.add_free_range(DMA_PAGES..2 * DMA_PAGES);
    a.enable_pcp();
    let owner = |a: &PageAllocator, f: PhysFrame| a.mem_map()[(addr(f).as_u64() / PAGE_SIZE) as usize].owner;
    let table = a.alloc_pages_for(PageOwner::PageTable, 0, ZoneType::Dma32).unwrap();
    let shell = a.alloc_pages_buddy(2, ZoneType::Dma32).unwrap();
    let plain = a.alloc_pages(1, ZoneType::Dma32).unwrap();
    assert_eq!(
        [owner(&a, table), owner(&a, shell), owner(&a, plain)],
        [PageOwner::PageTable, PageOwner::Shell, PageOwner::Other]
    );
    // The bulk path: from the per-CPU list and through its refills alike.
    let mut frames = [PhysFrame::containing_address(PhysAddr::zero()); 40];
    a.alloc_pages_bulk_for(PageOwner::Vmalloc, ZoneType::Dma32, &mut frames).unwrap();
    assert!(frames.iter().all(|&f| owner(&a, f) == PageOwner::Vmalloc));
    // A freed and reallocated page forgets its old owner.
    a.free_pages(addr(table), 0).unwrap();
    let again = a.alloc_pages(0, ZoneType::Dma32).unwrap();
    assert_eq!(owner(&a, again), PageOwner::Other);
    a.check().unwrap();
}

#[test]
fn reserved_frames_are_named_and_free_ones_are_left_alone() {
    let mut m = map(2 * DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    a.add_free_range(DMA_PAGES..2 * DMA_PAGES);
    assert_eq!(a.mem_map()[5].owner, PageOwner::Hole, "a frame nobody named is a hole");
    a.set_reserved_owner(0..DMA_PAGES + 10, PageOwner::Kernel);
    assert_eq!(a.mem_map()[5].owner, PageOwner::Kernel);
    assert_eq!(a.mem_map()[DMA_PAGES as usize].state, PageState::Free);
    a.set_reserved_owner(4 * DMA_PAGES..5 * DMA_PAGES, PageOwner::Firmware); // beyond mem_map: ignored
    a.check().unwrap();
}

#[test]
fn block_of_finds_the_head_of_any_frame() {
    let mut m = map(2 * DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    a.add_free_range(DMA_PAGES..2 * DMA_PAGES);
    let f = a.alloc_pages_buddy(3, ZoneType::Dma32).unwrap();
    let head = addr(f).as_u64() / PAGE_SIZE;
    for pfn in head..head + 8 {
        assert_eq!(a.block_of(pfn), Some((head, PageState::Allocated, 3)), "pfn {pfn}");
    }
    assert_eq!(a.block_of(0), Some((0, PageState::Reserved, 0)));
    assert!(matches!(a.block_of(head + 8), Some((_, PageState::Free, _))));
    assert_eq!(a.block_of(2 * DMA_PAGES), None);
}

#[test]
fn requests_fall_back_to_lower_zones_only() {
    let mut m = map(2 * DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    a.add_free_range(DMA_PAGES - 4..DMA_PAGES + 4); // 4 DMA pages, 4 DMA32 pages
                                                    // Normal is empty: served from DMA32, then DMA.
    let mut got = Vec::new();
    for _ in 0..8 {
        got.push(a.alloc_pages(0, ZoneType::Normal).unwrap().start_address().as_u64() / PAGE_SIZE);
    }
    assert!(got[..4].iter().all(|&p| p >= DMA_PAGES), "DMA32 first: {got:?}");
    assert!(got[4..].iter().all(|&p| p < DMA_PAGES), "then DMA: {got:?}");
    for pfn in got.drain(4..) {
        a.free_pages(PhysAddr::new(pfn * PAGE_SIZE), 0).unwrap();
    }
    // A DMA request never takes DMA32 memory, even when DMA is exhausted.
    for _ in 0..4 {
        assert!(a.alloc_pages(0, ZoneType::Dma).unwrap().start_address().as_u64() < DMA_PAGES * PAGE_SIZE);
    }
    assert_eq!(a.alloc_pages(0, ZoneType::Dma), Err(AllocError::OutOfMemory { order: 0, zone: ZoneType::Dma }));
    a.check().unwrap();
}

#[test]
fn bad_frees_are_reported_and_change_nothing() {
    let mut m = map(DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    a.add_free_range(1..DMA_PAGES);
    let block = addr(a.alloc_pages(2, ZoneType::Dma).unwrap());
    let snapshot = (a.free_pages_total(), a.nr_free_total());
    let b = block.as_u64();
    let cases = [
        (PhysAddr::new(b), 11, FreeError::BadOrder(11)),
        (PhysAddr::new(b + 8), 2, FreeError::Unaligned(b + 8)),
        (PhysAddr::new(b + PAGE_SIZE), 0, FreeError::NotBlockStart(b + PAGE_SIZE)),
        (PhysAddr::new(b), 1, FreeError::WrongOrder { addr: b, allocated: 2, given: 1 }),
        (PhysAddr::new(0), 0, FreeError::NotManaged(0)),
        (PhysAddr::new(DMA_PAGES * PAGE_SIZE), 0, FreeError::NotManaged(DMA_PAGES * PAGE_SIZE)),
    ];
    for (at, order, expected) in cases {
        let got = a.free_pages(at, order);
        assert_eq!(
            got,
            Err(expected),
            "free_pages({:#x}, order {order}): got {got:x?}, want {:x?}",
            at.as_u64(),
            Err::<(), _>(expected)
        );
        assert_eq!((a.free_pages_total(), a.nr_free_total()), snapshot);
        a.check().unwrap();
    }
    a.free_pages(block, 2).unwrap();
    let got = a.free_pages(block, 2);
    assert_eq!(
        got,
        Err(FreeError::AlreadyFree(b)),
        "second free of the block at {b:#x}: got {got:x?}, want AlreadyFree"
    );
    assert_eq!(a.alloc_pages(11, ZoneType::Dma), Err(AllocError::BadOrder(11)));
    a.check().unwrap();
}

#[test]
fn exhausting_a_zone_and_freeing_everything_restores_it_exactly() {
    let mut m = map(2 * DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    a.add_free_range(1..1000);
    a.add_free_range(1003..2 * DMA_PAGES);
    let baseline = a.nr_free_total();
    let mut blocks = Vec::new();
    while let Ok(f) = a.alloc_pages(0, ZoneType::Dma) {
        blocks.push(f);
    }
    assert_eq!(a.zone(ZoneType::Dma).free_pages, 0);
    assert_eq!(blocks.len() as u64, a.zone(ZoneType::Dma).managed);
    // Free in an order unrelated to allocation order.
    blocks.sort_by_key(|f| (f.start_address().as_u64() / PAGE_SIZE).wrapping_mul(0x9e37_79b9) % 7919);
    for f in blocks {
        a.free_pages(addr(f), 0).unwrap();
    }
    assert_eq!(a.nr_free_total(), baseline);
    a.check().unwrap();
}

/// One step of a random workload.
#[derive(Clone, Debug)]
enum Op {
    Alloc {
        order: usize,
        zone: ZoneType,
    },
    /// Free the live block at this index (modulo the number of live blocks).
    Free(usize),
    /// Try to free a live block with the wrong order.
    FreeWrongOrder(usize),
    /// Try to free the second page of a live block of order >= 1.
    FreeMiddle(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let zone = prop_oneof![Just(ZoneType::Dma), Just(ZoneType::Dma32), Just(ZoneType::Normal)];
    prop_oneof![
        4 => (0usize..=MAX_ORDER, zone).prop_map(|(o, zone)| Op::Alloc { order: o % 5 + (o / 9) * 6, zone }),
        3 => any::<usize>().prop_map(Op::Free),
        1 => any::<usize>().prop_map(Op::FreeWrongOrder),
        1 => any::<usize>().prop_map(Op::FreeMiddle),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_workloads_match_the_model(ops in prop::collection::vec(op(), 1..400), pcp in any::<bool>()) {
        // Two zones with holes, as real memory maps have.
        let mut m = map(3 * DMA_PAGES);
        let mut a = PageAllocator::new(&mut m);
        for range in [1..700, 705..2048, 2050..DMA_PAGES, DMA_PAGES..2 * DMA_PAGES + 77, 2 * DMA_PAGES + 1024..3 * DMA_PAGES] {
            a.add_free_range(range);
        }
        if pcp {
            a.enable_pcp();
        }
        let managed = a.managed_pages_total();
        let baseline = (a.zone(ZoneType::Dma).nr_free(), a.zone(ZoneType::Dma32).nr_free());
        let mut live: Vec<(u64, usize)> = Vec::new(); // (pfn, order)

        for op in ops {
            match op {
                Op::Alloc { order, zone } => match a.alloc_pages(order, zone) {
                    Ok(frame) => {
                        let pfn = frame.start_address().as_u64() / PAGE_SIZE;
                        prop_assert_eq!(pfn % pages(order), 0, "block at {:#x} of order {} is not a multiple of its size", pfn * PAGE_SIZE, order);
                        prop_assert!(ZoneType::of(pfn) <= zone, "came from a higher zone");
                        for &(p, o) in &live {
                            let disjoint = pfn + pages(order) <= p || p + pages(o) <= pfn;
                            prop_assert!(disjoint, "block {} handed out twice", pfn);
                        }
                        live.push((pfn, order));
                    }
                    Err(AllocError::OutOfMemory { .. }) => {
                        // Only legitimate if no zone it may use has a big enough block.
                        let any = (0..=zone as usize).any(|z| {
                            a.zone(ZoneType::ALL[z]).nr_free()[order..].iter().any(|&n| n > 0)
                        });
                        prop_assert!(!any, "refused although a block was free");
                        prop_assert_eq!(a.pcp_pages(), 0, "refused with pages on a per-CPU list");
                    }
                    Err(e) => prop_assert!(false, "unexpected {:?}", e),
                },
                Op::Free(i) if !live.is_empty() => {
                    let (pfn, order) = live.swap_remove(i % live.len());
                    prop_assert_eq!(a.free_pages(PhysAddr::new(pfn * PAGE_SIZE), order), Ok(()));
                }
                Op::FreeWrongOrder(i) if !live.is_empty() => {
                    let (pfn, order) = live[i % live.len()];
                    let wrong = (order + 1) % (MAX_ORDER + 1);
                    prop_assert!(a.free_pages(PhysAddr::new(pfn * PAGE_SIZE), wrong).is_err());
                }
                Op::FreeMiddle(i) if !live.is_empty() => {
                    let (pfn, order) = live[i % live.len()];
                    if order > 0 {
                        let middle = PhysAddr::new((pfn + 1) * PAGE_SIZE);
                        prop_assert!(a.free_pages(middle, 0).is_err());
                    }
                }
                _ => {}
            }
            prop_assert_eq!(a.check(), Ok(()));
            let used: u64 = live.iter().map(|&(_, o)| pages(o)).sum();
            prop_assert_eq!(a.free_pages_total(), managed - used);
        }
        for (pfn, order) in live.drain(..) {
            prop_assert_eq!(a.free_pages(PhysAddr::new(pfn * PAGE_SIZE), order), Ok(()));
        }
        a.drain_pcp();
        prop_assert_eq!((a.zone(ZoneType::Dma).nr_free(), a.zone(ZoneType::Dma32).nr_free()), baseline);
        prop_assert_eq!(a.check(), Ok(()));
    }
}

// --- fault injection (fail_nth) ---------------------------------------------

/// An allocator over one DMA zone's worth of frames, frame 0 reserved.
fn small() -> Vec<Page> {
    map(DMA_PAGES)
}

/// The allocator of `small()`'s frames, all free but frame 0, with the
/// per-CPU list on if `pcp`.
fn dma(m: &mut [Page], pcp: bool) -> PageAllocator<'_> {
    let mut a = PageAllocator::new(m);
    a.add_free_range(1..DMA_PAGES);
    if pcp {
        a.enable_pcp();
    }
    a
}

#[test]
fn fail_nth_fails_exactly_that_call_then_turns_off() {
    let mut m = small();
    let mut a = dma(&mut m, false);
    let free = a.free_pages_total();
    a.fail_nth(Some(3));
    assert_eq!(a.fail_nth_pending(), Some(3));
    let first = a.alloc_pages(0, ZoneType::Dma).unwrap();
    let second = a.alloc_pages(1, ZoneType::Dma).unwrap();
    assert_eq!(a.fail_nth_pending(), Some(1));
    assert_eq!(a.alloc_pages(0, ZoneType::Dma), Err(AllocError::OutOfMemory { order: 0, zone: ZoneType::Dma }));
    // The failure took nothing, and the switch is off again.
    assert_eq!(a.free_pages_total(), free - 3);
    assert_eq!((a.fail_nth_pending(), a.injected_failures()), (None, 1));
    let third = a.alloc_pages(0, ZoneType::Dma).unwrap();
    for (f, order) in [(first, 0), (second, 1), (third, 0)] {
        a.free_pages(addr(f), order).unwrap();
    }
    assert_eq!(a.free_pages_total(), free);
    a.check().unwrap();
}

#[test]
fn fail_nth_one_is_the_next_call_and_off_cancels() {
    let mut m = small();
    let mut a = dma(&mut m, false);
    a.fail_nth(Some(1));
    assert!(a.alloc_pages(0, ZoneType::Normal).is_err());
    assert!(a.alloc_pages(0, ZoneType::Normal).is_ok());
    a.fail_nth(Some(1));
    a.fail_nth(None);
    assert!(a.alloc_pages(0, ZoneType::Normal).is_ok());
    // 0 means off too: there is no "zeroth call from now".
    a.fail_nth(Some(0));
    assert_eq!(a.fail_nth_pending(), None);
    assert!(a.alloc_pages(0, ZoneType::Normal).is_ok());
    assert_eq!(a.injected_failures(), 1);
}

#[test]
fn alloc_calls_counts_every_call_with_a_valid_order() {
    let mut m = small();
    let mut a = PageAllocator::new(&mut m);
    a.add_free_range(1..1000); // no block of MAX_ORDER
    assert_eq!(a.alloc_calls(), 0);
    let f = a.alloc_pages(2, ZoneType::Dma).unwrap();
    assert_eq!(a.alloc_calls(), 1);
    // A real out-of-memory failure counts; a bad order is refused first.
    assert!(a.alloc_pages(MAX_ORDER, ZoneType::Dma).is_err());
    assert_eq!(a.alloc_pages(MAX_ORDER + 1, ZoneType::Dma), Err(AllocError::BadOrder(MAX_ORDER + 1)));
    assert_eq!(a.alloc_calls(), 2);
    // Frees do not count, and an injected failure does.
    a.free_pages(addr(f), 2).unwrap();
    a.fail_nth(Some(1));
    assert!(a.alloc_pages(0, ZoneType::Dma).is_err());
    assert_eq!(a.alloc_calls(), 3);
}

#[test]
fn a_bad_order_does_not_use_up_the_injected_failure() {
    let mut m = small();
    let mut a = dma(&mut m, false);
    a.fail_nth(Some(1));
    assert_eq!(a.alloc_pages(MAX_ORDER + 1, ZoneType::Dma), Err(AllocError::BadOrder(MAX_ORDER + 1)));
    assert_eq!(a.fail_nth_pending(), Some(1));
    assert!(a.alloc_pages(0, ZoneType::Dma).is_err());
    assert_eq!(a.fail_nth_pending(), None);
}

// --- bulk allocation (vmalloc's page arrays) ---------------------------------

fn placeholder() -> PhysFrame {
    PhysFrame::containing_address(PhysAddr::zero())
}

#[test]
fn bulk_allocation_gives_distinct_pages_and_bulk_free_restores_everything() {
    let mut m = small();
    let mut a = dma(&mut m, false);
    let before = (a.free_pages_total(), a.zone(ZoneType::Dma).nr_free());
    let mut frames = [placeholder(); 37];
    a.alloc_pages_bulk(ZoneType::Dma, &mut frames).unwrap();
    let mut seen: Vec<_> = frames.iter().map(|f| f.start_address().as_u64()).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), frames.len(), "a page was handed out twice");
    assert!(frames.iter().all(|&f| a.allocated_order(addr(f)) == Some(0)));
    assert_eq!(a.free_pages_total(), before.0 - 37);
    a.free_pages_bulk(&frames).unwrap();
    assert_eq!((a.free_pages_total(), a.zone(ZoneType::Dma).nr_free()), before);
    a.check().unwrap();
}

#[test]
fn bulk_allocation_that_fails_part_way_takes_nothing() {
    let mut m = small();
    let mut a = dma(&mut m, false);
    let before = (a.free_pages_total(), a.zone(ZoneType::Dma).nr_free());
    // Every page is one call: the fifth one fails.
    a.fail_nth(Some(5));
    let mut frames = [placeholder(); 8];
    let calls = a.alloc_calls();
    assert!(a.alloc_pages_bulk(ZoneType::Dma, &mut frames).is_err());
    assert_eq!(a.alloc_calls(), calls + 5);
    assert!(frames.iter().all(|f| f.start_address().is_null()));
    assert_eq!((a.free_pages_total(), a.zone(ZoneType::Dma).nr_free()), before);
    // More than the zone holds fails the same way.
    let mut frames = vec![placeholder(); DMA_PAGES as usize];
    assert!(a.alloc_pages_bulk(ZoneType::Dma, &mut frames).is_err());
    assert_eq!((a.free_pages_total(), a.zone(ZoneType::Dma).nr_free()), before);
    a.check().unwrap();
}

#[test]
fn bulk_free_reports_a_page_that_is_not_allocated() {
    let mut m = small();
    let mut a = dma(&mut m, false);
    let mut frames = [placeholder(); 2];
    a.alloc_pages_bulk(ZoneType::Dma, &mut frames).unwrap();
    a.free_pages(addr(frames[1]), 0).unwrap();
    assert_eq!(a.free_pages_bulk(&frames), Err(FreeError::AlreadyFree(addr(frames[1]).as_u64())));
    a.check().unwrap();
}

// --- the per-CPU lists ------------------------------------------------------

#[test]
fn a_freed_page_comes_straight_back_and_draining_restores_the_buddy_lists() {
    let mut m = small();
    let mut a = dma(&mut m, true);
    let (free, buddy) = (a.free_pages_total(), a.zone(ZoneType::Dma).nr_free());
    let batch = a.zone(ZoneType::Dma).pcp.batch;
    assert_eq!(batch, 3, "a 1024th of the zone's 4095 pages");
    let f = a.alloc_pages(0, ZoneType::Dma).unwrap();
    // The first request filled the list with a batch and took one of it.
    assert_eq!(a.pcp_pages(), batch - 1);
    assert_eq!(a.free_pages_total(), free - 1);
    a.free_pages(addr(f), 0).unwrap();
    assert_eq!(a.alloc_pages(0, ZoneType::Dma).unwrap(), f, "not the page just freed");
    a.free_pages(addr(f), 0).unwrap();
    assert_eq!(a.free_pages(addr(f), 0), Err(FreeError::AlreadyFree(addr(f).as_u64())));
    assert_eq!(a.allocated_order(addr(f)), None);
    assert_eq!(a.free_pages_total(), free);
    assert_ne!(a.zone(ZoneType::Dma).nr_free(), buddy, "the list holds pages back");
    a.check().unwrap();
    a.drain_pcp();
    assert_eq!((a.pcp_pages(), a.zone(ZoneType::Dma).nr_free()), (0, buddy));
    a.check().unwrap();
}

#[test]
fn a_page_whose_buddy_is_free_skips_the_list_and_merges() {
    let mut m = small();
    let mut a = dma(&mut m, false);
    // Frame 0 is not managed, so frame 1 is the lone order-0 block: the
    // first page is frame 1, whose buddy is never free, and the second
    // comes from splitting a larger block, whose other half stays free.
    let lone = a.alloc_pages(0, ZoneType::Dma).unwrap();
    let before = a.zone(ZoneType::Dma).nr_free();
    let split = a.alloc_pages(0, ZoneType::Dma).unwrap();
    assert_eq!(lone.start_address().as_u64() / 4096, 1);
    a.enable_pcp();
    a.free_pages(addr(split), 0).unwrap();
    assert_eq!(a.pcp_pages(), 0, "a page with a free buddy went on the per-CPU list");
    assert_eq!(a.zone(ZoneType::Dma).nr_free(), before, "the page did not merge with its buddy");
    a.free_pages(addr(lone), 0).unwrap();
    assert_eq!(a.pcp_pages(), 1, "a page whose buddy is not free skips the list");
    a.check().unwrap();
}

#[test]
fn the_list_never_holds_more_than_high() {
    let mut m = small();
    let mut a = dma(&mut m, true);
    let high = a.zone(ZoneType::Dma).pcp.high;
    let frames: Vec<_> = (0..3 * high).map(|_| a.alloc_pages(0, ZoneType::Dma).unwrap()).collect();
    for f in frames {
        a.free_pages(addr(f), 0).unwrap();
        assert!(a.pcp_pages() <= high);
    }
    a.check().unwrap();
}

#[test]
fn pages_on_the_list_are_drained_when_a_request_needs_them() {
    let mut m = small();
    let mut a = dma(&mut m, true);
    // Take every page one by one and free them all but the top two, which
    // go last, each while the other is held: on the list they keep the top
    // block from merging.
    let mut frames = Vec::new();
    while let Ok(f) = a.alloc_pages(0, ZoneType::Dma) {
        frames.push(f);
    }
    assert_eq!((a.free_pages_total(), a.pcp_pages()), (0, 0));
    frames.sort_unstable();
    let top = frames.split_off(frames.len() - 2);
    for f in frames {
        a.free_pages(addr(f), 0).unwrap();
    }
    a.drain_pcp();
    for f in top {
        a.free_pages(addr(f), 0).unwrap();
    }
    assert_eq!(a.pcp_pages(), 2);
    // Frames 1024..4096 make three blocks of the largest order.
    assert_eq!(a.zone(ZoneType::Dma).nr_free()[MAX_ORDER], 2);
    let blocks: Vec<_> = std::iter::from_fn(|| a.alloc_pages(MAX_ORDER, ZoneType::Dma).ok()).collect();
    assert_eq!(blocks.len(), 3, "the per-CPU list was not drained before giving up");
    assert_eq!(a.pcp_pages(), 0);
    a.check().unwrap();
}

#[test]
fn the_buddy_variants_go_past_the_per_cpu_lists() {
    let mut m = small();
    let mut a = dma(&mut m, true);
    let before = a.zone(ZoneType::Dma).nr_free();
    let smallest = (0..=MAX_ORDER).find(|&o| before[o] > 0).unwrap();
    let f = a.alloc_pages_buddy(0, ZoneType::Dma).unwrap();
    assert_eq!(a.pcp_pages(), 0, "the list was filled");
    // The split of the smallest block leaves one block of each order below it.
    let mut want = before;
    want[smallest] -= 1;
    (0..smallest).for_each(|o| want[o] += 1);
    assert_eq!(a.zone(ZoneType::Dma).nr_free(), want);
    a.free_pages_buddy(addr(f), 0).unwrap();
    assert_eq!((a.pcp_pages(), a.zone(ZoneType::Dma).nr_free()), (0, before));
    // A page from the per-CPU path can go back either way, and vice versa.
    let g = a.alloc_pages(0, ZoneType::Dma).unwrap();
    a.free_pages_buddy(addr(g), 0).unwrap();
    assert_eq!(a.free_pages_buddy(addr(g), 0), Err(FreeError::AlreadyFree(addr(g).as_u64())));
    a.check().unwrap();
}

/// long_busy_list_alloc_test's page traffic alone: 101 single pages taken
/// and given back in bulk through the per-CPU list, per loop. For
/// profiling (ignored): run the test binary under `valgrind
/// --tool=callgrind` with LOOPS set to count instructions per page.
#[test]
#[ignore]
fn bulk_profile() {
    let mut m = map(64 * DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    a.add_free_range(DMA_PAGES..64 * DMA_PAGES);
    a.enable_pcp();
    let loops: u32 = std::env::var("LOOPS").ok().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let mut frames = [PhysFrame::containing_address(PhysAddr::zero()); 101];
    let started = std::time::Instant::now();
    for _ in 0..loops {
        a.alloc_pages_bulk(ZoneType::Normal, &mut frames).unwrap();
        a.free_pages_bulk(&frames).unwrap();
    }
    let ns = started.elapsed().as_nanos() / u128::from(loops.max(1)) / 101;
    std::println!("bulk: {ns} ns per page allocated and freed");
    a.check().unwrap();
}

/// A freed block whose buddy is allocated as one block of the same order
/// merges as soon as that block comes back, so it goes to the tail of its
/// list and other blocks are handed out first; one whose buddy is split
/// goes to the head. Whichever of the two is freed first, the other comes
/// out first. (Plain head pushes would hand out the last freed first,
/// plain tail pushes the first freed.)
#[test]
fn a_block_that_merges_soon_is_handed_out_last() {
    let mut m = map(2 * DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    a.add_free_range(DMA_PAGES..2 * DMA_PAGES);
    let pfn = |f: PhysFrame| addr(f).as_u64() / PAGE_SIZE;
    let base = pfn(a.alloc_pages_buddy(0, ZoneType::Dma32).unwrap());
    assert_eq!(pfn(a.alloc_pages_buddy(0, ZoneType::Dma32).unwrap()), base + 1);
    for expected in [base + 2, base + 4, base + 6] {
        assert_eq!(pfn(a.alloc_pages_buddy(1, ZoneType::Dma32).unwrap()), expected);
    }
    // The order-1 buddy of base+2, base..base+1, is now split (base+1 is
    // free); the order-1 buddy of base+6 is base+4, one block in use.
    a.free_pages_buddy(PhysAddr::new((base + 1) * PAGE_SIZE), 0).unwrap();
    for freed in [[base + 6, base + 2], [base + 2, base + 6]] {
        for p in freed {
            a.free_pages_buddy(PhysAddr::new(p * PAGE_SIZE), 1).unwrap();
        }
        a.check().unwrap();
        let first = pfn(a.alloc_pages_buddy(1, ZoneType::Dma32).unwrap());
        assert_eq!(first, base + 2, "freed in the order {freed:?}: the block that merges soon came out first");
        assert_eq!(pfn(a.alloc_pages_buddy(1, ZoneType::Dma32).unwrap()), base + 6);
    }
    a.check().unwrap();
}

/// A run for a request above 4 MiB is made of whole free largest-order
/// blocks next to each other, the lowest such run; free blocks that are
/// not neighbours do not make one. Each block of the run is freed on its
/// own order, and a run counts as one call for fault injection.
#[test]
fn runs_of_largest_blocks_are_free_neighbours() {
    let mut m = map(2 * DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    a.add_free_range(DMA_PAGES..2 * DMA_PAGES);
    let block = pages(MAX_ORDER);
    let at = |i: u64| PhysAddr::new((DMA_PAGES + i * block) * PAGE_SIZE);
    let mut taken: Vec<u64> =
        (0..4).map(|_| addr(a.alloc_pages(MAX_ORDER, ZoneType::Dma32).unwrap()).as_u64()).collect();
    taken.sort();
    assert_eq!(taken, (0..4).map(|i| at(i).as_u64()).collect::<Vec<_>>());
    for i in [1, 3] {
        a.free_pages(at(i), MAX_ORDER).unwrap();
    }
    let refused = Err(AllocError::NoContiguousRun { blocks: 2, zone: ZoneType::Dma32 });
    assert_eq!(a.alloc_contig_blocks_for(PageOwner::Other, 2, ZoneType::Dma32), refused, "blocks 1 and 3 are apart");
    a.free_pages(at(2), MAX_ORDER).unwrap();
    let run = a.alloc_contig_blocks_for(PageOwner::Slab, 2, ZoneType::Dma32).unwrap();
    assert_eq!(addr(run), at(1), "the lowest run: blocks 1 and 2");
    assert_eq!(a.allocated_order(at(2)), Some(MAX_ORDER));
    a.check().unwrap();
    a.fail_nth(Some(1));
    assert!(a.alloc_contig_blocks_for(PageOwner::Other, 1, ZoneType::Dma32).is_err(), "the injected failure");
    assert_eq!(
        a.alloc_contig_blocks_for(PageOwner::Other, 0, ZoneType::Dma32).map(addr),
        Err(AllocError::NoContiguousRun { blocks: 0, zone: ZoneType::Dma32 })
    );
    a.free_contig_blocks(at(1), 2).unwrap();
    assert_eq!(a.free_contig_blocks(at(1), 1), Err(FreeError::AlreadyFree(at(1).as_u64())));
    a.free_pages(at(0), MAX_ORDER).unwrap();
    assert_eq!(a.nr_free_total()[MAX_ORDER], 4);
    a.check().unwrap();
}

// --- the boot allocator (bootmem.rs): a skeleton whose lab 1 is not written ---

#[test]
fn a_written_buddy_allocator_passes_the_boot_self_check() {
    assert_eq!(buddy_self_check(), BuddyCheck { alloc: None, free: None });
}

/// Lab 1 as a skeleton with `Zone::alloc` missing: the check says so.
fn alloc_missing() -> BuddyCheck {
    BuddyCheck { alloc: Some(Missing { lab: 1, name: "Zone::alloc" }), free: None }
}

#[test]
fn while_lab_1_is_missing_the_kernel_gets_first_fit_blocks_above_dma() {
    let mut m = map(2 * DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    a.run_on_boot_allocator(alloc_missing());
    a.add_ram(1..2 * DMA_PAGES);
    assert_eq!(a.buddy_missing(), alloc_missing().alloc);
    assert_eq!(a.free_pages_total(), 2 * DMA_PAGES - 1);
    // The student's zone has the DMA part (Zone::free is written), in
    // buddy blocks; the rest is the boot allocator's.
    assert_eq!(a.zone(ZoneType::Dma).free_pages, DMA_PAGES - 1);
    assert_eq!(a.zone(ZoneType::Dma32).managed, 0);
    let one = addr(a.alloc_pages(0, ZoneType::Normal).unwrap()).as_u64() / PAGE_SIZE;
    assert_eq!(one, DMA_PAGES, "first fit: the lowest frame above DMA");
    let four = addr(a.alloc_pages(2, ZoneType::Normal).unwrap()).as_u64() / PAGE_SIZE;
    assert_eq!(four, DMA_PAGES + 4, "the lowest free block aligned to its size");
    let next = addr(a.alloc_pages(0, ZoneType::Normal).unwrap()).as_u64() / PAGE_SIZE;
    assert_eq!(next, DMA_PAGES + 1, "a single page fills the hole before the block");
    assert_eq!(a.alloc_pages(0, ZoneType::Dma), Err(AllocError::OutOfMemory { order: 0, zone: ZoneType::Dma }));
    a.free_pages(pfn_to_frame(one).start_address(), 0).unwrap();
    assert_eq!(a.free_pages(pfn_to_frame(one).start_address(), 0), Err(FreeError::AlreadyFree(one * PAGE_SIZE)));
    let four_at = pfn_to_frame(four).start_address();
    assert!(matches!(a.free_pages(four_at, 0), Err(FreeError::WrongOrder { allocated: 2, given: 0, .. })));
    a.free_pages(four_at, 2).unwrap();
    a.free_pages(pfn_to_frame(next).start_address(), 0).unwrap();
    assert_eq!(a.free_pages_total(), 2 * DMA_PAGES - 1, "every page back");
    a.check().unwrap();
}

#[test]
fn while_lab_1_is_missing_the_shell_uses_the_students_zone() {
    let mut m = map(2 * DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    a.run_on_boot_allocator(alloc_missing());
    // As memblock hands RAM over: a region below 16 MiB, then one above.
    a.add_ram(1..DMA_PAGES);
    a.add_ram(DMA_PAGES..2 * DMA_PAGES);
    let f = a.alloc_pages_buddy(3, ZoneType::Normal).unwrap();
    assert!(addr(f).as_u64() / PAGE_SIZE < DMA_PAGES, "the shell's requests go to the zones");
    assert_eq!(a.zone(ZoneType::Dma).free_pages, DMA_PAGES - 1 - 8);
    a.free_pages_buddy(addr(f), 3).unwrap();
    assert_eq!(a.zone(ZoneType::Dma).nr_free(), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3]);
    a.check().unwrap();
}

#[test]
fn without_zone_free_the_students_zone_stays_empty() {
    let mut m = map(2 * DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    let free_missing = Some(Missing { lab: 1, name: "Zone::free" });
    a.run_on_boot_allocator(BuddyCheck { alloc: None, free: free_missing });
    a.add_ram(1..2 * DMA_PAGES);
    assert_eq!(a.buddy_missing(), free_missing);
    assert_eq!(a.populated_zones().count(), 0);
    assert_eq!(a.free_pages_total(), DMA_PAGES);
    assert!(a.alloc_pages_buddy(0, ZoneType::Dma).is_err());
    assert!(a.alloc_pages(0, ZoneType::Normal).is_ok());
}

#[test]
fn bulk_requests_work_on_the_boot_allocator() {
    let mut m = map(2 * DMA_PAGES);
    let mut a = PageAllocator::new(&mut m);
    a.run_on_boot_allocator(alloc_missing());
    a.add_ram(1..2 * DMA_PAGES);
    a.enable_pcp();
    let mut frames = [pfn_to_frame(0); 40];
    a.alloc_pages_bulk(ZoneType::Normal, &mut frames).unwrap();
    assert!(frames.iter().all(|f| addr(*f).as_u64() / PAGE_SIZE >= DMA_PAGES));
    a.free_pages_bulk(&frames).unwrap();
    assert_eq!(a.free_pages_total(), 2 * DMA_PAGES - 1);
}
