//! The panic handler: report, then halt (or exit QEMU with failure in tests).

use crate::drivers::{qemu, serial::emergency_print};
use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    emergency_print(format_args!("\nKERNEL PANIC: {info}\n"));
    crate::arch::exceptions::run_fatal_hook("panic");
    qemu::die()
}
