//! Page faults in kernel mode: the one that is part of the design, and the
//! ones that are bugs.
//!
//! - `vmalloc_fault`: the lazy PGD sync (Gorman ch. 7.2's "special case in the
//!   page fault handling code", Linux's `vmalloc_fault`; LAB 3);
//! - `report`: `FaultReport`, the words for a fault nothing resolved;
//! - `extable`: touching memory that may be unmapped without crashing
//!   (Linux's exception tables, `fixup_exception`), for peek/poke/touch.
//!
//! The CPU's handler (arch/exceptions.rs) asks them in that order:
//! retry after `vmalloc_fault`, else resume at an `extable` fixup, else
//! oops with a `FaultReport`.

pub mod extable;
mod report;
mod vmalloc_fault;

pub use report::FaultReport;
pub use vmalloc_fault::vmalloc_fault;
