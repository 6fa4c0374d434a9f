//! `describe(addr)`: what an address is, from the memory manager's own
//! records, for the shell's `explain` and for the page-fault oops, which
//! prints the same text (kernel/src/oops/); also `WalkText`, the `pt` walk
//! both print. Like Linux's `mem_dump_obj` (mm/util.c) and
//! `vmalloc_dump_obj` (mm/vmalloc.c), it asks each owner in turn: the
//! layout, the vmalloc books, the page allocator's `mem_map`, the slab
//! headers, the page tables.
//!
//! It must work inside a fault handler: no heap, and every lock is only
//! tried (a record whose lock is held is reported as busy). The answer is
//! a plain `Copy` value; its `Display` writes the words.
//! Reading: Gorman ch. 4 (the kernel's address space), ch. 7 (vmalloc).

use super::direct_map::{self, ImageKind};
use super::layout::*;
use super::page::{PageState, PAGE_SIZE};
use super::page_alloc::ZoneType;
use super::vmalloc::{self, AreaInfo, Freed, Lookup};
use super::{aspace, memblock, pgtable, slab};
use core::fmt;
use core::ops::Range;
use core::ptr::NonNull;
use x86_64::structures::paging::{PageTableFlags as Flags, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

/// What an address is. See `describe`.
#[derive(Clone, Copy, Debug)]
pub struct Explanation {
    pub addr: u64,
    pub what: What,
    /// The top-level entry, when it is missing here but present in the
    /// master (a lazy vmalloc fault would copy it).
    pub lazy_pgd: Option<usize>,
}

/// The kinds of answer.
#[derive(Clone, Copy, Debug)]
pub enum What {
    /// Bits 48..64 are not copies of bit 47.
    NotCanonical,
    /// In a live vmalloc, vmap or ioremap area (guard page included);
    /// `uncached` for an ioremap whose PTE has PCD set.
    Area {
        area: AreaInfo,
        uncached: bool,
    },
    /// In one of the last areas released.
    FreedArea(Freed),
    /// In the vmalloc area, in no area known.
    VmallocUnused,
    /// A record's lock was held (the fault hit while it was taken).
    Busy(&'static str),
    /// The direct map of a frame the page allocator knows.
    DirectMap {
        pfn: u64,
        zone: ZoneType,
        frame: Frame,
    },
    /// The direct map at a physical address that is not RAM.
    DirectMapHole {
        phys: PhysAddr,
    },
    /// The kernel image, through its own mapping.
    Image(ImageKind),
    /// The boot (kernel) stack; `from_top` bytes below its top.
    BootStack {
        from_top: u64,
    },
    BootStackGuard,
    /// The double-fault handler's own stack (arch/gdt.rs).
    DoubleFaultStack {
        from_top: u64,
    },
    BootInfo,
    FrameBuffer,
    /// Mapped, but to nothing the records name.
    Mapped {
        phys: PhysAddr,
    },
    /// No mapping, and nothing to say about it.
    NotMapped {
        pgd_index: usize,
        here: bool,
        master: bool,
    },
}

/// What a frame behind a direct-map address is doing.
#[derive(Clone, Copy, Debug)]
pub enum Frame {
    Free { head: u64, order: usize },
    PerCpu,
    PageTable,
    VmallocPage { start: u64, kind: &'static str },
    Slab { class: usize },
    Allocated { head: u64, order: usize },
    MemMap,
    ImageAlias(ImageKind),
    Reserved,
    Unmanaged,
}

/// Describes `addr`. Takes a raw `u64`, not a `VirtAddr`: a non-canonical
/// address is one of the answers.
pub fn describe(addr: u64) -> Explanation {
    let what = match VirtAddr::try_new(addr) {
        Err(_) => What::NotCanonical,
        Ok(va) => classify(va),
    };
    let lazy_pgd = VirtAddr::try_new(addr).ok().and_then(lazy_pgd_entry);
    Explanation { addr, what, lazy_pgd }
}

fn classify(va: VirtAddr) -> What {
    let a = va.as_u64();
    if in_vmalloc_area(a) {
        return vmalloc_what(va);
    }
    if (PAGE_OFFSET..VMALLOC_START).contains(&a) {
        return direct_map_what(virt_to_phys(va));
    }
    if let Some(w) = stack_what(a) {
        return w;
    }
    if (BOOT_INFO_ADDR..FRAMEBUFFER_ADDR).contains(&a) && mapped(va).is_some() {
        return What::BootInfo;
    }
    if (FRAMEBUFFER_ADDR..BOOT_AREA_END).contains(&a) && mapped(va).is_some() {
        return What::FrameBuffer;
    }
    match mapped(va) {
        Some(phys) if a >= KERNEL_BASE => {
            direct_map::image_kind(phys.as_u64()).map_or(What::Mapped { phys }, What::Image)
        }
        Some(phys) => What::Mapped { phys },
        None => not_mapped(va),
    }
}

/// The physical address behind `va` in the current page table.
fn mapped(va: VirtAddr) -> Option<PhysAddr> {
    pgtable::walk(pgtable::current_pgd(), va).phys.map(|(p, _)| p)
}

fn pgd_present(pgd: PhysFrame, va: VirtAddr) -> bool {
    let walk = pgtable::walk(pgd, va);
    walk.steps[0].is_some_and(|s| s.flags.contains(Flags::PRESENT))
}

fn not_mapped(va: VirtAddr) -> What {
    let here = pgd_present(pgtable::current_pgd(), va);
    let master = pgd_present(pgtable::master_pgd(), va);
    What::NotMapped { pgd_index: pgtable::pgd_index(va.as_u64()), here, master }
}

/// The PGD index of `va` if this address space lacks the entry that the
/// master has: the state a lazy vmalloc fault repairs.
fn lazy_pgd_entry(va: VirtAddr) -> Option<usize> {
    let lazy = !pgd_present(pgtable::current_pgd(), va) && pgd_present(pgtable::master_pgd(), va);
    lazy.then(|| pgtable::pgd_index(va.as_u64()))
}

fn vmalloc_what(va: VirtAddr) -> What {
    match vmalloc::lookup(va) {
        Lookup::Live(area) => {
            let pte = pgtable::walk(pgtable::master_pgd(), VirtAddr::new(area.start)).phys;
            let uncached = pte.is_some_and(|(_, f)| f.contains(Flags::NO_CACHE));
            What::Area { area, uncached }
        }
        Lookup::Freed(f) => What::FreedArea(f),
        Lookup::NeverAllocated => What::VmallocUnused,
        Lookup::Busy => What::Busy("vmalloc"),
    }
}

/// The boot stack, its guard page and the double-fault stack.
fn stack_what(a: u64) -> Option<What> {
    let boot: Range<u64> = KERNEL_STACK_GUARD + PAGE_SIZE..KERNEL_STACK_GUARD + PAGE_SIZE + KERNEL_STACK_SIZE;
    if (KERNEL_STACK_GUARD..boot.start).contains(&a) {
        return Some(What::BootStackGuard);
    }
    if boot.contains(&a) {
        return Some(What::BootStack { from_top: boot.end - a });
    }
    let df = crate::arch::gdt::double_fault_stack();
    (df.start.as_u64()..df.end.as_u64()).contains(&a).then(|| What::DoubleFaultStack { from_top: df.end.as_u64() - a })
}

fn direct_map_what(phys: PhysAddr) -> What {
    let p = phys.as_u64();
    if memblock::first_ram_in(p, p).is_none() {
        return What::DirectMapHole { phys };
    }
    let pfn = p / PAGE_SIZE;
    let zone = ZoneType::of(pfn);
    match frame_what(pfn) {
        Some(frame) => What::DirectMap { pfn, zone, frame },
        None => What::Busy("page allocator"),
    }
}

/// What `mem_map` and the owners of allocated pages say of `pfn`; None
/// if the page allocator's lock is held.
fn frame_what(pfn: u64) -> Option<Frame> {
    let block = super::try_with_pages(|p| p.block_of(pfn))?;
    Some(match block {
        None => Frame::Unmanaged,
        Some((head, PageState::Free, order)) => Frame::Free { head, order },
        Some((_, PageState::Pcp, _)) => Frame::PerCpu,
        Some((_, PageState::Reserved | PageState::Tail, _)) => reserved_frame(pfn),
        Some((head, PageState::Allocated, 0)) => allocated_page(head).unwrap_or(Frame::Allocated { head, order: 0 }),
        Some((head, PageState::Allocated, order)) => Frame::Allocated { head, order },
    })
}

/// A frame the allocator never had: `mem_map`, the bootloader's page
/// tables (the master PGD among them), the image, or firmware memory.
fn reserved_frame(pfn: u64) -> Frame {
    if memblock::mem_map_frames().contains(&pfn) {
        return Frame::MemMap;
    }
    if is_page_table(pfn) {
        return Frame::PageTable;
    }
    direct_map::image_kind(pfn * PAGE_SIZE).map_or(Frame::Reserved, Frame::ImageAlias)
}

/// True if `pfn` is the PGD of an address space or a table below the
/// master's (a walk of every table, done only when lock-free to do so).
fn is_page_table(pfn: u64) -> bool {
    let frame = PhysFrame::containing_address(PhysAddr::new(pfn * PAGE_SIZE));
    let is_pgd = (0..aspace::MAX_SPACES).any(|id| aspace::info(id).is_some_and(|i| i.pgd == pfn * PAGE_SIZE));
    is_pgd || vmalloc::try_is_master_table(frame) == Some(true)
}

/// Who holds an allocated single page: a page table, a vmalloc area, a
/// slab (by its header); None if no record claims it.
fn allocated_page(pfn: u64) -> Option<Frame> {
    let frame = PhysFrame::containing_address(PhysAddr::new(pfn * PAGE_SIZE));
    if is_page_table(pfn) {
        return Some(Frame::PageTable);
    }
    if let Some(Some((start, kind))) = vmalloc::try_area_owning(frame) {
        return Some(Frame::VmallocPage { start, kind });
    }
    let page = NonNull::new(phys_to_virt(frame.start_address()).as_mut_ptr::<u8>())?;
    // SAFETY: an allocated RAM frame, mapped (readable) by the direct map
    // and page-aligned; reading its first bytes changes nothing.
    unsafe { slab::class_of_page(page) }.map(|class| Frame::Slab { class })
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", WhatAt(self.addr, &self.what))?;
        if let Some(index) = self.lazy_pgd {
            write!(f, "; PGD entry {index} is empty in this address space but present in the master")?;
            write!(f, " (a lazy vmalloc fault would fix it)")?;
        }
        Ok(())
    }
}

/// `What` with the address it is about, for `Display`.
struct WhatAt<'a>(u64, &'a What);

impl fmt::Display for WhatAt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let addr = self.0;
        match *self.1 {
            What::NotCanonical => write!(f, "not canonical (bits 63..48 must all equal bit 47)"),
            What::Area { area, uncached } => write_area(f, addr, &area, uncached),
            What::FreedArea(fr) => write_freed(f, addr, &fr),
            What::VmallocUnused => write!(f, "in the vmalloc area, in no live or recently freed area"),
            What::Busy(who) => write!(f, "unknown: the {who} records are locked (the fault hit inside them)"),
            What::DirectMap { pfn, zone, frame } => {
                write!(
                    f,
                    "the direct map of pfn {pfn:#x} (phys {:#x}), in zone {}, ",
                    addr - PAGE_OFFSET,
                    zone.name()
                )?;
                write!(f, "{frame}")
            }
            What::DirectMapHole { phys } => {
                write!(f, "the direct map at phys {:#x}, which is not RAM (not mapped)", phys.as_u64())
            }
            What::Image(kind) => write!(f, "{}", kind.name()),
            What::BootStack { from_top } => write!(f, "the boot stack, {from_top} bytes below its top"),
            What::BootStackGuard => write!(f, "the guard page below the boot stack (a stack overflow lands here)"),
            What::DoubleFaultStack { from_top } => write!(f, "the double-fault stack, {from_top} bytes below its top"),
            What::BootInfo => write!(f, "the bootloader's BootInfo and memory map"),
            What::FrameBuffer => write!(f, "the frame buffer"),
            What::Mapped { phys } => write!(f, "mapped to phys {:#x}, owned by no record", phys.as_u64()),
            What::NotMapped { pgd_index, here, master } => {
                let state = |p| if p { "present" } else { "empty" };
                write!(f, "not mapped: PGD entry {pgd_index} is {} in this address space", state(here))?;
                write!(f, " and {} in the master", state(master))
            }
        }
    }
}

