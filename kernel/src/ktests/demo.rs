//! Tests that must fail: the proof that a failing test, and a panic inside
//! one, fail the run (tests/ktest.rs runs them by name).

use crate::kassert_eq;
use crate::ktest::{Test, TestResult};

pub const TESTS: &[Test] = crate::suite![
    explicit "demo::deliberate_failure" => deliberate_failure,
    explicit "demo::deliberate_panic" => deliberate_panic,
];

fn deliberate_failure() -> TestResult {
    kassert_eq!(1 + 1, 3);
    Ok(())
}

fn deliberate_panic() -> TestResult {
    panic!("deliberate panic inside a test")
}
