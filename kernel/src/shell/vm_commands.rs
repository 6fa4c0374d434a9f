//! Shell commands for the vmalloc family and for looking at memory:
//! vmalloc, vfree, vmap, vunmap, ioremap, iounmap, vmallocinfo, pt, peek, poke.

use super::parse::{parse_size, parse_u64, Shown};
use super::CmdError;
use crate::message::Message;
use crate::mm::fault::{self, extable};
use crate::mm::page::{PageOwner, PAGE_SIZE};
use crate::mm::page_alloc::ZoneType;
use crate::mm::page_list::PageList;
use crate::mm::vmalloc::{self, CacheMode, VM_MAP_PUT_PAGES};
use crate::mm::{aspace, usercopy};
use crate::{bail, println};
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use x86_64::structures::idt::PageFaultErrorCode;
use x86_64::VirtAddr;

pub(super) fn parse_vaddr(s: &str) -> Result<VirtAddr, CmdError> {
    let value = parse_u64(s)?;
    VirtAddr::try_new(value).map_err(|_| CmdError::new(format_args!("{value:#x} is not a canonical address")))
}

/// `vmalloc <size> [zero|32|dma|huge]`
pub fn vmalloc(args: &[&str]) -> Result<(), CmdError> {
    let size = parse_size(args[0])?;
    let result = match args.get(1).copied() {
        None => vmalloc::vmalloc(size),
        Some("zero") => vmalloc::vzalloc(size),
        Some("32") => vmalloc::vmalloc_32(size),
        Some("dma") => vmalloc::vmalloc_dma(size),
        Some("huge") => vmalloc::vmalloc_huge(size),
        Some(other) => bail!("unknown variant '{}' (zero, 32, dma or huge)", Shown(other)),
    };
    let addr = result.map_err(CmdError::from_display)?;
    super::view::note_vmalloc(addr.as_u64());
    let (pages, guard) = area_as_it_is(addr);
    let how = match args.get(1).copied() {
        Some("huge") if vmalloc::area_has_flag(addr, vmalloc::VM_HUGE_PMD) => ", 2 MiB PMD leaves",
        Some("huge") => ", 4 KiB pages: no huge mapping (under 2 MiB, or no free order-9 block)",
        _ => "",
    };
    println!("{:#x} ({pages} pages mapped, {} bytes, {guard}{how})", addr.as_u64(), pages * PAGE_SIZE);
    Ok(())
}

/// The pages an area's record says are mapped, and what follows them in
/// the area: the guard page, none, or more than one unmapped page. Read
/// from the record, not the request, so a rounding bug or a missing guard
/// page shows in the shell's answer.
pub(super) fn area_as_it_is(addr: VirtAddr) -> (u64, Message) {
    let Some((_, size, pages)) = vmalloc::area_record(addr) else {
        return (0, Message::new(format_args!("no area record")));
    };
    let after = size.saturating_sub(pages * PAGE_SIZE) / PAGE_SIZE;
    let guard = match after {
        1 => Message::new(format_args!("plus 1 guard page")),
        0 => Message::new(format_args!("no guard page")),
        n => Message::new(format_args!("plus {n} unmapped pages, not 1 guard page")),
    };
    (pages, guard)
}

/// `vfree <addr>`
pub fn vfree(args: &[&str]) -> Result<(), CmdError> {
    if let Some(done) = super::purge_commands::strategy_word(args) {
        return done;
    }
    if parse_u64(args[0]).is_err() {
        return Err(super::purge_commands::bad_word(args[0]));
    }
    if args.len() > 1 {
        bail!("usage: vfree <addr> (a max-pages goes with lazy)");
    }
    let addr = parse_vaddr(args[0])?;
    if addr.is_null() {
        // Linux's vfree(NULL) returns at once; say so rather than "freed".
        println!("vfree 0: nothing to free (a null address is a no-op, as in Linux)");
        return Ok(());
    }
    let (pages, guard) = area_as_it_is(addr);
    vmalloc::vfree(addr).map_err(CmdError::from_display)?;
    println!("freed {:#x} ({pages} pages mapped, {guard}){}", addr.as_u64(), lazily());
    Ok(())
}

