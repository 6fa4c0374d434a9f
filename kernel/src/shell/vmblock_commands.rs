//! Shell commands for vmap blocks (mm/vmap_block/, mm/vmalloc/vm_map_ram.rs):
//! vm_map_ram, vm_unmap_ram, vm_unmap_aliases and vmblocks.
//!
//! The shell owns the pages it maps and remembers each mapping it made,
//! so that `vm_unmap_ram` undoes only those (as `free_pages` frees only
//! the shell's blocks).

use super::parse::parse_u64;
use super::vm_commands::parse_vaddr;
use super::CmdError;
use crate::mm::page::{PageOwner, PAGE_SIZE};
use crate::mm::page_alloc::ZoneType;
use crate::mm::pgtable;
use crate::mm::vmalloc;
use crate::mm::vmap_block::{PageUse, VMAP_BBMAP_BITS, VMAP_MAX_ALLOC};
use crate::{bail, print, println};
use alloc::vec::Vec;
use spin::Mutex;
use x86_64::structures::paging::PhysFrame;

/// The most pages one `vm_map_ram` command maps.
const MAX_PAGES: u64 = 1024;
/// Mappings the shell made and has not undone: (address, pages); 0 is free.
static MAPPINGS: Mutex<[(u64, u64); 64]> = Mutex::new([(0, 0); 64]);

/// `vm_map_ram <npages>`: allocates that many pages and maps them.
pub fn vm_map_ram(args: &[&str]) -> Result<(), CmdError> {
    let count = parse_u64(args[0])?;
    if count == 0 || count > MAX_PAGES {
        bail!("vm_map_ram maps 1 to {MAX_PAGES} pages, not {count}");
    }
    let Some(slot) = MAPPINGS.lock().iter().position(|m| m.0 == 0) else {
        bail!("the shell already holds 64 vm_map_ram mappings; undo one with vm_unmap_ram");
    };
    let mut pages: Vec<PhysFrame> = Vec::new();
    if pages.try_reserve_exact(count as usize).is_err() {
        bail!("out of memory");
    }
    for _ in 0..count {
        match crate::mm::alloc_pages_for(PageOwner::Vmalloc, 0, ZoneType::Normal) {
            Ok(frame) => pages.push(frame),
            Err(e) => {
                free_all(&pages);
                bail!("{e}");
            }
        }
    }
    match vmalloc::vm_map_ram(&pages) {
        Ok(addr) => {
            MAPPINGS.lock()[slot] = (addr.as_u64(), count);
            let how = if count > VMAP_MAX_ALLOC { "an area of its own (over 64 pages)" } else { "a vmap block" };
            println!("{:#x} ({count} pages, from {how})", addr.as_u64());
            Ok(())
        }
        Err(e) => {
            free_all(&pages);
            bail!("{e}")
        }
    }
}

/// `vm_unmap_ram <addr> <npages>`: undoes a mapping of `vm_map_ram` and
/// frees its pages.
pub fn vm_unmap_ram(args: &[&str]) -> Result<(), CmdError> {
    let addr = parse_vaddr(args[0])?;
    let count = parse_u64(args[1])?;
    let mut table = MAPPINGS.lock();
    let Some(slot) = table.iter().position(|&m| m == (addr.as_u64(), count) && count > 0) else {
        bail!("no vm_map_ram mapping of {count} pages made by this shell starts at {:#x}", addr.as_u64());
    };
    let mut frames: Vec<PhysFrame> = Vec::new();
    if frames.try_reserve_exact(count as usize).is_err() {
        bail!("out of memory");
    }
    frames.extend((0..count).filter_map(|i| vmalloc::vmalloc_to_page(addr + i * PAGE_SIZE)));
    vmalloc::vm_unmap_ram(addr, count).map_err(CmdError::from_display)?;
    table[slot] = (0, 0);
    drop(table);
    if count <= VMAP_MAX_ALLOC {
        // vm_unmap_ram leaves the TLB entries for the next flush; the pages
        // are about to go back to the buddy allocator and `poke` can reach
        // any address, so the shell drops these entries itself first.
        pgtable::flush_tlb_kernel_range(addr, count);
        println!(
            "unmapped {:#x} ({count} pages; vm_unmap_ram deferred the TLB flush, the shell flushed these pages before freeing them)",
            addr.as_u64()
        );
    } else {
        println!("unmapped {:#x} ({count} pages, its own area) and freed its pages", addr.as_u64());
    }
    free_all(&frames);
    Ok(())
}

/// `vm_unmap_aliases`: flushes every lazily freed range and gives back
/// the blocks that can serve nothing more.
pub fn vm_unmap_aliases(_: &[&str]) -> Result<(), CmdError> {
    let released = vmalloc::vm_unmap_aliases();
    println!("flushed the lazily freed ranges; {released} fragmented blocks given back");
    Ok(())
}

/// `vmblocks`: each vmap block and the state of its 1024 pages.
pub fn vmblocks(_: &[&str]) -> Result<(), CmdError> {
    let stats = vmalloc::vmap_block_stats();
    println!(
        "{} blocks; since boot: {} maps, {} unmaps, {} flushes ({} pages), {} blocks given back",
        stats.blocks, stats.maps, stats.unmaps, stats.flushes, stats.pages_flushed, stats.blocks_released
    );
    println!("legend: # in use, ~ freed (TLB not flushed yet), x freed and flushed, . never handed out");
    let mut i = 0;
    while let Some(b) = vmalloc::vmap_block(i) {
        println!(
            "block {i} at {:#x}: {} pages in use, {} freed, {} never handed out",
            b.start,
            b.used_pages(),
            b.dirty,
            b.free
        );
        for row in 0..VMAP_BBMAP_BITS / 64 {
            print!("  {:4} ", row * 64);
            for page in row * 64..(row + 1) * 64 {
                let c = match b.page(page) {
                    PageUse::Used => '#',
                    PageUse::Dirty => '~',
                    PageUse::Freed => 'x',
                    PageUse::Free => '.',
                };
                print!("{c}");
            }
            println!();
        }
        i += 1;
    }
    Ok(())
}

fn free_all(frames: &[PhysFrame]) {
    for f in frames {
        crate::mm::free_pages(f.start_address(), 0).expect("a page this command allocated");
    }
}
