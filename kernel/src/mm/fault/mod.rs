//! Page faults in kernel mode: the one that is part of the design, and the
//! ones that are bugs.
//!
//! - `vmalloc_fault`: the lazy PGD sync (Gorman ch. 7.2's "special case in the
//!   page fault handling code", Linux's `vmalloc_fault`; LAB 3);
//! - `report`: `FaultReport`, the words for a fault nothing resolved;
//! - `extable`: touching memory that may be unmapped without crashing
//!   (Linux's exception tables, `fixup_exception`), for peek/poke/touch;
//! - `retry`: the guard that turns a sync that never helps (an endless
//!   fault-and-retry loop) into an oops.
//!
//! The CPU's handler (arch/exceptions.rs) asks them in that order:
//! retry after `vmalloc_fault`, else resume at an `extable` fixup, else
//! oops with a `FaultReport`.

pub mod extable;
mod report;
mod retry;
mod vmalloc_fault;

pub use report::FaultReport;
pub use retry::{RetryGuard, RETRY_CAUSE, RETRY_LIMIT};
pub use vmalloc_fault::vmalloc_fault;
