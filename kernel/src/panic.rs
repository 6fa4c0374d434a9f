//! The panic handler: the oops (registers, backtrace; kernel/src/oops/),
//! then halt (or exit QEMU with failure in tests).

use crate::arch::entry::{self, SavedRegs};
use crate::drivers::qemu;
use core::panic::PanicInfo;

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    let mut regs = SavedRegs::default();
    // SAFETY: `regs` is a live, writable SavedRegs.
    unsafe { entry::capture(&mut regs) };
    x86_64::instructions::interrupts::disable();
    crate::oops::panic(info, &regs);
    crate::arch::exceptions::run_fatal_hook("panic");
    qemu::die()
}
