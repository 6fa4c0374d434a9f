//! The vmalloc family: virtually contiguous memory from scattered pages.
//!
//! Reading: Gorman ch. 7 (non-contiguous memory allocation), Mauerer ch.
//! 3.5.7 (discontiguous pages), Linux mm/vmalloc.c. A request is served in three steps:
//!
//! 1. `get_vm_area` reserves a range of the vmalloc area, plus one unmapped
//!    guard page after it, and records it in a `VmStruct`.
//! 2. Pages are taken from the buddy allocator one at a time (all of them
//!    under one lock), so they may lie anywhere in physical memory.
//! 3. `vmap_pages_range` maps them one after another into the master
//!    page table, allocating page tables as needed (`vmalloc_area_pages`
//!    walks them); a failed mapping gives back the tables it made.
//!
//! Freeing (`vfree` -> `__vunmap`) undoes the three in reverse. The other
//! members map pages the caller owns (`vmap`) or device memory (`ioremap`)
//! into the same area. Every failure rolls back completely: pages taken are
//! returned and the range is released.
//!
//! All state sits behind one lock, taken with interrupts off. Lock order:
//! vmalloc, then the heap, then the page allocator.

use super::layout::{phys_to_virt, VMALLOC_END, VMALLOC_START};
use super::page::{PageOwner, PAGE_SIZE};
use super::page_alloc::ZoneType;
use super::page_list::PageList;
use super::pgtable::{self, MapError};
use super::redzone;
pub use super::vmap_area::Areas;
use super::vmap_area::{Area, AreaAllocator, AreaError, CheckAllocator, Disagreement, ListAllocator, TreeAllocator};
mod huge;
mod purge;
mod query;
mod vm_map_ram;
mod vmap;
mod vrealloc;

pub use huge::{vmalloc_huge, VM_ALLOW_HUGE_VMAP, VM_HUGE_PMD};
pub use purge::{
    lazy_stats, purge_vmap_area_lazy, set_lazy_max_pages, set_vfree_strategy, vfree_strategy, LazyStats, VfreeStrategy,
};
pub use query::*;
pub use vm_map_ram::*;
pub use vmap::*;
pub use vrealloc::{vrealloc, Resized};

use crate::lab::Missing;
use alloc::boxed::Box;
use core::fmt;
use core::panic::Location;
use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;
use x86_64::structures::paging::PageTableFlags as Flags;
use x86_64::{PhysAddr, VirtAddr};

/// Area kinds, with Linux's values (include/linux/vmalloc.h).
pub const VM_IOREMAP: u32 = 0x1;
pub const VM_ALLOC: u32 = 0x2;
pub const VM_MAP: u32 = 0x4;
/// Reserved by `get_vm_area_caller`, nothing mapped yet.
pub const VM_UNINITIALIZED: u32 = 0x20;
/// vunmap also frees the pages (Linux 5.9's VM_MAP_PUT_PAGES).
pub const VM_MAP_PUT_PAGES: u32 = 0x200;
/// A 4 MiB block that `vm_map_ram` carves small mappings from
/// (vm_map_ram.rs). Linux's blocks have no `vm_struct` at all; Mosaic
/// lists them so that `vmallocinfo` shows where they are.
pub const VM_VMAP_BLOCK: u32 = 0x1000;
/// Freed lazily, waiting for the purge (purge.rs): the range stays
/// reserved, nothing is mapped. Linux marks the `vmap_area` instead (2.6.28's
/// VM_LAZY_FREE) and lists it on `purge_vmap_area_list`; `vmallocinfo`
/// calls it an "unpurged vm_area".
pub const VM_LAZY_FREE: u32 = 0x4000;

