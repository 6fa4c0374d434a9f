//! `pgd_bench <strategy>`: what each PGD-sync strategy costs (see
//! docs/lazy-pgd.md). Measured with the TSC, in nanoseconds:
//!
//! - creating (and destroying) an address space;
//! - the first touch of a vmalloc page from a new address space (a vmalloc
//!   fault under `lazy`) and a later touch of the same page;
//! - a one-page vmalloc into a 512 GiB region nothing was mapped in yet, with
//!   1, 10 and 100 address spaces alive: under `lazy` and `eager` this gives
//!   the master a new top-level entry (and `eager` copies it into every
//!   address space); under `prealloc` the entry is already there.
//!
//! Under fault injection (`fail_page_alloc`) any step may fail: the bench
//! then frees what it made and puts back the strategy it found.
//!
//! New top-level entries are scarce (64 in the whole area, and their tables
//! are kept), so each strategy is best measured on a freshly booted kernel;
//! `cargo xtask bench` does that.

use super::{err, with_room};
use crate::drivers::tsc;
use crate::message::Message;
use crate::mm::aspace::{self, Strategy};
use crate::mm::page::PAGE_SIZE;
use crate::mm::page_alloc::ZoneType;
use crate::mm::pgtable::{master_pgd, pgd_index};
use crate::mm::vmalloc;
use crate::{bail, println};
use alloc::vec::Vec;
use x86_64::VirtAddr;

const SAMPLES: u64 = 50;
const NEW_ENTRY_SAMPLES: usize = 5;

fn ns_since(t0: u64) -> u64 {
    tsc::cycles_to_ns(tsc::now() - t0)
}

/// True if nothing is mapped yet in the 512 GiB region of PGD entry
/// `index`: no entry in the master, or (under prealloc) an empty PUD table.
fn untouched(index: usize) -> bool {
    let table = |phys: u64| {
        // SAFETY: reading a live page table through the direct map.
        unsafe { &*crate::mm::layout::phys_to_virt(x86_64::PhysAddr::new(phys)).as_ptr::<[u64; 512]>() }
    };
    let entry = table(master_pgd().start_address().as_u64())[index];
    entry == 0 || table(entry & 0x000f_ffff_ffff_f000).iter().all(|&e| e == 0)
}

/// Measures `strategy` and prints its costs (the `pgd_bench` command).
/// Whatever happens, the strategy it found is put back and everything it
/// made is freed: address spaces, areas (their page tables stay, as any
/// vmalloc's do).
pub fn run(strategy: Strategy) -> Result<(), Message> {
    if aspace::count() != 1 || vmalloc::totals().areas != 0 {
        bail!("pgd_bench wants a fresh kernel: no address spaces or vmalloc areas");
    }
    let found = aspace::strategy();
    let result = set_strategy(strategy).and_then(|()| measure(strategy));
    // Back to `prealloc` allocates nothing: its entries are never taken
    // out of the master. So this cannot fail where the bench found it.
    set_strategy(found).ok();
    result
}

fn set_strategy(strategy: Strategy) -> Result<(), Message> {
    aspace::set_strategy(strategy, || vmalloc::prealloc_top_level().map_err(|_| aspace::AsError::NoMemory)).map_err(err)
}

fn measure(strategy: Strategy) -> Result<(), Message> {
    let name = strategy.name();
    // A first round of each, not counted: under emulation the first run of
    // any code path pays for translating it.
    create_cost()?;
    touch_costs()?;
    new_entry_cost(1)?;
    stop_at_ctrl_c()?;
    println!("pgd_bench {name} create_address_space {} ns", create_cost()?);
    stop_at_ctrl_c()?;
    let (first, later) = touch_costs()?;
    println!("pgd_bench {name} first_touch {first} ns");
    println!("pgd_bench {name} later_touch {later} ns");
    for spaces in [1, 10, 100] {
        stop_at_ctrl_c()?;
        match new_entry_cost(spaces)? {
            Some(ns) => println!("pgd_bench {name} vmalloc_new_region_{spaces}_spaces {ns} ns"),
            None => println!("pgd_bench {name} vmalloc_new_region_{spaces}_spaces n/a"),
        }
    }
    Ok(())
}

