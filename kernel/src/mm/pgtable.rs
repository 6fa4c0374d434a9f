//! Page-table walks for the vmalloc area.
//!
//! x86_64 translates a virtual address through four tables of 512 entries
//! each. Linux names the levels PGD, PUD, PMD and PTE (the Intel manuals say
//! PML4, PDPT, PD and PT); each level is indexed by 9 bits of the address:
//!
//! ```text
//!  63    48 47     39 38     30 29     21 20     12 11        0
//! | sign   | PGD idx | PUD idx | PMD idx | PTE idx | page offset|
//! ```
//!
//! An entry holds the physical address of the next table (or of the page)
//! and flag bits: P (present), W (writable), U (user), PWT/PCD (caching),
//! PS (a huge page ends the walk early), G (global: kept in the TLB across
//! CR3 loads), NX (no execute).
//!
//! Mapping a vmalloc area follows the books (Gorman 7.2, Mauerer 3.5.7):
//! `vmalloc_area_pages` walks the PGD, and `alloc_area_pud`,
//! `alloc_area_pmd` and `alloc_area_pte` each fill the part of the range
//! that one table covers, allocating a missing lower table on the way.
//! Tables are reached through the direct map. Page-table pages of the
//! vmalloc area are kept once a call has succeeded, as in Linux: they are
//! few and are reused.
//!
//! Callers map through `vmap_pages_range` (Linux's name), which wraps the
//! walk so that a refused request keeps nothing it built:
//!
//! - Before building anything for more than 512 pages it counts the
//!   tables the range lacks (`tables_missing`, a walk at 2 MiB steps that
//!   skips whole missing subtrees) and refuses the request if free memory
//!   cannot hold them, instead of filling memory with tables for a range
//!   that can never be mapped (an ioremap of 512 GiB needs 1 GiB of PTE
//!   tables). A smaller call needs at most six tables and just tries.
//! - Every table made during the call is marked (`NEW_TABLE`, a software
//!   bit in the entry above it). If the call fails, its PTEs are cleared
//!   and the marked PTE and PMD tables, empty now, are given back; if it
//!   succeeds the marks are cleared and the tables stay. A PUD table hung
//!   in a top-level entry is never given back, even by a failed call: the
//!   entry may already be copied into other address spaces (at once under
//!   `eager`, by a vmalloc fault under `lazy`), and freeing the table would
//!   leave them pointing at a free page. So a failed call keeps at most
//!   one page per new top-level entry, 64 in the whole area.
//!
//! 2 MiB PMD leaves (`vmalloc_huge`, ioremap) are made in `pgtable/huge.rs`;
//! every walk here stops at a leaf (`huge::pmd_leaf`) instead of reading
//! it as a table.

use super::layout::{
    phys_to_virt, PGDIR_SHIFT, PGDIR_SIZE, PMD_SHIFT, PMD_SIZE, PUD_SHIFT, PUD_SIZE, VMALLOC_END, VMALLOC_START,
};
use super::page::{PageOwner, PAGE_SIZE};
use super::page_alloc::ZoneType;
use crate::lab::Missing;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::registers::control::{Cr3, Cr4, Cr4Flags};
use x86_64::structures::paging::page_table::PageTableEntry;
use x86_64::structures::paging::{PageTable, PageTableFlags as Flags, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

pub mod huge;
mod walk;
pub use walk::*;

/// Page-table pages allocated for the vmalloc area (meminfo's PageTables).
static TABLE_PAGES: AtomicU64 = AtomicU64::new(0);
/// The master page table (Linux's `init_mm.pgd`), recorded at boot.
static MASTER: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No page for a page table.
    NoMemory,
    /// The page is already mapped: the area bookkeeping is broken.
    AlreadyMapped(u64),
    /// The walk is still the skeleton's stub (lab.rs).
    Missing(Missing),
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            MapError::NoMemory => write!(f, "out of memory for a page table"),
            MapError::AlreadyMapped(a) => write!(f, "{a:#x} is already mapped"),
            MapError::Missing(m) => write!(f, "{m}"),
        }
    }
}

impl From<Missing> for MapError {
    fn from(m: Missing) -> Self {
        MapError::Missing(m)
    }
}

/// Who is told of a new top-level entry in the master (aspace, which sets
/// it at boot). A hook rather than a call, so that dependencies run one
/// way: aspace -> pgtable, never back. Linux returns the same news as
/// `pgtbl_mod_mask` and calls `arch_sync_kernel_mappings` with it.
static NEW_ENTRY_HOOK: spin::Once<fn(usize)> = spin::Once::new();

