//! Questions about the vmalloc area, answered from its records: the frame
//! behind an address (`vmalloc_to_page`), the list `vmallocinfo` prints,
//! what an address is for `explain` and fault reports, which area owns a
//! frame (for `poke`'s checks), and the soak test's audit of the books
//! against the page tables. Nothing here changes the state.

use super::{is_vmalloc_addr, redzone_overwrite, with, Freed, VmError, VmStruct, Vmalloc, VMALLOC, VM_LAZY_FREE};
use crate::mm::page::PAGE_SIZE;
use crate::mm::pgtable;
use crate::mm::redzone;
use crate::mm::vmap_area::{Area, AreaAllocator};
use alloc::vec::Vec;
use core::fmt;
use core::panic::Location;
use x86_64::instructions::interrupts::without_interrupts;
use x86_64::structures::paging::PhysFrame;
use x86_64::VirtAddr;

/// The page frame behind a vmalloc address (Linux's `vmalloc_to_page`).
/// Inside a 2 MiB PMD leaf it is the 4 KiB frame at the address's offset
/// into the leaf's block: the walk stops at the leaf (`pmd_leaf`) and
/// adds the low 21 bits.
pub fn vmalloc_to_page(addr: VirtAddr) -> Option<PhysFrame> {
    if !is_vmalloc_addr(addr) {
        return None;
    }
    let (phys, _) = pgtable::walk(pgtable::master_pgd(), addr).phys?;
    Some(PhysFrame::containing_address(phys))
}

/// The page frame number behind a vmalloc address (`vmalloc_to_pfn`).
pub fn vmalloc_to_pfn(addr: VirtAddr) -> Option<u64> {
    vmalloc_to_page(addr).map(|f| f.start_address().as_u64() / PAGE_SIZE)
}

/// One line of `vmallocinfo`, copied out of the lock.
#[derive(Clone, Copy, Debug)]
pub struct AreaInfo {
    pub start: u64,
    pub size: u64,
    pub nr_pages: u64,
    pub kind: &'static str,
    pub phys: Option<u64>,
    pub caller: &'static Location<'static>,
    pub requested: u64,
    /// The area's `VM_*` flags (`VM_HUGE_PMD`: mapped with 2 MiB leaves).
    pub flags: u32,
    /// The overrun check found the redzone changed (checked now).
    pub redzone_hit: Option<redzone::Overwrite>,
}

/// Every area in address order, those freed lazily and not purged yet
/// included (kind "unpurged"); `NoMemory` if the heap cannot hold the
/// list (as under `fail_page_alloc`).
pub fn areas() -> Result<Vec<AreaInfo>, VmError> {
    with(|v| {
        let mut out = Vec::new();
        out.try_reserve_exact(v.areas.busy_count()).map_err(|_| VmError::NoMemory)?;
        v.areas.for_each(&mut |a| out.push(info(a, redzone_overwrite(&a.data))));
        Ok(out)
    })
}

/// Runs `f` on the area allocator under the vmalloc lock (no heap), for
/// the pictures of `vmmap`. `f` must not call into vmalloc again.
pub fn with_areas<R>(f: impl FnOnce(&dyn AreaAllocator<VmStruct>) -> R) -> R {
    with(|v| f(&*v.areas))
}

/// Totals for meminfo.
pub struct Totals {
    pub used_pages: u64,
    pub largest_free: u64,
    /// Live areas (not counting the unpurged ones).
    pub areas: usize,
    /// Areas freed lazily, their ranges still reserved (purge.rs).
    pub unpurged: usize,
    pub allocator: &'static str,
    /// Redzones found overwritten at vfree since boot.
    pub overruns: u64,
}

pub fn totals() -> Totals {
    with(|v| Totals {
        used_pages: v.vmalloc_pages,
        largest_free: v.areas.largest_free(),
        areas: v.areas.busy_count() - super::purge::unpurged(),
        unpurged: super::purge::unpurged(),
        allocator: v.areas.name(),
        overruns: v.overruns,
    })
}