/// Linux's `struct vm_struct`: one area of the vmalloc space.
pub struct VmStruct {
    pub flags: u32,
    /// The pages backing the area (VM_ALLOC, VM_MAP), in address order.
    pub pages: PageList,
    /// Mapped pages (without the guard page).
    pub nr_pages: u64,
    /// First physical address mapped (VM_IOREMAP).
    pub phys_addr: Option<PhysAddr>,
    /// Who asked for the area.
    pub caller: &'static Location<'static>,
    /// Bytes the caller asked for (Linux 6.13's `requested_size`): the
    /// overrun check watches the slack between it and the last page's end.
    pub requested: u64,
    /// Whether that slack holds the redzone pattern (mm/redzone.rs).
    pub redzone: bool,
}

impl VmStruct {
    pub fn kind(&self) -> &'static str {
        match self.flags {
            f if f & VM_LAZY_FREE != 0 => "unpurged",
            f if f & VM_ALLOC != 0 => "vmalloc",
            f if f & VM_IOREMAP != 0 => "ioremap",
            f if f & VM_VMAP_BLOCK != 0 => "vmap_block",
            f if f & VM_UNINITIALIZED != 0 => "reserved",
            _ => "vmap",
        }
    }
}

/// Why a call of the family failed. Nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmError {
    ZeroSize,
    /// Larger than the vmalloc area or than all of memory.
    TooLarge(u64),
    /// No free range of the area is large enough.
    NoSpace(u64),
    /// The buddy allocator ran out of pages (data or page tables).
    NoMemory,
    NotAnArea(u64),
    NotStart {
        addr: u64,
        start: u64,
    },
    WrongKind {
        addr: u64,
        kind: &'static str,
        expected: &'static str,
    },
    BadAlign(u64),
    BadPhys(u64),
    IsRam(u64),
    /// A page of the new area was already mapped: a double mapping, so
    /// the area bookkeeping or an unmap walk is broken.
    AlreadyMapped(u64),
    /// No `vm_map_ram` mapping of this many pages starts there.
    NotMapRam {
        addr: u64,
        pages: u64,
    },
    /// A lab function on the way is still the skeleton's stub (lab.rs).
    Missing(Missing),
}

impl fmt::Display for VmError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            VmError::ZeroSize => write!(f, "size 0"),
            VmError::TooLarge(s) => write!(f, "{s} bytes is more than the vmalloc area or memory can hold"),
            VmError::NoSpace(s) => write!(f, "no free range of {s} bytes left in the vmalloc area"),
            VmError::NoMemory => write!(f, "out of memory"),
            VmError::NotAnArea(a) => write!(f, "{a:#x} is not in any vmalloc area (never allocated or already freed)"),
            VmError::NotStart { addr, start } => write!(f, "{addr:#x} is inside the area at {start:#x}, not its start"),
            VmError::WrongKind { addr, kind, expected } => {
                write!(f, "{addr:#x} is a {kind} area, not a {expected} area")
            }
            VmError::BadAlign(a) => write!(f, "alignment {a:#x} is not a power of two"),
            VmError::BadPhys(p) => write!(f, "physical range at {p:#x} is invalid or wraps around"),
            VmError::IsRam(p) => write!(f, "{p:#x} is ordinary RAM, not device memory"),
            VmError::AlreadyMapped(a) => write!(f, "{a:#x} is already mapped (double mapping)"),
            VmError::NotMapRam { addr, pages } => {
                write!(f, "no vm_map_ram mapping of {pages} pages starts at {addr:#x}")
            }
            VmError::Missing(m) => write!(f, "{m}"),
        }
    }
}

impl From<MapError> for VmError {
    fn from(e: MapError) -> Self {
        match e {
            MapError::NoMemory => VmError::NoMemory,
            MapError::AlreadyMapped(addr) => VmError::AlreadyMapped(addr),
            MapError::Missing(m) => VmError::Missing(m),
        }
    }
}

/// What a stubbed lab function of the family returns (lab.rs).
impl From<Missing> for VmError {
    fn from(m: Missing) -> Self {
        VmError::Missing(m)
    }
}

/// How ioremap'ed memory is cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheMode {
    /// Uncached (PCD and PWT set): device registers. Linux's `ioremap`.
    Uncached,
    /// Write-back, like RAM. Linux's `ioremap_cache`.
    Cached,
}

