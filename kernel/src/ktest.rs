//! The in-kernel test runner.
//!
//! Tests that need the real machine (interrupts, page tables, the boot
//! information) run inside the kernel. QEMU is started with the fw_cfg
//! command line `ktest` (all tests) or `ktest=<text>` (tests whose name
//! contains the text); the kernel runs them instead of the shell, prints one
//! line per test and a summary, then exits QEMU with success or failure:
//!
//! ```text
//! ktest: shell::commands_are_well_formed ... ok
//!     at kernel/src/ktests/demo.rs:13: 1 + 1 == 3 failed: left 2, right 3
//! ktest: demo::deliberate_failure ... FAILED
//! ktest: 4 passed, 1 failed
//! ```
//!
//! The suites live in `ktests/`, each a table made with `suite!`; the
//! runner is handed them (see `boot::start`) and imports none.
//!
//! A test is a plain function returning `Ok(())` or `Err(Failed)`; the
//! `kassert!` macros print where and why before returning the error. Tests
//! marked `explicit` run only when the filter names them exactly: they show
//! that the harness can fail.

use crate::drivers::qemu::{self, ExitCode};
use crate::println;
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::Mutex;

/// A test failed; the details were already printed.
#[derive(Debug)]
pub struct Failed;
pub type TestResult = Result<(), Failed>;

pub struct Test {
    pub name: &'static str,
    pub run: fn() -> TestResult,
    /// Runs only when asked for by its full name.
    pub explicit: bool,
}

static PASSED: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);
static CURRENT: Mutex<Option<&'static str>> = Mutex::new(None);

/// Runs the tests of `suites` selected by `filter` and exits QEMU. The
/// runner imports no suite: `ktests::suites` is the one list of them.
pub fn run_all(suites: &[&'static [Test]], filter: &str) -> ! {
    let selected = |t: &&Test| if t.explicit { t.name == filter } else { t.name.contains(filter) };
    let count = suites.iter().flat_map(|s| s.iter()).filter(selected).count();
    println!("ktest: running {count} tests");
    if count == 0 {
        println!("ktest: no test matches `{filter}` (a name contains it, or equals it for explicit tests)");
    }
    for test in suites.iter().flat_map(|s| s.iter()).filter(selected) {
        *CURRENT.lock() = Some(test.name);
        let result = (test.run)();
        *CURRENT.lock() = None;
        let counter = if result.is_ok() { &PASSED } else { &FAILED };
        counter.fetch_add(1, Ordering::Relaxed);
        println!("ktest: {} ... {}", test.name, if result.is_ok() { "ok" } else { "FAILED" });
    }
    qemu::exit(summary())
}

fn summary() -> ExitCode {
    let (passed, failed) = (PASSED.load(Ordering::Relaxed), FAILED.load(Ordering::Relaxed));
    println!("ktest: {passed} passed, {failed} failed");
    if failed == 0 && passed > 0 {
        ExitCode::Success
    } else {
        ExitCode::Failed
    }
}

/// Called on a panic or a fatal exception: if a test was running, it
/// failed, and the run ends here.
pub fn on_fatal(reason: &str) {
    // SAFETY: the panicking code may hold the lock and will never run again.
    unsafe { CURRENT.force_unlock() };
    if let Some(name) = CURRENT.lock().take() {
        FAILED.fetch_add(1, Ordering::Relaxed);
        crate::drivers::serial::emergency_print(format_args!("ktest: {name} ... FAILED ({reason})\n"));
        summary();
    }
}

/// Prints why an assertion failed. Used by the `kassert` macros.
pub fn report(file: &str, line: u32, args: core::fmt::Arguments) {
    println!("    at {file}:{line}: {args}");
}

/// Fails the test unless the condition holds.
#[macro_export]
macro_rules! kassert {
    ($cond:expr) => {
        $crate::kassert!($cond, "assertion failed: {}", stringify!($cond))
    };
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            $crate::ktest::report(file!(), line!(), format_args!($($arg)+));
            return Err($crate::ktest::Failed);
        }
    };
}

/// Fails the test unless the two values are equal, showing both, in
/// decimal and in hex (`{:x?}` turns every integer inside the value hex,
/// so addresses read as addresses).
#[macro_export]
macro_rules! kassert_eq {
    ($left:expr, $right:expr) => {{
        let (left, right) = (&$left, &$right);
        $crate::kassert!(
            left == right,
            "{} == {} failed: left {:?} (hex {:x?}), right {:?} (hex {:x?})",
            stringify!($left),
            stringify!($right),
            left,
            left,
            right,
            right
        );
    }};
}

/// A suite's table of tests: `suite!["name" => function, ...]`, with
/// `explicit "name" => function` for a test that runs only when the filter
/// names it exactly.
#[macro_export]
macro_rules! suite {
    ($($($explicit:ident)? $name:literal => $run:path),* $(,)?) => {
        &[$($crate::ktest::Test { name: $name, run: $run, explicit: $crate::suite!(@explicit $($explicit)?) }),*]
    };
    (@explicit) => { false };
    (@explicit explicit) => { true };
}
