//! In-kernel test of `bench::stress`: a short soak with a fixed seed.

use crate::bench::stress::run;
use crate::kassert;
use crate::ktest::{Test, TestResult};

pub const TESTS: &[Test] = crate::suite!["stress::soak_with_fixed_seed" => soak];

fn soak() -> TestResult {
    let result = run(1500, 0x5eed);
    kassert!(result.is_ok(), "{}", result.as_ref().err().unwrap());
    let report = result.unwrap();
    kassert!(report.bytes_verified > 0 && report.corrupted == 0);
    Ok(())
}
