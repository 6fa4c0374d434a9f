//! Shell commands for physical memory: the buddy allocator and the heap.
//! Output formats follow Linux's /proc files so the two can be compared.

use super::parse::{parse_num, parse_u64, Shown};
use super::CmdError;
use crate::mm::page::{pages, MAX_ORDER, PAGE_SIZE};
use crate::mm::page_alloc::ZoneType;
use crate::mm::{self, heap, with_pages};
use crate::{bail, print, println};
use x86_64::PhysAddr;

/// Like /proc/buddyinfo: free blocks of each order, per populated zone.
/// The per-CPU lists are drained first, so every free page is counted.
pub fn buddyinfo(_: &[&str]) -> Result<(), CmdError> {
    with_pages(|p| {
        p.drain_pcp();
        for zone in p.populated_zones() {
            print!("Node 0, zone {:>8} ", zone.kind.name());
            for n in zone.nr_free() {
                print!("{n:>6} ");
            }
            println!();
        }
    });
    Ok(())
}

/// Like /proc/meminfo (the fields that make sense here), in kB.
pub fn meminfo(_: &[&str]) -> Result<(), CmdError> {
    let (total, free) = with_pages(|p| (p.managed_pages_total(), p.free_pages_total()));
    let kb = |pages: u64| pages * PAGE_SIZE / 1024;
    let heap = heap::stats();
    let field = |name: &str, value: u64| println!("{:<16}{value:>8} kB", alloc::format!("{name}:"));
    field("MemTotal", kb(total));
    field("MemFree", kb(free));
    field("MemAvailable", kb(free));
    field("Slab", kb(heap.slab_pages()));
    field("HeapLarge", kb(heap.large_pages));
    field("PageTables", kb(crate::mm::pgtable::table_pages()));
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
        let name = alloc::format!("kmalloc-{}", c.object_size);
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
    match mm::alloc_pages_buddy(order, zone) {
        Ok(frame) => {
            let addr = frame.start_address().as_u64();
            let zone_of = ZoneType::of(addr / PAGE_SIZE);
            let n = pages(order);
            println!("{addr:#x} (order {order}: {n} pages, {} KiB, zone {zone_of})", n * PAGE_SIZE / 1024);
            Ok(())
        }
        Err(e) => bail!("{e}"),
    }
}

/// `free_pages <phys> <order>`
pub fn free_pages(args: &[&str]) -> Result<(), CmdError> {
    let addr = parse_u64(args[0])?;
    let order = parse_order(args[1])?;
    let Ok(addr) = PhysAddr::try_new(addr) else {
        bail!("{addr:#x} is not a valid physical address");
    };
    match mm::free_pages_buddy(addr, order) {
        Ok(()) => {
            println!("freed {:#x} (order {order}: {} pages)", addr.as_u64(), pages(order));
            Ok(())
        }
        Err(e) => bail!("{e}"),
    }
}
