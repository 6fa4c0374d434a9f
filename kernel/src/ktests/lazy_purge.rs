//! In-kernel tests of the lazy purge (mm/vmalloc/purge.rs, mm/vmap_purge/):
//! a lazily freed range is not handed out again before a purge and is
//! after it, the purge drops the stale translations, the pages come back
//! at the free itself, and lazy frees cost far fewer flushes than eager
//! ones. Each test switches to lazy and back to eager (the default) when
//! it ends, whatever its result.

use crate::ktest::{Test, TestResult};
use crate::mm::fault::extable;
use crate::mm::page::PAGE_SIZE;
use crate::mm::vmalloc::{self, VfreeStrategy};
use crate::mm::{fail_nth, injected_failures, pages_accounted};
use crate::{kassert, kassert_eq};
use alloc::vec::Vec;

pub const TESTS: &[Test] = crate::suite![
    "lazy_purge::freed_range_not_reused_before_a_purge" => not_reused_before_purge,
    "lazy_purge::purge_drops_stale_translations" => purge_drops_stale_translations,
    "lazy_purge::pages_come_back_at_the_free" => pages_come_back_at_the_free,
    "lazy_purge::fewer_flushes_than_eager" => fewer_flushes_than_eager,
    "lazy_purge::limit_and_vm_unmap_aliases_purge" => limit_and_aliases_purge,
    "lazy_purge::vunmap_and_iounmap_are_lazy_too" => vunmap_and_iounmap,
    "lazy_purge::a_list_that_cannot_grow_frees_eagerly" => list_cannot_grow,
    "lazy_purge::a_huge_area_frees_lazily_too" => huge_area_lazily,
];

/// Lazy frees (with `max_pages` as the limit) until dropped; then eager
/// again, which purges, and Linux's limit back.
struct Lazy;

impl Lazy {
    fn on(max_pages: u64) -> Lazy {
        vmalloc::set_lazy_max_pages(max_pages);
        vmalloc::set_vfree_strategy(VfreeStrategy::Lazy);
        Lazy
    }
}

impl Drop for Lazy {
    fn drop(&mut self) {
        vmalloc::set_vfree_strategy(VfreeStrategy::Eager);
        vmalloc::set_lazy_max_pages(0);
    }
}

fn kind_at(addr: x86_64::VirtAddr) -> Option<&'static str> {
    vmalloc::find_area(addr).map(|a| a.2)
}

fn not_reused_before_purge() -> TestResult {
    let _lazy = Lazy::on(1 << 16);
    let first = vmalloc::vmalloc(PAGE_SIZE).unwrap();
    vmalloc::vfree(first).unwrap();
    kassert_eq!(kind_at(first), Some("unpurged"));
    kassert!(vmalloc::vfree(first) == Err(vmalloc::VmError::NotAnArea(first.as_u64())), "a double free was taken");
    let second = vmalloc::vmalloc(PAGE_SIZE).unwrap();
    kassert!(second != first, "the lazily freed {first:?} was handed out again before a purge");
    let done = vmalloc::purge_vmap_area_lazy();
    kassert_eq!((done.areas, done.pages), (1, 1));
    kassert_eq!(kind_at(first), None);
    // The lowest fit again, now that the range is back.
    let third = vmalloc::vmalloc(PAGE_SIZE).unwrap();
    kassert!(third == first, "the purged range was not handed out again ({third:?})");
    vmalloc::vfree(second).unwrap();
    vmalloc::vfree(third).unwrap();
    Ok(())
}

