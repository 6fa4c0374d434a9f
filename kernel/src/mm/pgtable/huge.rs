//! 2 MiB leaves at the PMD level of the vmalloc area (Linux's huge vmap,
//! `CONFIG_HAVE_ARCH_HUGE_VMAP`): the page-table half of `vmalloc_huge`
//! and of ioremap's aligned ranges.
//!
//! A PMD entry either points to a PTE table (512 entries of 4 KiB) or,
//! with the PS bit (bit 7) set, is itself the translation of a whole
//! 2 MiB block of physical memory: the walk ends one level early. Linux
//! names the test `pmd_leaf`, the store `pmd_set_huge`, the clearing
//! `pmd_clear_huge`; its `vmap_pmd_range` tries `vmap_try_huge_pmd` for
//! every PMD entry the range covers whole and falls back to a PTE table
//! otherwise. Here the caller decides: `vmap_huge_range` maps whole 2 MiB
//! blocks only, and ordinary pages keep going through `vmap_pages_range`.
//!
//! A leaf saves one PTE table page (4 KiB per 2 MiB mapped) and lets one
//! TLB entry cover what 512 entries covered.
//!
//! Cache bits: PWT (bit 3) and PCD (bit 4) sit at the same place in a PTE
//! and in a PMD leaf, but the PAT bit does not. In a PTE it is bit 7; in a
//! PMD leaf bit 7 is PS, so the Intel SDM (vol. 3, table 4-17) moves PAT to
//! bit 12, the lowest address bit, which a 2 MiB-aligned address leaves
//! free. `pmd_leaf_bits` moves it.

use super::{
    master_pgd, on_new_master_entry, pgd_addr_end, pgd_index, pmd_index, pud_addr_end, pud_index, settle_new_tables,
    table, table_or_alloc, table_pages, MapError, TABLE_PAGES,
};
use crate::mm::layout::{PMD_SIZE, VMALLOC_END, VMALLOC_START};
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::structures::paging::page_table::PageTableEntry;
use x86_64::structures::paging::{PageTable, PageTableFlags as Flags};
use x86_64::{PhysAddr, VirtAddr};

/// The buddy order of one 2 MiB block: PMD_SHIFT - PAGE_SHIFT.
pub const HUGE_ORDER: usize = 9;
/// 4 KiB pages in one 2 MiB leaf.
pub const PAGES_PER_PMD: u64 = 1 << HUGE_ORDER;

/// PMD leaves mapped now in the vmalloc area: each stands for one PTE
/// table page that does not have to exist (meminfo's saving).
static HUGE_LEAVES: AtomicU64 = AtomicU64::new(0);

/// The PAT bit of a PMD leaf (bit 12; bit 7 of a PTE, see the top).
const PMD_PAT: u64 = 1 << 12;

/// The PMD leaves mapped now in the vmalloc area, which is also the number
/// of PTE table pages they save.
pub fn huge_leaves() -> u64 {
    HUGE_LEAVES.load(Ordering::Relaxed)
}

/// Linux's `pmd_leaf`: a present PMD entry with PS set maps 2 MiB itself
/// and points to no table.
pub fn pmd_leaf(entry: &PageTableEntry) -> bool {
    entry.flags().contains(Flags::PRESENT | Flags::HUGE_PAGE)
}

/// The address bits and flags of a PMD leaf for `phys` with the flags a
/// PTE would have: PS added, and a PTE's PAT bit (bit 7, the same bit as
/// PS) moved to bit 12.
fn pmd_leaf_bits(phys: PhysAddr, pte_flags: Flags) -> (PhysAddr, Flags) {
    // In `pte_flags`, HUGE_PAGE is bit 7: for a PTE that bit means PAT.
    let pat = if pte_flags.contains(Flags::HUGE_PAGE) { PMD_PAT } else { 0 };
    (PhysAddr::new(phys.as_u64() | pat), pte_flags | Flags::HUGE_PAGE)
}

