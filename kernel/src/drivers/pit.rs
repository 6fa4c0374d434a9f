//! The 8253/8254 Programmable Interval Timer, channel 0, as the system tick.
//!
//! The PIT counts down from a divisor at 1.193182 MHz and raises IRQ 0 each
//! time it reaches zero. Mosaic programs it for `HZ` ticks a second, like
//! Linux's classic HZ=100, and counts ticks to tell the uptime.

use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;

/// Timer interrupts per second.
pub const HZ: u64 = 100;
const PIT_FREQUENCY: u64 = 1_193_182;

static TICKS: AtomicU64 = AtomicU64::new(0);

/// Starts channel 0 in mode 3 (square wave) at `HZ`.
pub fn init() {
    let divisor = (PIT_FREQUENCY / HZ) as u16;
    let mut command: Port<u8> = Port::new(0x43);
    let mut channel0: Port<u8> = Port::new(0x40);
    // SAFETY: 0x40 and 0x43 are the PIT's ports. Command 0x36 selects
    // channel 0, access lobyte then hibyte, mode 3, binary counting.
    unsafe {
        command.write(0x36);
        channel0.write(divisor as u8);
        channel0.write((divisor >> 8) as u8);
    }
}

/// Called from the IRQ 0 handler.
pub fn on_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// Ticks since boot.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Milliseconds since the timer started.
pub fn uptime_ms() -> u64 {
    ticks() * 1000 / HZ
}