fn purge_drops_stale_translations() -> TestResult {
    let _lazy = Lazy::on(1 << 16);
    for pages in [3, 40] {
        let a = vmalloc::vmalloc(pages * PAGE_SIZE).unwrap();
        for p in 0..pages {
            // SAFETY: page p of the area, mapped and writable.
            unsafe { extable::write(a + p * PAGE_SIZE, 8, p) }.unwrap();
        }
        vmalloc::vfree(a).unwrap();
        // An eager free would pass the rest: the free must have been lazy.
        kassert_eq!(kind_at(a), Some("unpurged"));
        kassert!(crate::mm::pgtable::translate(a).is_none(), "a lazy free must still clear the PTEs");
        vmalloc::purge_vmap_area_lazy();
        let stale = (0..pages).find(|&p| extable::read(a + p * PAGE_SIZE, 8).is_ok());
        kassert!(stale.is_none(), "{pages}-page area: page {stale:?} still reads after the purge (no flush?)");
    }
    Ok(())
}

fn pages_come_back_at_the_free() -> TestResult {
    let _lazy = Lazy::on(1 << 16);
    let before = (pages_accounted(), vmalloc::totals().areas, vmalloc::totals().unpurged);
    let a = vmalloc::vmalloc(20 * PAGE_SIZE).unwrap();
    vmalloc::vfree(a).unwrap();
    // The pages went back; the range waits (Linux frees the pages at vfree too).
    kassert_eq!((pages_accounted(), vmalloc::totals().areas), (before.0, before.1));
    kassert_eq!(vmalloc::totals().unpurged, before.2 + 1);
    kassert_eq!(vmalloc::audit(), Ok(()));
    vmalloc::purge_vmap_area_lazy();
    kassert_eq!(vmalloc::totals().unpurged, 0);
    Ok(())
}

/// TLB flushes `cycles` vmalloc/vfree pairs of one page take.
fn flushes_for(cycles: u64) -> u64 {
    let before = vmalloc::lazy_stats().tlb_flushes;
    for _ in 0..cycles {
        let a = vmalloc::vmalloc(PAGE_SIZE).unwrap();
        vmalloc::vfree(a).unwrap();
    }
    vmalloc::purge_vmap_area_lazy();
    vmalloc::lazy_stats().tlb_flushes - before
}

fn fewer_flushes_than_eager() -> TestResult {
    let cycles = 200;
    let eager = flushes_for(cycles);
    kassert!(eager == cycles, "eager: {eager} flushes for {cycles} frees");
    let max = 64;
    let lazy = {
        let _lazy = Lazy::on(max);
        flushes_for(cycles)
    };
    // A purge each time more than `max` pages wait, and the last one.
    kassert!(lazy <= cycles / (max + 1) + 1, "lazy: {cycles} frees took {lazy} flushes");
    Ok(())
}

fn limit_and_aliases_purge() -> TestResult {
    let _lazy = Lazy::on(8);
    let before = vmalloc::lazy_stats();
    let a = vmalloc::vmalloc(8 * PAGE_SIZE).unwrap();
    vmalloc::vfree(a).unwrap();
    kassert!(vmalloc::lazy_stats().purges == before.purges, "8 pages is the limit, not past it");
    let b = vmalloc::vmalloc(PAGE_SIZE).unwrap();
    vmalloc::vfree(b).unwrap();
    let after = vmalloc::lazy_stats();
    kassert_eq!((after.purges - before.purges, after.pages_purged - before.pages_purged), (1, 9));
    kassert_eq!((after.unpurged, after.lazy_pages), (0, 0));
    let c = vmalloc::vmalloc(PAGE_SIZE).unwrap();
    vmalloc::vfree(c).unwrap();
    kassert_eq!(vmalloc::lazy_stats().unpurged, 1);
    vmalloc::vm_unmap_aliases();
    kassert!(vmalloc::lazy_stats().unpurged == 0, "vm_unmap_aliases must purge lazy areas");
    Ok(())
}