struct Vmalloc {
    areas: Box<dyn AreaAllocator<VmStruct> + Send>,
    /// Pages held by VM_ALLOC areas (meminfo's VmallocUsed).
    vmalloc_pages: u64,
    /// The last areas released, so that a fault report can say "inside a
    /// freed area".
    freed: [Freed; 16],
    next_freed: usize,
    /// Redzones found overwritten at vfree since boot.
    overruns: u64,
}

/// An area recently released, for `explain` and fault reports.
#[derive(Clone, Copy, Debug)]
pub struct Freed {
    pub start: u64,
    /// One past the guard page.
    pub end: u64,
    pub kind: &'static str,
    pub requested: u64,
    /// Who made the area (the freeing call is not recorded).
    pub caller: &'static Location<'static>,
}

const NO_FREED: Freed = Freed { start: 0, end: 0, kind: "", requested: 0, caller: Location::caller() };

static VMALLOC: Mutex<Option<Vmalloc>> = Mutex::new(None);

/// Sets up the area allocator the boot options chose. In a skeleton whose
/// tree search (lab 4) is not written yet, the list instead of the tree:
/// the earlier labs need a working vmalloc. Returns the missing function
/// then.
pub fn init(choice: Areas) -> Option<Missing> {
    let span = VMALLOC_START..VMALLOC_END;
    let tree_missing = if matches!(choice, Areas::Tree) { tree_self_check() } else { None };
    let areas: Box<dyn AreaAllocator<VmStruct> + Send> = match choice {
        Areas::List => Box::new(ListAllocator::new(span)),
        Areas::Tree if tree_missing.is_some() => Box::new(ListAllocator::new(span)),
        Areas::Tree => Box::new(TreeAllocator::new(span)),
        Areas::Check => Box::new(CheckAllocator::new(span, oracle_stop)),
    };
    *VMALLOC.lock() = Some(Vmalloc { areas, vmalloc_pages: 0, freed: [NO_FREED; 16], next_freed: 0, overruns: 0 });
    tree_missing
}

/// One allocation from a scratch tree: the lab-4 function it reached
/// that is still a stub, if any.
fn tree_self_check() -> Option<Missing> {
    let mut scratch = TreeAllocator::new(VMALLOC_START..VMALLOC_START + 4 * PAGE_SIZE);
    crate::lab::probe(|| {
        let _ = scratch.alloc(PAGE_SIZE, PAGE_SIZE, ());
    })
}

/// What `vmalloc=check` does at the first disagreement: stop the kernel
/// with the report, before a wrong range is handed out and used.
fn oracle_stop(report: &Disagreement) {
    panic!("{report}");
}

fn with<R>(f: impl FnOnce(&mut Vmalloc) -> R) -> R {
    without_interrupts(|| f(VMALLOC.lock().as_mut().expect("vmalloc::init runs at boot")))
}

/// Linux's `is_vmalloc_addr`.
pub fn is_vmalloc_addr(addr: VirtAddr) -> bool {
    super::layout::in_vmalloc_area(addr.as_u64())
}

/// Writable, not executable, global kernel pages (Linux's PAGE_KERNEL).
const PAGE_KERNEL: Flags = Flags::PRESENT.union(Flags::WRITABLE).union(Flags::NO_EXECUTE).union(Flags::GLOBAL);

