//! `cargo xtask fuzz`: the libFuzzer targets in `fuzz/`, run with cargo-fuzz
//! on the pinned nightly.
//!
//! - `cargo xtask fuzz --list` names the targets (one per file in
//!   `fuzz/fuzz_targets`).
//! - `cargo xtask fuzz <target> [seconds]` fuzzes one target for that long
//!   (default 60 s).
//! - `cargo xtask fuzz --all [seconds]` fuzzes each target in turn (default
//!   30 s each), for CI.
//!
//! cargo-fuzz is installed with `cargo install` if missing. libFuzzer's
//! progress lines are left out of the output (there are thousands); the
//! executions reached are read from its final statistics. A crash keeps its
//! full report on screen, leaves the input in `fuzz/artifacts/<target>/`,
//! and makes the command exit non-zero. The corpus grows in
//! `fuzz/corpus/<target>/` and is reused by the next run.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;
use xtask::{root, toolchain};

const DEFAULT_SECONDS: u64 = 60;
const DEFAULT_ALL_SECONDS: &str = "30";
/// An input that takes longer than this counts as a hang, which libFuzzer
/// reports like a crash.
const INPUT_TIMEOUT_SECONDS: u64 = 30;

#[derive(Args)]
pub struct FuzzArgs {
    /// The target to fuzz (see --list)
    #[arg(required_unless_present_any = ["list", "all"], conflicts_with_all = ["list", "all"])]
    target: Option<String>,
    /// How long to fuzz, in seconds [default: 60]
    #[arg(requires = "target", value_parser = clap::value_parser!(u64).range(1..))]
    seconds: Option<u64>,
    /// Print the targets' names
    #[arg(long, conflicts_with = "all")]
    list: bool,
    /// Fuzz every target for SECONDS each [default: 30]
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = DEFAULT_ALL_SECONDS,
          value_parser = clap::value_parser!(u64).range(1..))]
    all: Option<u64>,
}

/// How one target's run ended.
struct Outcome {
    target: String,
    executions: Option<u64>,
    seconds: f64,
    crashed: bool,
}

pub fn run(args: FuzzArgs) -> Result<ExitCode> {
    let targets = targets()?;
    if args.list {
        targets.iter().for_each(|t| println!("{t}"));
        return Ok(ExitCode::SUCCESS);
    }
    let (chosen, seconds) = match (args.target, args.all) {
        (Some(t), _) if !targets.contains(&t) => bail!("no fuzz target '{t}'; there are: {}", targets.join(", ")),
        (Some(t), _) => (vec![t], args.seconds.unwrap_or(DEFAULT_SECONDS)),
        (None, Some(seconds)) => (targets, seconds),
        (None, None) => unreachable!("clap requires a target, --list or --all"),
    };
    toolchain::ensure()?;
    ensure_cargo_fuzz()?;
    // One build for all targets shares the dependencies' compilation.
    if chosen.len() > 1 {
        build_all()?;
    }
    let outcomes: Vec<Outcome> = chosen.iter().map(|t| fuzz(t, seconds)).collect::<Result<_>>()?;
    Ok(summary(&outcomes))
}

fn fuzz_dir() -> PathBuf {
    root().join("fuzz")
}

/// The targets: the files in fuzz/fuzz_targets, sorted by name.
fn targets() -> Result<Vec<String>> {
    let dir = fuzz_dir().join("fuzz_targets");
    let entries = std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            names.extend(path.file_stem().map(|s| s.to_string_lossy().into_owned()));
        }
    }
    names.sort();
    Ok(names)
}

/// Installs cargo-fuzz with the stable cargo if the nightly's cargo cannot
/// find it.
fn ensure_cargo_fuzz() -> Result<()> {
    let found = toolchain::nightly_cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz with `cargo install cargo-fuzz --locked` (about a minute)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo).args(["install", "cargo-fuzz", "--locked"]).status()?;
    if !status.success() {
        bail!("`cargo install cargo-fuzz --locked` failed");
    }
    Ok(())
}

/// `cargo fuzz` on the nightly, run from the repository's top directory.
fn cargo_fuzz(subcommand: &str) -> Command {
    let mut cmd = toolchain::nightly_cargo();
    cmd.current_dir(root()).args(["fuzz", subcommand, "--fuzz-dir"]).arg(fuzz_dir());
    cmd
}

fn build_all() -> Result<()> {
    eprintln!("xtask: building the fuzz targets");
    let status = cargo_fuzz("build").status().context("cannot run cargo fuzz")?;
    if !status.success() {
        bail!("the fuzz targets did not build");
    }
    Ok(())
}

/// Fuzzes `target` for `seconds`, passing on what matters of libFuzzer's
/// output and counting the executions.
fn fuzz(target: &str, seconds: u64) -> Result<Outcome> {
    eprintln!("xtask: fuzzing {target} for {seconds} s");
    let started = Instant::now();
    let mut child = cargo_fuzz("run")
        .arg(target)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECONDS}"))
        .arg("-print_final_stats=1")
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run cargo fuzz")?;
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut executions = None;
    for line in BufReader::new(stderr).lines() {
        let line = line?;
        executions = executions_in(&line).or(executions);
        if shown(&line) {
            eprintln!("{line}");
        }
    }
    let crashed = !child.wait()?.success();
    Ok(Outcome { target: target.to_string(), executions, seconds: started.elapsed().as_secs_f64(), crashed })
}

/// Executions reported by a libFuzzer line: the final statistic, or a
/// status line such as `#4096 pulse cov: 512 ...`.
fn executions_in(line: &str) -> Option<u64> {
    if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
        return n.trim().parse().ok();
    }
    let status = line.strip_prefix('#')?;
    let digits = status.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

/// Whether to pass a libFuzzer line on. Left out: the status line for each
/// new input (except the sparse `pulse` and `INITED`/`DONE` ones), newly
/// covered functions, and the recommended dictionary.
fn shown(line: &str) -> bool {
    let status = line.starts_with('#') && !["pulse", "INITED", "DONE"].iter().any(|w| line.contains(w));
    let dictionary = line.starts_with('"') || line.starts_with("###### ");
    !(status || dictionary || line.starts_with("\tNEW_FUNC"))
}

/// One line per target, and the exit status: failure if any target crashed.
fn summary(outcomes: &[Outcome]) -> ExitCode {
    eprintln!();
    for o in outcomes {
        let result = if o.crashed { "CRASHED (input in fuzz/artifacts/)" } else { "no crash" };
        let runs = o.executions.map_or("? executions".to_string(), |n| format!("{n} executions"));
        eprintln!("fuzz: {:<12} {runs} in {:.0} s: {result}", o.target, o.seconds);
    }
    let crashed = outcomes.iter().filter(|o| o.crashed).count();
    if crashed == 0 {
        eprintln!("fuzz: no crash in {} target(s)", outcomes.len());
        ExitCode::SUCCESS
    } else {
        eprintln!("fuzz: {crashed} of {} target(s) crashed", outcomes.len());
        ExitCode::FAILURE
    }
}
