//! `cargo xtask grade <lab>`: the autograder, in the spirit of xv6's
//! `make grade`.
//!
//! A lab's graded tests (see `grade/catalogue/`) are of three kinds:
//!
//! - host: unit tests of the hardware-free code, run by name in the
//!   `mosaic-kernel` library's test binary;
//! - kernel: one in-kernel test, booted in QEMU with `ktest=<name>
//!   panic=exit`, so that a panic (a `todo!()` not yet written, say) ends
//!   the machine at once instead of hanging it;
//! - shell: a scenario that boots the kernel to its shell and drives it
//!   with `Session`, using sizes, counts and patterns drawn at random for
//!   each run, so that output cannot be faked by printing what a previous
//!   run printed.
//!
//! Every test has a timeout; a hung kernel is killed and its test fails.
//! Each test prints PASS or FAIL with its points, a failing one says what
//! was expected and shows the lines of output that matter, and the last
//! line is `Score: X/Y`. The exit status is non-zero below full marks.
//!
//! This file holds the report, the host tests and the QEMU tests; beside
//! it are `catalogue/` (what each lab's grade is made of), `selftest.rs`
//! (`cargo xtask lab selftest`), `mutants.rs` (`cargo xtask lab mutants`:
//! typical bugs must lose points) and `submission.rs` (grading in another
//! tree: exported skeletons and `--submission`).

mod catalogue;
mod mutants;
mod selftest;
mod submission;

use crate::build::Profile;
use crate::lab::Lab;
use crate::process::{self, Finished, Output};
use crate::qemu::{self, Firmware};
use crate::session::{Session, TestEnv};
use crate::{report, root};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use catalogue::tests;
pub use mutants::{mutants, mutants_tally, MutantRow, QUICK};
pub use selftest::{seed_shared_target, selftest, selftest_tally, SelftestRow};
pub use submission::grade_submission;

/// A shell scenario: drives a booted shell, using `Rng` for its values.
pub type Scenario = fn(&mut Session, &mut Rng) -> Result<()>;

/// How one graded test is run.
pub enum Check {
    /// A unit test of the `mosaic-kernel` library, by its full path.
    Host(&'static str),
    /// An in-kernel test by its full name, with extra kernel options.
    Kernel { test: &'static str, cmdline: &'static str },
    /// A shell scenario, with extra kernel options.
    Shell { run: Scenario, cmdline: &'static str },
}

/// One graded test.
pub struct Graded {
    pub name: &'static str,
    pub points: u32,
    pub check: Check,
    /// Seconds before a hung test is killed.
    pub timeout: u64,
}

impl Graded {
    fn kind(&self) -> &'static str {
        match self.check {
            Check::Host(_) => "host",
            Check::Kernel { .. } => "kernel",
            Check::Shell { .. } => "shell",
        }
    }
}

/// QEMU runs on one host CPU per machine: one machine per CPU, at most 4.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// How to grade.
#[derive(Clone, Debug)]
pub struct GradeOptions {
    pub jobs: usize,
    pub seed: Option<u64>,
    pub timeout_scale: f64,
    pub only: Option<String>,
    /// Show the compiler's warnings (by default only counted).
    pub verbose: bool,
    /// Stop at the first failed test: start no test after it, and leave the
    /// tests not run out of the report (`lab mutants` in CI: one failure
    /// is enough to catch a mutant).
    pub fail_fast: bool,
    /// Run the QEMU tests whose names contain one of these texts (`|`
    /// between them) before the others. Only the order changes; with
    /// `fail_fast`, a mutant caught by one of them costs one QEMU run
    /// (`lab mutants` passes the tests that caught it last time).
    pub first: Option<String>,
}

impl GradeOptions {
    /// The same options as `cargo xtask grade` arguments.
    pub fn to_args(&self) -> Vec<String> {
        let mut args =
            vec!["--jobs".into(), self.jobs.to_string(), "--timeout-scale".into(), self.timeout_scale.to_string()];
        if let Some(seed) = self.seed {
            args.extend(["--seed".into(), seed.to_string()]);
        }
        if let Some(only) = &self.only {
            args.extend(["--only".into(), only.clone()]);
        }
        if self.verbose {
            args.push("--verbose".into());
        }
        if self.fail_fast {
            args.push("--fail-fast".into());
        }
        if let Some(first) = &self.first {
            args.extend(["--first".into(), first.clone()]);
        }
        args
    }
}

impl Default for GradeOptions {
    fn default() -> Self {
        GradeOptions {
            jobs: default_jobs(),
            seed: None,
            timeout_scale: 1.0,
            only: None,
            verbose: false,
            fail_fast: false,
            first: None,
        }
    }
}

/// The result of one graded test.
#[derive(Clone, Debug)]
pub struct TestResult {
    pub name: String,
    pub kind: String,
    pub points: u32,
    pub passed: bool,
    pub timed_out: bool,
    pub seconds: f64,
    /// Why it failed: what was expected, and the relevant output.
    pub detail: String,
}

/// A whole grading run.
#[derive(Clone, Debug)]
pub struct Report {
    pub lab: u32,
    pub slug: String,
    pub seed: u64,
    pub host_built: bool,
    pub kernel_built: bool,
    /// Whether the kernel reached its shell (None: not tried).
    pub boots: Option<bool>,
    pub results: Vec<TestResult>,
}

impl Report {
    pub fn score(&self) -> u32 {
        self.results.iter().filter(|r| r.passed).map(|r| r.points).sum()
    }