/// Maps `count` 2 MiB blocks from `start` (2 MiB aligned) to the physical
/// blocks `blocks` yields (each 2 MiB aligned), one PMD leaf each, with
/// the PTE-style `flags`. Like `vmap_pages_range` it keeps nothing on
/// error: leaves set are cleared and the tables it made (but the PUD
/// tables of new top-level entries) are given back. Callers hold the
/// vmalloc lock and flush nothing: a new mapping replaces only entries
/// that were not present.
pub fn vmap_huge_range(
    start: VirtAddr,
    count: u64,
    blocks: impl IntoIterator<Item = PhysAddr>,
    flags: Flags,
) -> Result<(), MapError> {
    let (addr, end) = (start.as_u64(), start.as_u64() + count * PMD_SIZE);
    debug_assert!(addr.is_multiple_of(PMD_SIZE) && addr >= VMALLOC_START && end <= VMALLOC_END);
    let tables = table_pages();
    let result = vmap_pmd_leaves(addr, end, &mut blocks.into_iter(), flags);
    if result.is_err() {
        super::vunmap_range(start, count * PAGES_PER_PMD);
    }
    if table_pages() != tables {
        settle_new_tables(addr, end, result.is_err());
    }
    result
}

/// The walk of `vmap_huge_range`: PGD, PUD, then one leaf per PMD entry.
fn vmap_pmd_leaves(
    mut addr: u64,
    end: u64,
    blocks: &mut impl Iterator<Item = PhysAddr>,
    flags: Flags,
) -> Result<(), MapError> {
    // SAFETY: the master table; callers hold the vmalloc lock.
    let pgd = unsafe { table(master_pgd()) };
    while addr < end {
        let next = pgd_addr_end(addr, end);
        let index = pgd_index(addr);
        let new_entry = pgd[index].is_unused();
        let pud = table_or_alloc(&mut pgd[index])?;
        if new_entry {
            on_new_master_entry(index);
        }
        while addr < next {
            let pud_next = pud_addr_end(addr, next);
            let pmd = table_or_alloc(&mut pud[pud_index(addr)])?;
            while addr < pud_next {
                let block = blocks.next().expect("one block per 2 MiB");
                pmd_set_huge(pmd, addr, block, flags)?;
                addr += PMD_SIZE;
            }
        }
    }
    Ok(())
}

/// Linux's `pmd_set_huge`, after `pmd_free_pte_page`: makes the PMD entry
/// for `addr` a leaf for `block`. An entry that still points to an empty
/// PTE table (tables are kept after small mappings go) loses the table
/// first; one with a page still mapped is a double mapping.
fn pmd_set_huge(pmd: &mut PageTable, addr: u64, block: PhysAddr, flags: Flags) -> Result<(), MapError> {
    let entry = &mut pmd[pmd_index(addr)];
    if !entry.is_unused() {
        free_empty_pte_table(entry, addr)?;
    }
    let (bits, leaf_flags) = pmd_leaf_bits(block, flags);
    entry.set_addr(bits, leaf_flags);
    HUGE_LEAVES.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Gives back the PTE table below `entry` if every entry of it is unused,
/// and clears `entry`; `AlreadyMapped` if the entry is a leaf or the table
/// still maps a page.
fn free_empty_pte_table(entry: &mut PageTableEntry, addr: u64) -> Result<(), MapError> {
    let frame = entry.frame().map_err(|_| MapError::AlreadyMapped(addr))?;
    // SAFETY: a present non-leaf PMD entry of the vmalloc area: a table.
    if !unsafe { table(frame) }.iter().all(PageTableEntry::is_unused) {
        return Err(MapError::AlreadyMapped(addr));
    }
    entry.set_unused();
    // The paging-structure caches may still hold the old PMD entry, and
    // with it the table about to be reused: drop them before it goes.
    x86_64::instructions::tlb::flush(VirtAddr::new(addr));
    crate::mm::free_pages(frame.start_address(), 0).expect("a page table is an order-0 block");
    TABLE_PAGES.fetch_sub(1, Ordering::Relaxed);
    Ok(())
}

/// Linux's `pmd_clear_huge`: clears a PMD leaf of the vmalloc area. The
/// caller unmaps whole leaves only (a huge area is freed whole) and
/// flushes the TLB afterwards.
pub fn pmd_clear_huge(entry: &mut PageTableEntry) {
    debug_assert!(pmd_leaf(entry));
    entry.set_unused();
    HUGE_LEAVES.fetch_sub(1, Ordering::Relaxed);
}
