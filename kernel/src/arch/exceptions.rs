//! Handlers for the CPU exceptions (vectors 0-31).
//!
//! Every exception but a resolvable page fault is fatal in Mosaic: the
//! handler prints an oops (kernel/src/oops/: registers, decoded error code,
//! backtrace, and for a page fault the page-table walk and what the address
//! is) and stops the machine, or exits QEMU with a failure code when running
//! tests. A silent reboot would hide the very bug a student is hunting.
//!
//! The IDT points at the assembly stubs of `entry` (which installs them),
//! which save every register and call `dispatch` with them.

use super::regs::SavedRegs;
use crate::drivers::qemu;
use crate::{mm, oops};
use x86_64::registers::control::{Cr2, Cr3};
use x86_64::structures::idt::PageFaultErrorCode;
use x86_64::VirtAddr;

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

/// The exception's name as the oops prints it, by vector.
fn name(vector: u64) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug",
        2 => "NMI non-maskable interrupt",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range exceeded",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack-segment fault",
        13 => "#GP general protection fault",
        14 => "#PF page fault",
        16 => "#MF x87 floating-point error",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD floating-point error",
        20 => "#VE virtualization exception",
        21 => "#CP control protection",
        28 => "#HV hypervisor injection",
        29 => "#VC VMM communication",
        30 => "#SX security exception",
        _ => "unknown exception",
    }
}

/// Whether the vector pushes an error code (the stubs push 0 for the rest).
fn has_error_code(vector: u64) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// Called by every stub (entry.rs) with the registers it saved. Returns
/// only for a page fault that was resolved; everything else is an oops.
pub extern "C" fn dispatch(regs: &mut SavedRegs) {
    if regs.vector == 14 && page_fault_resolved(regs) {
        return;
    }
    let vector = regs.vector;
    let code = has_error_code(vector).then_some(regs.error_code);
    let cause = (vector == 8).then(|| double_fault_cause(regs.rsp));
    oops::exception(name(vector), regs, code, cause);
    fatal()
}

/// The last retried page fault (see `mm::fault::RetryGuard`). Taken
/// only here, with interrupts off (the IDT's gates are interrupt gates).
static RETRIED: spin::Mutex<mm::fault::RetryGuard> = spin::Mutex::new(mm::fault::RetryGuard::NEW);

/// #PF: CR2 holds the address that could not be accessed; the error code's
/// bits say why (present/not present, read/write, kernel/user, fetch).
///
/// Two outcomes are not an oops: a lazy vmalloc fault is fixed and the
/// access retried; a fault in one of the shell's probe functions resumes at
/// its fixup (only RIP changes: the stub restores every other register).
/// A "fix" that brings the same fault back again and again is an oops
/// (`RETRY_CAUSE`), not a hang.
fn page_fault_resolved(regs: &mut SavedRegs) -> bool {
    let addr = Cr2::read_raw();
    let code = PageFaultErrorCode::from_bits_truncate(regs.error_code);
    // A retry fixed nothing if the top-level entry was there before the
    // "fix" or is still missing after it; a fault that the copy did fix is
    // a lazy fault, however often it comes (pgd_bench unsyncs and touches
    // the same address in a loop).
    let has_entry = || mm::aspace::current_has_entry(mm::pgtable::pgd_index(addr));
    let there_before = mm::layout::in_vmalloc_area(addr) && has_entry();
    if mm::fault::vmalloc_fault(addr, code) {
        let fixed_nothing = there_before || !has_entry();
        let cr3 = Cr3::read().0.start_address().as_u64();
        // A fault inside this very handler finds the lock held: believe it.
        let believed = RETRIED.try_lock().is_none_or(|mut g| {
            if fixed_nothing {
                g.retry(addr, regs.rip, cr3)
            } else {
                g.forget();
                true
            }
        });
        if believed {
            return true;
        }
        oops::exception(name(14), regs, Some(regs.error_code), Some(mm::fault::RETRY_CAUSE));
        fatal()
    }
    match VirtAddr::try_new(regs.rip).ok().and_then(|rip| mm::fault::extable::fixup(rip, addr, code.bits())) {
        Some(resume) => {
            regs.rip = resume.as_u64();
            true
        }
        None => false,
    }
}

/// #DF runs on its own IST stack (see `gdt`), so it works even when the
/// kernel stack has overflowed; the interrupted RSP says whether it did.
fn double_fault_cause(rsp: u64) -> &'static str {
    use crate::mm::layout::KERNEL_STACK_GUARD;
    if (KERNEL_STACK_GUARD..KERNEL_STACK_GUARD + 2 * 4096).contains(&rsp) {
        "kernel stack overflow: the stack pointer is at the guard page below the kernel stack"
    } else {
        "a fault while delivering another exception"
    }
}