/// Sets the function `on_new_master_entry` calls.
pub fn set_new_entry_hook(hook: fn(usize)) {
    NEW_ENTRY_HOOK.call_once(|| hook);
}

/// The master PGD has just gained entry `index` in the vmalloc area: other
/// address spaces lack it now. Tells the hook (aspace), if set. The entry
/// loses its `NEW_TABLE` mark first: a top-level entry's PUD table is kept
/// even by a failed call, and copies of the entry carry no mark.
fn on_new_master_entry(index: usize) {
    // SAFETY: the master table; callers hold the vmalloc lock.
    let entry = unsafe { &mut table(master_pgd())[index] };
    entry.set_flags(entry.flags() - NEW_TABLE);
    if let Some(hook) = NEW_ENTRY_HOOK.get() {
        hook(index);
    }
}

/// Records the page table the bootloader left in CR3 as the master table.
pub fn init() {
    MASTER.store(Cr3::read().0.start_address().as_u64(), Ordering::Relaxed);
}

pub fn master_pgd() -> PhysFrame {
    PhysFrame::containing_address(PhysAddr::new(MASTER.load(Ordering::Relaxed)))
}

pub fn table_pages() -> u64 {
    TABLE_PAGES.load(Ordering::Relaxed)
}

/// The table stored in `frame`, through the direct map.
///
/// # Safety
/// `frame` must hold a page table, and the caller must not create two
/// mutable references to the same table at once.
pub(super) unsafe fn table(frame: PhysFrame) -> &'static mut PageTable {
    // SAFETY: per the contract; the direct map covers all RAM.
    unsafe { &mut *phys_to_virt(frame.start_address()).as_mut_ptr::<PageTable>() }
}

/// In a PUD or PMD entry: the table below was made by the mapping call in
/// progress (`vmap_pages_range` clears it when the call ends). Bit 9 is
/// ignored by the MMU and free for software (Intel SDM vol. 3, 4.5).
const NEW_TABLE: Flags = Flags::BIT_9;

/// The table `entry` points to, allocating a zeroed one if it is empty
/// (and marking the entry `NEW_TABLE`). Intermediate entries are writable
/// and executable: the leaf entry decides.
///
/// Inlined into the walk, with the rare allocation kept out of line: as
/// a call of its own it cost a one-page vmalloc + vfree 93 of its 2,060
/// guest instructions, and `vm_map_ram` + `vm_unmap_ram` 90 of 698
/// (docs/benchmarks.md). Tuning, not in the books.
#[inline]
fn table_or_alloc(entry: &mut PageTableEntry) -> Result<&'static mut PageTable, MapError> {
    if entry.is_unused() {
        new_table(entry)?;
    }
    // SAFETY: a present non-leaf entry in the vmalloc area points to a table.
    Ok(unsafe { table(entry.frame().expect("a PMD leaf where a table belongs: vmalloc areas overlap")) })
}

/// Points the unused `entry` at a fresh zeroed table, marked `NEW_TABLE`.
#[cold]
#[inline(never)]
fn new_table(entry: &mut PageTableEntry) -> Result<(), MapError> {
    let frame = super::alloc_pages_for(PageOwner::PageTable, 0, ZoneType::Normal).map_err(|_| MapError::NoMemory)?;
    // SAFETY: a fresh page, ours alone; zeroed it is an empty table.
    unsafe { phys_to_virt(frame.start_address()).as_mut_ptr::<PageTable>().write(PageTable::new()) };
    TABLE_PAGES.fetch_add(1, Ordering::Relaxed);
    entry.set_frame(frame, Flags::PRESENT | Flags::WRITABLE | NEW_TABLE);
    Ok(())
}

/// Where the walk at one level stops for the entry that covers `addr`: the
/// end of that entry's `size` bytes, or `end` if it comes first. Compared
/// one below, as Linux does, so that a boundary that wraps to 0 at the top
/// of the address space still counts as past `end`.
fn addr_end(addr: u64, size: u64, end: u64) -> u64 {
    let boundary = (addr & !(size - 1)).wrapping_add(size);
    if boundary.wrapping_sub(1) < end - 1 {
        boundary
    } else {
        end
    }
}

