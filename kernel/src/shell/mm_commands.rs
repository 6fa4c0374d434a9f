//! Shell commands for physical memory: the buddy allocator and the heap.
//! Output formats follow Linux's /proc files so the two can be compared.

use super::parse::{parse_num, parse_u64, Shown};
use super::CmdError;
use crate::message::Message;
use crate::mm::page::{pages, MAX_ORDER, PAGE_SIZE};
use crate::mm::page_alloc::ZoneType;
use crate::mm::{self, heap, with_pages};
use crate::{bail, print, println};
use x86_64::PhysAddr;

/// Like /proc/buddyinfo: free blocks of each order, per populated zone.
/// The per-CPU lists are drained first, so every free page is counted.
pub fn buddyinfo(_: &[&str]) -> Result<(), CmdError> {
    let missing = with_pages(|p| {
        p.drain_pcp();
        for zone in p.populated_zones() {
            print!("Node 0, zone {:>8} ", zone.kind.name());
            for n in zone.nr_free() {
                print!("{n:>6} ");
            }
            println!();
        }
        p.buddy_missing()
    });
    match missing {
        // The zones shown are the student's (DMA only), not the kernel's.
        Some(m) => bail!("{m}: the kernel runs on the boot allocator; only zone DMA is your buddy allocator's"),
        None => Ok(()),
    }
}

/// The error of a failed `alloc_pages` or `free_pages`: while lab 1 is not
/// written, the function that is missing, not "out of memory".
fn buddy_error(e: impl core::fmt::Display) -> CmdError {
    match with_pages(|p| p.buddy_missing()) {
        Some(m) => CmdError::from_display(m),
        None => CmdError::from_display(e),
    }
}

/// Like /proc/meminfo (the fields that make sense here), in kB.
pub fn meminfo(_: &[&str]) -> Result<(), CmdError> {
    let (total, free) = with_pages(|p| (p.managed_pages_total(), p.free_pages_total()));
    let kb = |pages: u64| pages * PAGE_SIZE / 1024;
    let heap = heap::stats();
    // No heap here: meminfo must answer when the heap is what failed.
    let field = |name: &str, value: u64| println!("{:<16}{value:>8} kB", Message::new(format_args!("{name}:")));
    field("MemTotal", kb(total));
    field("MemFree", kb(free));
    field("MemAvailable", kb(free));
    field("Slab", kb(heap.slab_pages()));
    field("HeapLarge", kb(heap.large_pages));
    field("PageTables", kb(crate::mm::pgtable::table_pages()));
    // Each 2 MiB leaf stands where a PTE table page would be.
    field("HugeVmapSaved", kb(crate::mm::pgtable::huge::huge_leaves()));
    let vm = crate::mm::vmalloc::totals();
    field("VmallocTotal", (crate::mm::layout::VMALLOC_END - crate::mm::layout::VMALLOC_START) / 1024);
    field("VmallocUsed", kb(vm.used_pages));
    field("VmallocChunk", vm.largest_free / 1024);
    Ok(())
}

/// A short version of /proc/zoneinfo: each zone's span and counters.
pub fn zoneinfo(_: &[&str]) -> Result<(), CmdError> {
    with_pages(|p| {
        for kind in ZoneType::ALL {
            let z = p.zone(kind);
            println!("Node 0, zone {:>8}", kind.name());
            println!("  pages free     {}", z.free_pages);
            println!("        spanned  {}", z.spanned());
            println!("        present  {}", z.managed + z.reserved);
            println!("        managed  {}", z.managed);
            println!("  pcp: count {} high {} batch {}", z.pcp.count, z.pcp.high, z.pcp.batch);
            println!("  start_pfn:     {}", z.start_pfn);
            if z.spanned() > 0 {
                println!("  range:         {:#x}-{:#x}", z.start_pfn * PAGE_SIZE, z.end_pfn * PAGE_SIZE - 1);
            }
        }
    });
    Ok(())
}

