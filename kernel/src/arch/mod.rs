//! x86_64 CPU setup: the features the kernel needs, segment and interrupt
//! tables, the exception entry stubs and handlers, and the legacy interrupt
//! controller; `clear_page`.

pub mod cpu;
pub mod entry;
pub mod exceptions;
pub mod gdt;
pub mod idt;
pub mod page;
pub mod pic;
pub mod regs;

/// Stops this CPU for good: interrupts off, then `hlt` in a loop (an NMI can
/// still wake it, hence the loop).
pub fn halt_forever() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}

/// Resets the machine: first through the keyboard controller's reset line
/// (command 0xfe), and if that does nothing, by triple fault (an empty IDT
/// makes the next exception unrecoverable, and the CPU resets).
pub fn reboot() -> ! {
    use x86_64::instructions::port::Port;
    x86_64::instructions::interrupts::disable();
    // SAFETY: 0x64 is the 8042 keyboard controller's command port.
    unsafe { Port::<u8>::new(0x64).write(0xfe) };
    for _ in 0..1_000_000 {
        core::hint::spin_loop();
    }
    let empty = x86_64::structures::DescriptorTablePointer { limit: 0, base: x86_64::VirtAddr::zero() };
    // SAFETY: deliberately loads an empty IDT so `int3` triple-faults.
    unsafe {
        x86_64::instructions::tables::lidt(&empty);
        core::arch::asm!("int3");
    }
    halt_forever()
}
