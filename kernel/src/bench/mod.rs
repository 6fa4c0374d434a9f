//! Measurements and soak tests of the memory manager, run from the shell
//! (`stress`, `test_vmalloc`, `pgd_bench`, `huge_bench`) and by `cargo xtask bench`.
//!
//! They import mm and the TSC, never the shell or the test runner: each
//! returns a `Message` on failure, and the shell parses their arguments.

pub mod huge_bench;
pub mod pgd_bench;
pub mod stress;
pub mod test_vmalloc;

use crate::message::Message;
use alloc::vec::Vec;

/// Any error as the `Message` the benches return.
fn err(e: impl core::fmt::Display) -> Message {
    Message::new(format_args!("{e}"))
}

/// An empty vector with room for `n`, or out of memory (a `push` past
/// what the heap can give would panic).
fn with_room<T>(n: usize) -> Result<Vec<T>, Message> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| err(crate::mm::vmalloc::VmError::NoMemory))?;
    Ok(v)
}
