//! Every in-kernel test suite, and the one list of them.
//!
//! Tests that need the real machine (interrupts, page tables, the boot
//! information) live here, one file per subject; host-testable code keeps
//! its unit tests beside it (see docs/testing.md). `ktest` runs what
//! `suites` returns and imports none of it.

mod aspace;
mod buddy;
mod demo;
mod explain;
mod foundation;
mod huge;
mod inject;
mod lazy_purge;
mod soak;
mod test_vmalloc;
mod vmalloc;
mod vmap_block;
mod vrealloc;

use crate::ktest::Test;

/// Every suite, in the order they run.
pub fn suites() -> [&'static [Test]; 13] {
    [
        foundation::TESTS,
        buddy::TESTS,
        vmalloc::TESTS,
        vmap_block::TESTS,
        lazy_purge::TESTS,
        vrealloc::TESTS,
        huge::TESTS,
        explain::TESTS,
        aspace::TESTS,
        soak::TESTS,
        test_vmalloc::TESTS,
        inject::TESTS,
        demo::TESTS,
    ]
}