/// One live area: where in it `addr` falls, against the size asked for.
fn write_area(f: &mut fmt::Formatter, addr: u64, a: &AreaInfo, uncached: bool) -> fmt::Result {
    let off = addr - a.start;
    let mapped = a.nr_pages * PAGE_SIZE;
    if let Some(phys) = a.phys {
        let base = phys & !(PAGE_SIZE - 1);
        let mode = if uncached { "uncached" } else { "cached" };
        if off < mapped {
            write!(f, "an ioremap of phys {phys:#x} ({mode}): phys {:#x}, ", base + off)?;
        } else {
            write!(f, "the guard page of an ioremap of phys {phys:#x} ({mode}), ")?;
        }
        return write!(f, "area at {:#x}, made at {}:{}", a.start, a.caller.file(), a.caller.line());
    }
    if off >= mapped {
        write!(f, "the guard page of ")?;
    } else {
        write!(f, "byte {off} of ")?;
    }
    write!(f, "the {}-byte {} area at {:#x} ({} pages + guard), ", a.requested, a.kind, a.start, a.nr_pages)?;
    write!(f, "allocated at {}:{}", a.caller.file(), a.caller.line())?;
    if off >= a.requested {
        write!(f, ", {} bytes past its end", off - a.requested)?;
    }
    Ok(())
}

