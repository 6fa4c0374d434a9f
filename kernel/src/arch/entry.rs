//! Assembly entry stubs for the CPU exceptions.
//!
//! An `extern "x86-interrupt"` handler saves the registers it uses, but never
//! shows them to Rust, so an oops built on it cannot print RAX..R15 as they
//! were when the exception hit. Each stub here pushes a uniform frame
//! instead: a zero in place of the error code for the vectors that push
//! none, the vector number, then all fifteen general-purpose registers. It
//! calls `exceptions::dispatch` with a pointer to that frame
//! (`SavedRegs`) and, if the handler returns (a page fault that was
//! resolved), restores every register and `iretq`s to the (maybe changed)
//! RIP.
//!
//! Stack alignment: in 64-bit mode the CPU aligns RSP to 16 bytes before it
//! pushes SS, RSP, RFLAGS, CS and RIP. With the error code, the vector and
//! 15 registers that makes 22 quadwords, an even number, so RSP is again a
//! multiple of 16 at the `call`, as the System V ABI wants.

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
