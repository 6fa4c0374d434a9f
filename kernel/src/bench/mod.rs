//! Measurements and soak tests of the memory manager, run from the shell
//! (`stress`, `test_vmalloc`, `pgd_bench`, `huge_bench`) and by `cargo xtask bench`.
//!
//! They import mm and the TSC, never the shell or the test runner: each
//! returns a `Message` on failure, and the shell parses their arguments.

pub mod huge_bench;
pub mod pgd_bench;
pub mod stress;
pub mod test_vmalloc;
