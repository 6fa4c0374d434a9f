//! The panic handler: the oops (registers, backtrace; kernel/src/oops/),
//! then halt (or exit QEMU with failure in tests).

use crate::arch::regs::{self, SavedRegs};
use crate::drivers::qemu;
use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    let mut saved = SavedRegs::default();
    // SAFETY: `saved` is a live, writable SavedRegs.
    unsafe { regs::capture(&mut saved) };
    x86_64::instructions::interrupts::disable();
    crate::oops::panic(info, &saved);
    crate::arch::exceptions::run_fatal_hook("panic");
    qemu::die()
}
