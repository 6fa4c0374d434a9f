//! The in-kernel test harness must be able to fail: a failing assertion and
//! a panic inside a test each make the run fail with QEMU's failure status.

use mosaic_tests::*;

#[test]
fn a_failing_kernel_test_fails_the_run() -> anyhow::Result<()> {
    let (code, out) = run_ktest("ktest-fail", "demo::deliberate_failure")?;
    assert_eq!(code, Some(EXIT_FAILURE), "{out}");
    assert!(out.contains("ktest: demo::deliberate_failure ... FAILED"), "{out}");
    assert!(out.contains("1 + 1 == 3 failed: left 2 (hex 2), right 3 (hex 3)"), "{out}");
    assert!(out.contains("ktest: 0 passed, 1 failed"), "{out}");
    Ok(())
}

#[test]
fn a_panicking_kernel_test_fails_the_run() -> anyhow::Result<()> {
    let (code, out) = run_ktest("ktest-panic", "demo::deliberate_panic")?;
    assert_eq!(code, Some(EXIT_FAILURE), "{out}");
    assert!(out.contains("KERNEL PANIC: panicked at kernel/src/ktests/demo.rs"), "{out}");
    assert!(out.contains("deliberate panic inside a test"), "{out}");
    assert!(out.contains("ktest: demo::deliberate_panic ... FAILED (panic)"), "{out}");
    Ok(())
}

#[test]
fn a_filter_that_selects_nothing_fails() -> anyhow::Result<()> {
    let (code, out) = run_ktest("ktest-none", "no-such-test")?;
    assert_eq!(code, Some(EXIT_FAILURE), "{out}");
    assert!(out.contains("ktest: running 0 tests"), "{out}");
    Ok(())
}

#[test]
fn demo_tests_do_not_run_by_default() -> anyhow::Result<()> {
    let (code, out) = run_ktest("ktest-default", "shell::")?;
    assert_eq!(code, Some(EXIT_SUCCESS), "{out}");
    assert!(!out.contains("demo::"), "{out}");
    Ok(())
}
