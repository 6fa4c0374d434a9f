//! The direct map after boot: RAM only, and no writable alias of the kernel.
//!
//! The bootloader maps physical memory at `PAGE_OFFSET` from 0 up to the
//! highest address in the firmware's memory map (at least 4 GiB), with
//! 2 MiB pages, writable and not executable. On QEMU that highest address
//! is a reserved range just below 1 TiB, so a 512 MiB machine got a 1 TiB
//! direct map, holes and device memory included; and the frames of the
//! kernel image, mapped read-only and executable at `KERNEL_BASE`, were
//! writable through their second address here (W^X broken by an alias).
//!
//! Linux builds its direct map from memblock's RAM ranges only
//! (`init_mem_mapping`, arch/x86/mm/init.c) and then makes the alias of
//! kernel text and rodata read-only and the rest non-executable
//! (`set_memory_ro`, `set_memory_nx`, arch/x86/mm/pat/set_memory.c, which
//! splits a huge page where a change of protection falls inside it:
//! `split_large_page`). `init` does both to the bootloader's tables
//! (Gorman ch. 3 on the tables themselves):
//!
//! - every entry whose range holds no RAM is cleared, at the largest
//!   level that allows it (1 GiB, 2 MiB or 4 KiB); a huge page that is
//!   part RAM is split into the next smaller size first;
//! - every 4 KiB page of the kernel image's frames (the ELF file the
//!   bootloader loaded, and every frame the image mapping points to,
//!   relocated copies included) loses W in its direct-map alias;
//! - the top-level entries of the direct map get NX, so nothing runs
//!   from it whatever a lower entry says.
//!
//! A 4 KiB page with some RAM in it stays (QEMU's first region ends at
//! 0x9fc00). The tables the bootloader made for the removed ranges stay
//! reserved: they are its memory and the page allocator never had them.

use super::layout::{PAGE_OFFSET, PGDIR_SIZE, VMALLOC_START};
use super::memblock::ram_bytes_in;
use super::page::{PageOwner, PAGE_SIZE};
use super::page_alloc::ZoneType;
use super::pgtable::{self, table};
use alloc::vec::Vec;
use core::ops::Range;
use x86_64::structures::paging::page_table::PageTableEntry;
use x86_64::structures::paging::{PageTable, PageTableFlags as Flags};
use x86_64::PhysAddr;

/// What a frame of the kernel image holds, by how the image maps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// Mapped executable: code.
    Text,
    /// Mapped read-only, not executable: constants.
    Rodata,
    /// Mapped writable: statics (.data, .bss).
    Data,
    /// Loaded but not mapped: the rest of the ELF file (headers, symbols).
    File,
}

impl ImageKind {
    pub fn name(self) -> &'static str {
        match self {
            ImageKind::Text => "kernel text",
            ImageKind::Rodata => "kernel rodata",
            ImageKind::Data => "kernel data",
            ImageKind::File => "the kernel image",
        }
    }
}

/// The kernel image's physical ranges and what they hold.
static IMAGE: spin::Once<Vec<(Range<u64>, ImageKind)>> = spin::Once::new();

/// What `init` did, for the boot log and the tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct Report {
    /// Bytes of the direct map before and after.
    pub mapped_before: u64,
    pub mapped_after: u64,
    /// Pages of the kernel image's alias made read-only.
    pub readonly_pages: u64,
    /// Huge pages split, each into a new table of 512 entries.
    pub split: u64,
}

static REPORT: spin::Once<Report> = spin::Once::new();

/// The report of `init` (all zero before it runs).
pub fn report() -> Report {
    REPORT.get().copied().unwrap_or_default()
}

/// What part of the kernel image the frame at `phys` holds, if any. A
/// frame mapped twice (the file page where rodata ends and text begins
/// is mapped at both addresses) is named by its most dangerous use:
/// text, then data, then rodata.
pub fn image_kind(phys: u64) -> Option<ImageKind> {
    let ranges = IMAGE.get()?;
    [ImageKind::Text, ImageKind::Data, ImageKind::Rodata, ImageKind::File]
        .into_iter()
        .find(|&kind| ranges.iter().any(|(r, k)| *k == kind && r.contains(&phys)))
}

/// The PGD entries of the direct map (273..=401).
fn direct_map_pgd() -> core::ops::RangeInclusive<usize> {
    pgtable::pgd_index(PAGE_OFFSET)..=pgtable::pgd_index(VMALLOC_START) - 1
}

