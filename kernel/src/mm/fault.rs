//! The page-fault path of the memory manager.
//!
//! A kernel-mode, not-present fault on a vmalloc address may just mean that
//! the current PGD lacks a top-level entry the master has (strategy `lazy`,
//! see aspace.rs): copy it and retry. This is Gorman's "special case in the
//! page fault handling code" and Linux's `vmalloc_fault` (removed in 5.9).
//! It reads the PGD from CR3, not from any bookkeeping, because the fault
//! may hit in the middle of an address-space switch, and it takes no lock
//! and allocates nothing, because it may run with any lock held.
//!
//! Anything else is a real fault, and `describe` says what the address was.

use super::aspace;
use super::layout::{in_vmalloc_area, PAGE_OFFSET, VMALLOC_START};
use super::pgtable::pgd_index;
use core::fmt;
use x86_64::structures::idt::PageFaultErrorCode as Code;

/// Tries to resolve a fault as a lazy vmalloc fault; true if the access
/// can be retried.
pub fn vmalloc_fault(addr: u64, code: Code) -> bool {
    // LAB 3 BEGIN: only a kernel-mode, not-present fault in the vmalloc area: aspace::sync_from_master
    let kernel_not_present = !code.intersects(Code::USER_MODE | Code::PROTECTION_VIOLATION);
    kernel_not_present && in_vmalloc_area(addr) && aspace::sync_from_master(pgd_index(addr))
    // LAB 3 END
}

/// Why a real fault happened, in words.
pub struct Describe {
    pub addr: u64,
    pub code: Code,
}

impl fmt::Display for Describe {
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
            write!(f, "{}", super::vmalloc::describe(addr))
        } else if (PAGE_OFFSET..VMALLOC_START).contains(&addr) {
            write!(f, "in the direct map, beyond physical memory")
        } else {
            write!(f, "not mapped")
        }
    }
}