/// Reserves `size` bytes (rounded up to pages) plus a guard page, starting
/// at a multiple of `align` (a power of two; below a page means a page).
fn get_vm_area(
    v: &mut Vmalloc,
    size: u64,
    align: u64,
    flags: u32,
    caller: &'static Location<'static>,
) -> Result<VirtAddr, VmError> {
    purge::make_room(v, size, align);
    // LAB 2 BEGIN: round size up to pages, add the guard page, reserve with v.areas.alloc (align at least a page)
    let pages = size.div_ceil(PAGE_SIZE);
    let total = pages.checked_add(1).and_then(|p| p.checked_mul(PAGE_SIZE)).ok_or(VmError::TooLarge(size))?;
    let vm = VmStruct {
        flags,
        pages: PageList::new(),
        nr_pages: pages,
        phys_addr: None,
        caller,
        requested: size,
        redzone: false,
    };
    match v.areas.alloc(total, align.max(PAGE_SIZE), vm) {
        Ok(start) => Ok(VirtAddr::new(start)),
        Err(AreaError::NoSpace) => Err(VmError::NoSpace(size)),
        Err(AreaError::NoMemory) => Err(VmError::NoMemory),
        Err(_) => Err(VmError::TooLarge(size)),
    }
    // LAB 2 END
}

/// Reserves a range of `size` bytes (plus its guard page) at a multiple of
/// `align`, and maps nothing (Linux's `__get_vm_area_caller`): for callers
/// that map it themselves later. The area is `VM_UNINITIALIZED` until
/// then; `free_vm_area` releases it.
#[track_caller]
pub fn get_vm_area_caller(size: u64, align: u64) -> Result<VirtAddr, VmError> {
    if size == 0 {
        return Err(VmError::ZeroSize);
    }
    if !align.is_power_of_two() {
        return Err(VmError::BadAlign(align));
    }
    with(|v| get_vm_area(v, size, align, VM_UNINITIALIZED, Location::caller()))
}

/// Releases a range from `get_vm_area_caller` that holds no mapping
/// (Linux's `free_vm_area`). Refuses anything else, changing nothing.
pub fn free_vm_area(addr: VirtAddr) -> Result<(), VmError> {
    with(|v| take_area(v, addr.as_u64(), VM_UNINITIALIZED, "reserved").map(drop))
}

/// Takes `count` pages from `zone`, zeroed if asked; returns them all or
/// none. Linux's `vm_area_alloc_pages` (5.13+), which also asks for them
/// in bulk; Gorman's 2.4 took one `alloc_page` per PTE in `alloc_area_pte`.
fn vm_area_alloc_pages(count: u64, zone: ZoneType, zero: bool) -> Result<PageList, VmError> {
    let mut pages = PageList::try_with_len(count as usize).ok_or(VmError::NoMemory)?;
    super::alloc_page_list(PageOwner::Vmalloc, zone, &mut pages).map_err(|_| VmError::NoMemory)?;
    if zero {
        for frame in pages.iter() {
            // SAFETY: a fresh page, ours alone, reached through the direct map.
            unsafe { crate::arch::page::clear_page(phys_to_virt(frame.start_address()).as_mut_ptr()) };
        }
    }
    Ok(pages)
}

/// Gives an area's pages back: the order-9 blocks of a huge area whole
/// (vmalloc/huge.rs), any other list page by page.
fn free_pages_array(pages: &PageList) {
    if huge::free_huge_blocks(pages) {
        return;
    }
    super::free_page_list(pages).expect("vmalloc pages were allocated as order 0");
}

/// The common path of every vmalloc variant (Linux's `__vmalloc_node`):
/// `size` bytes at a multiple of `align` (a power of two), pages from
/// `zone` or below, zeroed if `zero`.
#[track_caller]
pub fn __vmalloc_node(size: u64, align: u64, zone: ZoneType, zero: bool) -> Result<VirtAddr, VmError> {
    __vmalloc(size, align, zone, zero, Location::caller())
}

fn __vmalloc(
    size: u64,
    align: u64,
    zone: ZoneType,
    zero: bool,
    caller: &'static Location<'static>,
) -> Result<VirtAddr, VmError> {
    if size == 0 {
        return Err(VmError::ZeroSize);
    }
    if !align.is_power_of_two() {
        return Err(VmError::BadAlign(align));
    }
    let count = size.div_ceil(PAGE_SIZE);
    if count > super::managed_pages() {
        return Err(VmError::TooLarge(size));
    }
    with(|v| {
        let start = get_vm_area(v, size, align, VM_ALLOC, caller)?;
        let pages = __vmalloc_area_node(v, start, count, zone, zero)?;
        pgtable::flush_cache_vmap(start, start + count * PAGE_SIZE);
        v.vmalloc_pages += count;
        let vm = &mut v.areas.find_mut(start.as_u64()).expect("just reserved").data;
        vm.pages = pages;
        vm.requested = size;
        vm.redzone = redzone::enabled() && poison_redzone(vm);
        Ok(start)
    })
}