/// Linux's `pgd_addr_end`: the end of the PGD entry's 512 GiB that holds
/// `addr`, capped at `end`. The loop at each level reads
/// `while addr < end { let next = pgd_addr_end(addr, end); ...; addr = next; }`.
pub fn pgd_addr_end(addr: u64, end: u64) -> u64 {
    addr_end(addr, PGDIR_SIZE, end)
}

/// Linux's `pud_addr_end`: the same for a PUD entry's 1 GiB.
pub fn pud_addr_end(addr: u64, end: u64) -> u64 {
    addr_end(addr, PUD_SIZE, end)
}

/// Linux's `pmd_addr_end`: the same for a PMD entry's 2 MiB.
pub fn pmd_addr_end(addr: u64, end: u64) -> u64 {
    addr_end(addr, PMD_SIZE, end)
}

/// Maps `count` pages from `start` in the master page table, to the frames
/// `frames` yields, with `flags` (Linux's `vmap_pages_range`): the walk
/// `vmalloc_area_pages`, sized up front and cleaned up after (see the top
/// of this file). On error nothing of the range is mapped and the tables
/// the call made are given back, but for the PUD tables of new top-level
/// entries. Callers hold the vmalloc lock.
pub fn vmap_pages_range(
    start: VirtAddr,
    count: u64,
    frames: impl IntoIterator<Item = PhysFrame>,
    flags: Flags,
) -> Result<(), MapError> {
    let end = start.as_u64() + count * PAGE_SIZE;
    // A call of up to 512 pages can need at most six new tables (it
    // crosses at most one boundary at each level), and a failure gives
    // them back: only bigger calls are sized first, which spares the
    // common small vmalloc a second walk.
    if count > PRESIZE_PAGES {
        let missing = tables_missing(start.as_u64(), end);
        if missing > 0 && missing > super::with_pages(|p| p.free_pages_total()) {
            return Err(MapError::NoMemory);
        }
    }
    let tables = table_pages();
    let result = vmalloc_area_pages(start, count, frames, flags);
    if result.is_err() {
        vunmap_range(start, count);
    }
    if table_pages() != tables {
        settle_new_tables(start.as_u64(), end, result.is_err());
    }
    result
}

/// Calls that map more pages than this are sized (`tables_missing`)
/// before any table is built; smaller ones just try.
const PRESIZE_PAGES: u64 = 512;

/// A bound that needs no address: mapping `count` pages needs at least
/// one PTE table per 512 of them, and at most `table_pages()` exist
/// already. True if even the rest cannot fit in free memory, so that a
/// caller can refuse before it reserves a range (ioremap does).
pub fn tables_cannot_fit(count: u64) -> bool {
    let least = count.div_ceil(512).saturating_sub(table_pages());
    least > 0 && least > super::with_pages(|p| p.free_pages_total())
}

/// Pages of tables (PUD, PMD, PTE) that mapping [addr, end) would have to
/// allocate. Where an entry is missing, everything below it is missing
/// too and is counted without a walk.
pub fn tables_missing(mut addr: u64, end: u64) -> u64 {
    // How many `size`-aligned blocks [addr, end) touches.
    let blocks = |addr: u64, end: u64, size: u64| (end - 1) / size - addr / size + 1;
    // SAFETY: the master table; read only, under the vmalloc lock.
    let pgd = unsafe { table(master_pgd()) };
    let mut missing = 0;
    while addr < end {
        let next = pgd_addr_end(addr, end);
        let Ok(pud_frame) = pgd[pgd_index(addr)].frame() else {
            missing += 1 + blocks(addr, next, PUD_SIZE) + blocks(addr, next, PMD_SIZE);
            addr = next;
            continue;
        };
        // SAFETY: a present non-huge entry of the vmalloc area: a table.
        let pud = unsafe { table(pud_frame) };
        while addr < next {
            let pud_next = pud_addr_end(addr, next);
            match pud[pud_index(addr)].frame() {
                Err(_) => missing += 1 + blocks(addr, pud_next, PMD_SIZE),
                Ok(pmd_frame) => {
                    // SAFETY: as above, one level down.
                    let pmd = unsafe { table(pmd_frame) };
                    while addr < pud_next {
                        let pmd_next = pmd_addr_end(addr, pud_next);
                        missing += pmd[pmd_index(addr)].is_unused() as u64;
                        addr = pmd_next;
                    }
                }
            }
            addr = pud_next;
        }
    }
    missing
}

