//! Lazy `vfree`/`vunmap`/`iounmap` and the purge (Linux 2.6.28 onwards,
//! mm/vmalloc.c): `free_vmap_area_noflush` puts a freed range on the purge
//! list with its PTEs cleared and no TLB flush; `__purge_vmap_area_lazy`
//! flushes once for the whole list and gives the ranges back, when the
//! lazily freed pages pass `lazy_max_pages`, when an allocation finds no
//! room (`alloc_vmap_area`'s retry, `reclaim_and_purge_vmap_areas` in
//! 6.x), at `vm_unmap_aliases`, and at the shell's `purge`. Gorman's 2.4
//! (ch. 7.3, `vmfree_area_pages`) flushes at every free: that is the
//! eager strategy, Mosaic's default (docs/vmalloc.md says why).
//!
//! The bookkeeping and the picture are in `mm/vmap_purge/` (host-tested);
//! this file holds the strategy switch, the counters, and the three lazy
//! frees. A lazily freed area stays in the area allocator, its flags
//! replaced by `VM_LAZY_FREE` and its pages gone (freed, or handed back to
//! `vunmap`'s caller, at once, as Linux does), so that nothing can be
//! given its range, and with it its stale TLB entries, before the purge.
//!
//! Lock order: vmalloc, then the vmap-block queue, then the purge list.
//!
//! Course lab 5 (docs/labs/lab5-lazy-purge.md) has students write the
//! lazy half of `free_noflush` (its `LAB 5` region).

use super::{check_area, free_pages_array, retire, with, VmError, Vmalloc, VM_ALLOC, VM_IOREMAP, VM_MAP};
use super::{VM_LAZY_FREE, VM_MAP_PUT_PAGES};
use crate::mm::page::PAGE_SIZE;
use crate::mm::page_list::PageList;
use crate::mm::pgtable;
use crate::mm::vmap_purge::{lazy_max_pages, PurgeList, Purged};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use spin::Mutex;
use x86_64::VirtAddr;

/// Whether frees are lazy (boot option and shell `vfree=lazy`).
static LAZY: AtomicBool = AtomicBool::new(false);
/// Taken only inside the vmalloc lock.
static LIST: Mutex<PurgeList> = Mutex::new(PurgeList::new(8192));

static LAZY_FREES: AtomicU64 = AtomicU64::new(0);
static PURGES: AtomicU64 = AtomicU64::new(0);
static PAGES_PURGED: AtomicU64 = AtomicU64::new(0);
/// TLB flushes by the free family: one per eager free, one per purge.
static TLB_FLUSHES: AtomicU64 = AtomicU64::new(0);

/// How the free family flushes (boot option and shell `vfree=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VfreeStrategy {
    /// Flush at every free and give the range back (Gorman 2.4).
    Eager,
    /// Defer both to a purge (Linux 2.6.28+).
    Lazy,
}

impl VfreeStrategy {
    pub fn name(self) -> &'static str {
        match self {
            VfreeStrategy::Eager => "eager",
            VfreeStrategy::Lazy => "lazy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [VfreeStrategy::Eager, VfreeStrategy::Lazy].into_iter().find(|x| x.name() == s)
    }
}

/// What `vmstat` and `vfree <strategy>` show.
#[derive(Clone, Copy, Debug)]
pub struct LazyStats {
    pub strategy: VfreeStrategy,
    /// `lazy_max_pages`: lazily freed pages that trigger a purge.
    pub max_pages: u64,
    /// Pages freed lazily and not purged yet (`vmap_lazy_nr`).
    pub lazy_pages: u64,
    /// Areas waiting on the purge list.
    pub unpurged: u64,
    pub lazy_frees: u64,
    pub purges: u64,
    pub pages_purged: u64,
    pub tlb_flushes: u64,
}

pub fn vfree_strategy() -> VfreeStrategy {
    if LAZY.load(Relaxed) {
        VfreeStrategy::Lazy
    } else {
        VfreeStrategy::Eager
    }
}

/// Switches the strategy. Going eager purges first, so that no range
/// waits for a purge that nothing would trigger any more.
pub fn set_vfree_strategy(s: VfreeStrategy) -> Purged {
    with(|v| {
        LAZY.store(s == VfreeStrategy::Lazy, Relaxed);
        if s == VfreeStrategy::Eager {
            purge_locked(v)
        } else {
            Purged::default()
        }
    })
}

/// Sets `lazy_max_pages` (0: Linux's value for one CPU); purges at once
/// if the pages waiting already pass the new limit.
pub fn set_lazy_max_pages(pages: u64) -> u64 {
    let pages = if pages == 0 { lazy_max_pages(1) } else { pages };
    with(|v| {
        let due = {
            let mut list = LIST.lock();
            list.set_max_pages(pages);
            // Nothing waits in eager mode: `due` (lab 5) is not asked then.
            !list.is_empty() && list.due()
        };
        if due {
            purge_locked(v);
        }
    });
    pages
}

/// Forces one purge (the shell's `purge`; Linux's `purge_vmap_area_lazy`).
pub fn purge_vmap_area_lazy() -> Purged {
    with(purge_locked)
}

/// The counters and the list's state.
pub fn lazy_stats() -> LazyStats {
    let (max_pages, lazy_pages, unpurged) = with(|_| {
        let list = LIST.lock();
        (list.max_pages(), list.lazy_nr(), list.len() as u64)
    });
    LazyStats {
        strategy: vfree_strategy(),
        max_pages,
        lazy_pages,
        unpurged,
        lazy_frees: LAZY_FREES.load(Relaxed),
        purges: PURGES.load(Relaxed),
        pages_purged: PAGES_PURGED.load(Relaxed),
        tlb_flushes: TLB_FLUSHES.load(Relaxed),
    }
}

