//! `cargo xtask lab list | export | selftest | mutants`: its arguments, and what each
//! prints. Labs and export are in `xtask::lab`, the selftest (grading) in
//! `xtask::grade`.

use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use xtask::grade;
use xtask::lab::{self, Stubs, LABS};

#[derive(Args)]
pub struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Subcommand)]
enum LabCommand {
    /// List the labs, their handouts and the regions each one stubs
    List,
    /// Write a copy of the repository with the lab's regions, and every
    /// later lab's, replaced by stubs that report the function missing
    Export {
        /// The lab: 1, lab1, buddy or lab1-buddy
        lab: String,
        /// Where to write the copy (must not exist, or be empty)
        dir: PathBuf,
        /// Stub this lab only: the later labs' solutions stay in the copy
        #[arg(long)]
        only: bool,
        /// Do not start the copy's target/ as a copy of this tree's
        /// dependency builds (about 1.2 GB; saves the copy's first build a
        /// minute or more)
        #[arg(long)]
        no_seed: bool,
    },
    /// Prove the labs work: the reference scores full marks, each exported
    /// skeleton builds and scores below full marks without hanging
    Selftest {
        /// Only this lab (default: all)
        lab: Option<String>,
        /// QEMU machines to run at once
        #[arg(long, default_value_t = grade::default_jobs())]
        jobs: usize,
    },
    /// Grade each typical bug of the lab's mutant catalogue, applied to a
    /// scratch copy of the reference: every one must lose points
    Mutants {
        /// Only this lab (default: all)
        lab: Option<String>,
        /// QEMU machines to run at once
        #[arg(long, default_value_t = grade::default_jobs())]
        jobs: usize,
        /// Only the first few mutants of each lab
        #[arg(long)]
        quick: bool,
        /// Only the mutants whose description contains this text (or one
        /// of several separated by `|`)
        #[arg(long)]
        only: Option<String>,
        /// Grade each mutant only until a test catches it (`grade
        /// --fail-fast`): the points lost are then a lower bound
        #[arg(long)]
        fast: bool,
        /// Multiply every test's timeout by this (`grade --timeout-scale`),
        /// on a loaded machine where the reference runs into them
        #[arg(long, default_value_t = 1.0)]
        timeout_scale: f64,
    },
}

pub fn run(args: LabArgs) -> Result<ExitCode> {
    match args.command {
        LabCommand::List => list(),
        LabCommand::Export { lab, dir, only, no_seed } => {
            let lab = lab::find(&lab)?;
            let stubs = if only { Stubs::Only } else { Stubs::AndLater };
            let stubbed = lab::export(lab, &dir, stubs)?;
            let which = if only {
                "only".to_string()
            } else {
                format!("and the labs after it, {} to {}", lab.id + 1, LABS.len())
            };
            let which = if !only && lab.id as usize == LABS.len() { "only".to_string() } else { which };
            println!("exported lab {} ({}) to {}, stubbing lab {} {which}", lab.id, lab.slug, dir.display(), lab.id);
            for r in &stubbed {
                println!("  stubbed lab {} {}:{}: {}", r.lab, r.file.display(), r.line, r.hint);
            }
            if !no_seed {
                grade::seed_shared_target(&dir.join("target"))?;
            }
            println!("students start with: cd {} && cargo xtask grade {}", dir.display(), lab.id);
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Selftest { lab, jobs } => {
            let labs = match lab {
                Some(name) => vec![lab::find(&name)?],
                None => LABS.iter().collect(),
            };
            let rows = grade::selftest(&labs, jobs)?;
            Ok(if rows.iter().all(|r| r.ok()) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        LabCommand::Mutants { lab, jobs, quick, only, fast, timeout_scale } => {
            let labs = match lab {
                Some(name) => vec![lab::find(&name)?],
                None => LABS.iter().collect(),
            };
            let rows = grade::mutants(&labs, jobs.max(1), quick, only.as_deref(), fast, timeout_scale)?;
            Ok(if rows.iter().all(|r| r.caught()) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

fn list() -> Result<ExitCode> {
    let regions = lab::all_regions()?;
    for lab in &LABS {
        println!("lab {} {:<13} {}  ({})", lab.id, lab.slug, lab.title, lab.handout);
        for r in regions.iter().filter(|r| r.lab == lab.id) {
            println!("    {}:{}: {}", r.file.display(), r.line, r.hint);
        }
    }
    Ok(ExitCode::SUCCESS)
}
