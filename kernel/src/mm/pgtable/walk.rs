//! Read-only walks of any page table: one address level by level, as
//! the MMU does (`walk`, for `pt`, `explain`, the oops, `vmalloc_to_page`),
//! every leaf below some top-level entries (`for_each_leaf`, for the direct
//! map's checks and pictures), and whether a frame is one of a table's
//! tables (`is_table_in`). Each stops at a leaf: a 4 KiB PTE, or a PMD or
//! PUD entry with PS set (2 MiB or 1 GiB).

use super::table;
use crate::mm::layout::{PGDIR_SHIFT, PGDIR_SIZE, PMD_SHIFT, PMD_SIZE, PUD_SHIFT, PUD_SIZE};
use crate::mm::page::PAGE_SIZE;
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::{PageTableFlags as Flags, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

/// Bytes one entry maps at each level, the PGD first.
const ENTRY_SIZE: [u64; 4] = [PGDIR_SIZE, PUD_SIZE, PMD_SIZE, PAGE_SIZE];

/// Calls `leaf(virt, phys, bytes, flags)` for every present leaf (a page
/// of 4 KiB, 2 MiB or 1 GiB) below the PGD entries `indices` of `pgd`,
/// in address order. Read only; callers must keep the tables alive.
pub fn for_each_leaf(
    pgd: PhysFrame,
    indices: core::ops::RangeInclusive<usize>,
    leaf: &mut dyn FnMut(u64, u64, u64, Flags),
) {
    // SAFETY: `pgd` is a page table (callers' contract).
    let top = unsafe { table(pgd) };
    for i in indices {
        let base = if i >= 256 { 0xffff_0000_0000_0000 } else { 0 } | (i as u64) << PGDIR_SHIFT;
        if let Ok(frame) = top[i].frame() {
            leaves_below(frame, 1, base, leaf);
        }
    }
}

fn leaves_below(frame: PhysFrame, level: usize, base: u64, leaf: &mut dyn FnMut(u64, u64, u64, Flags)) {
    // SAFETY: `frame` came from a present non-huge entry: a table.
    let t = unsafe { table(frame) };
    for (i, entry) in t.iter().enumerate() {
        let flags = entry.flags();
        if !flags.contains(Flags::PRESENT) {
            continue;
        }
        let virt = base + i as u64 * ENTRY_SIZE[level];
        if level == 3 || flags.contains(Flags::HUGE_PAGE) {
            leaf(virt, entry.addr().as_u64(), ENTRY_SIZE[level], flags);
        } else if let Ok(next) = entry.frame() {
            leaves_below(next, level + 1, virt, leaf);
        }
    }
}

/// True if `target` holds a page table reachable from `pgd` (the PGD
/// itself included): a walk over every present non-leaf entry.
pub fn is_table_in(pgd: PhysFrame, target: PhysFrame) -> bool {
    fn below(frame: PhysFrame, level: usize, target: PhysFrame) -> bool {
        if frame == target {
            return true;
        }
        if level == 3 {
            return false;
        }
        // SAFETY: `frame` is the PGD or came from a present non-huge entry.
        let t = unsafe { table(frame) };
        t.iter().any(|e| {
            let huge = level > 0 && e.flags().contains(Flags::HUGE_PAGE);
            !huge && e.frame().is_ok_and(|next| below(next, level + 1, target))
        })
    }
    below(pgd, 0, target)
}

/// One step of a walk: which table, which entry, what it held.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub level: &'static str,
    pub index: usize,
    pub entry: u64,
    pub flags: Flags,
}

/// A complete walk of one address.
pub struct Walk {
    pub steps: [Option<Step>; 4],
    /// The physical address the virtual address maps to, with the flags of
    /// the last entry, or None if the walk stopped at a non-present entry.
    pub phys: Option<(PhysAddr, Flags)>,
    /// The level whose entry points outside RAM, if the walk stopped there
    /// instead of reading a table that cannot be one (a corrupt entry).
    pub bad: Option<&'static str>,
}

impl Walk {
    /// What the MMU allows for the address, combining every level: writable
    /// only if every level says W, executable unless some level says NX.
    pub fn effective(&self) -> Option<(bool, bool)> {
        self.phys?;
        let steps = || self.steps.iter().flatten();
        let writable = steps().all(|s| s.flags.contains(Flags::WRITABLE));
        let executable = !steps().any(|s| s.flags.contains(Flags::NO_EXECUTE));
        Some((writable, executable))
    }
}

/// Walks `pgd` for `addr` the way the MMU does, recording every level.
pub fn walk(pgd: PhysFrame, addr: VirtAddr) -> Walk {
    const LEVELS: [(&str, u32, u64); 4] =
        [("PGD", PGDIR_SHIFT, 0), ("PUD", PUD_SHIFT, PUD_SIZE), ("PMD", PMD_SHIFT, PMD_SIZE), ("PTE", 12, PAGE_SIZE)];
    let a = addr.as_u64();
    let mut result = Walk { steps: [None; 4], phys: None, bad: None };
    let mut frame = pgd;
    for (i, (level, shift, page_size)) in LEVELS.into_iter().enumerate() {
        let index = (a >> shift) as usize & 511;
        // SAFETY: `frame` is the PGD or came from a present non-leaf entry.
        let entry = unsafe { &table(frame)[index] };
        let flags = entry.flags();
        result.steps[i] = Some(Step { level, index, entry: entry.addr().as_u64() | flags.bits(), flags });
        if !flags.contains(Flags::PRESENT) {
            return result;
        }
        let leaf = i == 3 || (i > 0 && flags.contains(Flags::HUGE_PAGE));
        if leaf {
            let base = entry.addr().as_u64() & !(page_size - 1);
            result.phys = Some((PhysAddr::new(base + (a & (page_size - 1))), flags));
            return result;
        }
        frame = PhysFrame::containing_address(entry.addr());
        if !crate::mm::memblock::may_read_page(frame.start_address().as_u64()) {
            result.bad = Some(level);
            return result;
        }
    }
    result
}

/// The page table in CR3 now.
pub fn current_pgd() -> PhysFrame {
    Cr3::read().0
}

/// Translates `addr` in the current page table.
pub fn translate(addr: VirtAddr) -> Option<(PhysAddr, Flags)> {
    walk(current_pgd(), addr).phys
}