/// Areas on the purge list, for callers already under the vmalloc lock.
pub(super) fn unpurged() -> usize {
    LIST.lock().len()
}

/// Counts the flush of an eager free (take_area calls it).
pub(super) fn count_eager_flush() {
    TLB_FLUSHES.fetch_add(1, Relaxed);
}

/// The one flush of a purge: over the span, or everything past the
/// ceiling (`flush_tlb_kernel_range` decides).
fn flush(start: u64, pages: u64) {
    pgtable::flush_tlb_kernel_range(VirtAddr::new(start), pages);
    TLB_FLUSHES.fetch_add(1, Relaxed);
}

fn count(done: Purged) -> Purged {
    if done.areas > 0 {
        PURGES.fetch_add(1, Relaxed);
        PAGES_PURGED.fetch_add(done.pages, Relaxed);
    }
    done
}

/// Linux's `__purge_vmap_area_lazy`, under the vmalloc lock: also the
/// purge `vm_unmap_aliases` does (vm_map_ram.rs).
/// An empty list is not asked: eager mode never reaches the purge, so a
/// skeleton whose `purge` is a stub (lab 5) works as long as it is eager.
pub(super) fn purge_locked(v: &mut Vmalloc) -> Purged {
    let mut list = LIST.lock();
    if list.is_empty() {
        return Purged::default();
    }
    count(list.purge(&mut *v.areas, &mut flush))
}

/// `get_vm_area`'s first step: if no free range holds the request (its
/// pages plus the guard page) but lazily freed ranges wait, purge them
/// so that the allocation runs on the space they free. Linux tries the
/// allocation first and purges and retries once on failure
/// (`alloc_vmap_area`); asking first is the same, without handing the
/// request's record to an allocation that would drop it.
pub(super) fn make_room(v: &mut Vmalloc, size: u64, align: u64) {
    let Some(total) = size.div_ceil(PAGE_SIZE).checked_add(1).and_then(|p| p.checked_mul(PAGE_SIZE)) else {
        return;
    };
    let mut list = LIST.lock();
    if !list.is_empty() {
        let done = list.make_room(&mut *v.areas, total, align.max(PAGE_SIZE), &mut flush);
        drop(list);
        done.map(count);
    }
}

/// The lazy free of the area at `addr` of kind `flag` (Linux's
/// `free_unmap_vmap_area`: `vunmap_range_noflush`, then
/// `free_vmap_area_noflush`): its PTEs cleared, its range kept busy and on
/// the purge list, its pages and flags given back. None, and nothing
/// changed, if frees are eager or the purge list cannot grow: the caller
/// then frees eagerly (as it does when lab 5's stub answers None).
fn free_noflush(
    v: &mut Vmalloc,
    addr: u64,
    flag: u32,
    expected: &'static str,
) -> Option<Result<(PageList, u64, u32), VmError>> {
    if !LAZY.load(Relaxed) {
        return None;
    }
    let mut list = LIST.lock();
    list.reserve().ok()?;
    if let Err(e) = check_area(v, addr, flag, expected) {
        return Some(Err(e));
    }
    // LAB 5 BEGIN: retire; take pages, mark VM_LAZY_FREE; vunmap_range_noflush; count; push, purge if due
    retire(v, addr);
    let vm = &mut v.areas.find_mut(addr).expect("checked above").data;
    let pages = core::mem::take(&mut vm.pages);
    let (nr_pages, flags) = (vm.nr_pages, vm.flags);
    vm.flags = VM_LAZY_FREE;
    vm.redzone = false;
    vm.phys_addr = None;
    pgtable::vunmap_range_noflush(VirtAddr::new(addr), nr_pages);
    LAZY_FREES.fetch_add(1, Relaxed);
    if list.push(addr, nr_pages) {
        drop(list);
        purge_locked(v);
    }
    Some(Ok((pages, nr_pages, flags)))
    // LAB 5 END
}

/// `vfree` in lazy mode; None: free eagerly (see `free_noflush`).
pub(super) fn vfree_lazily(addr: VirtAddr) -> Option<Result<(), VmError>> {
    if addr.is_null() || !LAZY.load(Relaxed) {
        return None;
    }
    with(|v| {
        let done = free_noflush(v, addr.as_u64(), VM_ALLOC, "vmalloc")?;
        Some(done.map(|(pages, nr_pages, _)| {
            free_pages_array(&pages);
            v.vmalloc_pages -= nr_pages;
        }))
    })
}

/// `vunmap` in lazy mode: the pages go back to the caller, or are freed
/// under `VM_MAP_PUT_PAGES`; None: unmap eagerly.
pub(super) fn vunmap_lazily(addr: VirtAddr) -> Option<Result<PageList, VmError>> {
    if !LAZY.load(Relaxed) {
        return None;
    }
    with(|v| {
        let done = free_noflush(v, addr.as_u64(), VM_MAP, "vmap")?;
        Some(done.map(|(pages, _, flags)| {
            if flags & VM_MAP_PUT_PAGES == 0 {
                return pages;
            }
            free_pages_array(&pages);
            PageList::new()
        }))
    })
}

/// `iounmap` in lazy mode (`start`: the area's first page); None: unmap
/// eagerly.
pub(super) fn iounmap_lazily(start: VirtAddr) -> Option<Result<(), VmError>> {
    if !LAZY.load(Relaxed) {
        return None;
    }
    with(|v| free_noflush(v, start.as_u64(), VM_IOREMAP, "ioremap").map(|r| r.map(drop)))
}
