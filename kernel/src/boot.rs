//! The boot sequence: bring up each subsystem in dependency order, then hand
//! the CPU to the shell (or to the in-kernel tests when asked for them).

use crate::{arch, boot_info, cmdline, drivers, ktest, ktests, logger, mm, println, shell};
use bootloader_api::BootInfo;

/// Brings the machine up and never returns.
pub fn start(boot_info: &'static mut BootInfo) -> ! {
    let boot_info: &'static BootInfo = boot_info::record(boot_info);
    drivers::serial::init();
    logger::init();
    if let Err(arch::cpu::MissingFeature(what)) = arch::cpu::check() {
        println!("mosaic: this CPU lacks {what}: the kernel cannot run on it");
        drivers::qemu::exit(drivers::qemu::ExitCode::Failed)
    }
    let line = drivers::fw_cfg::cmdline();
    if let Some((at, what)) = line.problem() {
        println!("cmdline: byte {at} {what}");
    }
    let args = cmdline::parse(line.as_str(), |c| println!("cmdline: {c}"));
    drivers::qemu::set_exit_on_panic(args.panic_exit || args.ktest.is_some());
    if args.view && !drivers::serial::init_view_port() {
        println!("view=on: no second serial port (COM2) answers; no view lines");
    }
    arch::exceptions::set_fatal_hook(ktest::on_fatal);
    arch::gdt::init();
    arch::idt::init();
    // The memory manager, bottom up: the buddy allocator (and the heap on
    // top of it), the master page table and its direct map trimmed to RAM,
    // address space 0, vmalloc.
    if let Err(mm::TooLittleMemory(free_kib)) = mm::init(boot_info) {
        println!(
            "mosaic: only {free_kib} KiB of memory is free after boot and the kernel needs {} KiB: give the machine more memory",
            mm::MIN_FREE_KIB
        );
        drivers::qemu::exit(drivers::qemu::ExitCode::Failed)
    }
    if let Some(m) = mm::with_pages(|p| p.buddy_missing()) {
        println!(
            "lab {}: {} is not written yet; the kernel runs on the boot allocator; see {}",
            m.lab,
            m.name,
            m.handout()
        );
    }
    mm::pgtable::init();
    let kernel_file = boot_info.kernel_addr..boot_info.kernel_addr + boot_info.kernel_len;
    let dm = mm::direct_map::init(kernel_file);
    log::info!(
        "direct map: {} MiB of RAM kept, {} GiB of holes and device memory unmapped, {} kernel image pages \
         read-only (NX throughout), {} huge pages split",
        dm.mapped_after >> 20,
        (dm.mapped_before - dm.mapped_after) >> 30,
        dm.readonly_pages,
        dm.split
    );
    mm::aspace::init();
    if let Some(on) = args.redzone {
        mm::redzone::set_enabled(on);
    }
    if let Some(m) = mm::vmalloc::init(args.vmalloc) {
        println!(
            "lab {}: {} is not written yet; vmalloc uses the list (vmalloc=list); see {}",
            m.lab,
            m.name,
            m.handout()
        );
    }
    if let Some(pages) = args.lazy_max_pages {
        mm::vmalloc::set_lazy_max_pages(pages);
    }
    if args.lazy_vfree == Some(true) {
        mm::vmalloc::set_vfree_strategy(mm::vmalloc::VfreeStrategy::Lazy);
    }
    arch::pic::init();
    drivers::pit::init();
    x86_64::instructions::interrupts::enable();

    log::info!(
        "Mosaic {} booted ({} regions in the memory map)",
        env!("CARGO_PKG_VERSION"),
        boot_info.memory_regions.len()
    );
    if let Some(filter) = args.ktest {
        ktest::run_all(&ktests::suites(), filter)
    }
    shell::run()
}
