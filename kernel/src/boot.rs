//! The boot sequence: bring up each subsystem in dependency order, then hand
//! the CPU to the shell (or to the in-kernel tests when asked for them).

use crate::{arch, drivers, ktest, logger, mm, shell};
use bootloader_api::BootInfo;
use spin::Once;

static BOOT_INFO: Once<&'static BootInfo> = Once::new();

/// What the bootloader told us: memory map, physical-map offset, ...
pub fn info() -> &'static BootInfo {
    BOOT_INFO.get().expect("boot info is recorded first thing at boot")
}

/// Brings the machine up and never returns.
pub fn start(boot_info: &'static mut BootInfo) -> ! {
    let boot_info: &'static BootInfo = BOOT_INFO.call_once(|| boot_info);
    drivers::serial::init();
    logger::init();
    let args = drivers::fw_cfg::cmdline();
    drivers::qemu::set_exit_on_panic(args.has("panic=exit") || args.has("ktest"));
    arch::gdt::init();
    arch::idt::init();
    mm::init(boot_info);
    mm::vmalloc::init(args.value("vmalloc") == Some("list"));
    arch::pic::init();
    drivers::pit::init();
    x86_64::instructions::interrupts::enable();

    log::info!(
        "Mosaic {} booted ({} regions in the memory map)",
        env!("CARGO_PKG_VERSION"),
        boot_info.memory_regions.len()
    );
    if let Some(filter) = args.value("ktest") {
        ktest::run_all(filter)
    } else if args.has("ktest") {
        ktest::run_all("")
    }
    shell::run()
}
