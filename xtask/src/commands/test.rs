//! `cargo xtask test`: every test, in five parts, with one summary.
//!
//! 0. lint: rustfmt and clippy `-D warnings`, host and bare-metal (lint.rs)
//! 1. host: unit tests of the host-buildable code (`cargo test` on stable)
//! 2. kernel: the in-kernel tests, booted under BIOS and under UEFI
//! 3. integration: `tests/`, which boots the images and drives the shell
//! 4. labs: for each course lab, the reference scores full marks and the
//!    exported student skeletons (both export modes) build, boot and score
//!    below (never hang); and every mutant of each lab's catalogue loses
//!    points (`lab mutants --fast`, each mutant's last catchers first)
//!
//! Ends with `N passed, N failed` and a non-zero status if anything failed.

use anyhow::Result;
use clap::{Args, ValueEnum};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use xtask::build::Profile;
use xtask::qemu::{self, Firmware};
use xtask::session::{Session, TestEnv};
use xtask::{report, root};

#[derive(Args)]
pub struct TestArgs {
    /// Run only one part
    #[arg(long, value_enum)]
    only: Option<Part>,
    /// Passed on to the integration tests' harness, e.g. a test name filter
    #[arg(last = true)]
    filter: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    Lint,
    Host,
    Kernel,
    Integration,
    Labs,
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    lines: Vec<String>,
}

impl Tally {
    fn add(&mut self, part: &str, passed: usize, failed: usize) {
        self.passed += passed;
        self.failed += failed;
        self.lines.push(format!("  {part:<24} {passed:>4} passed, {failed} failed"));
    }
}