    pub fn max(&self) -> u32 {
        self.results.iter().map(|r| r.points).sum()
    }

    pub fn to_json(&self) -> Value {
        let tests: Vec<Value> = self
            .results
            .iter()
            .map(|r| {
                json!({
                    "name": r.name, "kind": r.kind, "points": r.points,
                    "earned": if r.passed { r.points } else { 0 },
                    "passed": r.passed, "timed_out": r.timed_out,
                    "seconds": (r.seconds * 10.0).round() / 10.0, "detail": r.detail,
                })
            })
            .collect();
        json!({
            "lab": self.lab, "slug": self.slug, "seed": self.seed,
            "score": self.score(), "max": self.max(),
            "host_built": self.host_built, "kernel_built": self.kernel_built, "boots": self.boots,
            "tests": tests,
        })
    }

    /// The results in Gradescope's autograder format (`results.json`): a
    /// total `score`, and per test its `name`, `score`, `max_score`,
    /// `status` and `output`; every part visible to the student at once.
    pub fn to_gradescope(&self) -> Value {
        let tests: Vec<Value> = self
            .results
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let output = if r.passed { String::new() } else { r.detail.clone() };
                json!({
                    "name": format!("{} {}", r.kind, r.name),
                    "number": format!("{}.{}", self.lab, i + 1),
                    "score": if r.passed { r.points } else { 0 } as f64,
                    "max_score": r.points as f64,
                    "status": if r.passed { "passed" } else { "failed" },
                    "output": output,
                    "visibility": "visible",
                })
            })
            .collect();
        let seconds: f64 = self.results.iter().map(|r| r.seconds).sum();
        let mut summary =
            format!("Lab {} ({}): {}/{}; seed {}", self.lab, self.slug, self.score(), self.max(), self.seed);
        if self.boots == Some(false) {
            summary.push_str("; the kernel does not boot to its shell, so every QEMU test fails");
        }
        json!({
            "score": self.score() as f64,
            "execution_time": seconds.round() as u64,
            "output": summary,
            "visibility": "visible",
            "stdout_visibility": "visible",
            "tests": tests,
        })
    }

    /// Reads what `to_json` wrote (the selftest reads a skeleton's report).
    pub fn from_json(text: &str) -> Result<Report> {
        let v: Value = serde_json::from_str(text)?;
        let results = v["tests"]
            .as_array()
            .context("no tests in the report")?
            .iter()
            .map(|t| TestResult {
                name: t["name"].as_str().unwrap_or_default().to_string(),
                kind: t["kind"].as_str().unwrap_or_default().to_string(),
                points: t["points"].as_u64().unwrap_or(0) as u32,
                passed: t["passed"].as_bool().unwrap_or(false),
                timed_out: t["timed_out"].as_bool().unwrap_or(false),
                seconds: t["seconds"].as_f64().unwrap_or(0.0),
                detail: t["detail"].as_str().unwrap_or_default().to_string(),
            })
            .collect();
        Ok(Report {
            lab: v["lab"].as_u64().unwrap_or(0) as u32,
            slug: v["slug"].as_str().unwrap_or_default().to_string(),
            seed: v["seed"].as_u64().unwrap_or(0),
            host_built: v["host_built"].as_bool().unwrap_or(false),
            kernel_built: v["kernel_built"].as_bool().unwrap_or(false),
            boots: v["boots"].as_bool(),
            results,
        })
    }
}

