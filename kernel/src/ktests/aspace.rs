//! In-kernel tests of address spaces and the three PGD-sync strategies.

use crate::ktest::{Test, TestResult};
use crate::mm::aspace::{self, Strategy, EAGER_COPIES, VMALLOC_FAULTS};
use crate::mm::fault::extable;
use crate::mm::page::PAGE_SIZE;
use crate::mm::page_alloc::ZoneType;
use crate::mm::pgtable::{master_pgd, pgd_index};
use crate::mm::vmalloc;
use crate::mm::with_pages;
use crate::{kassert, kassert_eq};
use alloc::vec::Vec;
use core::sync::atomic::Ordering::Relaxed;
use x86_64::VirtAddr;

pub const TESTS: &[Test] = crate::suite![
    "aspace::sync_alone_copies_a_missing_entry" => sync_alone,
    "aspace::lazy_faults_once_per_top_level_entry" => lazy,
    "aspace::eager_copies_new_entries_at_once" => eager,
    "aspace::prealloc_never_faults" => prealloc,
    "aspace::vfree_is_seen_from_every_space" => vfree_everywhere,
    "aspace::destroy_frees_one_page" => destroy_frees_one_page,
    "aspace::bad_ids_are_refused" => bad_ids,
];

fn faults() -> u64 {
    VMALLOC_FAULTS.load(Relaxed)
}

fn master_has(index: usize) -> bool {
    // SAFETY: reading the live master PGD through the direct map.
    let pgd = unsafe { &*crate::mm::layout::phys_to_virt(master_pgd().start_address()).as_ptr::<[u64; 512]>() };
    pgd[index] != 0
}

/// A one-page area in a top-level entry the master does not have yet
/// (areas aligned to 512 GiB land on successive entries). The areas
/// skipped on the way are returned too, for freeing.
fn area_in_new_entry() -> (VirtAddr, Vec<VirtAddr>) {
    let mut skipped = Vec::new();
    loop {
        let before: Vec<bool> = aspace::VMALLOC_PGD.map(master_has).collect();
        let a = vmalloc::__vmalloc_node(PAGE_SIZE, 1 << 39, ZoneType::Normal, true).unwrap();
        let index = pgd_index(a.as_u64());
        if !before[index - aspace::VMALLOC_PGD.start()] {
            return (a, skipped);
        }
        skipped.push(a);
    }
}

fn read(addr: VirtAddr) -> Result<u64, extable::Fault> {
    extable::read(addr, 8)
}

/// `sync_from_master` alone, called directly (no fault, so it earns its
/// points before `vmalloc_fault` is written): in a new space it copies an
/// entry only the master has, once, counting it in both counters; it
/// refuses an entry the space has already, one the master lacks, and
/// anything while the master itself is current.
fn sync_alone() -> TestResult {
    aspace::set_strategy(Strategy::Lazy, || Ok(0)).unwrap();
    let id = aspace::create().unwrap();
    let (b, skipped) = area_in_new_entry();
    let index = pgd_index(b.as_u64());
    let empty = aspace::VMALLOC_PGD.into_iter().find(|&i| !master_has(i));
    let in_master = aspace::sync_from_master(index);
    aspace::switch(id as u64).unwrap();
    let (f0, own0) = (faults(), aspace::info(id).unwrap().faults);
    let first = aspace::sync_from_master(index);
    let (f1, own1) = (faults(), aspace::info(id).unwrap().faults);
    let second = aspace::sync_from_master(index);
    let lacking = empty.map(aspace::sync_from_master);
    let f2 = faults();
    let value = read(b);
    aspace::switch(0).unwrap();
    aspace::destroy(id as u64).unwrap();
    for x in skipped.into_iter().chain([b]) {
        vmalloc::vfree(x).unwrap();
    }
    kassert!(!in_master, "sync_from_master({index}) with the master current must copy nothing");
    kassert!(first, "sync_from_master({index}): entry only the master has, not copied");
    kassert_eq!((f1 - f0, own1 - own0), (1, 1));
    kassert!(!second, "sync_from_master({index}) copied again an entry the space has");
    kassert!(lacking != Some(true), "sync_from_master({:?}) copied an entry the master lacks", empty);
    kassert_eq!(f2, f1);
    kassert_eq!(value.ok(), Some(0));
    Ok(())
}

fn lazy() -> TestResult {
    aspace::set_strategy(Strategy::Lazy, || Ok(0)).unwrap();
    let id = aspace::create().unwrap() as u64;
    let a = vmalloc::vmalloc(3 * PAGE_SIZE).unwrap();
    let (b, skipped) = area_in_new_entry();
    kassert!(pgd_index(a.as_u64()) != pgd_index(b.as_u64()));
    for (i, addr) in [a, a + PAGE_SIZE, a + 2 * PAGE_SIZE, b].into_iter().enumerate() {
        // SAFETY: mapped in the master, which is current.
        unsafe { addr.as_mut_ptr::<u64>().write(0x1234_0000 + i as u64) };
    }
    aspace::switch(id).unwrap();
    let f0 = faults();
    let first = read(a);
    let after_first = faults();
    let rest = (read(a + PAGE_SIZE), read(a + 2 * PAGE_SIZE), read(a));
    let after_rest = faults();
    // With interrupts off the fault is handled just the same.
    let other = x86_64::instructions::interrupts::without_interrupts(|| read(b));
    let after_other = faults();
    let again = read(b);
    let end = faults();
    aspace::switch(0).unwrap();
    aspace::destroy(id).unwrap();
    for x in skipped.into_iter().chain([a, b]) {
        vmalloc::vfree(x).unwrap();
    }
    kassert_eq!(first.ok(), Some(0x1234_0000));
    kassert_eq!(after_first - f0, 1);
    kassert_eq!((rest.0.ok(), rest.1.ok(), rest.2.ok()), (Some(0x1234_0001), Some(0x1234_0002), Some(0x1234_0000)));
    kassert_eq!(after_rest, after_first);
    kassert_eq!(other.ok(), Some(0x1234_0003));
    kassert_eq!(after_other - after_rest, 1);
    kassert_eq!((again.ok(), end), (Some(0x1234_0003), after_other));
    Ok(())
}