/// Between two measurements (each frees what it made): stop if Ctrl-C
/// was typed; `run` then puts the strategy back as after any error.
fn stop_at_ctrl_c() -> Result<(), Message> {
    if crate::drivers::serial::take_interrupt() {
        bail!("pgd_bench: interrupted by Ctrl-C; everything it made is freed and the strategy put back");
    }
    Ok(())
}

fn create_cost() -> Result<u64, Message> {
    let t0 = tsc::now();
    for _ in 0..SAMPLES {
        let id = aspace::create().map_err(err)?;
        aspace::destroy(id as u64).map_err(err)?;
    }
    Ok(ns_since(t0) / SAMPLES)
}

/// Mean cost of the first and of a later read of a vmalloc page from a
/// fresh address space.
fn touch_costs() -> Result<(u64, u64), Message> {
    let area = vmalloc::vzalloc(PAGE_SIZE).map_err(err)?;
    let result = touch_samples(area);
    vmalloc::vfree(area).map_err(err)?;
    result
}

fn touch_samples(area: VirtAddr) -> Result<(u64, u64), Message> {
    let (mut first, mut later) = (0, 0);
    for _ in 0..SAMPLES {
        let id = aspace::create().map_err(err)? as u64;
        aspace::switch(id).map_err(err)?;
        let t0 = tsc::now();
        // SAFETY: a live vmalloc page; a missing PGD entry is a lazy fault.
        unsafe { area.as_ptr::<u8>().read_volatile() };
        first += ns_since(t0);
        let t0 = tsc::now();
        // SAFETY: as above.
        unsafe { area.as_ptr::<u8>().read_volatile() };
        later += ns_since(t0);
        aspace::switch(0).map_err(err)?;
        aspace::destroy(id).map_err(err)?;
    }
    Ok((first / SAMPLES, later / SAMPLES))
}

/// Median cost of a one-page vmalloc into an untouched 512 GiB region, with
/// `spaces` address spaces alive besides the master.
fn new_entry_cost(spaces: usize) -> Result<Option<u64>, Message> {
    let mut ids: Vec<u64> = with_room(spaces)?;
    let mut areas: Vec<VirtAddr> = with_room(4 * NEW_ENTRY_SAMPLES)?;
    let mut samples: Vec<u64> = with_room(NEW_ENTRY_SAMPLES)?;
    let result = new_entry_samples(spaces, &mut ids, &mut areas, &mut samples);
    // Everything made is freed, whether or not the samples were all taken.
    for a in areas {
        vmalloc::vfree(a).map_err(err)?;
    }
    for id in ids {
        aspace::destroy(id).map_err(err)?;
    }
    result?;
    // The median: emulation on a shared host has outliers.
    samples.sort_unstable();
    Ok(samples.get(samples.len() / 2).copied())
}

fn new_entry_samples(
    spaces: usize,
    ids: &mut Vec<u64>,
    areas: &mut Vec<VirtAddr>,
    samples: &mut Vec<u64>,
) -> Result<(), Message> {
    for _ in 0..spaces {
        ids.push(aspace::create().map_err(err)? as u64);
    }
    for _ in 0..4 * NEW_ENTRY_SAMPLES {
        if samples.len() == NEW_ENTRY_SAMPLES {
            break;
        }
        // Areas aligned to 512 GiB land on successive top-level entries.
        let next_free = aspace::VMALLOC_PGD.into_iter().find(|&i| untouched(i));
        let t0 = tsc::now();
        let a = vmalloc::__vmalloc_node(PAGE_SIZE, 1 << 39, ZoneType::Normal, false).map_err(err)?;
        let ns = ns_since(t0);
        if next_free == Some(pgd_index(a.as_u64())) {
            samples.push(ns);
        }
        areas.push(a);
    }
    Ok(())
}