/// Grades `lab` in this tree: host tests first, then the QEMU tests,
/// `opts.jobs` machines at a time, printed in catalogue order.
pub fn grade(lab: &Lab, opts: &GradeOptions) -> Result<Report> {
    let started = Instant::now();
    crate::build::hide_warnings(!opts.verbose);
    let seed = opts.seed.unwrap_or_else(fresh_seed);
    let mut graded = tests(lab.id);
    if let Some(only) = &opts.only {
        graded.retain(|g| display_name(g).contains(only.as_str()));
        if graded.is_empty() {
            bail!("no test of lab {} has '{only}' in its name", lab.id);
        }
    }
    println!("Grading lab {}: {} ({})", lab.id, lab.title, lab.handout);
    println!("seed {seed} (the shell scenarios' random values; replay with --seed {seed})");
    let scale = |secs: u64| Duration::from_secs_f64(secs as f64 * opts.timeout_scale.max(0.1));
    let mut report = Report {
        lab: lab.id,
        slug: lab.slug.to_string(),
        seed,
        host_built: true,
        kernel_built: true,
        boots: None,
        results: Vec::new(),
    };

    let host_names: Vec<&str> =
        graded.iter().filter_map(|g| if let Check::Host(n) = g.check { Some(n) } else { None }).collect();
    let host_limit = graded.iter().filter(|g| matches!(g.check, Check::Host(_))).map(|g| g.timeout).max().unwrap_or(0);
    let host = if host_names.is_empty() {
        HostRun { built: true, ..HostRun::default() }
    } else {
        run_host(&host_names, scale(host_limit))
    };
    report.host_built = host.built;

    let mut qemu_tests: Vec<&Graded> = graded.iter().filter(|g| !matches!(g.check, Check::Host(_))).collect();
    if let Some(first) = &opts.first {
        // A stable sort: the named tests first, each group in catalogue order.
        qemu_tests.sort_by_key(|g| !first.split('|').any(|f| !f.is_empty() && display_name(g).contains(f)));
    }
    let env = if qemu_tests.is_empty() { Err(anyhow::anyhow!("no QEMU tests")) } else { qemu_env() };
    if !qemu_tests.is_empty() {
        report.kernel_built = env.is_ok();
        if let Err(e) = &env {
            println!("the kernel did not build or QEMU is missing: {e:#}");
        }
    }
    let env = env.ok();
    let hidden = crate::build::hidden_warnings();
    if hidden > 0 {
        println!("({hidden} compiler warnings not shown, such as the stubs' unused variables; --verbose shows them)");
    }

    // Host results first, in catalogue order.
    println!();
    for g in graded.iter().filter(|g| matches!(g.check, Check::Host(_))) {
        let Check::Host(name) = g.check else { unreachable!() };
        let r = host.result(g, name);
        print_result(&r);
        report.results.push(r);
    }

    if opts.fail_fast && report.results.iter().any(|r| !r.passed) {
        println!("\n(--fail-fast: a host test failed, the QEMU tests are not run)");
        println!(
            "\nScore: {}/{}  (lab {} {}, {:.0?})",
            report.score(),
            report.max(),
            lab.id,
            lab.slug,
            started.elapsed()
        );
        return Ok(report);
    }

    // Then the QEMU tests, and a boot check that is not graded.
    let boot_cmdline = qemu_tests
        .iter()
        .find_map(|g| match g.check {
            Check::Shell { cmdline, .. } | Check::Kernel { cmdline, .. } => Some(cmdline),
            _ => None,
        })
        .unwrap_or("");
    let run = QemuRun { jobs: opts.jobs, fail_fast: opts.fail_fast, scale: &scale, boot_cmdline };
    let results = run_qemu_tests(lab, &qemu_tests, env.as_ref(), seed, &run, &mut report);
    report.results.extend(results);

    println!("\nScore: {}/{}  (lab {} {}, {:.0?})", report.score(), report.max(), lab.id, lab.slug, started.elapsed());
    Ok(report)
}