/// Ends a mapping call over [addr, end) that made tables: clears the
/// `NEW_TABLE` marks, and if the call `failed` first gives back the
/// marked PTE and PMD tables that are empty (all of them, once its PTEs
/// are cleared). The PUD tables of top-level entries are never marked.
fn settle_new_tables(mut addr: u64, end: u64, failed: bool) {
    // SAFETY: the master table, under the vmalloc lock; each frame below
    // comes from a present non-huge entry, so it holds a table, and no
    // other reference to these tables is live.
    let pgd = unsafe { table(master_pgd()) };
    let mut freed = false;
    while addr < end {
        let next = pgd_addr_end(addr, end);
        let Ok(pud_frame) = pgd[pgd_index(addr)].frame() else {
            addr = next;
            continue;
        };
        // SAFETY: see above.
        let pud = unsafe { table(pud_frame) };
        while addr < next {
            let pud_next = pud_addr_end(addr, next);
            let pud_entry = &mut pud[pud_index(addr)];
            if let Ok(pmd_frame) = pud_entry.frame() {
                // SAFETY: see above.
                let pmd = unsafe { table(pmd_frame) };
                let mut a = addr;
                while a < pud_next {
                    let pmd_next = pmd_addr_end(a, pud_next);
                    freed |= settle_entry(&mut pmd[pmd_index(a)], failed);
                    a = pmd_next;
                }
                freed |= settle_entry(pud_entry, failed);
            }
            addr = pud_next;
        }
    }
    if freed {
        // The paging-structure caches may still hold the cleared entries.
        flush_tlb_all();
    }
}

/// Clears a `NEW_TABLE` mark; for a failed call, gives the table below
/// back too if it is empty. Returns true if it gave a table back.
fn settle_entry(entry: &mut PageTableEntry, failed: bool) -> bool {
    if !entry.flags().contains(NEW_TABLE) {
        return false;
    }
    let frame = entry.frame().expect("a marked entry points to a table");
    // SAFETY: a present non-huge entry of the vmalloc area: a table.
    let empty = unsafe { table(frame) }.iter().all(PageTableEntry::is_unused);
    if failed && empty {
        entry.set_unused();
        super::free_pages(frame.start_address(), 0).expect("a page table is an order-0 block");
        TABLE_PAGES.fetch_sub(1, Ordering::Relaxed);
        return true;
    }
    entry.set_flags(entry.flags() - NEW_TABLE);
    false
}

/// The walk of `vmap_pages_range`: maps `count` pages from `start` in the
/// master page table, to the frames `frames` yields, with `flags`. On
/// error, some pages may already be mapped: `vmap_pages_range` undoes them.
pub fn vmalloc_area_pages(
    start: VirtAddr,
    count: u64,
    frames: impl IntoIterator<Item = PhysFrame>,
    flags: Flags,
) -> Result<(), MapError> {
    // LAB 2 BEGIN: per PGD entry: table_or_alloc its PUD (new entry: tell aspace), then alloc_area_pud
    let (mut addr, end) = (start.as_u64(), start.as_u64() + count * PAGE_SIZE);
    debug_assert!(addr >= VMALLOC_START && end <= VMALLOC_END);
    // SAFETY: the master table; callers hold the vmalloc lock.
    let pgd = unsafe { table(master_pgd()) };
    let mut frames = frames.into_iter();
    while addr < end {
        let next = pgd_addr_end(addr, end);
        let index = pgd_index(addr);
        let new_entry = pgd[index].is_unused();
        let pud = table_or_alloc(&mut pgd[index])?;
        if new_entry {
            // Other address spaces lack this entry now (see aspace.rs).
            on_new_master_entry(index);
        }
        alloc_area_pud(pud, addr, next, &mut frames, flags)?;
        addr = next;
    }
    Ok(())
    // LAB 2 END
}

/// Gives every top-level entry of the vmalloc area a PUD table in the
/// master (Linux's `preallocate_vmalloc_pages`). Returns the pages spent.
/// Callers hold the vmalloc lock.
///
/// If a table cannot be had, the entries made so far stay: other PGDs may
/// already point to them. Each is announced as it is made, as in
/// `vmalloc_area_pages`, so that under `eager` no address space misses one
/// when the whole preallocation fails part-way.
pub fn prealloc_vmalloc_pgd() -> Result<u64, MapError> {
    // SAFETY: the master table, under the vmalloc lock.
    let pgd = unsafe { table(master_pgd()) };
    let mut spent = 0;
    for index in super::layout::VMALLOC_PGD {
        if pgd[index].is_unused() {
            table_or_alloc(&mut pgd[index])?;
            on_new_master_entry(index);
            spent += 1;
        }
    }
    Ok(spent)
}

