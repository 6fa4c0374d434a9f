//! In-kernel tests of vm_map_ram's vmap blocks and their lazy TLB flush
//! (mm/vmap_block/, mm/vmalloc/vm_map_ram.rs): a freed range is not handed
//! out again before its block is purged, and many map/unmap cycles cost
//! few flushes.

use crate::ktest::{Test, TestResult};
use crate::mm::page_alloc::ZoneType;
use crate::mm::vmalloc;
use crate::mm::vmap_block::VMAP_BBMAP_BITS;
use crate::mm::{alloc_pages, free_pages};
use crate::{kassert, kassert_eq};
use x86_64::structures::paging::PhysFrame;

pub const TESTS: &[Test] = crate::suite![
    "vmap_block::freed_range_not_reused_before_a_purge" => not_reused_before_purge,
    "vmap_block::many_unmaps_few_flushes" => many_unmaps_few_flushes,
];

fn page() -> PhysFrame {
    alloc_pages(0, ZoneType::Normal).expect("a page for the test")
}

fn not_reused_before_purge() -> TestResult {
    let frame = page();
    let first = vmalloc::vm_map_ram(&[frame]).expect("a one-page mapping");
    vmalloc::vm_unmap_ram(first, 1).expect("undo it");
    let second = vmalloc::vm_map_ram(&[frame]).expect("a second one");
    kassert!(second != first, "the lazily freed page {first:?} was handed out again before a flush");
    kassert_eq!(vmalloc::find_area(first).map(|a| a.2), Some("vmap_block"));
    vmalloc::vm_unmap_ram(second, 1).expect("undo the second");
    // Nothing in use now: the purge flushes the block and gives it back.
    let released = vmalloc::vm_unmap_aliases();
    kassert!(released >= 1, "the emptied block was not given back");
    kassert_eq!(vmalloc::find_area(first), None);
    let third = vmalloc::vm_map_ram(&[frame]).expect("a third one");
    vmalloc::vm_unmap_ram(third, 1).expect("undo the third");
    vmalloc::vm_unmap_aliases();
    free_pages(frame.start_address(), 0).expect("the test's page");
    Ok(())
}

fn many_unmaps_few_flushes() -> TestResult {
    let frame = page();
    let before = vmalloc::vmap_block_stats();
    let cycles = 3 * VMAP_BBMAP_BITS;
    for _ in 0..cycles {
        let v = vmalloc::vm_map_ram(&[frame]).expect("a one-page mapping");
        vmalloc::vm_unmap_ram(v, 1).expect("undo it");
    }
    vmalloc::vm_unmap_aliases();
    let after = vmalloc::vmap_block_stats();
    let flushes = after.flushes - before.flushes;
    // One flush per block used up, plus the last one's at the purge.
    kassert!(flushes <= cycles / VMAP_BBMAP_BITS + 1, "{cycles} unmaps took {flushes} flushes");
    kassert_eq!(after.blocks, before.blocks);
    free_pages(frame.start_address(), 0).expect("the test's page");
    Ok(())
}