/// Refuses to grade with an xtask built for another copy of the tree:
/// cargo takes two copies sharing a target directory for one another (see
/// `submission::labs_dir`), and the repository's path is compiled into xtask.
pub fn check_built_here() -> Result<()> {
    let here = std::env::current_dir()?.canonicalize()?;
    let root = root().canonicalize().unwrap_or_else(|_| root());
    if !here.starts_with(&root) {
        bail!(
            "this xtask was built for the tree at {} (a target directory shared between copies of \
             Mosaic?): give this tree its own CARGO_TARGET_DIR, or touch its files and build again",
            root.display()
        );
    }
    Ok(())
}

fn fresh_seed() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (t.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)) % 1_000_000_000
}

fn print_result(r: &TestResult) {
    let verdict = if r.passed { "PASS" } else { "FAIL" };
    let earned = if r.passed { r.points } else { 0 };
    println!("{verdict}  {earned:>3}/{:<3} {:<6} {:<58} ({:.1} s)", r.points, r.kind, r.name, r.seconds);
    if !r.passed {
        for line in r.detail.lines() {
            println!("        {line}");
        }
    }
    let _ = std::io::stdout().flush();
}

// ---------------------------------------------------------------------------
// Host tests
// ---------------------------------------------------------------------------

/// What the library's test binary said about each test asked for.
#[derive(Default)]
struct HostRun {
    built: bool,
    /// Why nothing ran (build error, crash, timeout), if so.
    problem: Option<String>,
    timed_out: bool,
    seconds: f64,
    /// name -> (passed, its captured output)
    outcomes: HashMap<String, (bool, String)>,
}

impl HostRun {
    fn result(&self, g: &Graded, name: &str) -> TestResult {
        let (passed, detail, timed_out) = match self.outcomes.get(name) {
            Some((true, _)) => (true, String::new(), false),
            Some((false, output)) => {
                (false, format!("expected: `test {name} ... ok`; it failed:\n{}", excerpt(output, 14)), false)
            }
            None => (
                false,
                self.problem
                    .clone()
                    .unwrap_or_else(|| format!("`{name}` did not run (is it still in the kernel's tests?)")),
                self.timed_out,
            ),
        };
        TestResult {
            name: display_name(g),
            kind: "host".into(),
            points: g.points,
            passed,
            timed_out,
            seconds: self.seconds,
            detail,
        }
    }
}

/// The first `n` distinct lines of `text`, each behind a `| ` (a property
/// test repeats its panic for every input it shrinks).
fn excerpt(text: &str, n: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()).map(without_thread_id) {
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    let mut out: Vec<String> = lines.iter().take(n).map(|l| format!("| {l}")).collect();
    if lines.len() > n {
        out.push(format!("| ... ({} more lines)", lines.len() - n));
    }
    out.join("\n")
}

/// Builds the kernel library's unit tests (stable toolchain) and runs the
/// named ones, killing the binary after `limit`.
fn run_host(names: &[&str], limit: Duration) -> HostRun {
    let started = Instant::now();
    let mut run = HostRun::default();
    let exe = match build_host_tests() {
        Ok(exe) => exe,
        Err(e) => {
            println!("the host tests did not build:\n{}", excerpt(&format!("{e:#}"), 40));
            run.problem = Some("the host tests did not build (the compiler's errors are above)".into());
            return run;
        }
    };
    run.built = true;
    let mut cmd = Command::new(&exe);
    cmd.current_dir(root().join("kernel")).arg("--exact").args(names);
    cmd.env("RUST_BACKTRACE", "0");
    match process::run_with_deadline(&mut cmd, limit, Output::Capture) {
        Ok(Finished { status, output }) => {
            let finished = status.is_some();
            run.outcomes = parse_libtest(&output);
            if !finished {
                run.timed_out = true;
                run.problem = Some(format!("did not finish within {limit:.0?} (an endless loop?); killed"));
            } else if run.outcomes.len() < names.len() {
                run.problem =
                    Some(format!("the test binary stopped early (a crash?); its last lines:\n{}", tail(&output, 10)));
            }
        }
        Err(e) => run.problem = Some(format!("cannot run the tests: {e:#}")),
    }
    run.seconds = started.elapsed().as_secs_f64();
    run
}

