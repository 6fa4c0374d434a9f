//! Handlers for the CPU exceptions (vectors 0-31).
//!
//! Every exception is fatal in Mosaic for now: the handler prints what the
//! CPU pushed (vector, error code, RIP, and CR2 for a page fault) and stops
//! the machine, or exits QEMU with a failure code when running tests. A
//! silent reboot would hide the very bug a student is hunting.

use crate::drivers::{qemu, serial::emergency_print};
use crate::mm;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};

/// Prints an exception report and dies.
fn report(vector: u8, name: &str, frame: &InterruptStackFrame, error: Option<u64>) -> ! {
    emergency_print(format_args!("\nEXCEPTION: {name} (vector {vector})\n"));
    if let Some(code) = error {
        emergency_print(format_args!("  error code: {code:#x}\n"));
    }
    print_frame(frame);
    fatal()
}

/// What runs just before the machine dies (the test runner's bookkeeping
/// when tests run). `boot` sets it, so arch imports nothing above it.
static FATAL_HOOK: spin::Once<fn(&str)> = spin::Once::new();

/// Sets the function every fatal exception and panic calls with its reason.
pub fn set_fatal_hook(hook: fn(&str)) {
    FATAL_HOOK.call_once(|| hook);
}

/// Calls the fatal hook, if one is set.
pub fn run_fatal_hook(reason: &str) {
    if let Some(hook) = FATAL_HOOK.get() {
        hook(reason);
    }
}

/// The end of every fatal exception.
fn fatal() -> ! {
    run_fatal_hook("exception");
    qemu::die()
}

fn print_frame(frame: &InterruptStackFrame) {
    use x86_64::registers::control::{Cr0, Cr3, Cr4};
    emergency_print(format_args!(
        "  RIP: {:#018x}  CS: {:#x}  RFLAGS: {:#x}\n  RSP: {:#018x}  SS: {:#x}\n  CR0: {:#x}  CR3: {:#x}  CR4: {:#x}\n",
        frame.instruction_pointer.as_u64(),
        frame.code_segment.0,
        frame.cpu_flags.bits(),
        frame.stack_pointer.as_u64(),
        frame.stack_segment.0,
        Cr0::read_raw(),
        Cr3::read().0.start_address().as_u64(),
        Cr4::read_raw(),
    ));
}

/// Defines a handler for an exception that pushes no error code.
macro_rules! no_code {
    ($fn:ident, $vector:expr, $name:expr) => {
        extern "x86-interrupt" fn $fn(frame: InterruptStackFrame) {
            report($vector, $name, &frame, None)
        }
    };
}

/// Defines a handler for an exception that pushes an error code.
macro_rules! with_code {
    ($fn:ident, $vector:expr, $name:expr) => {
        extern "x86-interrupt" fn $fn(frame: InterruptStackFrame, code: u64) {
            report($vector, $name, &frame, Some(code))
        }
    };
}

no_code!(divide_error, 0, "#DE divide error");
no_code!(debug, 1, "#DB debug");
no_code!(nmi, 2, "NMI non-maskable interrupt");
no_code!(breakpoint, 3, "#BP breakpoint");
no_code!(overflow, 4, "#OF overflow");
no_code!(bound_range, 5, "#BR bound range exceeded");
no_code!(invalid_opcode, 6, "#UD invalid opcode");
no_code!(device_not_available, 7, "#NM device not available");
with_code!(invalid_tss, 10, "#TS invalid TSS");
with_code!(segment_not_present, 11, "#NP segment not present");
with_code!(stack_segment, 12, "#SS stack-segment fault");
with_code!(general_protection, 13, "#GP general protection fault");
no_code!(x87_floating_point, 16, "#MF x87 floating-point error");
with_code!(alignment_check, 17, "#AC alignment check");
no_code!(simd_floating_point, 19, "#XM SIMD floating-point error");
no_code!(virtualization, 20, "#VE virtualization exception");
with_code!(control_protection, 21, "#CP control protection");
no_code!(hv_injection, 28, "#HV hypervisor injection");
with_code!(vmm_communication, 29, "#VC VMM communication");
with_code!(security, 30, "#SX security exception");

