//! `vmalloc_fault`: the one kernel page fault that is part of the design.
//!
//! A kernel-mode, not-present fault on a vmalloc address may just mean that
//! the current PGD lacks a top-level entry the master has (strategy `lazy`,
//! see aspace.rs): copy it and retry. This is Gorman's "special case in the
//! page fault handling code" and Linux's `vmalloc_fault` (removed in 5.9).
//! It reads the PGD from CR3, not from any bookkeeping, because the fault
//! may hit in the middle of an address-space switch, and it takes no lock
//! and allocates nothing, because it may run with any lock held.
//!
//! Anything else is a real fault, and `FaultReport` (report.rs) says what
//! the address was.

use crate::mm::aspace;
use crate::mm::layout::in_vmalloc_area;
use crate::mm::pgtable::pgd_index;
use x86_64::structures::idt::PageFaultErrorCode as Code;

/// Tries to resolve a fault as a lazy vmalloc fault; true if the access
/// can be retried.
pub fn vmalloc_fault(addr: u64, code: Code) -> bool {
    // LAB 3 BEGIN: only a kernel-mode, not-present fault in the vmalloc area: aspace::sync_from_master
    let kernel_not_present = !code.intersects(Code::USER_MODE | Code::PROTECTION_VIOLATION);
    kernel_not_present && in_vmalloc_area(addr) && aspace::sync_from_master(pgd_index(addr))
    // LAB 3 END
}