/// Trims the direct map to RAM and write-protects the kernel image's alias
/// (see the top of this file). `kernel_file` is the physical range the
/// bootloader loaded the kernel ELF into. Runs once at boot, after the
/// page allocator (a split needs a page) and `pgtable::init`, before any
/// other address space exists (they copy the master's entries).
pub fn init(kernel_file: Range<u64>) -> Report {
    let image = image_ranges(kernel_file);
    let readonly: Vec<Range<u64>> = image.iter().map(|(r, _)| r.clone()).collect();
    IMAGE.call_once(|| image);

    let mut report = Report { mapped_before: mapped_bytes(), ..Report::default() };
    // SAFETY: the master table, at boot, with nothing else running.
    let pgd = unsafe { table(pgtable::master_pgd()) };
    for i in direct_map_pgd() {
        let entry = &mut pgd[i];
        let Ok(frame) = entry.frame() else { continue };
        let phys = (i - *direct_map_pgd().start()) as u64 * PGDIR_SIZE;
        if ram_bytes_in(phys, phys + PGDIR_SIZE) == 0 {
            entry.set_unused();
            continue;
        }
        entry.set_flags(entry.flags() | Flags::NO_EXECUTE);
        // SAFETY: a present PGD entry of the direct map points to a PUD table.
        prune(unsafe { table(frame) }, 1, phys, &readonly, &mut report);
    }
    pgtable::flush_tlb_all();
    report.mapped_after = mapped_bytes();
    REPORT.call_once(|| report);
    report
}

/// Bytes one entry maps at each level below the PGD (1: PUD, 2: PMD, 3: PTE).
const fn entry_size(level: usize) -> u64 {
    PAGE_SIZE << (9 * (3 - level))
}

/// Clears the entries of `t` (at `level`, mapping from physical `phys`)
/// that hold no RAM, removes W from the pages in `readonly`, and splits
/// the huge pages where either boundary falls inside one.
fn prune(t: &mut PageTable, level: usize, phys: u64, readonly: &[Range<u64>], report: &mut Report) {
    let size = entry_size(level);
    for (i, entry) in t.iter_mut().enumerate() {
        let flags = entry.flags();
        if !flags.contains(Flags::PRESENT) {
            continue;
        }
        let (start, end) = (phys + i as u64 * size, phys + (i as u64 + 1) * size);
        let ram = ram_bytes_in(start, end);
        if ram == 0 {
            entry.set_unused();
            continue;
        }
        let protect = readonly.iter().any(|r| r.start < end && start < r.end);
        if level == 3 {
            // A page with any RAM in it stays; one of the image loses W.
            if protect {
                entry.set_flags(flags - Flags::WRITABLE);
                report.readonly_pages += 1;
            }
            continue;
        }
        if ram == size && !protect {
            continue;
        }
        if flags.contains(Flags::HUGE_PAGE) && !split_large_page(entry, level, report) {
            // No page for a table: leave this huge page as it is.
            continue;
        }
        if let Ok(frame) = entry.frame() {
            // SAFETY: a present non-huge entry points to a table.
            prune(unsafe { table(frame) }, level + 1, start, readonly, report);
        }
    }
}

/// Replaces the huge page of `entry` (at `level`) by a table of 512
/// entries of the next size, mapping the same frames with the same flags
/// (Linux's `split_large_page`). False if no page is free for the table.
fn split_large_page(entry: &mut PageTableEntry, level: usize, report: &mut Report) -> bool {
    let Ok(frame) = super::alloc_pages_for(PageOwner::PageTable, 0, ZoneType::Normal) else { return false };
    let (flags, base) = (entry.flags(), entry.addr().as_u64());
    let child = entry_size(level + 1);
    let child_flags = if level + 1 == 3 { flags - Flags::HUGE_PAGE } else { flags };
    // SAFETY: a fresh page, ours alone, in the direct map (RAM, which
    // stays mapped); it becomes a table only once it is filled.
    let new = unsafe { &mut *super::layout::phys_to_virt(frame.start_address()).as_mut_ptr::<PageTable>() };
    for (i, e) in new.iter_mut().enumerate() {
        e.set_addr(PhysAddr::new(base + i as u64 * child), child_flags);
    }
    entry.set_frame(frame, Flags::PRESENT | Flags::WRITABLE);
    report.split += 1;
    true
}

/// The kernel image's frames: those the image mapping (PGD entry 511)
/// points to, by kind, then the whole ELF file as loaded. Adjacent
/// frames of one kind are merged.
fn image_ranges(kernel_file: Range<u64>) -> Vec<(Range<u64>, ImageKind)> {
    let mut out: Vec<(Range<u64>, ImageKind)> = Vec::new();
    let top = pgtable::pgd_index(super::layout::KERNEL_BASE);
    pgtable::for_each_leaf(pgtable::master_pgd(), top..=511, &mut |_, phys, bytes, flags| {
        let kind = if !flags.contains(Flags::NO_EXECUTE) {
            ImageKind::Text
        } else if !flags.contains(Flags::WRITABLE) {
            ImageKind::Rodata
        } else {
            ImageKind::Data
        };
        match out.last_mut() {
            Some((r, k)) if *k == kind && r.end == phys => r.end += bytes,
            _ => out.push((phys..phys + bytes, kind)),
        }
    });
    let file = kernel_file.start & !(PAGE_SIZE - 1)..kernel_file.end.next_multiple_of(PAGE_SIZE);
    if !file.is_empty() {
        out.push((file, ImageKind::File));
    }
    out
}

/// Bytes the direct map maps now.
pub fn mapped_bytes() -> u64 {
    let mut bytes = 0;
    pgtable::for_each_leaf(pgtable::master_pgd(), direct_map_pgd(), &mut |_, _, size, _| bytes += size);
    bytes
}