fn write_freed(f: &mut fmt::Formatter, addr: u64, fr: &Freed) -> fmt::Result {
    let how = match fr.kind {
        "vmalloc" => "vfree",
        "ioremap" => "iounmap",
        _ => "vunmap",
    };
    write!(
        f,
        "inside an area freed earlier ({how}): byte {} of the {}-byte {} ",
        addr - fr.start,
        fr.requested,
        fr.kind
    )?;
    write!(f, "area that was at {:#x}, allocated at {}:{}", fr.start, fr.caller.file(), fr.caller.line())
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            Frame::Free { head, order } => write!(f, "in a free block of order {order} (head pfn {head:#x})"),
            Frame::PerCpu => write!(f, "a free page on the per-CPU list"),
            Frame::PageTable => write!(f, "a page-table page"),
            Frame::VmallocPage { start, kind } => write!(f, "a page of the {kind} area at {start:#x}"),
            Frame::Slab { class } => write!(f, "part of a slab of cache kmalloc-{}", slab::SIZE_CLASSES[class]),
            Frame::Allocated { head, order } => {
                write!(f, "in a block of order {order} allocated by alloc_pages (head pfn {head:#x})")
            }
            Frame::MemMap => write!(f, "mem_map (the page descriptors)"),
            Frame::ImageAlias(kind) => write!(f, "{} (its alias in the direct map)", kind.name()),
            Frame::Reserved => write!(f, "reserved at boot (bootloader data or firmware)"),
            Frame::Unmanaged => write!(f, "not managed by the page allocator"),
        }
    }
}