/// `cargo test --no-run` for the kernel library; returns the test binary.
fn build_host_tests() -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root())
        .args(["test", "--no-run", "--package", "mosaic-kernel", "--lib", "--message-format=json"])
        .stderr(Stdio::piped())
        .output()
        .context("cannot run cargo")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let errors = crate::build::count_diagnostics(&stdout);
    if !out.status.success() {
        bail!("{errors}{}", String::from_utf8_lossy(&out.stderr));
    }
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "mosaic_kernel")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo built no test binary for mosaic-kernel")
}

/// Reads libtest's `test <name> ... ok|FAILED` lines and the captured
/// output it prints for each failure (`---- <name> stdout ----`).
fn parse_libtest(output: &str) -> HashMap<String, (bool, String)> {
    let mut outcomes = HashMap::new();
    for line in output.lines() {
        let Some(rest) = line.strip_prefix("test ") else { continue };
        if let Some((name, verdict)) = rest.split_once(" ... ") {
            match verdict.trim() {
                "ok" => outcomes.insert(name.to_string(), (true, String::new())),
                "FAILED" => outcomes.insert(name.to_string(), (false, String::new())),
                _ => None,
            };
        }
    }
    let mut current: Option<String> = None;
    for line in output.lines() {
        if let Some(name) = line.strip_prefix("---- ").and_then(|l| l.strip_suffix(" stdout ----")) {
            current = Some(name.to_string());
        } else if line == "failures:" || line.starts_with("test result:") {
            current = None;
        } else if let Some((false, text)) = current.as_ref().and_then(|n| outcomes.get_mut(n)) {
            text.push_str(line);
            text.push('\n');
        }
    }
    outcomes
}

/// `thread 'x' (1234) panicked` without the thread id, which differs
/// between otherwise equal lines.
fn without_thread_id(line: &str) -> String {
    match (line.find("' ("), line.find(") panicked")) {
        (Some(a), Some(b)) if line.starts_with("thread '") && a < b => format!("{}'{}", &line[..a], &line[b + 1..]),
        _ => line.to_string(),
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| format!("| {l}")).collect::<Vec<_>>().join("\n")
}

// ---------------------------------------------------------------------------
// QEMU tests
// ---------------------------------------------------------------------------

/// Finds QEMU and builds the debug images.
fn qemu_env() -> Result<TestEnv> {
    TestEnv::build(Profile::Debug)
}

/// How the QEMU tests of a grade run.
struct QemuRun<'a> {
    /// Machines at once.
    jobs: usize,
    /// Start no test after a graded one failed.
    fail_fast: bool,
    /// A test's timeout, scaled for slow machines.
    scale: &'a (dyn Fn(u64) -> Duration + Sync),
    boot_cmdline: &'a str,
}

/// Runs the QEMU tests `run.jobs` at a time and prints their results in
/// order. Job 0 is the ungraded boot check; its result goes into
/// `report.boots`. With `run.fail_fast` there is no boot check, and the
/// tests not started when one failed are left out.
fn run_qemu_tests(
    lab: &Lab,
    tests: &[&Graded],
    env: Option<&TestEnv>,
    seed: u64,
    run: &QemuRun,
    report: &mut Report,
) -> Vec<TestResult> {
    let QemuRun { jobs, fail_fast, scale, boot_cmdline } = *run;
    if tests.is_empty() {
        return Vec::new();
    }
    let Some(env) = env else {
        return tests.iter().map(|g| not_built(g)).collect();
    };
    // Under fail_fast the ungraded boot check is skipped: it decides
    // nothing there, and costs a QEMU run per mutant.
    let first = usize::from(fail_fast);
    let next = std::sync::atomic::AtomicUsize::new(first);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, TestResult)>();
    let total = tests.len() + 1;
    let mut results: Vec<Option<TestResult>> = vec![None; total];
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(total) {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total || stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                let result = if i == 0 {
                    boot_check(lab, env, boot_cmdline, scale(60))
                } else {
                    let g = tests[i - 1];
                    let r = run_one(lab, g, env, seed.wrapping_add(i as u64 * 0x9e37_79b9), scale(g.timeout));
                    if fail_fast && !r.passed {
                        stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    r
                };
                if tx.send((i, result)).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut printed = first;
        for (i, r) in rx {
            results[i] = Some(r);
            while printed < total && results[printed].is_some() {
                let r = results[printed].as_ref().expect("checked");
                if printed == 0 {
                    report.boots = Some(r.passed);
                    if r.passed {
                        println!("(the kernel boots to its shell)");
                    } else {
                        println!("(the kernel does NOT boot to its shell: every QEMU test will fail)\n{}", r.detail);
                    }
                } else {
                    print_result(r);
                }
                printed += 1;
            }
        }
        // Under fail_fast the tests never started leave gaps: the ones
        // after a gap are printed now, still in catalogue order.
        results.iter().skip(printed.max(1)).flatten().for_each(print_result);
    });
    if !fail_fast {
        assert!(results.iter().all(Option::is_some), "every job reports");
    }
    results.into_iter().skip(1).flatten().collect()
}

