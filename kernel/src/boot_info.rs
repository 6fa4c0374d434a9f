//! What the bootloader told the kernel (memory map, where it mapped all
//! physical memory, where it loaded the kernel), recorded once at boot.
//! A leaf: nothing here calls into the rest of the kernel.

use bootloader_api::BootInfo;
use spin::Once;

static BOOT_INFO: Once<&'static BootInfo> = Once::new();

/// Records the bootloader's information; the first thing `boot::start` does.
pub fn record(info: &'static BootInfo) -> &'static BootInfo {
    BOOT_INFO.call_once(|| info)
}

/// The recorded boot information.
pub fn info() -> &'static BootInfo {
    BOOT_INFO.get().expect("boot info is recorded first thing at boot")
}
