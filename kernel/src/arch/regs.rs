//! The registers as an exception stub saves them (`SavedRegs`), and
//! `capture`, which takes the same snapshot for the panic handler. A leaf
//! module: the stubs, the handlers and the oops all read it.

use core::arch::naked_asm;

/// The frame every stub builds, lowest address first: what the stub
/// pushed, then what the CPU pushed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SavedRegs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    /// The CPU's error code, or 0 for a vector that pushes none.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// The registers of the caller, as they are at the call (RIP is the return
/// address, RSP the caller's RSP after the call returns; RDI holds `out`).
/// For the panic handler, which has no exception frame.
///
/// # Safety
/// `out` must be valid for writing a `SavedRegs`.
#[unsafe(naked)]
pub unsafe extern "C" fn capture(out: *mut SavedRegs) {
    naked_asm!(
        "mov [rdi + 0*8], r15",
        "mov [rdi + 1*8], r14",
        "mov [rdi + 2*8], r13",
        "mov [rdi + 3*8], r12",
        "mov [rdi + 4*8], r11",
        "mov [rdi + 5*8], r10",
        "mov [rdi + 6*8], r9",
        "mov [rdi + 7*8], r8",
        "mov [rdi + 8*8], rbp",
        "mov [rdi + 9*8], rdi",
        "mov [rdi + 10*8], rsi",
        "mov [rdi + 11*8], rdx",
        "mov [rdi + 12*8], rcx",
        "mov [rdi + 13*8], rbx",
        "mov [rdi + 14*8], rax",
        "mov qword ptr [rdi + 15*8], 0",
        "mov qword ptr [rdi + 16*8], 0",
        "mov rax, [rsp]",
        "mov [rdi + 17*8], rax",
        "mov ax, cs",
        "movzx eax, ax",
        "mov [rdi + 18*8], rax",
        "pushfq",
        "pop rax",
        "mov [rdi + 19*8], rax",
        "lea rax, [rsp + 8]",
        "mov [rdi + 20*8], rax",
        "mov ax, ss",
        "movzx eax, ax",
        "mov [rdi + 21*8], rax",
        "mov rax, [rdi + 14*8]",
        "ret",
    );
}
