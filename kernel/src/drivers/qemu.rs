//! QEMU's isa-debug-exit device: lets the kernel end the emulator with a code.
//!
//! QEMU is started with `-device isa-debug-exit,iobase=0xf4,iosize=0x04`.
//! Writing `v` to port 0xf4 makes QEMU exit with status `(v << 1) | 1`, so
//! success (0x10) becomes 33 and failure (0x11) becomes 35. The host side
//! (xtask, tests) maps those back. On a machine without the device the write
//! does nothing and the kernel halts instead.

use core::sync::atomic::{AtomicBool, Ordering};
use x86_64::instructions::port::Port;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    Success = 0x10,
    Failed = 0x11,
}

static EXIT_ON_PANIC: AtomicBool = AtomicBool::new(false);

/// Chooses what a panic or a fatal exception does after its report: exit
/// QEMU with `Failed` (tests) or halt so a person can read the report.
pub fn set_exit_on_panic(exit: bool) {
    EXIT_ON_PANIC.store(exit, Ordering::Relaxed);
}

/// Leaves QEMU with `code`; halts forever if the device is absent.
pub fn exit(code: ExitCode) -> ! {
    // SAFETY: port 0xf4 is the debug-exit device (or nothing at all).
    unsafe { Port::<u32>::new(0xf4).write(code as u32) };
    crate::arch::halt_forever()
}

/// The end of every fatal error: exit with failure or halt.
pub fn die() -> ! {
    if EXIT_ON_PANIC.load(Ordering::Relaxed) {
        exit(ExitCode::Failed)
    }
    crate::arch::halt_forever()
}
