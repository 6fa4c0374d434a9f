//! Assembly entry stubs for the CPU exceptions.
//!
//! An `extern "x86-interrupt"` handler saves the registers it uses, but never
//! shows them to Rust, so an oops built on it cannot print RAX..R15 as they
//! were when the exception hit. Each stub here pushes a uniform frame
//! instead: a zero in place of the error code for the vectors that push
//! none, the vector number, then all fifteen general-purpose registers. It
//! calls `exceptions::dispatch` with a pointer to that frame
//! (`regs::SavedRegs`) and, if the handler returns (a page fault that was
//! resolved), restores every register and `iretq`s to the (maybe changed)
//! RIP.
//!
//! Stack alignment: in 64-bit mode the CPU aligns RSP to 16 bytes before it
//! pushes SS, RSP, RFLAGS, CS and RIP. With the error code, the vector and
//! 15 registers that makes 22 quadwords, an even number, so RSP is again a
//! multiple of 16 at the `call`, as the System V ABI wants.

use core::arch::naked_asm;
use x86_64::structures::idt::InterruptDescriptorTable;
use x86_64::VirtAddr;

/// The part all stubs share: save the registers, call the handler, and
/// undo it all if the handler returns.
#[unsafe(naked)]
extern "C" fn common() {
    naked_asm!(
        "push rax", "push rbx", "push rcx", "push rdx", "push rsi", "push rdi", "push rbp",
        "push r8", "push r9", "push r10", "push r11", "push r12", "push r13", "push r14", "push r15",
        // The frame pointer chain starts over here: the backtrace begins at
        // the saved RIP and RBP, not inside the stub.
        "mov rdi, rsp",
        "cld",
        "call {dispatch}",
        "pop r15", "pop r14", "pop r13", "pop r12", "pop r11", "pop r10", "pop r9", "pop r8",
        "pop rbp", "pop rdi", "pop rsi", "pop rdx", "pop rcx", "pop rbx", "pop rax",
        // The vector and the error code.
        "add rsp, 16",
        "iretq",
        dispatch = sym super::exceptions::dispatch,
    );
}

/// Defines the stub of a vector that pushes no error code (`push 0` keeps
/// the frame uniform) or one that does.
macro_rules! stub {
    ($name:ident, $vector:literal) => {
        #[unsafe(naked)]
        pub extern "C" fn $name() {
            naked_asm!("push 0", "push {v}", "jmp {common}", v = const $vector, common = sym common);
        }
    };
    ($name:ident, $vector:literal, code) => {
        #[unsafe(naked)]
        pub extern "C" fn $name() {
            naked_asm!("push {v}", "jmp {common}", v = const $vector, common = sym common);
        }
    };
}

stub!(divide_error, 0);
stub!(debug, 1);
stub!(nmi, 2);
stub!(breakpoint, 3);
stub!(overflow, 4);
stub!(bound_range, 5);
stub!(invalid_opcode, 6);
stub!(device_not_available, 7);
stub!(double_fault, 8, code);
stub!(invalid_tss, 10, code);
stub!(segment_not_present, 11, code);
stub!(stack_segment, 12, code);
stub!(general_protection, 13, code);
stub!(page_fault, 14, code);
stub!(x87_floating_point, 16);
stub!(alignment_check, 17, code);
stub!(machine_check, 18);
stub!(simd_floating_point, 19);
stub!(virtualization, 20);
stub!(control_protection, 21, code);
stub!(hv_injection, 28);
stub!(vmm_communication, 29, code);
stub!(security, 30, code);

/// Sets an IDT entry to a stub's address.
macro_rules! set {
    ($entry:expr, $stub:path) => {{
        let addr = VirtAddr::new($stub as *const () as u64);
        // SAFETY: every stub is an interrupt entry point: it saves all
        // registers, keeps the stack aligned and ends in `iretq` (or never
        // returns).
        unsafe { $entry.set_handler_addr(addr) }
    }};
}

/// Points every exception vector the CPU defines at its stub.
pub fn install(idt: &mut InterruptDescriptorTable) {
    set!(idt.divide_error, divide_error);
    set!(idt.debug, debug);
    set!(idt.non_maskable_interrupt, nmi);
    set!(idt.breakpoint, breakpoint);
    set!(idt.overflow, overflow);
    set!(idt.bound_range_exceeded, bound_range);
    set!(idt.invalid_opcode, invalid_opcode);
    set!(idt.device_not_available, device_not_available);
    let df = set!(idt.double_fault, double_fault);
    // SAFETY: the IST index names the stack that `gdt` puts in the TSS.
    unsafe { df.set_stack_index(super::gdt::DOUBLE_FAULT_IST_INDEX) };
    set!(idt.invalid_tss, invalid_tss);
    set!(idt.segment_not_present, segment_not_present);
    set!(idt.stack_segment_fault, stack_segment);
    set!(idt.general_protection_fault, general_protection);
    set!(idt.page_fault, page_fault);
    set!(idt.x87_floating_point, x87_floating_point);
    set!(idt.alignment_check, alignment_check);
    set!(idt.machine_check, machine_check);
    set!(idt.simd_floating_point, simd_floating_point);
    set!(idt.virtualization, virtualization);
    set!(idt.cp_protection_exception, control_protection);
    set!(idt.hv_injection_exception, hv_injection);
    set!(idt.vmm_communication_exception, vmm_communication);
    set!(idt.security_exception, security);
}
