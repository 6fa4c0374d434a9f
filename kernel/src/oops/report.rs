//! Printing the oops of an exception or a panic (see mod.rs).

use super::{backtrace, decode};
use crate::arch::regs::SavedRegs;
use crate::drivers::serial::emergency_print as eprint;
use crate::mm;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use x86_64::registers::control::{Cr0, Cr2, Cr3, Cr4};
use x86_64::structures::idt::PageFaultErrorCode;
use x86_64::VirtAddr;

/// Set by the first oops: a fault or panic while printing it must not
/// start another one (which could fault again, and again).
static PRINTING: AtomicBool = AtomicBool::new(false);

/// True for the first oops; a nested one gets a one-line notice.
fn first(what: &str, rip: u64) -> bool {
    if PRINTING.swap(true, Ordering::Relaxed) {
        eprint(format_args!("\n{what} at {rip:#x} while printing the oops: stopping here\n"));
        return false;
    }
    true
}

/// The oops of exception `name`: `code` is its error code (None for a
/// vector that pushes none), `cause` a line of explanation.
pub fn exception(name: &str, regs: &SavedRegs, code: Option<u64>, cause: Option<&str>) {
    if !first(name, regs.rip) {
        return;
    }
    let cr2 = Cr2::read_raw();
    eprint(format_args!("\nEXCEPTION: {name} (vector {})\n", regs.vector));
    if regs.vector == 14 {
        eprint(format_args!("  CR2: {cr2:#018x}\n"));
    }
    if let Some(code) = code {
        eprint(format_args!("  error code: {code:#x}{}\n", Decoded(regs.vector, code)));
    }
    if regs.vector == 14 {
        let code = PageFaultErrorCode::from_bits_truncate(regs.error_code);
        eprint(format_args!("  {}\n", mm::fault::FaultReport { addr: cr2, code }));
    }
    if let Some(cause) = cause {
        eprint(format_args!("  {cause}\n"));
    }
    registers(regs);
    if regs.vector == 14 {
        page_fault_details(cr2);
    }
    eprint(format_args!("  backtrace (the faulting function first):\n"));
    backtrace::print(regs.rip, regs.rbp);
}

/// The oops of a panic. The registers are the panic handler's, taken as
/// it starts; the backtrace leads from it to the code that panicked.
pub fn panic(info: &core::panic::PanicInfo, regs: &SavedRegs) {
    if !first("a panic", regs.rip) {
        return;
    }
    eprint(format_args!("\nKERNEL PANIC: {info}\n"));
    eprint(format_args!("  registers of the panic handler (not of the code that panicked):\n"));
    registers(regs);
    eprint(format_args!("  backtrace (the panic handler first; the code that panicked follows core's frames):\n"));
    backtrace::print(regs.rip, regs.rbp);
}

/// Every register, three to a line, then the control registers.
fn registers(r: &SavedRegs) {
    eprint(format_args!("  RIP: {:#018x}  CS: {:#x}  RFLAGS: {:#x}\n", r.rip, r.cs, r.rflags));
    eprint(format_args!("  RSP: {:#018x}  SS: {:#x}\n", r.rsp, r.ss));
    let gprs = [
        ("RAX", r.rax),
        ("RBX", r.rbx),
        ("RCX", r.rcx),
        ("RDX", r.rdx),
        ("RSI", r.rsi),
        ("RDI", r.rdi),
        ("RBP", r.rbp),
        ("R8", r.r8),
        ("R9", r.r9),
        ("R10", r.r10),
        ("R11", r.r11),
        ("R12", r.r12),
        ("R13", r.r13),
        ("R14", r.r14),
        ("R15", r.r15),
    ];
    for line in gprs.chunks(3) {
        for (name, value) in line {
            eprint(format_args!("  {name:<3}: {value:#018x}"));
        }
        eprint(format_args!("\n"));
    }
    eprint(format_args!(
        "  CR0: {:#x}  CR2: {:#x}  CR3: {:#x}  CR4: {:#x}\n",
        Cr0::read_raw(),
        Cr2::read_raw(),
        Cr3::read().0.start_address().as_u64(),
        Cr4::read_raw(),
    ));
}

/// For a page fault: the walk of CR2 and what CR2 is.
fn page_fault_details(cr2: u64) {
    match VirtAddr::try_new(cr2) {
        Ok(addr) => {
            eprint(format_args!("  page-table walk of CR2 (as `pt {cr2:#x}`):\n"));
            eprint(format_args!("{}\n", mm::explain::WalkText { addr, indent: "    " }));
        }
        Err(_) => eprint(format_args!("  CR2 is not canonical: no page-table walk\n")),
    }
    eprint(format_args!("  what CR2 is (as `explain {cr2:#x}`): {}\n", mm::explain::describe(cr2)));
    // A skeleton's stubbed vmalloc_fault (lab 3) answers "not mine" to
    // every fault: say so, or a lazy fault looks like a kernel bug.
    if let Some(missing) = crate::lab::take_last() {
        eprint(format_args!("  {missing}\n"));
    }
}

/// `= words` after an error code (see `decode::describe`).
struct Decoded(u64, u64);

impl fmt::Display for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        decode::describe(self.0, self.1, f)
    }
}
