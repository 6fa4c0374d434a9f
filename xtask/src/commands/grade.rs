//! `cargo xtask grade <lab>`: its arguments, and the exit status from the
//! score. The grader is `xtask::grade`.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use xtask::grade::{self, GradeOptions};
use xtask::lab;

#[derive(Args)]
pub struct GradeArgs {
    /// The lab: 1, lab1, buddy or lab1-buddy
    lab: String,
    /// Also write the results as JSON to this file
    #[arg(long)]
    json: Option<PathBuf>,
    /// `gradescope`: also write Gradescope's results.json, to FILE given
    /// with --gradescope-results (default: /autograder/results/results.json
    /// on Gradescope, else ./results.json)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Where --format gradescope writes its results
    #[arg(long, value_name = "FILE")]
    gradescope_results: Option<PathBuf>,
    /// Seed for the randomised scenarios (default: a new one each run)
    #[arg(long)]
    seed: Option<u64>,
    /// QEMU machines to run at once
    #[arg(long, default_value_t = grade::default_jobs())]
    jobs: usize,
    /// Multiply every test's timeout (for slow machines)
    #[arg(long, default_value_t = 1.0)]
    timeout_scale: f64,
    /// Run only the tests whose name contains this text (the score then
    /// counts those alone)
    #[arg(long)]
    only: Option<String>,
    /// Grade the student's tree at this path: only the bodies of its
    /// `LAB <n>` regions are taken, into a fresh copy of this tree
    #[arg(long)]
    submission: Option<PathBuf>,
    /// Show the compiler's warnings (by default only their count)
    #[arg(long)]
    verbose: bool,
    /// Stop at the first failed test and leave the tests not run out of
    /// the report and the score (`lab mutants --fast` uses it)
    #[arg(long)]
    fail_fast: bool,
    /// Run the QEMU tests whose names contain one of these texts
    /// (separated by `|`) before the others (`lab mutants` uses it)
    #[arg(long, value_name = "TESTS")]
    first: Option<String>,
}

/// What besides the printed table `grade` writes.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// The table only (and --json if given)
    Text,
    /// Also Gradescope's results.json
    Gradescope,
}

/// Where Gradescope's autograder expects its results.
const GRADESCOPE_RESULTS: &str = "/autograder/results";

pub fn run(args: GradeArgs) -> Result<ExitCode> {
    let lab = lab::find(&args.lab)?;
    grade::check_built_here()?;
    let opts = GradeOptions {
        jobs: args.jobs.max(1),
        seed: args.seed,
        timeout_scale: args.timeout_scale,
        only: args.only,
        verbose: args.verbose,
        fail_fast: args.fail_fast,
        first: args.first,
    };
    let report = match &args.submission {
        Some(dir) => grade::grade_submission(lab, dir, &opts.to_args())?,
        None => grade::grade(lab, &opts)?,
    };
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report.to_json())?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.format == Format::Gradescope {
        let path = args.gradescope_results.clone().unwrap_or_else(|| {
            let dir = std::path::Path::new(GRADESCOPE_RESULTS);
            if dir.is_dir() {
                dir.join("results.json")
            } else {
                PathBuf::from("results.json")
            }
        });
        std::fs::write(&path, serde_json::to_string_pretty(&report.to_gradescope())?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if report.score() == report.max() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