/// `vmap <npages>`: takes that many separate pages and maps them together.
pub fn vmap(args: &[&str]) -> Result<(), CmdError> {
    let count: u64 = parse_u64(args[0])?;
    if count == 0 {
        bail!("vmap needs at least one page");
    }
    if count > crate::mm::with_pages(|p| p.free_pages_total()) {
        bail!("{count} pages is more than the free memory");
    }
    let Some(mut pages) = PageList::try_with_len(count as usize) else { bail!("out of memory for the page list") };
    crate::mm::alloc_page_list(PageOwner::Vmalloc, ZoneType::Normal, &mut pages).map_err(CmdError::from_display)?;
    match vmalloc::vmap_list(pages, VM_MAP_PUT_PAGES) {
        Ok(addr) => {
            println!("{:#x} ({count} separate pages mapped together)", addr.as_u64());
            Ok(())
        }
        Err((e, pages)) => {
            crate::mm::free_page_list(&pages).expect("pages just allocated");
            bail!("{e}")
        }
    }
}

/// `vunmap <addr>`: unmaps a `vmap` area and frees its pages.
pub fn vunmap(args: &[&str]) -> Result<(), CmdError> {
    let addr = parse_vaddr(args[0])?;
    if let Some((start, _, "vmap")) = vmalloc::find_area(addr) {
        if start == addr.as_u64() && !vmalloc::area_has_flag(addr, VM_MAP_PUT_PAGES) {
            bail!("{:#x} maps pages the kernel owns; only areas from the vmap command can be undone here", start);
        }
    }
    vmalloc::vunmap(addr).map_err(CmdError::from_display)?;
    println!("unmapped {:#x} and freed its pages{}", addr.as_u64(), lazily());
    Ok(())
}

/// `ioremap <phys> <size> [uc|cache]`
pub fn ioremap(args: &[&str]) -> Result<(), CmdError> {
    let phys = parse_u64(args[0])?;
    let size = parse_size(args[1])?;
    let mode = match args.get(2).copied() {
        None | Some("uc") => CacheMode::Uncached,
        Some("cache") => CacheMode::Cached,
        Some(other) => bail!("unknown caching mode '{}' (uc or cache)", Shown(other)),
    };
    let addr = vmalloc::ioremap_prot(phys, size, mode).map_err(CmdError::from_display)?;
    let mode = if mode == CacheMode::Uncached { "uncached" } else { "cached" };
    println!("{:#x} ({size} bytes of device memory at {phys:#x}, {mode})", addr.as_u64());
    Ok(())
}

/// `iounmap <addr>`
pub fn iounmap(args: &[&str]) -> Result<(), CmdError> {
    let addr = parse_vaddr(args[0])?;
    vmalloc::iounmap(addr).map_err(CmdError::from_display)?;
    println!("unmapped {:#x}{}", addr.as_u64(), lazily());
    Ok(())
}

/// What a free adds to its answer under `vfree lazy`.
pub(super) fn lazily() -> &'static str {
    match vmalloc::vfree_strategy() {
        vmalloc::VfreeStrategy::Lazy => "; lazily: the TLB flush and the range wait for the purge",
        vmalloc::VfreeStrategy::Eager => "",
    }
}

/// Like /proc/vmallocinfo: one line per area; then, as Linux's
/// `show_purge_info` does, the lazily freed ones not purged yet.
pub fn vmallocinfo(_: &[&str]) -> Result<(), CmdError> {
    let areas = vmalloc::areas().map_err(CmdError::from_display)?;
    for a in areas.iter().filter(|a| a.kind != "unpurged") {
        crate::print!("{:#x}-{:#x} {:>8} {}:{}", a.start, a.start + a.size, a.size, a.caller.file(), a.caller.line());
        match a.phys {
            Some(phys) => crate::print!(" phys={phys:#018x} {}", a.kind),
            None => crate::print!(" pages={} {}", a.nr_pages, a.kind),
        }
        crate::print!("{}", huge_marker(a.flags));
        match a.redzone_hit {
            Some(hit) => println!(" redzone-hit (asked {} bytes; {hit})", a.requested),
            None => println!(),
        }
    }
    for a in areas.iter().filter(|a| a.kind == "unpurged") {
        println!("{:#x}-{:#x} {:>8} unpurged vm_area", a.start, a.start + a.size, a.size);
    }
    Ok(())
}