fn alloc_area_pud(
    pud: &mut PageTable,
    mut addr: u64,
    end: u64,
    frames: &mut impl Iterator<Item = PhysFrame>,
    flags: Flags,
) -> Result<(), MapError> {
    // LAB 2 BEGIN: per PUD entry in [addr, end): table_or_alloc its PMD table, alloc_area_pmd
    while addr < end {
        let next = pud_addr_end(addr, end);
        let pmd = table_or_alloc(&mut pud[pud_index(addr)])?;
        alloc_area_pmd(pmd, addr, next, frames, flags)?;
        addr = next;
    }
    Ok(())
    // LAB 2 END
}

fn alloc_area_pmd(
    pmd: &mut PageTable,
    mut addr: u64,
    end: u64,
    frames: &mut impl Iterator<Item = PhysFrame>,
    flags: Flags,
) -> Result<(), MapError> {
    // LAB 2 BEGIN: per PMD entry in [addr, end): table_or_alloc its PTE table, alloc_area_pte
    while addr < end {
        let next = pmd_addr_end(addr, end);
        let pte = table_or_alloc(&mut pmd[pmd_index(addr)])?;
        alloc_area_pte(pte, addr, next, frames, flags)?;
        addr = next;
    }
    Ok(())
    // LAB 2 END
}

fn alloc_area_pte(
    pte: &mut PageTable,
    mut addr: u64,
    end: u64,
    frames: &mut impl Iterator<Item = PhysFrame>,
    flags: Flags,
) -> Result<(), MapError> {
    // LAB 2 BEGIN: point one PTE per page at the next frame, with flags; a used entry is AlreadyMapped
    while addr < end {
        let entry = &mut pte[pte_index(addr)];
        if !entry.is_unused() {
            return Err(MapError::AlreadyMapped(addr));
        }
        let frame = frames.next().expect("one frame per page");
        entry.set_frame(frame, flags);
        addr += PAGE_SIZE;
    }
    Ok(())
    // LAB 2 END
}

/// x86 has physically indexed caches that need no flush when mappings
/// appear; Linux's `flush_cache_vmap` is a no-op here too. Kept so the code
/// reads like the books.
pub fn flush_cache_vmap(_start: VirtAddr, _end: VirtAddr) {}

/// Clears the PTEs of `pages` pages from `start` in the master table, then
/// drops them from the TLB: Linux's `vunmap_range` (`vunmap_range_noflush`
/// then `flush_tlb_kernel_range`), Gorman's `vmfree_area_pages` (ch. 7.3).
/// Pages whose tables are missing are skipped, so a half-made mapping can
/// be undone with it. The page tables stay, as in Linux: only the PTEs
/// are cleared.
pub fn vunmap_range(start: VirtAddr, pages: u64) {
    vunmap_range_noflush(start, pages);
    // LAB 2 BEGIN: the CPU may still cache the old translations: drop them (flush_tlb_kernel_range)
    flush_tlb_kernel_range(start, pages);
    // LAB 2 END
}

/// The clearing half of `vunmap_range` (Linux's `vunmap_range_noflush`):
/// the TLB may still hold the old translations afterwards. Also used alone
/// by the lazy flush of vmap blocks, whose freed ranges are not handed out
/// again before a flush (vmalloc/vm_map_ram.rs). Walks down once per PTE
/// table, not once per page.
pub fn vunmap_range_noflush(start: VirtAddr, pages: u64) {
    let (mut addr, end) = (start.as_u64(), start.as_u64() + pages * PAGE_SIZE);
    while addr < end {
        let next = pmd_addr_end(addr, end);
        match pmd_entry(master_pgd(), addr) {
            Some(pmd) if huge::pmd_leaf(pmd) => huge::pmd_clear_huge(pmd),
            Some(pmd) => {
                if let Ok(frame) = pmd.frame() {
                    // SAFETY: a present non-leaf PMD entry: a PTE table.
                    let pte = unsafe { table(frame) };
                    let count = ((next - addr) / PAGE_SIZE) as usize;
                    pte.iter_mut().skip(pte_index(addr)).take(count).for_each(PageTableEntry::set_unused);
                }
            }
            None => {}
        }
        addr = next;
    }
}

/// Above this many pages one full flush is cheaper than an `invlpg` per
/// page (Linux's `tlb_single_page_flush_ceiling`, arch/x86/mm/tlb.c).
const FLUSH_CEILING: u64 = 33;

