//! Grading in another tree than this one: the one work tree under
//! `target/labs/`, running a tree's own `cargo xtask grade` there, and
//! `cargo xtask grade --submission`, which grades only the bodies of a
//! student's `LAB <n>` regions.

use super::Report;
use crate::lab::{export, splice, Lab, Stubs};
use crate::process::{self, Output};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Where exported trees are graded: one at a time, always in `tree/`,
/// building in `target/`.
///
/// Cargo names the build of a path package by its path *relative to the
/// workspace*, and decides whether it is fresh from file times. Two trees
/// at different places sharing one target directory would therefore pass
/// for each other: a tree exported before another one was built would get
/// that one's kernel (and its xtask, with the other tree's path compiled
/// in). With one place and one tree at a time, every export is newer than
/// every build before it, so its own code is always built.
pub(super) fn labs_dir() -> PathBuf {
    crate::target_dir().join("labs")
}

/// The one tree being graded, freshly emptied. Holds the lock that keeps
/// a second grading run out until the returned guard is dropped.
pub(super) fn work_tree() -> Result<(PathBuf, std::fs::File)> {
    std::fs::create_dir_all(labs_dir())?;
    let lock = std::fs::File::create(labs_dir().join("lock"))?;
    if lock.try_lock().is_err() {
        bail!("another `lab selftest` or `grade --submission` is using {}: wait for it", labs_dir().display());
    }
    let dir = labs_dir().join("tree");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok((dir, lock))
}

/// Runs `cargo xtask grade <lab> <args>` in the tree at `dir`, with that
/// tree's own xtask, building in `shared_target`; returns its report.
/// With `quiet`, its output is kept out of the terminal (and shown only
/// if it wrote no report).
pub(super) fn grade_in(dir: &Path, lab: &Lab, shared_target: &Path, args: &[String], quiet: bool) -> Result<Report> {
    let json = dir.join("grade.json");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir).args(["xtask", "grade", &lab.id.to_string()]).args(args).arg("--json").arg(&json);
    cmd.env("CARGO_TARGET_DIR", shared_target);
    // Nothing of this tree's build may leak into the other one's.
    for var in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME", "RUSTC_WRAPPER", "MOSAIC_BIOS_IMAGE", "MOSAIC_UEFI_IMAGE"] {
        cmd.env_remove(var);
    }
    let limit = Duration::from_secs(45 * 60);
    let _ = std::fs::remove_file(&json);
    let finished = process::run_with_deadline(&mut cmd, limit, if quiet { Output::Capture } else { Output::Terminal })?;
    let status = match finished.status {
        Some(status) => status.to_string(),
        None => bail!("killed after {limit:?}"),
    };
    let text = std::fs::read_to_string(&json).with_context(|| {
        let output =
            if quiet { format!("; its last lines:\n{}", super::tail(&finished.output, 20)) } else { String::new() };
        format!("the grader in {} wrote no report ({status}){output}", dir.display())
    })?;
    Report::from_json(&text)
}

/// Grades a student's tree without trusting anything in it but their
/// code: a fresh skeleton of `lab` is exported from this tree, the bodies
/// of the submission's `LAB <n>` regions are put into it, and that tree's
/// grader (this tree's) runs. Tests, grader and the rest of the kernel
/// are the reference's, whatever the submission changed outside its
/// regions.
pub fn grade_submission(lab: &Lab, submission: &Path, args: &[String]) -> Result<Report> {
    if !submission.is_dir() {
        bail!("no submission at {}", submission.display());
    }
    let (dir, _lock) = work_tree()?;
    // Only this lab: the tests of the lab may rely on the later labs' code.
    let stubbed = export(lab, &dir, Stubs::Only)?;
    let mut files: Vec<&PathBuf> = stubbed.iter().map(|r| &r.file).collect();
    files.dedup();
    for file in files {
        let theirs = std::fs::read_to_string(submission.join(file))
            .with_context(|| format!("the submission has no {}", file.display()))?;
        let skeleton = std::fs::read_to_string(dir.join(file))?;
        std::fs::write(dir.join(file), splice(file, &skeleton, &theirs, lab.id)?)?;
    }
    println!("grading the LAB {} regions of {} in {}", lab.id, submission.display(), dir.display());
    // As the selftest does: the first submission reuses this tree's kernel
    // dependencies and image tool instead of building them again.
    let shared_target = labs_dir().join("target");
    super::selftest::seed_shared_target(&shared_target)?;
    grade_in(&dir, lab, &shared_target, args, false)
}