/// What `vmallocinfo` adds for huge mappings: the page size the area is
/// mapped with, or that a `vmalloc_huge` fell back to 4 KiB pages.
fn huge_marker(flags: u32) -> &'static str {
    if flags & vmalloc::VM_HUGE_PMD != 0 {
        " huge page_size=2M"
    } else if flags & vmalloc::VM_ALLOW_HUGE_VMAP != 0 {
        " huge-fallback page_size=4K"
    } else {
        ""
    }
}

/// `pt <vaddr> [json]`: the page-table walk for an address, level by
/// level (json: schema mosaic-pt, docs/visual.md); the text is the one a
/// page-fault oops prints (`explain::WalkText`).
pub fn pt(args: &[&str]) -> Result<(), CmdError> {
    let addr = parse_vaddr(args[0])?;
    match args.get(1).copied() {
        None => {}
        Some("json") => {
            let mut out = super::map_json::Buffered::new(crate::drivers::serial::write_str);
            let _ = super::map_json::pt(&mut out, addr);
            let _ = core::fmt::Write::write_str(&mut out, "\n");
            return Ok(());
        }
        Some(other) => bail!("'{}' is not a form of pt (only json)", Shown(other)),
    }
    println!("{}", crate::mm::explain::WalkText { addr, indent: "" });
    Ok(())
}

/// Parses an access width in bits (8, 16, 32 or 64), default 64.
fn width(arg: Option<&&str>) -> Result<u64, CmdError> {
    match arg.map(|s| parse_u64(s)).transpose()? {
        None => Ok(8),
        Some(bits @ (8 | 16 | 32 | 64)) => Ok(bits / 8),
        Some(other) => bail!("width {other} is not 8, 16, 32 or 64"),
    }
}

fn check_aligned(addr: VirtAddr, bytes: u64) -> Result<(), CmdError> {
    if !addr.as_u64().is_multiple_of(bytes) {
        bail!("{:#x} is not aligned to {bytes} bytes", addr.as_u64());
    }
    Ok(())
}

/// A page fault a probe took, as one error line.
fn fault_error(fault: extable::Fault) -> CmdError {
    let code = PageFaultErrorCode::from_bits_truncate(fault.error_code);
    CmdError::new(format_args!("page fault: {}", fault::FaultReport { addr: fault.addr, code }))
}

/// `peek <addr> [8|16|32|64]`: reads memory directly; a lazy vmalloc
/// fault is resolved on the way, any other fault is reported.
pub fn peek(args: &[&str]) -> Result<(), CmdError> {
    let addr = parse_vaddr(args[0])?;
    let bytes = width(args.get(1))?;
    check_aligned(addr, bytes)?;
    let value = extable::read(addr, bytes).map_err(fault_error)?;
    println!("{:#x}: {value:#0w$x}", addr.as_u64(), w = 2 + 2 * bytes as usize);
    Ok(())
}