fn not_built(g: &Graded) -> TestResult {
    TestResult {
        name: display_name(g),
        kind: g.kind().into(),
        points: g.points,
        passed: false,
        timed_out: false,
        seconds: 0.0,
        detail: "the kernel did not build (the compiler's errors are above)".into(),
    }
}

fn display_name(g: &Graded) -> String {
    match g.check {
        Check::Host(name) => name.trim_start_matches("mm::").to_string(),
        Check::Kernel { test, .. } => test.to_string(),
        Check::Shell { .. } => g.name.to_string(),
    }
}

/// A file name for the session's log from a test name.
fn log_name(lab: &Lab, name: &str) -> String {
    let clean: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    format!("grade-lab{}-{clean}", lab.id)
}

fn run_one(lab: &Lab, g: &Graded, env: &TestEnv, seed: u64, timeout: Duration) -> TestResult {
    let started = Instant::now();
    let (passed, timed_out, detail) = match g.check {
        Check::Kernel { test, cmdline } => kernel_test(lab, env, test, cmdline, timeout),
        Check::Shell { run, cmdline } => shell_test(lab, env, g.name, run, cmdline, seed, timeout),
        Check::Host(_) => unreachable!("host tests run separately"),
    };
    TestResult {
        name: display_name(g),
        kind: g.kind().into(),
        points: g.points,
        passed,
        timed_out,
        seconds: started.elapsed().as_secs_f64(),
        detail,
    }
}

/// Boots with `ktest=<test> panic=exit`; passes if the kernel reports
/// the test ok.
fn kernel_test(lab: &Lab, env: &TestEnv, test: &str, cmdline: &str, timeout: Duration) -> (bool, bool, String) {
    let mut machine = env.machine(Firmware::Bios);
    machine.cmdline = format!("ktest={test} panic=exit {cmdline}").trim().to_string();
    let mut session = match Session::start(&log_name(lab, test), &machine, env) {
        Ok(s) => s,
        Err(e) => return (false, false, format!("cannot start QEMU: {e:#}")),
    };
    session.timeout = timeout;
    session.quiet_log();
    let exit = session.wait_exit();
    let transcript = session.transcript();
    let results = report::ktest_results(&transcript);
    let passed = results.iter().any(|r| r.name == test && r.passed);
    if passed {
        return (true, false, String::new());
    }
    session.fail();
    let timed_out = exit.is_err();
    let got = match (&exit, results.iter().find(|r| r.name == test)) {
        (Err(_), _) => format!("the kernel hung: killed after {:.1} s", session.elapsed().as_secs_f64()),
        (_, Some(_)) => "the test FAILED".to_string(),
        (Ok(code), None) => format!("the test never reported ({})", qemu::describe_exit(*code)),
    };
    let detail = format!(
        "expected: `ktest: {test} ... ok`; got: {got}\nkernel output:\n{}\nserial log: {}",
        relevant_lines(&transcript),
        session.log_path().display()
    );
    (false, timed_out, detail)
}

/// The lines of a failed run worth showing: assertion reports, the panic
/// and what follows it, the oops's backtrace frame in the student's code
/// (`<- LAB n`), and otherwise the last lines.
fn relevant_lines(transcript: &str) -> String {
    let lines: Vec<&str> = transcript.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut keep: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("    at ") || line.contains("FAILED") || line.contains("<- LAB ") {
            keep.push(line);
        }
        if line.contains("KERNEL PANIC") || line.starts_with("EXCEPTION") || line.contains("error: ") {
            keep.extend(lines[i..].iter().take(4));
        }
    }
    if keep.is_empty() {
        keep = lines[lines.len().saturating_sub(12)..].to_vec();
    }
    let mut seen = std::collections::HashSet::new();
    keep.retain(|l| seen.insert(*l));
    keep.iter().take(20).map(|l| format!("| {l}")).collect::<Vec<_>>().join("\n")
}