/// Drops the TLB entries of `pages` pages from `start`: one `invlpg` each
/// (which drops global entries too), or, for many pages, everything.
pub fn flush_tlb_kernel_range(start: VirtAddr, pages: u64) {
    // LAB 2 BEGIN: above FLUSH_CEILING pages flush_tlb_all, else one invlpg (x86_64::instructions::tlb::flush) per page
    if pages > FLUSH_CEILING {
        flush_tlb_all();
    } else {
        for i in 0..pages {
            x86_64::instructions::tlb::flush(start + i * PAGE_SIZE);
        }
    }
    // LAB 2 END
}

/// Empties the whole TLB. Reloading CR3 keeps global entries, and the
/// vmalloc area's are global; turning CR4.PGE off and on again drops them
/// as well (Intel SDM vol. 3, 4.10.4.1).
pub fn flush_tlb_all() {
    let cr4 = Cr4::read();
    if cr4.contains(Cr4Flags::PAGE_GLOBAL) {
        // SAFETY: only the PGE bit changes, and it is restored at once;
        // clearing it just invalidates the TLB.
        unsafe {
            Cr4::write(cr4 - Cr4Flags::PAGE_GLOBAL);
            Cr4::write(cr4);
        }
    } else {
        x86_64::instructions::tlb::flush_all();
    }
}

/// The PMD entry covering `addr` in the table `pgd` (a leaf, a pointer
/// to a PTE table, or unused), if the tables down to it exist.
fn pmd_entry(pgd: PhysFrame, addr: u64) -> Option<&'static mut PageTableEntry> {
    // SAFETY: each frame comes from a present non-huge entry, so it holds a
    // table; callers hold the vmalloc lock.
    unsafe {
        let pud = table(table(pgd)[pgd_index(addr)].frame().ok()?);
        Some(&mut table(pud[pud_index(addr)].frame().ok()?)[pmd_index(addr)])
    }
}

pub fn pgd_index(addr: u64) -> usize {
    (addr >> PGDIR_SHIFT) as usize & 511
}
fn pud_index(addr: u64) -> usize {
    (addr >> PUD_SHIFT) as usize & 511
}
fn pmd_index(addr: u64) -> usize {
    (addr >> PMD_SHIFT) as usize & 511
}
fn pte_index(addr: u64) -> usize {
    (addr >> 12) as usize & 511
}

/// Visits the master's page tables under the vmalloc area: calls `leaf`
/// with the address of every 4 KiB page mapped (by a PTE or inside a PMD
/// leaf) and returns how many tables
/// (PUD, PMD and PTE pages) hang below the vmalloc PGD entries. For the
/// soak test's invariant checks. Callers hold the vmalloc lock.
pub fn audit_vmalloc(mut leaf: impl FnMut(u64)) -> u64 {
    // SAFETY: present non-huge entries below the vmalloc PGD entries point
    // to tables; read only.
    let pgd = unsafe { table(master_pgd()) };
    let mut tables = 0;
    for i in super::layout::VMALLOC_PGD {
        let Ok(pud_frame) = pgd[i].frame() else { continue };
        tables += 1;
        // SAFETY: as above, for this and the two levels below.
        let pud = unsafe { table(pud_frame) };
        for (j, pud_entry) in pud.iter().enumerate() {
            let Ok(pmd_frame) = pud_entry.frame() else { continue };
            tables += 1;
            // SAFETY: see above.
            let pmd = unsafe { table(pmd_frame) };
            for (k, pmd_entry) in pmd.iter().enumerate() {
                let base = 0xffff_0000_0000_0000
                    | (i as u64) << PGDIR_SHIFT
                    | (j as u64) << PUD_SHIFT
                    | (k as u64) << PMD_SHIFT;
                if huge::pmd_leaf(pmd_entry) {
                    // A 2 MiB leaf: every 4 KiB page in it is mapped.
                    (0..huge::PAGES_PER_PMD).for_each(|l| leaf(base | l << 12));
                    continue;
                }
                let Ok(pte_frame) = pmd_entry.frame() else { continue };
                tables += 1;
                // SAFETY: see above.
                let pte = unsafe { table(pte_frame) };
                for (l, entry) in pte.iter().enumerate() {
                    if entry.flags().contains(Flags::PRESENT) {
                        leaf(base | (l as u64) << 12);
                    }
                }
            }
        }
    }
    tables
}