/// `poke <addr> <value> [8|16|32|64]`: writes only what `mm::usercopy`
/// allows (vmalloc areas, the shell's alloc_pages blocks, free pages);
/// kernel text, page tables, the stack and the heap are refused.
pub fn poke(args: &[&str]) -> Result<(), CmdError> {
    let addr = parse_vaddr(args[0])?;
    let value = parse_u64(args[1])?;
    let bytes = width(args.get(2))?;
    if bytes < 8 && value >> (bytes * 8) != 0 {
        bail!("{value:#x} does not fit in {} bits", bytes * 8);
    }
    check_aligned(addr, bytes)?;
    if let Err(what) = usercopy::check_kernel_write(addr, super::mm_commands::shell_holds) {
        if !POKE_UNSAFE.load(Relaxed) {
            bail!(
                "{:#x} is {what}: poke writes only vmalloc areas, blocks from the shell's alloc_pages and free pages",
                addr.as_u64()
            );
        }
        println!("warning: {:#x} is {what}; poke_unsafe is on, so it is written anyway", addr.as_u64());
    }
    // SAFETY: unless `poke_unsafe` is on, the checks above leave memory
    // that no kernel structure uses (a vmalloc area's data, a block the
    // shell holds, a free page) or that is not mapped; faults are caught.
    // With it on, breaking the kernel is what the user asked for.
    unsafe { extable::write(addr, bytes, value) }.map_err(fault_error)?;
    println!("{:#x}: wrote {value:#x}", addr.as_u64());
    Ok(())
}

/// Whether `poke` skips its checks (`poke_unsafe on`); off at boot.
static POKE_UNSAFE: AtomicBool = AtomicBool::new(false);

/// `poke_unsafe [on|off]`: shows or sets whether `poke` writes memory its
/// checks refuse (for experiments: a bad write can hang the machine).
pub fn poke_unsafe(args: &[&str]) -> Result<(), CmdError> {
    match args.first().copied() {
        None => {}
        Some("on") => POKE_UNSAFE.store(true, Relaxed),
        Some("off") => POKE_UNSAFE.store(false, Relaxed),
        Some(other) => bail!("'{}' is not on or off", Shown(other)),
    }
    if POKE_UNSAFE.load(Relaxed) {
        println!("poke_unsafe: on. Warning: poke now writes any mapped kernel memory, page tables included; a wrong write can hang the machine without a report");
    } else {
        println!("poke_unsafe: off (poke writes only vmalloc areas, the shell's alloc_pages blocks and free pages)");
    }
    Ok(())
}

/// `touch <addr>`: reads one byte, taking a lazy vmalloc fault if needed.
pub fn touch(args: &[&str]) -> Result<(), CmdError> {
    let addr = parse_vaddr(args[0])?;
    let before = aspace::VMALLOC_FAULTS.load(Relaxed);
    let value = extable::read(addr, 1).map_err(fault_error)?;
    let faults = aspace::VMALLOC_FAULTS.load(Relaxed) - before;
    let note = if faults > 0 { " after a vmalloc fault: PGD entry copied from the master" } else { "" };
    println!("{:#x}: {value:#04x}{note}", addr.as_u64());
    Ok(())
}

/// `stress <ops> [seed]`: the soak test (see bench/stress.rs).
/// Most operations one `stress` run may ask for.
const MAX_STRESS_OPS: u64 = 100_000_000;

pub fn stress(args: &[&str]) -> Result<(), CmdError> {
    let ops = parse_u64(args[0])?;
    // A release kernel runs about 36,000 operations a second under TCG
    // (docs/benchmarks.md, Soak): the limit is under an hour, and Ctrl-C
    // stops a run sooner.
    if ops == 0 || ops > MAX_STRESS_OPS {
        bail!("ops must be between 1 and {MAX_STRESS_OPS} (Ctrl-C stops a long run)");
    }
    let seed = args.get(1).map(|s| parse_u64(s)).transpose()?.unwrap_or(1);
    let start = crate::drivers::pit::uptime_ms();
    let report = crate::bench::stress::run(ops, seed).map_err(CmdError::from_display)?;
    let ms = (crate::drivers::pit::uptime_ms() - start).max(1);
    println!(
        "stress: {} operations in {ms} ms ({} ops/s), {} bytes verified, {} address spaces made, {} allocations refused",
        report.ops,
        report.ops * 1000 / ms,
        report.bytes_verified,
        report.spaces_made,
        report.failures
    );
    println!("0 corrupted, 0 leaked");
    Ok(())
}