fn vunmap_and_iounmap() -> TestResult {
    let _lazy = Lazy::on(1 << 16);
    let frame = crate::mm::alloc_pages(0, crate::mm::page_alloc::ZoneType::Normal).unwrap();
    let v = vmalloc::vmap(&[frame], 0).unwrap();
    let pages = vmalloc::vunmap(v).unwrap();
    kassert!(pages.iter().eq([frame].iter()), "vunmap gives the caller's page back at once");
    kassert_eq!(kind_at(v), Some("unpurged"));
    // The HPET's registers, as in vmalloc::ioremap_reads_the_hpet.
    let io = vmalloc::ioremap(0xfed0_0000, 4096).unwrap();
    vmalloc::iounmap(io).unwrap();
    kassert_eq!(kind_at(io), Some("unpurged"));
    kassert_eq!(vmalloc::purge_vmap_area_lazy().areas, 2);
    crate::mm::free_pages(frame.start_address(), 0).unwrap();
    Ok(())
}

/// Fault injection at the one allocation a lazy free makes: the purge
/// list's growth. Each free runs with the next page allocation failing;
/// where the list had to grow (its buffer past the slab sizes needs whole
/// pages), the free must go eager instead, and in the end everything is
/// back as it was. One lazy free before the injection gives the list a
/// buffer, so the first frees under it are lazy (until the buffer is
/// full): an eager-only free (lab 5's stub) does not pass.
fn list_cannot_grow() -> TestResult {
    let _lazy = Lazy::on(1 << 20);
    let count = 2000;
    let mut areas = Vec::new();
    kassert!(areas.try_reserve_exact(count).is_ok());
    let before = (pages_accounted(), vmalloc::totals().areas);
    areas.extend((0..count).map(|_| vmalloc::vmalloc(PAGE_SIZE).unwrap()));
    vmalloc::vfree(vmalloc::vmalloc(PAGE_SIZE).unwrap()).unwrap();
    let (failed, stats) = (injected_failures(), vmalloc::lazy_stats());
    for &a in &areas {
        fail_nth(Some(1));
        let freed = vmalloc::vfree(a);
        fail_nth(None);
        kassert!(freed.is_ok(), "vfree under injection: {freed:?}");
    }
    let failed = injected_failures() - failed;
    let after = vmalloc::lazy_stats();
    kassert!(failed > 0, "no free reached a page allocation: the test tests nothing");
    kassert!(after.lazy_frees > stats.lazy_frees, "every free was eager, even while the list had room");
    kassert_eq!(after.lazy_frees - stats.lazy_frees + failed, count as u64);
    kassert_eq!(after.tlb_flushes - stats.tlb_flushes, failed);
    vmalloc::purge_vmap_area_lazy();
    drop(areas);
    kassert_eq!((pages_accounted(), vmalloc::totals().areas), before);
    kassert_eq!(vmalloc::audit(), Ok(()));
    Ok(())
}

/// A `vmalloc_huge` area freed lazily: its 2 MiB leaves are cleared and
/// its order-9 blocks come back at the free, like any area's pages; only
/// the range waits, and the purge gives it back.
fn huge_area_lazily() -> TestResult {
    use crate::mm::vmalloc::VM_HUGE_PMD;
    // A first cycle makes the page tables the range needs (kept for good).
    vmalloc::vfree(vmalloc::vmalloc_huge(4 << 20).unwrap()).unwrap();
    let _lazy = Lazy::on(1 << 16);
    let accounted = pages_accounted();
    let addr = vmalloc::vmalloc_huge(4 << 20).unwrap();
    let huge = vmalloc::area_has_flag(addr, VM_HUGE_PMD);
    vmalloc::vfree(addr).unwrap();
    kassert!(huge, "the area was not mapped with leaves");
    kassert_eq!(kind_at(addr), Some("unpurged"));
    kassert!(crate::mm::pgtable::translate(addr).is_none(), "the leaf still maps {addr:?} after a lazy free");
    kassert_eq!(pages_accounted(), accounted);
    let done = vmalloc::purge_vmap_area_lazy();
    kassert_eq!((done.areas, done.pages), (1, 1024));
    kassert_eq!(kind_at(addr), None);
    Ok(())
}