/// The area containing `addr`, if any: (start, size with guard, kind).
pub fn find_area(addr: VirtAddr) -> Option<(u64, u64, &'static str)> {
    with(|v| v.areas.find(addr.as_u64()).map(|a| (a.start, a.size, a.data.kind())))
}

/// The record of the live area containing `addr`, if any: its start, its
/// size (guard page included) and the pages its walk mapped.
pub fn area_record(addr: VirtAddr) -> Option<(u64, u64, u64)> {
    with(|v| v.areas.find(addr.as_u64()).map(|a| (a.start, a.size, a.data.nr_pages)))
}

/// The start and kind of the live area whose pages include `frame`, if
/// any: a reverse lookup through every area's page list (slow; for
/// `usercopy::check_kernel_write`).
pub fn area_owning(frame: PhysFrame) -> Option<(u64, &'static str)> {
    with(|v| owner_in(v, frame))
}

/// True if `frame` holds a page table of the master (a walk over every
/// present non-leaf entry, under the vmalloc lock so that no vmalloc
/// table comes or goes meanwhile).
pub fn is_master_table(frame: PhysFrame) -> bool {
    with(|_| pgtable::is_table_in(pgtable::master_pgd(), frame))
}

/// Runs `f` on the vmalloc state unless its lock is held (None then):
/// for code that may run inside a fault taken under the lock.
fn try_with<R>(f: impl FnOnce(&Vmalloc) -> R) -> Option<R> {
    without_interrupts(|| VMALLOC.try_lock().and_then(|v| v.as_ref().map(f)))
}

/// `area_owning` without waiting for the lock (None: it was held).
pub fn try_area_owning(frame: PhysFrame) -> Option<Option<(u64, &'static str)>> {
    try_with(|v| owner_in(v, frame))
}

/// The live area of `v` whose page list holds `frame`: its start and kind.
fn owner_in(v: &Vmalloc, frame: PhysFrame) -> Option<(u64, &'static str)> {
    let mut found = None;
    v.areas.for_each(&mut |a| {
        if found.is_none() && a.data.pages.iter().any(|&f| f == frame) {
            found = Some((a.start, a.data.kind()));
        }
    });
    found
}

/// `is_master_table` without waiting for the lock (None: it was held).
pub fn try_is_master_table(frame: PhysFrame) -> Option<bool> {
    try_with(|_| pgtable::is_table_in(pgtable::master_pgd(), frame))
}

/// True if the area starting at `addr` has `flag` set.
pub fn area_has_flag(addr: VirtAddr, flag: u32) -> bool {
    with(|v| v.areas.find(addr.as_u64()).is_some_and(|a| a.start == addr.as_u64() && a.data.flags & flag != 0))
}

/// What a faulting address in the vmalloc area was, for fault reports.
/// Uses `try_lock`: the fault may have hit while the lock was held.
pub fn describe(addr: u64) -> Description {
    let Some(guard) = VMALLOC.try_lock() else { return Description::Busy };
    let Some(v) = guard.as_ref() else { return Description::Busy };
    if let Some(a) = v.areas.find(addr).filter(|a| a.data.flags & VM_LAZY_FREE == 0) {
        let mapped_end = a.start + a.data.nr_pages * PAGE_SIZE;
        return if addr >= mapped_end {
            Description::Guard { start: a.start, pages: a.data.nr_pages, kind: a.data.kind() }
        } else {
            Description::LiveUnmapped { start: a.start }
        };
    }
    match v.freed.iter().find(|f| (f.start..f.end).contains(&addr)) {
        Some(f) => Description::Freed { start: f.start, end: f.end, kind: f.kind },
        None => match v.areas.find(addr) {
            Some(a) => Description::Freed { start: a.start, end: a.end(), kind: a.data.kind() },
            None => Description::NeverAllocated,
        },
    }
}

/// What the vmalloc books say about an address, for `mm::explain`.
#[derive(Clone, Copy, Debug)]
pub enum Lookup {
    /// Inside a live area (guard page included).
    Live(AreaInfo),
    /// Inside one of the last areas released; the newest match.
    Freed(Freed),
    NeverAllocated,
    /// The lock was held (a fault inside vmalloc itself).
    Busy,
}

