//! The Interrupt Descriptor Table: exceptions (0-31) and the PIC's IRQs (32-47).

use super::{entry, pic};
use spin::Lazy;
use x86_64::structures::idt::InterruptDescriptorTable;

static IDT: Lazy<InterruptDescriptorTable> = Lazy::new(|| {
    let mut idt = InterruptDescriptorTable::new();
    // Vectors nothing should raise get a handler that says so, instead of
    // the "segment not present" fault an empty entry would cause.
    x86_64::set_general_handler!(&mut idt, stray_interrupt, 48..=255);
    entry::install(&mut idt);
    pic::install(&mut idt);
    idt
});

fn stray_interrupt(_frame: x86_64::structures::idt::InterruptStackFrame, vector: u8, _code: Option<u64>) {
    log::warn!("unexpected interrupt on vector {vector}: ignored");
}

/// Loads the IDT. Must run after `gdt::init` (the double-fault entry names
/// an IST stack that lives in the TSS).
pub fn init() {
    IDT.load();
}
