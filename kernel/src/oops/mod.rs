//! The oops: what the kernel prints when it dies, on the serial console.
//!
//! For every fatal exception and every panic: the registers (all of the
//! general-purpose ones, RIP, RSP, RFLAGS and CR0/CR2/CR3/CR4), the error
//! code in words (`decode`), and a backtrace with function names and
//! file:line from the symbol table the build embeds (`symbols`,
//! `backtrace`), the frame inside a `// LAB n` region marked. A page fault
//! adds the page-table walk of CR2 and what CR2 is (`mm::explain`).
//! docs/debugging.md reads one line by line.
//!
//! Everything here runs in a dying kernel: no heap, no lock that is waited
//! for, and an oops inside the oops ends with a one-line notice instead of
//! recursing.

pub mod decode;
pub mod symbols;

#[cfg(target_os = "none")]
mod backtrace;
#[cfg(target_os = "none")]
mod report;

#[cfg(target_os = "none")]
pub use report::{exception, panic};
