//! Course labs: which parts of the kernel each lab asks students to write,
//! and the student skeletons made from the reference source.
//!
//! The reference solution lives in the main code. Each piece a lab asks
//! for is a function body wrapped in two comment lines:
//!
//! ```text
//! pub fn free(&mut self, mut pfn: u64, mut order: usize, map: &mut [Page]) {
//!     // LAB 1 BEGIN: merge with the buddy (pfn ^ 2^order) while it is free and of the same order
//!     ...the reference code...
//!     // LAB 1 END
//! }
//! ```
//!
//! `cargo xtask lab export <lab> <dir>` copies the repository and replaces
//! the lines between the markers of that lab, and only that lab, with
//! `todo!("<hint>")`. The markers stay, so students can `grep -rn "LAB 2"`
//! for what is left to do. Regions are looked for in `kernel/` only.
//!
//! `cargo xtask lab selftest` is the proof that all of this works: for each
//! lab, the reference scores full marks and the exported skeleton builds
//! and scores below full marks, without any test hanging.

use crate::grade::{self, GradeOptions, Report};
use crate::process::{self, Output};
use crate::root;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// One lab of the course.
pub struct Lab {
    pub id: u32,
    pub slug: &'static str,
    pub title: &'static str,
    pub handout: &'static str,
}

pub const LABS: [Lab; 4] = [
    Lab { id: 1, slug: "buddy", title: "The buddy allocator: split and merge", handout: "docs/labs/lab1-buddy.md" },
    Lab { id: 2, slug: "vmalloc", title: "vmalloc: area, page tables, vfree", handout: "docs/labs/lab2-vmalloc.md" },
    Lab { id: 3, slug: "lazy-pgd", title: "The lazy vmalloc fault", handout: "docs/labs/lab3-lazy-pgd.md" },
    Lab {
        id: 4,
        slug: "vmap-ioremap",
        title: "vmap and ioremap; challenge: the O(log n) tree",
        handout: "docs/labs/lab4-vmap-ioremap.md",
    },
];

/// Finds a lab by number (`2`), `lab2`, slug (`vmalloc`) or `lab2-vmalloc`.
pub fn find(name: &str) -> Result<&'static Lab> {
    let n = name.to_ascii_lowercase();
    let n = n.strip_prefix("lab").unwrap_or(&n);
    LABS.iter()
        .find(|l| n == l.id.to_string() || n == l.slug || n == format!("{}-{}", l.id, l.slug))
        .with_context(|| format!("no lab '{name}' (see `cargo xtask lab list`)"))
}

#[derive(Args)]
pub struct LabArgs {
    #[command(subcommand)]
    command: LabCommand,
}