/// Boots to the shell and runs a scenario.
fn shell_test(
    lab: &Lab,
    env: &TestEnv,
    name: &str,
    scenario: Scenario,
    cmdline: &str,
    seed: u64,
    timeout: Duration,
) -> (bool, bool, String) {
    let mut machine = env.machine(Firmware::Bios);
    machine.cmdline = format!("panic=exit {cmdline}").trim().to_string();
    let mut rng = Rng::new(seed);
    let outcome = Session::start(&log_name(lab, name), &machine, env).map(|mut s| {
        s.timeout = timeout;
        s.quiet_log();
        let result =
            s.expect("^Mosaic teaching kernel").and_then(|_| s.wait_prompt()).and_then(|()| scenario(&mut s, &mut rng));
        if result.is_err() {
            s.fail();
        }
        (result, s.transcript(), s.log_path())
    });
    match outcome {
        Ok((Ok(()), _, _)) => (true, false, String::new()),
        Ok((Err(e), transcript, log)) => {
            // Session says how long the test ran; only a wait that ran out
            // of time is a hang.
            let mut detail = format!("{e:#}");
            let timed_out = detail.starts_with("timed out after ");
            if !detail.contains("unmatched output") {
                detail.push_str(&format!("\nlast lines of the kernel's output:\n{}", tail(&transcript, 10)));
            }
            detail.push_str(&format!("\nserial log: {}", log.display()));
            (false, timed_out, detail)
        }
        Err(e) => (false, false, format!("cannot start QEMU: {e:#}")),
    }
}

/// Not graded: does the kernel reach its prompt? Printed first, because
/// when it does not, every QEMU test fails for that one reason.
fn boot_check(lab: &Lab, env: &TestEnv, cmdline: &str, timeout: Duration) -> TestResult {
    let started = Instant::now();
    let (passed, timed_out, detail) = shell_test(lab, env, "boot", |_, _| Ok(()), cmdline, 0, timeout);
    TestResult {
        name: "boot".into(),
        kind: "shell".into(),
        points: 0,
        passed,
        timed_out,
        seconds: started.elapsed().as_secs_f64(),
        detail,
    }
}

// ---------------------------------------------------------------------------
// Random values for the scenarios
// ---------------------------------------------------------------------------