/// Backs the range `get_vm_area` reserved at `start` with `count` fresh
/// pages from `zone` and maps them (Linux's `__vmalloc_area_node`). On a
/// failure nothing may stay behind: the pages taken go back to the buddy
/// allocator and the range is released, so the caller sees the books as
/// they were before the call.
fn __vmalloc_area_node(
    v: &mut Vmalloc,
    start: VirtAddr,
    count: u64,
    zone: ZoneType,
    zero: bool,
) -> Result<PageList, VmError> {
    // LAB 2 BEGIN: vm_area_alloc_pages, then pgtable::vmap_pages_range; on each failure give back pages and range
    let pages = match vm_area_alloc_pages(count, zone, zero) {
        Ok(pages) => pages,
        Err(e) => {
            v.areas.remove(start.as_u64());
            return Err(e);
        }
    };
    if let Err(e) = pgtable::vmap_pages_range(start, count, pages.iter().copied(), PAGE_KERNEL) {
        free_pages_array(&pages);
        v.areas.remove(start.as_u64());
        return Err(e.into());
    }
    Ok(pages)
    // LAB 2 END
}

/// Allocates `size` bytes of virtually contiguous memory (Linux's `vmalloc`).
/// Pages come from the Normal zone, falling back to DMA32 and DMA.
#[track_caller]
pub fn vmalloc(size: u64) -> Result<VirtAddr, VmError> {
    __vmalloc(size, PAGE_SIZE, ZoneType::Normal, false, Location::caller())
}

/// Like `vmalloc`, with the memory zeroed (Linux's `vzalloc`).
#[track_caller]
pub fn vzalloc(size: u64) -> Result<VirtAddr, VmError> {
    __vmalloc(size, PAGE_SIZE, ZoneType::Normal, true, Location::caller())
}

/// Pages addressable with 32 bits: DMA32 or DMA (Linux's `vmalloc_32`).
#[track_caller]
pub fn vmalloc_32(size: u64) -> Result<VirtAddr, VmError> {
    __vmalloc(size, PAGE_SIZE, ZoneType::Dma32, false, Location::caller())
}

/// Pages from the DMA zone, below 16 MiB (Linux 2.4's `vmalloc_dma`).
#[track_caller]
pub fn vmalloc_dma(size: u64) -> Result<VirtAddr, VmError> {
    __vmalloc(size, PAGE_SIZE, ZoneType::Dma, false, Location::caller())
}

/// Takes the area starting at `addr` out of the bookkeeping if it exists,
/// starts exactly there and has kind `flag` (the eager free: its caller
/// flushes the TLB, counted here).
fn take_area(v: &mut Vmalloc, addr: u64, flag: u32, expected: &'static str) -> Result<Area<VmStruct>, VmError> {
    check_area(v, addr, flag, expected)?;
    retire(v, addr);
    if flag != VM_UNINITIALIZED {
        purge::count_eager_flush();
    }
    Ok(v.areas.remove(addr).expect("checked above"))
}

/// Whether a free of kind `flag` may take the area at `addr`: one starts
/// exactly there, has that kind, and is not already freed lazily.
fn check_area(v: &Vmalloc, addr: u64, flag: u32, expected: &'static str) -> Result<(), VmError> {
    let area = v.areas.find(addr).ok_or(VmError::NotAnArea(addr))?;
    if area.data.flags & VM_LAZY_FREE != 0 {
        return Err(VmError::NotAnArea(addr));
    }
    if area.start != addr {
        return Err(VmError::NotStart { addr, start: area.start });
    }
    if area.data.flags & flag == 0 {
        return Err(VmError::WrongKind { addr, kind: area.data.kind(), expected });
    }
    Ok(())
}

