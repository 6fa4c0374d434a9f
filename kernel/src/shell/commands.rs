//! The command table. To add a command: write a `fn(&[&str]) -> Result<(),
//! CmdError>` and add one `Command` line to `COMMANDS`; `help`, usage errors
//! and argument counting come for free.

use super::as_commands as asp;
use super::map_commands as maps;
use super::mm_commands as mm;
use super::parse::parse_size;
use super::vm_commands as vm;
use super::{CmdError, Command};
use crate::drivers::{pit, qemu};
use crate::{arch, bail, print, println};
use log::LevelFilter;

#[rustfmt::skip]
pub const COMMANDS: &[Command] = &[
    Command { name: "help", args: "[command]", about: "list the commands, or show one command's usage", min_args: 0, max_args: 1, run: help },
    Command { name: "echo", args: "[words...]", about: "print the words back", min_args: 0, max_args: usize::MAX, run: echo },
    Command { name: "uptime", args: "", about: "time since boot", min_args: 0, max_args: 0, run: uptime },
    Command { name: "num", args: "<number|size>", about: "show a number (decimal, 0x hex, K/M/G suffix) in decimal, hex and units", min_args: 1, max_args: 1, run: num },
    Command { name: "log", args: "[off|error|warn|info|debug|trace]", about: "show or set the kernel log level", min_args: 0, max_args: 1, run: log_level },
    Command { name: "buddyinfo", args: "", about: "free blocks per order in each zone (/proc/buddyinfo)", min_args: 0, max_args: 0, run: mm::buddyinfo },
    Command { name: "zoneinfo", args: "", about: "each zone's range and page counts (/proc/zoneinfo)", min_args: 0, max_args: 0, run: mm::zoneinfo },
    Command { name: "meminfo", args: "", about: "memory totals in kB (/proc/meminfo)", min_args: 0, max_args: 0, run: mm::meminfo },
    Command { name: "slabinfo", args: "", about: "the kernel heap's caches (/proc/slabinfo)", min_args: 0, max_args: 0, run: mm::slabinfo },
    Command { name: "alloc_pages", args: "<order> [dma|dma32|normal]", about: "allocate 2^order pages from the buddy allocator", min_args: 1, max_args: 2, run: mm::alloc_pages },
    Command { name: "free_pages", args: "<phys> <order>", about: "free a block the shell's alloc_pages returned", min_args: 2, max_args: 2, run: mm::free_pages },
    Command { name: "vmalloc", args: "<size> [zero|32|dma|huge]", about: "allocate virtually contiguous memory (vzalloc, vmalloc_32, vmalloc_dma, vmalloc_huge)", min_args: 1, max_args: 2, run: vm::vmalloc },
    Command { name: "vfree", args: "<addr>|eager|lazy [max-pages]", about: "free memory from vmalloc, or set how frees flush the TLB", min_args: 1, max_args: 2, run: vm::vfree },
    Command { name: "purge", args: "", about: "flush and give back the ranges lazy frees left (vfree lazy)", min_args: 0, max_args: 0, run: super::purge_commands::purge },
    Command { name: "vrealloc", args: "<addr> <size>", about: "resize a vmalloc area keeping its contents (in place if it can)", min_args: 2, max_args: 2, run: super::vrealloc_command::vrealloc },
    Command { name: "vmap", args: "<npages>", about: "map that many separately allocated pages into one range", min_args: 1, max_args: 1, run: vm::vmap },
    Command { name: "vunmap", args: "<addr>", about: "undo vmap and free its pages", min_args: 1, max_args: 1, run: vm::vunmap },
    Command { name: "ioremap", args: "<phys> <size> [uc|cache]", about: "map device memory (uncached by default)", min_args: 2, max_args: 3, run: vm::ioremap },
    Command { name: "iounmap", args: "<addr>", about: "undo ioremap", min_args: 1, max_args: 1, run: vm::iounmap },
    Command { name: "vm_map_ram", args: "<npages>", about: "map that many new pages from a vmap block (over 64: an area of their own)", min_args: 1, max_args: 1, run: super::vmblock_commands::vm_map_ram },
    Command { name: "vm_unmap_ram", args: "<addr> <npages>", about: "undo vm_map_ram (the TLB flush is deferred) and free its pages", min_args: 2, max_args: 2, run: super::vmblock_commands::vm_unmap_ram },
    Command { name: "vm_unmap_aliases", args: "", about: "flush lazily freed ranges (vmap blocks, vfree lazy), give back fragmented blocks", min_args: 0, max_args: 0, run: super::vmblock_commands::vm_unmap_aliases },
    Command { name: "vmblocks", args: "", about: "each vmap block's pages: in use, freed, flushed, free", min_args: 0, max_args: 0, run: super::vmblock_commands::vmblocks },
    Command { name: "memmap", args: "[json] [dma|dma32|normal] [width=N|cells=N]", about: "physical memory as a map of characters, one per block of pages", min_args: 0, max_args: 3, run: maps::memmap },
    Command { name: "vmmap", args: "[json] [<start> <end>] [width=N]", about: "the vmalloc area as a map: areas, guard pages, free ranges", min_args: 0, max_args: 4, run: maps::vmmap },
    Command { name: "vmallocinfo", args: "", about: "the vmalloc areas (/proc/vmallocinfo)", min_args: 0, max_args: 0, run: vm::vmallocinfo },
    Command { name: "pt", args: "<vaddr> [json]", about: "walk the page table for an address, level by level", min_args: 1, max_args: 2, run: vm::pt },
    Command { name: "explain", args: "<addr>", about: "say what an address is, from the memory manager's records", min_args: 1, max_args: 1, run: super::explain_command::explain },
    Command { name: "peek", args: "<addr> [8|16|32|64]", about: "read memory (a fault is reported, not fatal)", min_args: 1, max_args: 2, run: vm::peek },
    Command { name: "poke", args: "<addr> <value> [8|16|32|64]", about: "write memory (a fault is reported, not fatal)", min_args: 2, max_args: 3, run: vm::poke },
    Command { name: "poke_unsafe", args: "[on|off]", about: "show, or let poke write kernel memory it refuses (off at boot)", min_args: 0, max_args: 1, run: vm::poke_unsafe },
    Command { name: "touch", args: "<addr>", about: "read one byte, taking a lazy vmalloc fault if the PGD lacks the entry", min_args: 1, max_args: 1, run: vm::touch },
    Command { name: "as", args: "new|list|switch <id>|destroy <id>", about: "create, list, switch to or destroy address spaces", min_args: 1, max_args: 2, run: asp::as_cmd },
    Command { name: "pgd_sync", args: "[lazy|eager|prealloc]", about: "show or set how vmalloc PGD entries reach other address spaces", min_args: 0, max_args: 1, run: asp::pgd_sync },
    Command { name: "huge_bench", args: "<size> [rounds]", about: "time vmalloc_huge's 2 MiB leaves against 4 KiB pages (alloc, touch, free)", min_args: 1, max_args: 2, run: super::as_commands::huge_bench },
    Command { name: "pgd_bench", args: "lazy|eager|prealloc", about: "measure a PGD-sync strategy (on a fresh kernel)", min_args: 1, max_args: 1, run: super::as_commands::pgd_bench },
    Command { name: "vmstat", args: "", about: "vmalloc fault, PGD synchronisation and lazy-purge counters", min_args: 0, max_args: 0, run: asp::vmstat },
    Command { name: "stress", args: "<ops> [seed]", about: "soak test: random allocations with every byte checked and invariants audited", min_args: 1, max_args: 2, run: vm::stress },
    Command { name: "test_vmalloc", args: "[run_test_mask=N] [test_loop_count=N] [test_repeat_count=N] [nr_pages=N] [use_huge=0|1] [busy_areas=N] [short_by=N] [summary_6_1=0|1] [plain_vmap=0|1] ...", about: "Linux's lib/test_vmalloc.c performance tests", min_args: 0, max_args: 12, run: super::test_vmalloc_command::run },
    Command { name: "fail_page_alloc", args: "[N|off]", about: "show, or make the N-th page allocation from now fail (fault injection)", min_args: 0, max_args: 1, run: super::inject_commands::fail_page_alloc },
    Command { name: "crash", args: "panic|null|write-rodata|ud|gp|overflow|vmalloc-guard|triple-fault", about: "crash the kernel on purpose, to see its oops (docs/debugging.md)", min_args: 1, max_args: 1, run: super::crash_command::crash },
    Command { name: "shutdown", args: "", about: "power off (ends QEMU with success)", min_args: 0, max_args: 0, run: shutdown },
    Command { name: "reboot", args: "", about: "reset the machine", min_args: 0, max_args: 0, run: reboot },
];

