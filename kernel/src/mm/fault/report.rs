//! `FaultReport`: why a page fault that nothing could resolve happened, in
//! words, for the oops and for the shell's `peek`/`poke` errors. It reads
//! the error code the CPU pushed (Intel SDM vol. 3, 4.7: P, W/R, U/S, I/D
//! bits) and where the address lies in the layout.

use crate::mm::layout::{in_vmalloc_area, PAGE_OFFSET, VMALLOC_START};
use core::fmt;
use x86_64::structures::idt::PageFaultErrorCode as Code;

/// Why a real fault happened, in words.
pub struct FaultReport {
    pub addr: u64,
    pub code: Code,
}

impl fmt::Display for FaultReport {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let (addr, code) = (self.addr, self.code);
        let access = match (code.contains(Code::INSTRUCTION_FETCH), code.contains(Code::CAUSED_BY_WRITE)) {
            (true, _) => "instruction fetch",
            (false, true) => "write",
            (false, false) => "read",
        };
        write!(f, "{access} at {addr:#x}: ")?;
        if code.contains(Code::USER_MODE) {
            write!(f, "user-mode access")
        } else if code.contains(Code::PROTECTION_VIOLATION) {
            write!(f, "protection violation (the page is mapped, but not for this access)")
        } else if in_vmalloc_area(addr) {
            write!(f, "{}", crate::mm::vmalloc::describe(addr))
        } else if (PAGE_OFFSET..VMALLOC_START).contains(&addr) {
            // The direct map covers RAM only (direct_map.rs).
            match crate::mm::memblock::first_ram_in(addr - PAGE_OFFSET, u64::MAX) {
                Some(_) => write!(f, "in the direct map, a hole between RAM ranges (firmware or device memory)"),
                None => write!(f, "in the direct map, beyond physical memory"),
            }
        } else {
            write!(f, "not mapped")
        }
    }
}