#[derive(Subcommand)]
enum LabCommand {
    /// List the labs, their handouts and the regions each one stubs
    List,
    /// Write a copy of the repository with one lab's regions replaced by todo!()
    Export {
        /// The lab: 1, lab1, buddy or lab1-buddy
        lab: String,
        /// Where to write the copy (must not exist, or be empty)
        dir: PathBuf,
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
}

pub fn run(args: LabArgs) -> Result<ExitCode> {
    match args.command {
        LabCommand::List => list(),
        LabCommand::Export { lab, dir } => {
            let lab = find(&lab)?;
            let stubbed = export(lab, &dir)?;
            println!("exported lab {} ({}) to {}", lab.id, lab.slug, dir.display());
            for r in &stubbed {
                println!("  stubbed {}:{}: {}", r.file.display(), r.line, r.hint);
            }
            println!("students start with: cd {} && cargo xtask grade {}", dir.display(), lab.id);
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Selftest { lab, jobs } => {
            let labs = match lab {
                Some(name) => vec![find(&name)?],
                None => LABS.iter().collect(),
            };
            let rows = selftest(&labs, jobs)?;
            Ok(if rows.iter().all(|r| r.ok()) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}

fn list() -> Result<ExitCode> {
    let regions = all_regions()?;
    for lab in &LABS {
        println!("lab {} {:<13} {}  ({})", lab.id, lab.slug, lab.title, lab.handout);
        for r in regions.iter().filter(|r| r.lab == lab.id) {
            println!("    {}:{}: {}", r.file.display(), r.line, r.hint);
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// Markers
// ---------------------------------------------------------------------------

/// One marked solution region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub file: PathBuf,
    /// Line of the BEGIN marker, counting from 1.
    pub line: usize,
    pub lab: u32,
    pub hint: String,
}

/// What a marker line says.
#[derive(Debug, PartialEq, Eq)]
enum Marker<'a> {
    Begin(u32, &'a str),
    End(u32),
}

/// Reads a marker line. `Ok(None)` for any other line; an error for a line
/// that starts like a marker but is malformed, so a typo cannot silently
/// leave a solution in a skeleton.
fn marker(line: &str) -> Result<Option<Marker<'_>>, String> {
    let Some(rest) = line.trim_start().strip_prefix("// LAB ") else { return Ok(None) };
    let (id, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let id: u32 = id.parse().map_err(|_| format!("marker without a lab number: {}", line.trim()))?;
    if let Some(hint) = rest.strip_prefix("BEGIN: ") {
        if hint.trim().is_empty() {
            return Err(format!("BEGIN marker without a hint: {}", line.trim()));
        }
        return Ok(Some(Marker::Begin(id, hint.trim())));
    }
    if rest.trim_end() == "END" {
        return Ok(Some(Marker::End(id)));
    }
    Err(format!("malformed marker (want `// LAB n BEGIN: hint` or `// LAB n END`): {}", line.trim()))
}

/// The regions of one file's text, checked: every BEGIN has its END, with
/// the same lab, and regions do not nest.
pub fn regions(file: &Path, text: &str) -> Result<Vec<Region>> {
    let mut found = Vec::new();
    let mut open: Option<Region> = None;
    for (i, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", file.display(), i + 1);
        match (marker(line).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?, &open) {
            (None, _) => {}
            (Some(Marker::Begin(lab, hint)), None) => {
                open = Some(Region { file: file.to_path_buf(), line: i + 1, lab, hint: hint.to_string() })
            }
            (Some(Marker::Begin(..)), Some(r)) => bail!("{}: BEGIN inside the region opened at line {}", at(), r.line),
            (Some(Marker::End(lab)), Some(r)) if lab == r.lab => found.push(open.take().expect("open")),
            (Some(Marker::End(lab)), Some(r)) => bail!("{}: LAB {lab} END closes a LAB {} region", at(), r.lab),
            (Some(Marker::End(_)), None) => bail!("{}: END without BEGIN", at()),
        }
    }
    if let Some(r) = open {
        bail!("{}:{}: LAB {} BEGIN has no END", file.display(), r.line, r.lab);
    }
    Ok(found)
}

/// Replaces the body of each region of `lab` with `todo!("<hint>")`,
/// keeping the markers. Other labs' regions are left as they are.
pub fn stub(file: &Path, text: &str, lab: u32) -> Result<(String, Vec<Region>)> {
    let regions = regions(file, text)?;
    let mine: Vec<Region> = regions.into_iter().filter(|r| r.lab == lab).collect();
    let out = replace_bodies(text, lab, |line, hint| {
        let indent = &line[..line.len() - line.trim_start().len()];
        format!("{indent}todo!(\"{}\")\n", escape_hint(hint))
    });
    Ok((out, mine))
}

/// `text` with the body of every `lab` region replaced by what `body`
/// returns for the region's BEGIN line and hint; the markers stay. The
/// regions must have been checked with `regions()`.
fn replace_bodies(text: &str, lab: u32, mut body: impl FnMut(&str, &str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        match marker(line).expect("checked by regions()") {
            Some(Marker::Begin(id, hint)) if id == lab => {
                out.push_str(line);
                out.push_str(&body(line, hint));
                skipping = true;
            }
            Some(Marker::End(id)) if id == lab => {
                out.push_str(line);
                skipping = false;
            }
            _ if skipping => {}
            _ => out.push_str(line),
        }
    }
    out
}

/// A hint as the text of a `todo!` format string.
fn escape_hint(hint: &str) -> String {
    hint.replace('\\', "\\\\").replace('"', "\\\"").replace('{', "{{").replace('}', "}}")
}

/// The files of the repository: what git tracks plus new files it does not
/// ignore, as they are in the working tree (so an export matches what
/// builds here). Outside a git checkout (e.g. in an exported tree), every
/// file except `target/` and `.git/`.
pub fn repo_files(root: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("git")
        .current_dir(root)
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .stderr(Stdio::null())
        .output();
    let mut files: Vec<PathBuf> = match out {
        Ok(o) if o.status.success() => o
            .stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
            .collect(),
        _ => walk(root, Path::new(""))?,
    };
    // Inside a directory another repository ignores (an export under a
    // target/, say), git lists nothing.
    if files.is_empty() {
        files = walk(root, Path::new(""))?;
    }
    // Deleted in the working tree but still in the index: nothing to copy.
    files.retain(|f| root.join(f).is_file());
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk(root: &Path, rel: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root.join(rel))? {
        let entry = entry?;
        let path = rel.join(entry.file_name());
        if path == Path::new("target") || path == Path::new(".git") {
            continue;
        }
        if entry.file_type()?.is_dir() {
            files.extend(walk(root, &path)?);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}

/// Files where regions may be.
fn has_regions(file: &Path) -> bool {
    file.starts_with("kernel") && file.extension().is_some_and(|e| e == "rs")
}

/// Every region in the source tree.
pub fn all_regions() -> Result<Vec<Region>> {
    let root = root();
    let mut all = Vec::new();
    for file in repo_files(&root)?.into_iter().filter(|f| has_regions(f)) {
        let text = std::fs::read_to_string(root.join(&file))?;
        all.extend(regions(&file, &text)?);
    }
    Ok(all)
}

/// Writes the skeleton of `lab` to `dir`; returns the regions stubbed.
pub fn export(lab: &Lab, dir: &Path) -> Result<Vec<Region>> {
    let root = root();
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} exists and is not empty", dir.display());
    }
    let mut stubbed = Vec::new();
    for file in repo_files(&root)? {
        let (from, to) = (root.join(&file), dir.join(&file));
        std::fs::create_dir_all(to.parent().expect("a file has a parent"))?;
        if has_regions(&file) {
            let text = std::fs::read_to_string(&from).with_context(|| format!("reading {}", from.display()))?;
            let (text, regions) = stub(&file, &text, lab.id)?;
            std::fs::write(&to, text)?;
            stubbed.extend(regions);
        } else {
            std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
        }
    }
    if stubbed.is_empty() {
        bail!("no `// LAB {} BEGIN` regions found in kernel/: nothing to hand out", lab.id);
    }
    Ok(stubbed)
}

// ---------------------------------------------------------------------------
// Selftest
// ---------------------------------------------------------------------------

/// What the selftest found for one lab.
pub struct SelftestRow {
    pub lab: u32,
    /// Reference: "20/20" style score, and whether it was full marks.
    pub reference: Result<(u32, u32), String>,
    /// Skeleton: the score, or why it could not be graded.
    pub skeleton: Result<(u32, u32), String>,
    /// Problems with the skeleton run other than its score.
    pub skeleton_problems: Vec<String>,
}

impl SelftestRow {
    pub fn reference_ok(&self) -> bool {
        matches!(self.reference, Ok((s, m)) if s == m)
    }

    pub fn skeleton_ok(&self) -> bool {
        matches!(self.skeleton, Ok((s, m)) if s < m) && self.skeleton_problems.is_empty()
    }

    pub fn ok(&self) -> bool {
        self.reference_ok() && self.skeleton_ok()
    }
}

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
fn labs_dir() -> PathBuf {
    crate::target_dir().join("labs")
}

/// The one tree being graded, freshly emptied. Holds the lock that keeps
/// a second grading run out until the returned guard is dropped.
fn work_tree() -> Result<(PathBuf, std::fs::File)> {
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

/// For each lab: grade the reference here, then export the skeleton and
/// run the skeleton's own `cargo xtask grade` in it.
pub fn selftest(labs: &[&Lab], jobs: usize) -> Result<Vec<SelftestRow>> {
    let started = Instant::now();
    let shared_target = labs_dir().join("target");
    let mut rows = Vec::new();
    for lab in labs {
        println!("\n==> lab selftest: lab {} ({}), reference", lab.id, lab.slug);
        let opts = GradeOptions { jobs, ..GradeOptions::default() };
        let reference = grade::grade(lab, &opts).map(|r| (r.score(), r.max())).map_err(|e| format!("{e:#}"));
        println!("\n==> lab selftest: lab {} ({}), exported skeleton", lab.id, lab.slug);
        // After the reference's grade, which built this tree's images.
        seed_shared_target(&shared_target)?;
        let (skeleton, skeleton_problems) = match grade_skeleton(lab, &shared_target, jobs) {
            Ok(report) => {
                let problems = skeleton_problems(&report);
                (Ok((report.score(), report.max())), problems)
            }
            Err(e) => (Err(format!("{e:#}")), Vec::new()),
        };
        rows.push(SelftestRow { lab: lab.id, reference, skeleton, skeleton_problems });
    }
    println!("\nlab selftest ({:.0?} in all):", started.elapsed());
    for row in &rows {
        let show = |r: &Result<(u32, u32), String>| match r {
            Ok((s, m)) => format!("{s}/{m}"),
            Err(e) => format!("error: {e}"),
        };
        let verdict = |ok| if ok { "ok" } else { "WRONG" };
        println!(
            "  lab {}: reference {} ({}), skeleton {} ({})",
            row.lab,
            show(&row.reference),
            verdict(row.reference_ok()),
            show(&row.skeleton),
            verdict(row.skeleton_ok())
        );
        for p in &row.skeleton_problems {
            println!("      {p}");
        }
    }
    Ok(rows)
}

/// For `cargo xtask test`: the selftest of every lab as (passed, failed),
/// two checks per lab (reference full marks; skeleton builds, scores below
/// and never hangs).
pub fn selftest_tally(jobs: usize) -> (usize, usize) {
    match selftest(&LABS.iter().collect::<Vec<_>>(), jobs) {
        Ok(rows) => {
            let passed = rows.iter().map(|r| r.reference_ok() as usize + r.skeleton_ok() as usize).sum::<usize>();
            (passed, 2 * rows.len() - passed)
        }
        Err(e) => {
            println!("error: lab selftest: {e:#}");
            (0, 1)
        }
    }
}

/// What is wrong with a skeleton's grade beyond its score: it must build,
/// must fail its lab's tests by failing (a todo!() panic), not by hanging.
fn skeleton_problems(report: &Report) -> Vec<String> {
    let mut problems = Vec::new();
    if !report.kernel_built {
        problems.push("the skeleton's kernel did not build".to_string());
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
/// builds, so that the bootloader's stages (minutes to build) are not
/// built again. Cargo reuses them if nothing they depend on changed, which
/// holds for registry crates whatever the workspace's path.
fn seed_shared_target(shared: &Path) -> Result<()> {
    let nightly = crate::build::nightly_target_dir();
    let dest = shared.join("nightly");
    if dest.exists() || !nightly.join("debug").is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(&dest)?;
    println!("lab selftest: seeding {} from {}", dest.display(), nightly.display());
    // The host side (the image builder and the bootloader's stages) and the
    // kernel's dependencies; the kernel itself is rebuilt in any case.
    for dir in ["debug", "x86_64-unknown-none"].map(|d| nightly.join(d)).iter().filter(|d| d.is_dir()) {
        let status = Command::new("cp").args(["-a", "--reflink=auto"]).arg(dir).arg(&dest).status();
        if !status.is_ok_and(|s| s.success()) {
            println!("lab selftest: could not copy {}; the skeletons will build it from scratch", dir.display());
        }
    }
    Ok(())
}

/// Exports `lab` and runs the skeleton's own grader; its report is kept
/// as `selftest-lab<N>.json`.
fn grade_skeleton(lab: &Lab, shared_target: &Path, jobs: usize) -> Result<Report> {
    let (dir, _lock) = work_tree()?;
    export(lab, &dir)?;
    let report = grade_in(&dir, lab, shared_target, &["--jobs".into(), jobs.to_string()])?;
    std::fs::write(labs_dir().join(format!("selftest-lab{}.json", lab.id)), report.to_json().to_string())?;
    Ok(report)
}

/// Runs `cargo xtask grade <lab> <args>` in the tree at `dir`, with that
/// tree's own xtask, building in `shared_target`; returns its report.
fn grade_in(dir: &Path, lab: &Lab, shared_target: &Path, args: &[String]) -> Result<Report> {
    let json = dir.join("grade.json");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir).args(["xtask", "grade", &lab.id.to_string()]).args(args).arg("--json").arg(&json);
    cmd.env("CARGO_TARGET_DIR", shared_target);
    // Nothing of this tree's build may leak into the other one's.
    for var in ["CARGO_MANIFEST_DIR", "CARGO_PKG_NAME", "RUSTC_WRAPPER", "MOSAIC_BIOS_IMAGE", "MOSAIC_UEFI_IMAGE"] {
        cmd.env_remove(var);
    }
    let started = Instant::now();
    let limit = Duration::from_secs(45 * 60);
    let status = match process::run_with_deadline(&mut cmd, limit, Output::Terminal)?.status {
        Some(status) => status.to_string(),
        None => bail!("killed after {limit:?}"),
    };
    println!("(grading in {} took {:.0?}: {status})", dir.display(), started.elapsed());
    let text = std::fs::read_to_string(&json)
        .with_context(|| format!("the grader in {} wrote no report ({status})", dir.display()))?;
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
    let stubbed = export(lab, &dir)?;
    let mut files: Vec<&PathBuf> = stubbed.iter().map(|r| &r.file).collect();
    files.dedup();
    for file in files {
        let theirs = std::fs::read_to_string(submission.join(file))
            .with_context(|| format!("the submission has no {}", file.display()))?;
        let skeleton = std::fs::read_to_string(dir.join(file))?;
        std::fs::write(dir.join(file), splice(file, &skeleton, &theirs, lab.id)?)?;
    }
    println!("grading the LAB {} regions of {} in {}", lab.id, submission.display(), dir.display());
    grade_in(&dir, lab, &labs_dir().join("target"), args)
}

/// `skeleton` with the bodies of its `lab` regions taken from the same
/// regions of `submitted`, matched in order.
pub fn splice(file: &Path, skeleton: &str, submitted: &str, lab: u32) -> Result<String> {
    let want = regions(file, skeleton)?.iter().filter(|r| r.lab == lab).count();
    let mut bodies: Vec<String> = Vec::new();
    let mut body: Option<String> = None;
    regions(file, submitted)?;
    for line in submitted.split_inclusive('\n') {
        match (marker(line).expect("checked by regions()"), &mut body) {
            (Some(Marker::Begin(id, _)), None) if id == lab => body = Some(String::new()),
            (Some(Marker::End(id)), Some(_)) if id == lab => bodies.push(body.take().expect("open")),
            (_, Some(text)) => text.push_str(line),
            _ => {}
        }
    }
    if bodies.len() != want {
        bail!(
            "{}: the submission has {} LAB {lab} regions, the lab has {want} (markers removed or added?)",
            file.display(),
            bodies.len()
        );
    }
    let mut bodies = bodies.into_iter();
    Ok(replace_bodies(skeleton, lab, |_, _| bodies.next().expect("counted")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "fn a() {\n    // LAB 1 BEGIN: split \"it\" {here}\n    let x = 1;\n    x\n    // LAB 1 END\n}\n\
                       fn b() {\n        // LAB 2 BEGIN: walk\n        walk();\n        // LAB 2 END\n}\n";

    #[test]
    fn finds_regions_with_lines_and_hints() {
        let r = regions(Path::new("k.rs"), SRC).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].lab, r[0].line, r[0].hint.as_str()), (1, 2, "split \"it\" {here}"));
        assert_eq!((r[1].lab, r[1].line, r[1].hint.as_str()), (2, 8, "walk"));
    }

    #[test]
    fn stubs_only_the_chosen_lab_and_keeps_the_markers() {
        let (out, stubbed) = stub(Path::new("k.rs"), SRC, 1).unwrap();
        assert_eq!(stubbed.len(), 1);
        assert!(out.contains(
            "    // LAB 1 BEGIN: split \"it\" {here}\n    todo!(\"split \\\"it\\\" {{here}}\")\n    // LAB 1 END\n"
        ));
        assert!(!out.contains("let x = 1;"));
        assert!(out.contains("        walk();\n"), "lab 2 keeps its solution: {out}");
        let (untouched, none) = stub(Path::new("k.rs"), SRC, 3).unwrap();
        assert_eq!((untouched.as_str(), none.len()), (SRC, 0));
    }

    #[test]
    fn splice_takes_only_the_submitted_region_bodies() {
        let (skeleton, _) = stub(Path::new("k.rs"), SRC, 1).unwrap();
        let theirs = SRC.replace("let x = 1;", "let x = 2; // mine").replace("walk();", "cheat();");
        let out = splice(Path::new("k.rs"), &skeleton, &theirs, 1).unwrap();
        assert!(out.contains("    let x = 2; // mine\n    x\n    // LAB 1 END"), "{out}");
        assert!(out.contains("        walk();") && !out.contains("cheat") && !out.contains("todo!"), "{out}");
        let unmarked = theirs.replace("    // LAB 1 END\n", "");
        assert!(splice(Path::new("k.rs"), &skeleton, &unmarked, 1).is_err());
    }

    #[test]
    fn malformed_markers_are_errors() {
        let bad = [
            "// LAB 1 BEGIN: a\n// LAB 1 BEGIN: b\n// LAB 1 END\n",
            "// LAB 1 BEGIN: a\n",
            "// LAB 1 END\n",
            "// LAB 1 BEGIN: a\n// LAB 2 END\n",
            "// LAB x BEGIN: a\n// LAB x END\n",
            "// LAB 1 BEGIN:\n// LAB 1 END\n",
            "// LAB 1 START: a\n",
        ];
        for text in bad {
            assert!(regions(Path::new("k.rs"), text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn labs_are_found_by_number_slug_or_both() {
        for name in ["2", "lab2", "vmalloc", "lab2-vmalloc", "LAB2"] {
            assert_eq!(find(name).unwrap().id, 2, "{name}");
        }
        assert!(find("5").is_err() && find("").is_err());
    }

    /// The real source: every lab has regions, and all markers are well
    /// formed (a broken marker would leave a solution in a skeleton).
    #[test]
    fn every_lab_has_regions_in_the_kernel() {
        let all = all_regions().unwrap();
        for lab in &LABS {
            assert!(all.iter().any(|r| r.lab == lab.id), "lab {} has no regions", lab.id);
        }
        assert!(all.iter().all(|r| LABS.iter().any(|l| l.id == r.lab)), "a region names an unknown lab");
    }
}
