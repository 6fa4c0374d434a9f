//! `cargo xtask lab selftest`, the proof that the labs work: for each
//! lab, the reference scores full marks and the exported skeletons (both
//! export modes: the lab and the later ones stubbed, and `--only`) build,
//! boot to the shell and score below full marks, without any test hanging.

use super::submission::{grade_in, labs_dir, work_tree};
use super::{GradeOptions, Report};
use crate::lab::{export, Lab, Stubs, LABS};
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// What the selftest found for one lab.
pub struct SelftestRow {
    pub lab: u32,
    /// Reference: "20/20" style score, and whether it was full marks.
    pub reference: Result<(u32, u32), String>,
    /// One per export mode (one only for the last lab, where both are
    /// the same skeleton).
    pub skeletons: Vec<SkeletonRow>,
}

/// A skeleton's grade in one export mode.
pub struct SkeletonRow {
    pub stubs: Stubs,
    /// The score, or why it could not be graded.
    pub score: Result<(u32, u32), String>,
    /// Problems other than its score (no build, no boot, a hang).
    pub problems: Vec<String>,
}

impl SkeletonRow {
    pub fn ok(&self) -> bool {
        matches!(self.score, Ok((s, m)) if s < m) && self.problems.is_empty()
    }
}

impl SelftestRow {
    pub fn reference_ok(&self) -> bool {
        matches!(self.reference, Ok((s, m)) if s == m)
    }

    pub fn skeleton_ok(&self) -> bool {
        self.skeletons.iter().all(SkeletonRow::ok)
    }

    pub fn ok(&self) -> bool {
        self.reference_ok() && self.skeleton_ok()
    }
}

/// The export modes a lab's skeletons are made in: for the last lab
/// both make the same tree.
fn modes(lab: &Lab) -> Vec<Stubs> {
    if lab.id as usize == LABS.len() {
        vec![Stubs::Only]
    } else {
        vec![Stubs::AndLater, Stubs::Only]
    }
}

fn mode_name(stubs: Stubs) -> &'static str {
    match stubs {
        Stubs::AndLater => "and later labs",
        Stubs::Only => "--only",
    }
}

/// For each lab: grade the reference here, then export the skeletons and
/// run each skeleton's own `cargo xtask grade` in it.
pub fn selftest(labs: &[&Lab], jobs: usize) -> Result<Vec<SelftestRow>> {
    let started = Instant::now();
    let shared_target = labs_dir().join("target");
    let mut rows = Vec::new();
    for lab in labs {
        println!("\n==> lab selftest: lab {} ({}), reference", lab.id, lab.slug);
        let opts = GradeOptions { jobs, ..GradeOptions::default() };
        let reference = super::grade(lab, &opts).map(|r| (r.score(), r.max())).map_err(|e| format!("{e:#}"));
        // After the reference's grade, which built this tree's images.
        seed_shared_target(&shared_target)?;
        let mut skeletons = Vec::new();
        for stubs in modes(lab) {
            println!("\n==> lab selftest: lab {} ({}), skeleton ({})", lab.id, lab.slug, mode_name(stubs));
            skeletons.push(match grade_skeleton(lab, stubs, &shared_target, jobs) {
                Ok(report) => SkeletonRow {
                    stubs,
                    score: Ok((report.score(), report.max())),
                    problems: skeleton_problems(&report),
                },
                Err(e) => SkeletonRow { stubs, score: Err(format!("{e:#}")), problems: Vec::new() },
            });
        }
        rows.push(SelftestRow { lab: lab.id, reference, skeletons });
    }
    println!("\nlab selftest ({:.0?} in all):", started.elapsed());
    let show = |r: &Result<(u32, u32), String>| match r {
        Ok((s, m)) => format!("{s}/{m}"),
        Err(e) => format!("error: {e}"),
    };
    let verdict = |ok| if ok { "ok" } else { "WRONG" };
    for row in &rows {
        println!("  lab {}: reference {} ({})", row.lab, show(&row.reference), verdict(row.reference_ok()));
        for sk in &row.skeletons {
            println!("    skeleton ({}): {} ({})", mode_name(sk.stubs), show(&sk.score), verdict(sk.ok()));
            for p in &sk.problems {
                println!("      {p}");
            }
        }
    }
    Ok(rows)
}

/// For `cargo xtask test`: the selftest of every lab as (passed, failed),
/// one check for the reference (full marks) and one per skeleton (builds,
/// boots, scores below and never hangs).
pub fn selftest_tally(jobs: usize) -> (usize, usize) {
    match selftest(&LABS.iter().collect::<Vec<_>>(), jobs) {
        Ok(rows) => {
            let checks = rows.iter().map(|r| 1 + r.skeletons.len()).sum::<usize>();
            let passed = rows
                .iter()
                .map(|r| r.reference_ok() as usize + r.skeletons.iter().filter(|s| s.ok()).count())
                .sum::<usize>();
            (passed, checks - passed)
        }
        Err(e) => {
            println!("error: lab selftest: {e:#}");
            (0, 1)
        }
    }
}