/// What every free does with the area at `addr` before it goes: checks
/// the redzone and remembers the area for fault reports.
fn retire(v: &mut Vmalloc, addr: u64) {
    let area = v.areas.find(addr).expect("checked by check_area");
    if let Some(hit) = redzone_overwrite(&area.data) {
        report_overrun(area, hit);
        v.overruns += 1;
    }
    let d = &area.data;
    v.freed[v.next_freed] =
        Freed { start: area.start, end: area.end(), kind: d.kind(), requested: d.requested, caller: d.caller };
    v.next_freed = (v.next_freed + 1) % v.freed.len();
}

/// The slack of a VM_ALLOC area's last page, through the direct map (so
/// no vmalloc fault can happen under the lock), or None if there is none.
fn redzone_bytes(vm: &VmStruct) -> Option<&'static mut [u8]> {
    let (offset, len) = redzone::slack_in_last_page(vm.requested, PAGE_SIZE)?;
    let last = vm.pages.iter().last()?;
    let base = phys_to_virt(last.start_address()) + offset as u64;
    // SAFETY: the frame is the area's own last page, alive until its
    // pages are freed, and the bytes past `requested` are the area's
    // slack, which no caller was given; the range stays in that page.
    Some(unsafe { core::slice::from_raw_parts_mut(base.as_mut_ptr::<u8>(), len) })
}

/// Fills a fresh VM_ALLOC area's slack with the pattern; false if it has
/// no slack (the size is a whole number of pages).
fn poison_redzone(vm: &VmStruct) -> bool {
    redzone_bytes(vm).map(redzone::fill).is_some()
}

/// The changed bytes of an area's redzone, if it has one and was hit.
fn redzone_overwrite(vm: &VmStruct) -> Option<redzone::Overwrite> {
    if !vm.redzone || vm.flags & VM_ALLOC == 0 {
        return None;
    }
    redzone::check(redzone_bytes(vm)?, vm.requested)
}

/// Says on the console that an area's redzone was overwritten; the free
/// goes on (as KASAN reports and continues by default).
fn report_overrun(area: &Area<VmStruct>, hit: redzone::Overwrite) {
    let d = &area.data;
    crate::println!(
        "BUG: vmalloc redzone overwritten: the {}-byte {} area at {:#x} (allocated at {}:{}): {hit}",
        d.requested,
        d.kind(),
        area.start,
        d.caller.file(),
        d.caller.line()
    );
}

/// Unmaps an area and, if asked, returns its pages to the buddy allocator
/// (Linux's `__vunmap`). The range itself is already out of the books.
fn __vunmap(area: &Area<VmStruct>, deallocate_pages: bool) {
    // LAB 2 BEGIN: clear the area's PTEs (pgtable::vunmap_range), then free its pages if asked
    pgtable::vunmap_range(VirtAddr::new(area.start), area.data.nr_pages);
    if deallocate_pages {
        free_pages_array(&area.data.pages);
    }
    // LAB 2 END
}

/// Frees memory from `vmalloc` and its variants. `addr` must be the start
/// of a VM_ALLOC area; a null address does nothing (Linux's `vfree`).
pub fn vfree(addr: VirtAddr) -> Result<(), VmError> {
    if let Some(done) = purge::vfree_lazily(addr) {
        return done;
    }
    // LAB 2 BEGIN: null does nothing; else take_area(.., VM_ALLOC, ..), __vunmap with its pages, count them
    if addr.is_null() {
        return Ok(());
    }
    with(|v| {
        let area = take_area(v, addr.as_u64(), VM_ALLOC, "vmalloc")?;
        __vunmap(&area, true);
        v.vmalloc_pages -= area.data.nr_pages;
        Ok(())
    })
    // LAB 2 END
}