/// Runs on its own IST stack (see `gdt`), so it works even when the kernel
/// stack has overflowed. The error code of #DF is always zero.
extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, _code: u64) -> ! {
    use crate::mm::layout::KERNEL_STACK_GUARD;
    let rsp = frame.stack_pointer.as_u64();
    let overflow = (KERNEL_STACK_GUARD..KERNEL_STACK_GUARD + 2 * 4096).contains(&rsp);
    let cause = if overflow {
        "kernel stack overflow: the stack pointer is at the guard page below the kernel stack"
    } else {
        "a fault while delivering another exception"
    };
    emergency_print(format_args!("\nEXCEPTION: #DF double fault (vector 8)\n  {cause}\n"));
    print_frame(&frame);
    fatal()
}

extern "x86-interrupt" fn machine_check(frame: InterruptStackFrame) -> ! {
    report(18, "#MC machine check", &frame, None)
}

/// #PF: CR2 holds the address that could not be accessed; the error code's
/// bits say why (present/not present, read/write, kernel/user, fetch).
///
/// Three outcomes: a lazy vmalloc fault is fixed and the access retried; a
/// fault in one of the shell's probe functions resumes at its fixup; any
/// other fault is an oops.
extern "x86-interrupt" fn page_fault(mut frame: InterruptStackFrame, code: PageFaultErrorCode) {
    let addr = Cr2::read_raw();
    if mm::fault::vmalloc_fault(addr, code) {
        return;
    }
    if let Some(resume) = mm::fault::extable::fixup(frame.instruction_pointer, addr, code.bits()) {
        // SAFETY: `resume` is the probe region's fixup, which returns to the
        // probe's caller with the stack exactly as the probe had it.
        unsafe { frame.as_mut().update(|f| f.instruction_pointer = resume) };
        return;
    }
    emergency_print(format_args!(
        "\nEXCEPTION: #PF page fault (vector 14)\n  CR2: {addr:#018x}\n  error code: {:#x}\n  {}\n",
        code.bits(),
        mm::fault::FaultReport { addr, code },
    ));
    // A skeleton's stubbed vmalloc_fault (lab 3) answers "not mine" to
    // every fault: say so, or a lazy fault looks like a kernel bug.
    if let Some(missing) = crate::lab::take_last() {
        emergency_print(format_args!("  {missing}\n"));
    }
    print_frame(&frame);
    fatal()
}

/// Installs a handler for every exception vector the CPU defines.
pub fn install(idt: &mut InterruptDescriptorTable) {
    idt.divide_error.set_handler_fn(divide_error);
    idt.debug.set_handler_fn(debug);
    idt.non_maskable_interrupt.set_handler_fn(nmi);
    idt.breakpoint.set_handler_fn(breakpoint);
    idt.overflow.set_handler_fn(overflow);
    idt.bound_range_exceeded.set_handler_fn(bound_range);
    idt.invalid_opcode.set_handler_fn(invalid_opcode);
    idt.device_not_available.set_handler_fn(device_not_available);
    // SAFETY: the IST index names the stack that `gdt` puts in the TSS.
    unsafe {
        idt.double_fault.set_handler_fn(double_fault).set_stack_index(super::gdt::DOUBLE_FAULT_IST_INDEX);
    }
    idt.invalid_tss.set_handler_fn(invalid_tss);
    idt.segment_not_present.set_handler_fn(segment_not_present);
    idt.stack_segment_fault.set_handler_fn(stack_segment);
    idt.general_protection_fault.set_handler_fn(general_protection);
    idt.page_fault.set_handler_fn(page_fault);
    idt.x87_floating_point.set_handler_fn(x87_floating_point);
    idt.alignment_check.set_handler_fn(alignment_check);
    idt.machine_check.set_handler_fn(machine_check);
    idt.simd_floating_point.set_handler_fn(simd_floating_point);
    idt.virtualization.set_handler_fn(virtualization);
    idt.cp_protection_exception.set_handler_fn(control_protection);
    idt.hv_injection_exception.set_handler_fn(hv_injection);
    idt.vmm_communication_exception.set_handler_fn(vmm_communication);
    idt.security_exception.set_handler_fn(security);
}
