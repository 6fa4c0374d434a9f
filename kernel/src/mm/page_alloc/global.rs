//! The one page allocator of the running kernel, behind a spinlock, and
//! the calls the rest of the kernel uses to reach it (`mm::alloc_pages`,
//! `mm::free_pages`, ...). Bare-metal only: the host tests build their own
//! `PageAllocator` over a `Vec` of pages.

use super::{AllocError, FreeError, PageAllocator, ZoneType};
use crate::mm::page::PageOwner;
use crate::mm::page_list::PageList;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;
use x86_64::structures::paging::PhysFrame;
use x86_64::PhysAddr;

static PAGES: Mutex<Option<PageAllocator<'static>>> = Mutex::new(None);
/// Pages handed to the buddy allocator at boot: fixed from then on, so
/// a size check needs no lock.
///
/// Tuning, not in the books: see docs/benchmarks.md.
static MANAGED: AtomicU64 = AtomicU64::new(0);

/// Makes `pages` the kernel's page allocator (once, at boot: `mm::init`).
pub fn install(pages: PageAllocator<'static>) {
    MANAGED.store(pages.managed_pages_total(), Ordering::Relaxed);
    *PAGES.lock() = Some(pages);
}

/// All the pages the buddy allocator manages (free or not).
pub fn managed_pages() -> u64 {
    MANAGED.load(Ordering::Relaxed)
}

/// Runs `f` on the page allocator, locked and with interrupts off.
/// `f` must not use the heap: the heap takes this same lock, and a
/// spinlock taken twice on one CPU never comes free.
pub fn with_pages<R>(f: impl FnOnce(&mut PageAllocator<'static>) -> R) -> R {
    without_interrupts(|| f(PAGES.lock().as_mut().expect("mm::init runs at boot")))
}

/// Like `with_pages`, but gives up (None) if the lock is held: for code
/// that may run inside a fault taken with the lock held (`mm::explain`).
pub fn try_with_pages<R>(f: impl FnOnce(&mut PageAllocator<'static>) -> R) -> Option<R> {
    without_interrupts(|| PAGES.try_lock().and_then(|mut p| p.as_mut().map(f)))
}

/// Allocates 2^order contiguous frames from `zone` or a zone below it.
pub fn alloc_pages(order: usize, zone: ZoneType) -> Result<PhysFrame, AllocError> {
    with_pages(|p| p.alloc_pages(order, zone))
}

/// `alloc_pages` for a caller that says who it is, so that `memmap`
/// can show it (see `PageOwner`).
pub fn alloc_pages_for(owner: PageOwner, order: usize, zone: ZoneType) -> Result<PhysFrame, AllocError> {
    with_pages(|p| p.alloc_pages_for(owner, order, zone))
}

/// `n` largest-order blocks next to each other, for the heap's requests
/// above one block. See `PageAllocator::alloc_contig_blocks_for`.
pub fn alloc_contig_blocks_for(owner: PageOwner, n: u64, zone: ZoneType) -> Result<PhysFrame, AllocError> {
    with_pages(|p| p.alloc_contig_blocks_for(owner, n, zone))
}

/// Frees what `alloc_contig_blocks_for` returned.
pub fn free_contig_blocks(addr: PhysAddr, n: u64) -> Result<(), FreeError> {
    with_pages(|p| p.free_contig_blocks(addr, n))
}

/// Frees a block that `alloc_pages` returned, with the same order.
pub fn free_pages(addr: PhysAddr, order: usize) -> Result<(), FreeError> {
    with_pages(|p| p.free_pages(addr, order))
}

/// `alloc_pages` and `free_pages` past the per-CPU lists, for the
/// shell (see `PageAllocator::alloc_pages_buddy`).
pub fn alloc_pages_buddy(order: usize, zone: ZoneType) -> Result<PhysFrame, AllocError> {
    with_pages(|p| p.alloc_pages_buddy(order, zone))
}

pub fn free_pages_buddy(addr: PhysAddr, order: usize) -> Result<(), FreeError> {
    with_pages(|p| p.free_pages_buddy(addr, order))
}

/// Fills `frames` with single pages from `zone` or below, all or none,
/// under one lock. See `PageAllocator::alloc_pages_bulk`.
pub fn alloc_pages_bulk(zone: ZoneType, frames: &mut [PhysFrame]) -> Result<(), AllocError> {
    with_pages(|p| p.alloc_pages_bulk(zone, frames))
}

/// Frees single pages that `alloc_pages` or `alloc_pages_bulk` returned.
pub fn free_pages_bulk(frames: &[PhysFrame]) -> Result<(), FreeError> {
    with_pages(|p| p.free_pages_bulk(frames))
}

/// Fills every slot of `list` with a single page from `zone` or below,
/// all or none, chunk by chunk under one lock (a long `PageList` is not
/// one slice, see page_list.rs); each page is recorded as `owner`'s.
pub fn alloc_page_list(owner: PageOwner, zone: ZoneType, list: &mut PageList) -> Result<(), AllocError> {
    with_pages(|p| {
        let mut filled = 0;
        let mut result = Ok(());
        for chunk in list.chunks_mut() {
            if let Err(e) = p.alloc_pages_bulk_for(owner, zone, chunk) {
                result = Err(e);
                break;
            }
            filled += 1;
        }
        if result.is_err() {
            for chunk in list.chunks_mut().take(filled) {
                p.free_pages_bulk(chunk).expect("pages just allocated");
                chunk.fill(PhysFrame::containing_address(PhysAddr::zero()));
            }
        }
        result
    })
}

/// Frees every page of a list `alloc_page_list` filled.
pub fn free_page_list(list: &PageList) -> Result<(), FreeError> {
    with_pages(|p| list.chunks().try_for_each(|chunk| p.free_pages_bulk(chunk)))
}

/// Fault injection (Linux's fail_page_alloc): the n-th `alloc_pages`
/// from now fails (1 = the next one), heap refills included; `None`
/// turns it off. See `PageAllocator::fail_nth`.
pub fn fail_nth(n: Option<u64>) {
    with_pages(|p| p.fail_nth(n))
}

/// Which allocation from now will fail (1 = the next), if any.
pub fn fail_nth_pending() -> Option<u64> {
    with_pages(|p| p.fail_nth_pending())
}

/// Calls of `alloc_pages` since boot, failed ones included.
pub fn alloc_calls() -> u64 {
    with_pages(|p| p.alloc_calls())
}

/// Failures injected since boot.
pub fn injected_failures() -> u64 {
    with_pages(|p| p.injected_failures())
}