/// The heap's caches, in the spirit of /proc/slabinfo.
pub fn slabinfo(_: &[&str]) -> Result<(), CmdError> {
    let stats = heap::stats();
    println!("# name          <active_objs> <num_objs> <objsize> <slabs>");
    for c in stats.caches {
        let name = Message::new(format_args!("kmalloc-{}", c.object_size));
        println!(
            "{name:<15} {:>13} {:>10} {:>9} {:>7}",
            c.objects_in_use,
            c.objects_in_use + c.objects_free,
            c.object_size,
            c.slabs
        );
    }
    println!("large blocks from the buddy allocator: {} ({} pages)", stats.large_allocs, stats.large_pages);
    Ok(())
}

fn parse_order(s: &str) -> Result<usize, CmdError> {
    match parse_num::<usize>(s) {
        Ok(order) if order <= MAX_ORDER => Ok(order),
        Ok(_) | Err(super::parse::ParseError::TooLarge(_)) => {
            bail!("order '{}' is out of range (0..={MAX_ORDER})", Shown(s))
        }
        Err(e) => Err(e.into()),
    }
}

/// `alloc_pages <order> [zone]`
pub fn alloc_pages(args: &[&str]) -> Result<(), CmdError> {
    let order = parse_order(args[0])?;
    let zone = match args.get(1) {
        None => ZoneType::Normal,
        Some(name) => match ZoneType::parse(name) {
            Some(zone) => zone,
            None => bail!("unknown zone '{}' (dma, dma32 or normal)", Shown(name)),
        },
    };
    let mut held = HELD.lock();
    let Some(slot) = held.iter().position(Option::is_none) else {
        bail!("the shell already holds {SHELL_BLOCKS} blocks from alloc_pages; free one first");
    };
    match mm::alloc_pages_buddy(order, zone) {
        Ok(frame) => {
            let addr = frame.start_address().as_u64();
            held[slot] = Some((addr, order));
            let zone_of = ZoneType::of(addr / PAGE_SIZE);
            let n = pages(order);
            println!("{addr:#x} (order {order}: {n} pages, {} KiB, zone {zone_of})", n * PAGE_SIZE / 1024);
            Ok(())
        }
        Err(e) => Err(buddy_error(e)),
    }
}

/// Most blocks the shell holds at once from `alloc_pages`.
const SHELL_BLOCKS: usize = 64;

/// The blocks `alloc_pages` handed to the shell and `free_pages` has not
/// given back yet: (physical address, order). A fixed table, so that
/// neither command needs the heap.
static HELD: spin::Mutex<[Option<(u64, usize)>; SHELL_BLOCKS]> = spin::Mutex::new([None; SHELL_BLOCKS]);

/// True if `phys` starts a block the shell's `alloc_pages` holds (`poke`
/// may write those).
pub fn shell_holds(phys: u64) -> bool {
    HELD.lock().iter().flatten().any(|&(a, _)| a == phys)
}

/// `free_pages <phys> <order>`: frees only what the shell's `alloc_pages`
/// handed out. Any other allocated block belongs to the kernel (a vmalloc
/// area's page, a page table, a PGD, a slab): freeing it would let the
/// page be handed out twice, so it is refused. A block that is not
/// allocated at all still gets the buddy allocator's own explanation (a
/// double free, a tail page, memory it does not manage).
pub fn free_pages(args: &[&str]) -> Result<(), CmdError> {
    let addr = parse_u64(args[0])?;
    let order = parse_order(args[1])?;
    let Ok(addr) = PhysAddr::try_new(addr) else {
        bail!("{addr:#x} is not a valid physical address");
    };
    let mut held = HELD.lock();
    let slot = held.iter().position(|b| matches!(b, Some((a, _)) if *a == addr.as_u64()));
    if slot.is_none() && with_pages(|p| p.allocated_order(addr)).is_some() {
        bail!(
            "{:#x} is in use by the kernel, not a block the shell's alloc_pages handed out: not freed",
            addr.as_u64()
        );
    }
    match mm::free_pages_buddy(addr, order) {
        Ok(()) => {
            if let Some(slot) = slot {
                held[slot] = None;
            }
            println!("freed {:#x} (order {order}: {} pages)", addr.as_u64(), pages(order));
            Ok(())
        }
        Err(e) => Err(buddy_error(e)),
    }
}
