//! Tests that must fail: the proof that a failing test, and a panic inside
//! one, fail the run (tests/ktest.rs runs them by name).

use crate::kassert_eq;
use crate::ktest::{Test, TestResult};

pub const TESTS: &[Test] = crate::suite![
    explicit "demo::deliberate_failure" => deliberate_failure,
    explicit "demo::deliberate_panic" => deliberate_panic,
    // tests/crash.rs checks that the oops marks the frame in the LAB region.
    explicit "demo::panic_in_lab_code" => panic_in_lab_code,
];

fn deliberate_failure() -> TestResult {
    kassert_eq!(1 + 1, 3);
    Ok(())
}

fn deliberate_panic() -> TestResult {
    panic!("deliberate panic inside a test")
}

/// Frees a page that was never allocated into a scratch zone: the check at
/// the top of `Zone::free`, inside its `// LAB 1` region, panics (in the
/// debug build, where debug assertions are on).
fn panic_in_lab_code() -> TestResult {
    use crate::mm::page::Page;
    use crate::mm::page_alloc::{Zone, ZoneType};
    let mut map = [Page::RESERVED; 16];
    let mut zone = Zone::new(ZoneType::Dma, map.len() as u64);
    zone.free(1, 0, &mut map);
    crate::kassert!(false, "Zone::free took a page that was never allocated (debug assertions off?)");
    Ok(())
}
