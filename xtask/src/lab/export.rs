//! The files of the repository, every marked region in the kernel's
//! sources, and the export of a lab's student skeleton (a copy of the
//! repository with that lab's regions, and by default every later lab's,
//! stubbed).

use super::markers::{regions, stub, Region};
use super::Lab;
use crate::root;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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

/// Which labs a skeleton leaves for the student to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stubs {
    /// The lab and every later one (the default: a course that hands labs
    /// out in order does not give the next labs' solutions away).
    AndLater,
    /// Only the lab: the later labs' solutions stay (as a grader's tree).
    Only,
}

impl Stubs {
    /// True if a skeleton of `lab` stubs the regions of lab `region`.
    pub fn stubs(self, lab: u32, region: u32) -> bool {
        match self {
            Stubs::AndLater => region >= lab,
            Stubs::Only => region == lab,
        }
    }
}

/// Writes the skeleton of `lab` to `dir`; returns the regions stubbed.
pub fn export(lab: &Lab, dir: &Path, stubs: Stubs) -> Result<Vec<Region>> {
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
            let (text, regions) = stub(&file, &text, |region| stubs.stubs(lab.id, region))?;
            std::fs::write(&to, text)?;
            stubbed.extend(regions);
        } else {
            std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
        }
    }
    if !stubbed.iter().any(|r| r.lab == lab.id) {
        bail!("no `// LAB {} BEGIN` regions found in kernel/: nothing to hand out", lab.id);
    }
    stubbed.sort_by_key(|r| r.lab);
    Ok(stubbed)
}

/// Copies the repository, unchanged, to `dir` (which must not exist or be
/// empty): the reference tree the mutants are applied to.
pub fn copy(dir: &Path) -> Result<()> {
    let root = root();
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} exists and is not empty", dir.display());
    }
    for file in repo_files(&root)? {
        let (from, to) = (root.join(&file), dir.join(&file));
        std::fs::create_dir_all(to.parent().expect("a file has a parent"))?;
        std::fs::copy(&from, &to).with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(())
}