/// Column where descriptions start in `help`.
const HELP_COLUMN: usize = 44;

fn help(args: &[&str]) -> Result<(), CmdError> {
    if let Some(name) = args.first() {
        let Some(cmd) = super::find(COMMANDS, name) else {
            bail!("no command '{}'", super::parse::Shown(name));
        };
        println!("usage: {} {}\n  {}", cmd.name, cmd.args, cmd.about);
        return Ok(());
    }
    for cmd in COMMANDS {
        let width = cmd.name.len() + 1 + cmd.args.len();
        print!("{} {}", cmd.name, cmd.args);
        println!("{:pad$}{}", "", cmd.about, pad = HELP_COLUMN.saturating_sub(width).max(2));
    }
    Ok(())
}

fn echo(args: &[&str]) -> Result<(), CmdError> {
    for (i, word) in args.iter().enumerate() {
        print!("{}{word}", if i > 0 { " " } else { "" });
    }
    println!();
    Ok(())
}

fn uptime(_: &[&str]) -> Result<(), CmdError> {
    let ms = pit::uptime_ms();
    println!("up {}.{:03} s ({} ticks at {} Hz)", ms / 1000, ms % 1000, pit::ticks(), pit::HZ);
    Ok(())
}

fn num(args: &[&str]) -> Result<(), CmdError> {
    let value = parse_size(args[0])?;
    print!("{value} = {value:#x}");
    let unit =
        [(30, "GiB"), (20, "MiB"), (10, "KiB")].into_iter().find(|&(shift, _)| value != 0 && value % (1 << shift) == 0);
    match unit {
        Some((shift, name)) => println!(" = {} {name}", value >> shift),
        None => println!(),
    }
    Ok(())
}

const LEVELS: [(&str, LevelFilter); 6] = [
    ("off", LevelFilter::Off),
    ("error", LevelFilter::Error),
    ("warn", LevelFilter::Warn),
    ("info", LevelFilter::Info),
    ("debug", LevelFilter::Debug),
    ("trace", LevelFilter::Trace),
];

fn log_level(args: &[&str]) -> Result<(), CmdError> {
    if let Some(name) = args.first() {
        let Some(&(_, level)) = LEVELS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) else {
            bail!("unknown log level '{}' (off, error, warn, info, debug or trace)", super::parse::Shown(name));
        };
        log::set_max_level(level);
    }
    let current = log::max_level();
    let name = LEVELS.iter().find(|(_, l)| *l == current).map_or("?", |(n, _)| n);
    println!("log level: {name}");
    Ok(())
}

fn shutdown(_: &[&str]) -> Result<(), CmdError> {
    println!("shutting down");
    qemu::exit(qemu::ExitCode::Success)
}

fn reboot(_: &[&str]) -> Result<(), CmdError> {
    println!("rebooting");
    arch::reboot()
}