pub fn run(args: TestArgs) -> Result<ExitCode> {
    let wants = |p: Part| args.only.is_none_or(|o| o == p);
    let mut tally = Tally::default();
    if wants(Part::Lint) {
        banner("lint (rustfmt, clippy -D warnings)");
        let (p, f) = lint();
        tally.add("lint", p, f);
    }
    if wants(Part::Host) {
        banner("host unit tests");
        let mut cargo = host_cargo();
        cargo.args(["test", "--no-fail-fast", "--package", "xtask", "--package", "mosaic-kernel", "--lib"]);
        let (mut p, mut f) = cargo_test(cargo);
        // The allocator bench's check that every workload runs right on
        // every allocator (its timings are `cargo xtask bench --part alloc`).
        let mut cargo = host_cargo();
        cargo.args(["test", "--no-fail-fast", "--package", "alloc-bench", "--test", "workloads"]);
        let (p2, f2) = cargo_test(cargo);
        // The xtask commands' own tests (the bench's parsers and its
        // profile), which `--lib` leaves out.
        let mut cargo = host_cargo();
        cargo.args(["test", "--no-fail-fast", "--package", "xtask", "--bin", "xtask"]);
        let (p3, f3) = cargo_test(cargo);
        (p, f) = (p + p2 + p3, f + f2 + f3);
        tally.add("host unit tests", p, f);
    }
    if wants(Part::Kernel) || wants(Part::Integration) {
        let env = TestEnv::build(Profile::Debug)?;
        if wants(Part::Kernel) {
            for (firmware, label) in
                [(Firmware::Bios, "in-kernel tests (BIOS)"), (Firmware::Uefi, "in-kernel tests (UEFI)")]
            {
                banner(label);
                let (p, f) = kernel_tests(&env, firmware);
                tally.add(label, p, f);
            }
        }
        if wants(Part::Integration) {
            banner("integration tests (QEMU)");
            let mut cargo = host_cargo();
            cargo.args(["test", "--no-fail-fast", "--package", "mosaic-tests", "--"]).args(&args.filter);
            cargo.env("MOSAIC_QEMU", &env.qemu);
            cargo.env("MOSAIC_OVMF_CODE", &env.ovmf.code).env("MOSAIC_OVMF_VARS", &env.ovmf.vars);
            cargo.env("MOSAIC_BIOS_IMAGE", &env.bios).env("MOSAIC_UEFI_IMAGE", &env.uefi);
            cargo.env("MOSAIC_XTASK", std::env::current_exe()?);
            // Failures are explained by their messages; anyhow's backtraces
            // would bury them.
            cargo.env("RUST_LIB_BACKTRACE", "0").env("RUST_BACKTRACE", "0");
            let (p, f) = cargo_test(cargo);
            tally.add("integration tests", p, f);
        }
    }
    if wants(Part::Labs) {
        banner("lab selftest (reference full marks; skeletons build, score below, never hang)");
        let (p, f) = xtask::grade::selftest_tally(xtask::grade::default_jobs());
        tally.add("lab selftest", p, f);
        banner("lab mutants --fast: the whole catalogue (typical student bugs must lose points)");
        let (p, f) = xtask::grade::mutants_tally(xtask::grade::default_jobs());
        tally.add("lab mutants", p, f);
    }
    println!("\nsummary:");
    for line in &tally.lines {
        println!("{line}");
    }
    println!("{} passed, {} failed", tally.passed, tally.failed);
    Ok(if tally.failed == 0 && tally.passed > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Runs every lint check; a check that fails shows its output.
fn lint() -> (usize, usize) {
    let checks = match xtask::lint::checks() {
        Ok(checks) => checks,
        Err(e) => {
            println!("error: {e:#}");
            return (0, 1);
        }
    };
    let (mut passed, mut failed) = (0, 0);
    for mut check in checks {
        match check.command.output() {
            Ok(out) if out.status.success() => {
                println!("lint: {} ... ok", check.name);
                passed += 1;
            }
            Ok(out) => {
                print!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
                println!("lint: {} ... FAILED", check.name);
                failed += 1;
            }
            Err(e) => {
                println!("lint: {} ... FAILED (cannot run it: {e})", check.name);
                failed += 1;
            }
        }
    }
    (passed, failed)
}

fn banner(what: &str) {
    println!("\n==> {what}");
    let _ = std::io::stdout().flush();
}

/// The stable cargo running xtask, at the workspace root.
fn host_cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs `cargo test`, echoing its output and adding up its result lines.
/// A run that fails without any result line (e.g. it did not compile)
/// counts as one failure.
fn cargo_test(mut cargo: Command) -> (usize, usize) {
    cargo.stdout(Stdio::piped());
    let mut child = match cargo.spawn() {
        Ok(child) => child,
        Err(e) => {
            println!("cannot run cargo: {e}");
            return (0, 1);
        }
    };
    let (mut passed, mut failed, mut seen) = (0, 0, false);
    for line in BufReader::new(child.stdout.take().expect("piped")).lines().map_while(Result::ok) {
        println!("{line}");
        if let Some((p, f)) = report::cargo_result(&line) {
            passed += p;
            failed += f;
            seen = true;
        }
    }
    let ok = child.wait().is_ok_and(|s| s.success());
    if !ok && (!seen || failed == 0) {
        failed += 1;
    }
    (passed, failed)
}

/// Boots the kernel in test mode and counts its results.
fn kernel_tests(env: &TestEnv, firmware: Firmware) -> (usize, usize) {
    let mut machine = env.machine(firmware);
    machine.cmdline = "ktest panic=exit".into();
    let name = format!("ktest-{firmware:?}").to_lowercase();
    let outcome = Session::start(&name, &machine, env).and_then(|mut s| {
        // The whole suite runs in one boot (soak and fault-injection tests
        // included), in a debug kernel under emulation: give it time. A
        // crash ends it at once anyway (panic=exit).
        s.timeout = std::time::Duration::from_secs(900);
        let code = s.wait_exit();
        let transcript = s.transcript();
        let code = code?;
        if code != Some(qemu::EXIT_SUCCESS) {
            s.fail();
        }
        Ok((code, transcript))
    });
    let (code, transcript) = match outcome {
        Ok(x) => x,
        Err(e) => {
            println!("error: {e:#}");
            return (0, 1);
        }
    };
    let results = report::ktest_results(&transcript);
    for line in transcript.lines().filter(|l| l.starts_with("ktest: ") || l.starts_with("    at ")) {
        println!("{line}");
    }
    let passed = results.iter().filter(|r| r.passed).count();
    let mut failed = results.len() - passed;
    let complete = report::ktest_announced(&transcript) == Some(results.len());
    if code != Some(qemu::EXIT_SUCCESS) && failed == 0 || !complete {
        // Crashed, hung or stopped early without a failing test to blame.
        println!("error: the test kernel did not finish cleanly: {}", qemu::describe_exit(code));
        failed += 1;
    }
    (passed, failed)
}
