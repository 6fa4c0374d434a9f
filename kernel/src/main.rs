//! The kernel binary: the bootloader jumps to `kernel_main`.

#![no_std]
#![no_main]

use bootloader_api::{entry_point, BootInfo};
use mosaic_kernel::{boot, mm::layout::BOOTLOADER_CONFIG};

entry_point!(kernel_main, config = &BOOTLOADER_CONFIG);

/// First Rust code to run. Not mangled so that `break kernel_main` works in gdb.
#[no_mangle]
fn kernel_main(boot_info: &'static mut BootInfo) -> ! {
    boot::start(boot_info)
}