/// What is wrong with a skeleton's grade beyond its score: it must build,
/// boot to its shell (a stub reports its function missing, it does not
/// stop the kernel), and fail its lab's tests by failing, not by hanging.
fn skeleton_problems(report: &Report) -> Vec<String> {
    let mut problems = Vec::new();
    if !report.kernel_built {
        problems.push("the skeleton's kernel did not build".to_string());
    } else if report.boots != Some(true) {
        problems.push("the skeleton's kernel did not boot to its shell".to_string());
    }
    if !report.host_built {
        problems.push("the skeleton's host tests did not build".to_string());
    }
    for t in report.results.iter().filter(|t| t.timed_out) {
        problems.push(format!("{} hung (killed after its timeout) instead of failing", t.name));
    }
    problems
}

/// The shared target directory starts as a copy of this tree's nightly
/// builds (the kernel's dependencies in `nightly`, the image tool and the
/// bootloader's stages in `nightly-boot`), so that the stages (minutes to
/// build) are not built again even with the stage cache off, and of the
/// libraries of its host build (`debug`: xtask's and the host tests'
/// dependencies, minutes more). Cargo reuses them if nothing they depend
/// on changed, which holds for registry crates whatever the workspace's
/// path. Each directory is a consistent copy of one build, so no crate in
/// it meets another build of itself.
pub fn seed_shared_target(shared: &Path) -> Result<()> {
    let target = crate::target_dir();
    seed_host_libraries(&target.join("debug"), &shared.join("debug"));
    for name in ["nightly", "nightly-boot"] {
        let (from, dest) = (target.join(name), shared.join(name));
        if dest.exists() || !from.join("debug").is_dir() {
            continue;
        }
        std::fs::create_dir_all(&dest)?;
        println!("xtask: seeding {} from {}", dest.display(), from.display());
        // The kernel itself is rebuilt in any case.
        for dir in ["debug", "x86_64-unknown-none"].map(|d| from.join(d)).iter().filter(|d| d.is_dir()) {
            if copy_keeping_times(std::slice::from_ref(dir), &dest).is_err() {
                println!("xtask: could not copy {}; the graded trees will build it from scratch", dir.display());
            }
        }
    }
    Ok(())
}

/// Copies the host build's libraries, build-script outputs and
/// fingerprints from `from` to `dest` (if `dest` does not exist yet), but
/// not its executables (the test binaries: most of its gigabytes) nor its
/// incremental caches: the workspace's own crates are rebuilt anyway, the
/// graded tree's files being newer than any fingerprint copied here.
fn seed_host_libraries(from: &Path, dest: &Path) {
    if dest.exists() || !from.join("deps").is_dir() {
        return;
    }
    println!("xtask: seeding {} with the libraries of {}", dest.display(), from.display());
    let copied = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(dest.join("deps"))?;
        for dir in [".fingerprint", "build"].map(|d| from.join(d)).iter().filter(|d| d.is_dir()) {
            copy_keeping_times(std::slice::from_ref(dir), dest)?;
        }
        let mut libraries = Vec::new();
        for entry in std::fs::read_dir(from.join("deps"))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| ["rlib", "rmeta", "so", "d"].iter().any(|x| e == *x)) {
                libraries.push(path);
            }
        }
        libraries.chunks(256).try_for_each(|chunk| copy_keeping_times(chunk, &dest.join("deps")))
    })();
    if let Err(e) = copied {
        println!("xtask: could not copy {} ({e}); the graded trees will build it from scratch", from.display());
        let _ = std::fs::remove_dir_all(dest);
    }
}

/// `cp -a` of `sources` into the directory `dest`: it keeps the files'
/// times, which cargo's freshness checks read (and shares blocks where the
/// file system can).
fn copy_keeping_times(sources: &[PathBuf], dest: &Path) -> std::io::Result<()> {
    let status = Command::new("cp").args(["-a", "--reflink=auto"]).args(sources).arg(dest).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("cp into {} failed ({status})", dest.display())))
    }
}

/// Exports `lab` and runs the skeleton's own grader; its report is kept
/// as `selftest-lab<N>.json` (`selftest-lab<N>-only.json` for `--only`).
fn grade_skeleton(lab: &Lab, stubs: Stubs, shared_target: &Path, jobs: usize) -> Result<Report> {
    let (dir, _lock) = work_tree()?;
    export(lab, &dir, stubs)?;
    let started = Instant::now();
    let report = grade_in(&dir, lab, shared_target, &["--jobs".into(), jobs.to_string()], false)?;
    println!("(grading in {} took {:.0?})", dir.display(), started.elapsed());
    let suffix = if stubs == Stubs::Only { "-only" } else { "" };
    std::fs::write(labs_dir().join(format!("selftest-lab{}{suffix}.json", lab.id)), report.to_json().to_string())?;
    Ok(report)
}