fn eager() -> TestResult {
    aspace::set_strategy(Strategy::Eager, || Ok(0)).unwrap();
    let id = aspace::create().unwrap();
    let copies = EAGER_COPIES.load(Relaxed);
    let (b, skipped) = area_in_new_entry();
    let index = pgd_index(b.as_u64());
    let has_entry = aspace::info(id).unwrap().vmalloc_entries;
    let copied = EAGER_COPIES.load(Relaxed) - copies;
    aspace::switch(id as u64).unwrap();
    let f0 = faults();
    let value = read(b);
    let f1 = faults();
    aspace::switch(0).unwrap();
    aspace::destroy(id as u64).unwrap();
    aspace::set_strategy(Strategy::Lazy, || Ok(0)).unwrap();
    for x in skipped.into_iter().chain([b]) {
        vmalloc::vfree(x).unwrap();
    }
    kassert!(copied >= 1, "entry {index} was not copied eagerly");
    kassert!(has_entry >= 1);
    kassert_eq!(value.ok(), Some(0));
    kassert_eq!(f1 - f0, 0);
    Ok(())
}

fn prealloc() -> TestResult {
    let result = aspace::set_strategy(Strategy::Prealloc, || {
        vmalloc::prealloc_top_level().map_err(|_| aspace::AsError::NoMemory)
    });
    kassert!(result.is_ok());
    kassert!(aspace::VMALLOC_PGD.into_iter().all(master_has), "master not fully preallocated");
    let id = aspace::create().unwrap();
    let entries = aspace::info(id).unwrap().vmalloc_entries;
    let a = vmalloc::vzalloc(2 * PAGE_SIZE).unwrap();
    let (b, skipped) = area_in_new_entry_or_any();
    aspace::switch(id as u64).unwrap();
    let f0 = faults();
    let values = (read(a), read(a + PAGE_SIZE), read(b));
    let f1 = faults();
    aspace::switch(0).unwrap();
    aspace::destroy(id as u64).unwrap();
    aspace::set_strategy(Strategy::Lazy, || Ok(0)).unwrap();
    for x in skipped.into_iter().chain([a, b]) {
        vmalloc::vfree(x).unwrap();
    }
    kassert_eq!(entries, aspace::VMALLOC_PGD.count());
    kassert_eq!((values.0.ok(), values.1.ok(), values.2.ok()), (Some(0), Some(0), Some(0)));
    kassert_eq!(f1 - f0, 0);
    Ok(())
}

/// Under prealloc every entry exists: any area aligned to 512 GiB will do.
fn area_in_new_entry_or_any() -> (VirtAddr, Vec<VirtAddr>) {
    (vmalloc::__vmalloc_node(PAGE_SIZE, 1 << 39, ZoneType::Normal, true).unwrap(), Vec::new())
}

fn vfree_everywhere() -> TestResult {
    let one = aspace::create().unwrap() as u64;
    let two = aspace::create().unwrap() as u64;
    let a = vmalloc::vmalloc(PAGE_SIZE).unwrap();
    aspace::switch(one).unwrap();
    // SAFETY: `a` is mapped (after a lazy fault, possibly).
    let wrote = unsafe { extable::write(a, 8, 0xfeed_beef) }.is_ok();
    aspace::switch(two).unwrap();
    let seen = read(a);
    aspace::switch(0).unwrap();
    vmalloc::vfree(a).unwrap();
    aspace::switch(one).unwrap();
    let after_one = read(a);
    aspace::switch(two).unwrap();
    let after_two = read(a);
    aspace::switch(0).unwrap();
    let after_master = read(a);
    aspace::destroy(one).unwrap();
    aspace::destroy(two).unwrap();
    kassert!(wrote);
    kassert_eq!(seen.ok(), Some(0xfeed_beef));
    kassert!(after_one.is_err() && after_two.is_err() && after_master.is_err(), "stale mapping after vfree");
    Ok(())
}

fn destroy_frees_one_page() -> TestResult {
    let before = with_pages(|p| p.free_pages_total());
    let id = aspace::create().unwrap() as u64;
    let during = with_pages(|p| p.free_pages_total());
    aspace::destroy(id).unwrap();
    kassert_eq!(before - during, 1);
    kassert_eq!(with_pages(|p| p.free_pages_total()), before);
    Ok(())
}

fn bad_ids() -> TestResult {
    kassert!(aspace::switch(9999).is_err());
    kassert!(aspace::switch(aspace::MAX_SPACES as u64 - 1).is_err());
    kassert_eq!(aspace::destroy(0), Err(aspace::AsError::IsMaster));
    let id = aspace::create().unwrap() as u64;
    aspace::switch(id).unwrap();
    let refused = aspace::destroy(id);
    aspace::switch(0).unwrap();
    kassert_eq!(refused, Err(aspace::AsError::IsCurrent(id as usize)));
    kassert_eq!(aspace::destroy(id), Ok(()));
    kassert!(aspace::destroy(id).is_err());
    Ok(())
}