/// The page-table walk of an address in the current address space, one
/// line per level with the entry and its flags, then where it ends: the
/// text of the shell's `pt` and of a page-fault oops. Heap-free, and the
/// walk stops at an entry that points outside RAM (`pgtable::walk`).
pub struct WalkText {
    pub addr: VirtAddr,
    /// Put before every line (the oops indents its lines).
    pub indent: &'static str,
}

/// The flag bits the walk names, lowest bit first.
const FLAG_NAMES: [(Flags, &str); 10] = [
    (Flags::PRESENT, "P"),
    (Flags::WRITABLE, "W"),
    (Flags::USER_ACCESSIBLE, "U"),
    (Flags::WRITE_THROUGH, "PWT"),
    (Flags::NO_CACHE, "PCD"),
    (Flags::ACCESSED, "A"),
    (Flags::DIRTY, "D"),
    (Flags::HUGE_PAGE, "PS"),
    (Flags::GLOBAL, "G"),
    (Flags::NO_EXECUTE, "NX"),
];

impl fmt::Display for WalkText {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let walk = pgtable::walk(pgtable::current_pgd(), self.addr);
        for step in walk.steps.iter().flatten() {
            // `PGD[511]` is 8 characters: pad each label to 9, without a buffer.
            let digits = if step.index >= 100 {
                3
            } else if step.index >= 10 {
                2
            } else {
                1
            };
            write!(
                f,
                "{}{}[{}]{:pad$}= {:#018x}",
                self.indent,
                step.level,
                step.index,
                "",
                step.entry,
                pad = 4 - digits
            )?;
            for (_, name) in FLAG_NAMES.iter().filter(|(flag, _)| step.flags.contains(*flag)) {
                write!(f, " {name}")?;
            }
            writeln!(f)?;
        }
        match (walk.phys, walk.bad) {
            (Some((phys, _)), _) => write!(f, "{}-> physical {:#x}", self.indent, phys.as_u64()),
            (None, Some(level)) => {
                write!(f, "{}-> stopped: the {level} entry points outside RAM (a corrupt entry?)", self.indent)
            }
            (None, None) => {
                let last = walk.steps.iter().flatten().last().map_or("PGD", |s| s.level);
                write!(f, "{}-> not mapped: the {last} entry is not present", self.indent)
            }
        }
    }
}
