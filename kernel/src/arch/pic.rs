//! The two cascaded 8259 PICs, remapped to vectors 32-47, and the IRQ handlers.
//!
//! At reset the PICs deliver IRQ 0-7 on vectors 8-15, which collide with CPU
//! exceptions (IRQ 0, the timer, would look like a double fault), so they are
//! moved past the exceptions. Only IRQ 0 (PIT) and IRQ 4 (COM1) are unmasked.

use crate::drivers::{pit, serial};
use pic8259::ChainedPics;
use spin::Mutex;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame};

pub const PIC1_OFFSET: u8 = 32;
pub const PIC2_OFFSET: u8 = PIC1_OFFSET + 8;

const IRQ_TIMER: u8 = 0;
const IRQ_COM1: u8 = 4;

// SAFETY: the offsets do not overlap the CPU exceptions.
static PICS: Mutex<ChainedPics> = Mutex::new(unsafe { ChainedPics::new(PIC1_OFFSET, PIC2_OFFSET) });

/// Remaps the PICs and masks every line but the timer's and the serial port's.
pub fn init() {
    let mut pics = PICS.lock();
    // SAFETY: the PICs are at their standard ports and the IDT has handlers
    // for the two unmasked lines.
    unsafe {
        pics.initialize();
        let mask = !(1u8 << IRQ_TIMER | 1 << IRQ_COM1 | 1 << 2); // 2: cascade
        pics.write_masks(mask, 0xff);
    }
}

pub fn install(idt: &mut InterruptDescriptorTable) {
    idt[PIC1_OFFSET + IRQ_TIMER].set_handler_fn(timer_interrupt);
    idt[PIC1_OFFSET + IRQ_COM1].set_handler_fn(serial_interrupt);
}

fn end_of_interrupt(irq: u8) {
    // SAFETY: called once at the end of the handler for `irq`.
    unsafe { PICS.lock().notify_end_of_interrupt(PIC1_OFFSET + irq) }
}

extern "x86-interrupt" fn timer_interrupt(_frame: InterruptStackFrame) {
    pit::on_tick();
    end_of_interrupt(IRQ_TIMER);
}

extern "x86-interrupt" fn serial_interrupt(_frame: InterruptStackFrame) {
    serial::on_interrupt();
    end_of_interrupt(IRQ_COM1);
}