/// xorshift64*: small, and the same sequence for the same seed, so a
/// failing run can be replayed with `--seed`.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in lo..=hi.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// A 64-bit pattern that is never 0 and never all ones, so that it
    /// cannot be mistaken for cleared or unmapped memory.
    pub fn pattern(&mut self) -> u64 {
        loop {
            let p = self.next_u64();
            if p != 0 && p != u64::MAX {
                return p;
            }
        }
    }

    /// Shuffles `v` (Fisher-Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.range(0, i as u64) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_output_is_read_with_failure_text() {
        let out = "running 2 tests\ntest a::b ... ok\ntest a::c ... FAILED\n\nfailures:\n\n---- a::c stdout ----\n\
                   thread 'a::c' panicked at src/x.rs:1:1:\nnot yet implemented: split\n\nfailures:\n    a::c\n\n\
                   test result: FAILED. 1 passed; 1 failed\n";
        let o = parse_libtest(out);
        assert_eq!(o["a::b"], (true, String::new()));
        assert!(!o["a::c"].0 && o["a::c"].1.contains("not yet implemented: split"), "{:?}", o["a::c"]);
    }

    #[test]
    fn relevant_lines_show_the_panic() {
        let t = "boot\nktest: running 1 tests\n\nKERNEL PANIC: panicked at kernel/src/mm/zone.rs:1:1:\nnot yet implemented: x\n\
                 ktest: t ... FAILED (panic)\n";
        let r = relevant_lines(t);
        assert!(r.contains("KERNEL PANIC") && r.contains("not yet implemented: x") && !r.contains("boot"), "{r}");
    }

    #[test]
    fn relevant_lines_keep_the_lab_frame_of_the_backtrace() {
        let t =
            "KERNEL PANIC: panicked at kernel/src/mm/page_alloc/zone.rs:272:9:\nattempt to subtract with overflow\n\
                 a\nb\nc\nd\n  #4 0xffffffff80173267 mm::page_alloc::zone::Zone::free+0x87 at \
                 kernel/src/mm/page_alloc/zone.rs:176  <- LAB 1 (your code)\nktest: t ... FAILED (panic)\n";
        let r = relevant_lines(t);
        assert!(r.contains("Zone::free+0x87 at kernel/src/mm/page_alloc/zone.rs:176  <- LAB 1"), "{r}");
    }

    #[test]
    fn thread_ids_are_dropped_so_repeated_panics_show_once() {
        let text = "thread 'a::b' (12) panicked at x.rs:1:1:\nboom\nthread 'a::b' (13) panicked at x.rs:1:1:\nboom\n";
        assert_eq!(excerpt(text, 10), "| thread 'a::b' panicked at x.rs:1:1:\n| boom");
    }

    #[test]
    fn rng_is_reproducible_and_in_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..1000 {
            let x = a.range(3, 9);
            assert_eq!(x, b.range(3, 9));
            assert!((3..=9).contains(&x));
        }
    }

    #[test]
    fn report_survives_json() {
        let r = Report {
            lab: 2,
            slug: "vmalloc".into(),
            seed: 5,
            host_built: true,
            kernel_built: false,
            boots: None,
            results: vec![TestResult {
                name: "x".into(),
                kind: "shell".into(),
                points: 10,
                passed: false,
                timed_out: true,
                seconds: 1.0,
                detail: "hung".into(),
            }],
        };
        let back = Report::from_json(&r.to_json().to_string()).unwrap();
        assert_eq!((back.lab, back.max(), back.score(), back.kernel_built), (2, 10, 0, false));
        assert!(back.results[0].timed_out && back.boots.is_none());
    }

    /// Gradescope's documented schema: a numeric total, and tests each with
    /// a string name and output, numeric score and max_score, a known status.
    #[test]
    fn gradescope_results_match_the_schema() {
        let test = |name: &str, points, passed| TestResult {
            name: name.into(),
            kind: "kernel".into(),
            points,
            passed,
            timed_out: false,
            seconds: 2.0,
            detail: if passed { String::new() } else { "expected ok".into() },
        };
        let r = Report {
            lab: 3,
            slug: "lazy-pgd".into(),
            seed: 9,
            host_built: true,
            kernel_built: true,
            boots: Some(true),
            results: vec![test("a", 30, true), test("b", 70, false)],
        };
        let v: Value = serde_json::from_str(&r.to_gradescope().to_string()).unwrap();
        assert_eq!(v["score"].as_f64(), Some(30.0));
        assert!(v["execution_time"].is_u64() && v["output"].is_string());
        let tests = v["tests"].as_array().expect("tests is an array");
        assert_eq!(tests.len(), 2);
        let mut total = 0.0;
        for t in tests {
            for key in ["name", "output", "status", "visibility", "number"] {
                assert!(t[key].is_string(), "{key} is not a string in {t}");
            }
            let (score, max) = (t["score"].as_f64().unwrap(), t["max_score"].as_f64().unwrap());
            assert!((0.0..=max).contains(&score), "{t}");
            assert!(["passed", "failed"].contains(&t["status"].as_str().unwrap()), "{t}");
            assert!(
                ["visible", "hidden", "after_due_date", "after_published"].contains(&t["visibility"].as_str().unwrap())
            );
            total += score;
        }
        assert_eq!(total, 30.0);
        assert_eq!(tests[1]["output"], "expected ok");
        assert_eq!(tests[1]["max_score"].as_f64(), Some(70.0));
    }

    #[test]
    fn every_lab_has_graded_tests_with_points() {
        for lab in &crate::lab::LABS {
            let t = tests(lab.id);
            assert!(t.iter().map(|g| g.points).sum::<u32>() == 100, "lab {} is not out of 100", lab.id);
            let mut names: Vec<String> = t.iter().map(display_name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), t.len(), "lab {} has two tests of one name", lab.id);
        }
    }
}