/// Looks `addr` up in the live areas, then the ring of freed ones. Uses
/// `try_lock` and no heap, so a fault handler may call it.
pub fn lookup(addr: VirtAddr) -> Lookup {
    try_with(|v| lookup_in(v, addr.as_u64())).unwrap_or(Lookup::Busy)
}

/// An area's line of `vmallocinfo`, copied out of the lock.
fn info(a: &Area<VmStruct>, redzone_hit: Option<redzone::Overwrite>) -> AreaInfo {
    AreaInfo {
        start: a.start,
        size: a.size,
        nr_pages: a.data.nr_pages,
        kind: a.data.kind(),
        phys: a.data.phys_addr.map(|p| p.as_u64()),
        caller: a.data.caller,
        requested: a.data.requested,
        flags: a.data.flags,
        redzone_hit,
    }
}

/// A lazily freed area is looked up as a freed one (the ring says what it
/// was); past the ring, as the unpurged area it is.
fn lookup_in(v: &Vmalloc, addr: u64) -> Lookup {
    let found = v.areas.find(addr);
    if let Some(a) = found.filter(|a| a.data.flags & VM_LAZY_FREE == 0) {
        return Lookup::Live(info(a, None));
    }
    let n = v.freed.len();
    let newest_first = (1..=n).map(|i| v.freed[(v.next_freed + n - i) % n]);
    let freed = newest_first.filter(|f| (f.start..f.end).contains(&addr)).map(Lookup::Freed).next();
    freed.or(found.map(|a| Lookup::Live(info(a, None)))).unwrap_or(Lookup::NeverAllocated)
}

/// See `describe`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Description {
    Guard { start: u64, pages: u64, kind: &'static str },
    Freed { start: u64, end: u64, kind: &'static str },
    LiveUnmapped { start: u64 },
    NeverAllocated,
    Busy,
}

impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            Description::Guard { start, pages, kind } => {
                write!(f, "the guard page of the {kind} area at {start:#x} ({pages} pages)")
            }
            Description::Freed { start, end, kind } => {
                write!(f, "inside a freed {kind} area ({start:#x}-{end:#x})")
            }
            Description::LiveUnmapped { start } => write!(f, "inside the area at {start:#x}, but not mapped"),
            Description::NeverAllocated => write!(f, "in the vmalloc area, never allocated"),
            Description::Busy => write!(f, "in the vmalloc area (area list busy, no details)"),
        }
    }
}

/// Fills every vmalloc top-level entry of the master (strategy prealloc).
pub fn prealloc_top_level() -> Result<u64, VmError> {
    with(|_| pgtable::prealloc_vmalloc_pgd().map_err(VmError::from))
}

/// Checks the whole vmalloc state against the page tables (slow: for the
/// soak test): the area allocator's own invariants; every present PTE in
/// the area belongs to a live area and is not its guard page; every guard
/// page is unmapped; and the page-table pages found are the ones counted.
pub fn audit() -> Result<(), &'static str> {
    with(|v| {
        v.areas.check()?;
        let mut stray = false;
        let tables = pgtable::audit_vmalloc(|addr| {
            let ok = v.areas.find(addr).is_some_and(|a| addr < a.start + a.data.nr_pages * PAGE_SIZE);
            stray |= !ok;
        });
        if stray {
            return Err("a present mapping in the vmalloc area belongs to no live area (or is a guard page)");
        }
        if tables != pgtable::table_pages() {
            return Err("page-table pages found differ from the pages counted");
        }
        let mut guard_mapped = false;
        v.areas.for_each(&mut |a| {
            let guard = VirtAddr::new(a.start + a.data.nr_pages * PAGE_SIZE);
            guard_mapped |= pgtable::walk(pgtable::master_pgd(), guard).phys.is_some();
        });
        if guard_mapped {
            return Err("a guard page is mapped");
        }
        Ok(())
    })
}

/// Checks the area allocator's invariants (slow: for tests).
pub fn check() -> Result<(), &'static str> {
    with(|v| v.areas.check())
}
