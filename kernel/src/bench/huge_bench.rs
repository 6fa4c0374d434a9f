//! `huge_bench <size> [rounds]`: what 2 MiB PMD leaves (`vmalloc_huge`)
//! cost and save against 4 KiB pages (`vmalloc`), for one area size.
//! Each round allocates the area one way, walks it, frees it, then the
//! other way, back to back, so that both see the same machine state;
//! the medians of the rounds are printed, one line per kind:
//!
//! - `alloc_ns`, `free_ns`: one `vmalloc`/`vmalloc_huge` and its `vfree`;
//! - `touch_ns_per_page`: a read of one byte in every 4 KiB page of the
//!   area, after a full TLB flush, so that every page starts with a TLB
//!   miss (on hardware a leaf's miss covers 2 MiB; under QEMU's TCG each
//!   4 KiB page is still filled on its own, but its walk is one level
//!   shorter);
//! - `pte_tables`: PTE table pages the area's mapping uses (exact: the PMD
//!   entries it covers that point to a table), and `leaves`: its PMD
//!   leaves, each a PTE table page saved.
//!
//! A `vmalloc_huge` that falls back to 4 KiB pages (no free order-9 block)
//! makes the run stop with an error: its figures would be small pages'.

use super::{err, with_room};
use crate::drivers::tsc;
use crate::message::Message;
use crate::mm::layout::PMD_SIZE;
use crate::mm::page::PAGE_SIZE;
use crate::mm::pgtable::{self, huge::huge_leaves, master_pgd};
use crate::mm::vmalloc::{self, VM_HUGE_PMD};
use crate::{bail, println};
use alloc::vec::Vec;
use x86_64::structures::paging::PageTableFlags as Flags;
use x86_64::VirtAddr;

/// The largest area measured: the walk reads every page of it each round.
pub const MAX_SIZE: u64 = 256 << 20;
pub const MAX_ROUNDS: u64 = 1000;

/// One round's figures for one kind of mapping.
#[derive(Clone, Copy, Default)]
struct Round {
    alloc: u64,
    touch: u64,
    free: u64,
    pte_tables: u64,
    leaves: u64,
}

/// Measures `size` bytes (a multiple of 2 MiB, at most `MAX_SIZE`) for
/// `rounds` rounds and prints the two lines.
pub fn run(size: u64, rounds: u64) -> Result<(), Message> {
    if size == 0 || !size.is_multiple_of(PMD_SIZE) || size > MAX_SIZE {
        bail!("size {size} is not a multiple of 2 MiB from 2 MiB to {} MiB", MAX_SIZE >> 20);
    }
    if rounds == 0 || rounds > MAX_ROUNDS {
        bail!("rounds {rounds} is not from 1 to {MAX_ROUNDS}");
    }
    let mut small = with_room(rounds as usize)?;
    let mut huge = with_room(rounds as usize)?;
    // Room for the medians, taken now: no heap may fail after the rounds.
    let mut scratch = with_room(rounds as usize)?;
    // A first round not counted: TCG translates each code path once.
    measure(size, false)?;
    measure(size, true)?;
    for _ in 0..rounds {
        if crate::drivers::serial::take_interrupt() {
            bail!("huge_bench: interrupted by Ctrl-C; every area it made is freed");
        }
        small.push(measure(size, false)?);
        huge.push(measure(size, true)?);
    }
    for (name, figures) in [("small", small), ("huge", huge)] {
        let mut m = |f: fn(&Round) -> u64| median(&mut scratch, figures.iter().map(f));
        println!(
            "huge_bench {} {name} alloc_ns {} touch_ns_per_page {} free_ns {} pte_tables {} leaves {}",
            size,
            m(|r| r.alloc),
            m(|r| r.touch),
            m(|r| r.free),
            m(|r| r.pte_tables),
            m(|r| r.leaves)
        );
    }
    Ok(())
}

/// The median of `values`, sorted in `scratch`, whose room must hold them
/// all (it is taken fallibly beforehand: this allocates nothing).
fn median(scratch: &mut Vec<u64>, values: impl Iterator<Item = u64>) -> u64 {
    scratch.clear();
    values.for_each(|v| scratch.push(v));
    scratch.sort_unstable();
    scratch.get(scratch.len() / 2).copied().unwrap_or(0)
}

/// One allocation of `size` bytes, huge or not: timed, walked, counted,
/// freed.
fn measure(size: u64, huge: bool) -> Result<Round, Message> {
    let leaves = huge_leaves();
    let t0 = tsc::now();
    let area = if huge { vmalloc::vmalloc_huge(size) } else { vmalloc::vmalloc(size) };
    let alloc = tsc::cycles_to_ns(tsc::now() - t0);
    let area = area.map_err(err)?;
    if huge && !vmalloc::area_has_flag(area, VM_HUGE_PMD) {
        vmalloc::vfree(area).map_err(err)?;
        bail!("vmalloc_huge({size}) fell back to 4 KiB pages: no free order-9 block for every 2 MiB");
    }
    let round = Round { alloc, touch: touch(area, size), pte_tables: pte_tables(area, size), leaves: 0, free: 0 };
    let leaves = huge_leaves() - leaves;
    let t0 = tsc::now();
    vmalloc::vfree(area).map_err(err)?;
    Ok(Round { free: tsc::cycles_to_ns(tsc::now() - t0), leaves, ..round })
}

/// Reads a byte of every page of the area after emptying the TLB; the
/// mean time per page.
fn touch(area: VirtAddr, size: u64) -> u64 {
    let pages = size / PAGE_SIZE;
    pgtable::flush_tlb_all();
    let t0 = tsc::now();
    for i in 0..pages {
        // SAFETY: the area maps `size` bytes from `area`.
        unsafe { (area + i * PAGE_SIZE).as_ptr::<u8>().read_volatile() };
    }
    tsc::cycles_to_ns(tsc::now() - t0) / pages
}

/// The PMD entries over the area that point to a PTE table (not leaves).
/// A small area need not start on a 2 MiB boundary: it may touch one
/// entry more than its size suggests.
fn pte_tables(area: VirtAddr, size: u64) -> u64 {
    let first = area.align_down(PMD_SIZE).as_u64();
    (first..area.as_u64() + size)
        .step_by(PMD_SIZE as usize)
        .filter(|&at| {
            let walk = pgtable::walk(master_pgd(), VirtAddr::new(at));
            walk.steps[2].is_some_and(|s| s.flags.contains(Flags::PRESENT) && !s.flags.contains(Flags::HUGE_PAGE))
        })
        .count() as u64
}
