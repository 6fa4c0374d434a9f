//! The Interrupt Descriptor Table: exceptions (0-31) and the PIC's IRQs (32-47).

use super::{exceptions, pic};
use spin::Lazy;
use x86_64::structures::idt::InterruptDescriptorTable;

static IDT: Lazy<InterruptDescriptorTable> = Lazy::new(|| {
    let mut idt = InterruptDescriptorTable::new();
    exceptions::install(&mut idt);
    pic::install(&mut idt);
    idt
});

/// Loads the IDT. Must run after `gdt::init` (the double-fault entry names
/// an IST stack that lives in the TSS).
pub fn init() {
    IDT.load();
}
