//! Building the kernel ELF and the BIOS and UEFI disk images.
//!
//! Both builds run on the pinned nightly, in target directories of their
//! own, so they never contend with the stable host build for cargo's lock:
//! the kernel in `target/nightly`, the image tool (`boot/`) in
//! `target/nightly-boot`. The image tool is always built in the dev
//! profile: its build script compiles the bootloader's stages, which takes
//! minutes the first time and must not be redone for a release kernel.
//! Once built, the stages are kept per user (`stage_cache` below), so that
//! other Mosaic trees on the machine copy them instead of building them.
//!
//! Why two directories: the stage cache copies whole crate directories
//! into the image tool's build directory. In a directory the kernel's
//! build shares, that copy would replace crates the kernel had built
//! already (its proc macros) with other builds of the same crates, whose
//! crate hashes differ, and the kernel's next rebuild would then fail with
//! "can't find crate for `x86_64`".

use crate::{root, toolchain};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    pub fn dir(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// Paths of a built kernel and its disk images.
#[derive(Clone, Debug)]
pub struct Images {
    pub kernel: PathBuf,
    pub bios: PathBuf,
    pub uefi: PathBuf,
}

/// Where the nightly builds of the kernel go.
pub fn nightly_target_dir() -> PathBuf {
    crate::target_dir().join("nightly")
}

/// Where the image tool and the bootloader's stages are built (nightly,
/// host). Nothing else builds here, so the stage cache may fill it.
pub fn boot_target_dir() -> PathBuf {
    crate::target_dir().join("nightly-boot")
}

/// Path of the kernel ELF for `profile` (whether or not it is built yet).
pub fn kernel_path(profile: Profile) -> PathBuf {
    nightly_target_dir().join("x86_64-unknown-none").join(profile.dir()).join("mosaic-kernel")
}

/// Whether the kernel's compiler warnings are counted instead of shown
/// (the grader hides the stubs' unused-variable warnings).
static HIDE_WARNINGS: AtomicBool = AtomicBool::new(false);
/// Warnings hidden so far.
static HIDDEN: AtomicUsize = AtomicUsize::new(0);

/// Count the kernel's compiler warnings instead of printing them; errors
/// are always printed.
pub fn hide_warnings(hide: bool) {
    HIDE_WARNINGS.store(hide, Ordering::Relaxed);
}

/// How many warnings were hidden (by `kernel` and `count_diagnostics`).
pub fn hidden_warnings() -> usize {
    HIDDEN.load(Ordering::Relaxed)
}

/// Reads cargo's `--message-format=json` output: counts the compiler's
/// warnings as hidden (or prints them, unless hiding) and returns the
/// rendered errors.
pub fn count_diagnostics(stdout: &str) -> String {
    let hide = HIDE_WARNINGS.load(Ordering::Relaxed);
    let mut errors = String::new();
    for msg in stdout.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
        if msg["reason"] != "compiler-message" {
            continue;
        }
        let m = &msg["message"];
        // "N warnings emitted" summaries have no spans: not a warning.
        let located = m["spans"].as_array().is_some_and(|s| !s.is_empty());
        match m["level"].as_str() {
            Some("warning") if located && hide => {
                HIDDEN.fetch_add(1, Ordering::Relaxed);
            }
            Some("warning") => eprint!("{}", m["rendered"].as_str().unwrap_or_default()),
            Some("error") => errors.push_str(m["rendered"].as_str().unwrap_or_default()),
            _ => {}
        }
    }
    errors
}

/// Compiles the kernel and writes its symbol table into it (symtab.rs).
pub fn kernel(profile: Profile) -> Result<PathBuf> {
    toolchain::ensure()?;
    let mut cargo = toolchain::nightly_cargo();
    cargo.current_dir(root()).args([
        "build",
        "--quiet",
        "--package",
        "mosaic-kernel",
        "--target",
        "x86_64-unknown-none",
    ]);
    cargo.arg("--target-dir").arg(nightly_target_dir());
    if profile == Profile::Release {
        cargo.arg("--release");
    }
    if HIDE_WARNINGS.load(Ordering::Relaxed) {
        cargo.arg("--message-format=json").stdout(Stdio::piped());
        let out = cargo.output().context("building the kernel: cannot start cargo")?;
        let errors = count_diagnostics(&String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            eprint!("{errors}");
            bail!("building the kernel failed ({})", out.status);
        }
    } else {
        run(&mut cargo, "building the kernel")?;
    }
    let kernel = kernel_path(profile);
    crate::symtab::embed(&kernel, &root()).context("writing the kernel's symbol table")?;
    Ok(kernel)
}

/// Compiles the kernel and wraps it in BIOS and UEFI disk images.
pub fn images(profile: Profile) -> Result<Images> {
    let kernel = kernel(profile)?;
    let out = crate::target_dir().join("images").join(profile.dir());
    let mut cargo = toolchain::nightly_cargo();
    cargo.current_dir(root()).args(["run", "--quiet", "--package", "mosaic-boot"]);
    cargo.arg("--target-dir").arg(boot_target_dir());
    let stripped = strip_debug_info(&kernel)?;
    cargo.arg("--").arg(&stripped).arg(&out);
    if !stages_built() {
        stage_cache::restore();
    }
    if !stages_built() {
        eprintln!(
            "xtask: first build of the bootloader's BIOS and UEFI stages: this takes about \
             5 minutes on 2 cores and is done once for every Mosaic tree of this user (then \
             kept in {})",
            stage_cache::dir().map_or_else(|| "target/nightly-boot".into(), |d| d.display().to_string())
        );
        run_with_heartbeat(&mut cargo, "building the disk images")?;
        stage_cache::save();
    } else {
        run(&mut cargo, "building the disk images")?;
        // Stages built in this tree before the cache existed: share them.
        stage_cache::save();
    }
    Ok(Images { kernel, bios: out.join("bios.img"), uefi: out.join("uefi.img") })
}

/// Writes a copy of the kernel without debug information, for the disk
/// images. The BIOS loader reads the kernel through the firmware in real
/// mode, which is slow under emulation: a 7 MB debug kernel takes seconds,
/// its 1 MB stripped copy a fraction of that. gdb keeps the full ELF.
fn strip_debug_info(kernel: &Path) -> Result<PathBuf> {
    let sysroot = Command::new("rustup").args(["run", toolchain::NIGHTLY, "rustc", "--print", "sysroot"]).output()?;
    let host = Command::new("rustup").args(["run", toolchain::NIGHTLY, "rustc", "-vV"]).output()?;
    let host = String::from_utf8_lossy(&host.stdout);
    let host = host.lines().find_map(|l| l.strip_prefix("host: ")).context("rustc -vV has no host line")?;
    let objcopy = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim())
        .join("lib/rustlib")
        .join(host)
        .join("bin/llvm-objcopy");
    // Written under this process's name and renamed: a parallel build
    // reading the copy never sees half of it.
    let out = kernel.with_extension("stripped");
    let tmp = kernel.with_extension(format!("stripped.{}", std::process::id()));
    let status = Command::new(&objcopy).arg("--strip-debug").arg(kernel).arg(&tmp).status();
    match status {
        Ok(s) if s.success() => {
            std::fs::rename(&tmp, &out).with_context(|| format!("renaming {} into place", tmp.display()))?;
            Ok(out)
        }
        _ => bail!("cannot strip the kernel with {} (llvm-tools missing?)", objcopy.display()),
    }
}

/// True once the bootloader's build script has produced its UEFI stage.
/// Where the shared cache of the bootloader's stages is, and whether it
/// holds them (None: the cache is off or has no place).
pub fn stage_cache() -> Option<(PathBuf, bool)> {
    let dir = stage_cache::dir()?;
    let full = find_file(&dir, "bootloader-x86_64-uefi.efi", 5);
    Some((dir, full))
}

fn stages_built() -> bool {
    find_file(&boot_target_dir().join("debug").join("build"), "bootloader-x86_64-uefi.efi", 5)
}

/// The per-user cache of the bootloader's BIOS and UEFI stages, shared by
/// every Mosaic tree on the machine (a clone, an exported skeleton, the
/// trees the grader builds under target/labs): the stages take minutes to
/// build and depend only on the bootloader's version and the nightly.
///
/// What is cached is the host side of the image tool's build, `target/
/// nightly-boot/debug/build/<crate>/` for every crate but `mosaic-boot` itself
/// (a path crate, always built in its own tree): the bootloader with the
/// stages its build script compiled, and its dependencies. Cargo keeps the
/// dependency information of these registry crates relative to the target
/// directory, so a copy under another tree is fresh there, as the selftest
/// already relies on. Anything going wrong with the cache (not writable,
/// a copy failing) falls back to building in the tree, as without it.
mod stage_cache {
    use super::{boot_target_dir, find_file};
    use crate::{root, toolchain};
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// `$XDG_CACHE_HOME/mosaic/bootloader-<version>-<nightly>`, else
    /// `~/.cache/mosaic/...`; `MOSAIC_STAGE_CACHE=off` turns it off.
    pub fn dir() -> Option<PathBuf> {
        if std::env::var_os("MOSAIC_STAGE_CACHE").is_some_and(|v| v == "off") {
            return None;
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| Path::new(d).is_absolute())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("mosaic").join(format!("bootloader-{}-{}", bootloader_version()?, toolchain::NIGHTLY)))
    }

    /// The version `boot/Cargo.toml` pins (`bootloader = "=0.11.17"`).
    fn bootloader_version() -> Option<String> {
        let manifest = std::fs::read_to_string(root().join("boot/Cargo.toml")).ok()?;
        let line = manifest.lines().find(|l| l.trim_start().starts_with("bootloader ="))?;
        let version = line.split('"').nth(1)?.trim_start_matches('=');
        Some(version.to_string())
    }

    fn build_dir() -> PathBuf {
        boot_target_dir().join("debug").join("build")
    }

    /// Copies the cached crates into this tree's build directory.
    pub fn restore() {
        let Some(cache) = dir() else { return };
        if !find_file(&cache, "bootloader-x86_64-uefi.efi", 5) {
            return;
        }
        eprintln!("xtask: reusing the bootloader's stages built before, from {}", cache.display());
        if std::fs::create_dir_all(build_dir()).is_err() || !copy_crates(&cache, &build_dir()) {
            eprintln!("xtask: could not copy them; building them in this tree instead");
        }
    }

    /// After the stages were built here: keeps a copy for the other trees,
    /// unless one is there already. Written under a temporary name and
    /// renamed, so that a tree never sees half a cache.
    pub fn save() {
        let Some(cache) = dir() else { return };
        if cache.exists() || !super::stages_built() {
            return;
        }
        let parent = cache.parent().expect("the cache has a parent");
        let tmp = parent.join(format!(".tmp-{}", std::process::id()));
        let saved = std::fs::create_dir_all(&tmp).is_ok()
            && copy_crates(&build_dir(), &tmp)
            && std::fs::rename(&tmp, &cache).is_ok();
        if saved {
            eprintln!("xtask: the bootloader's stages are kept in {} for every Mosaic tree", cache.display());
        } else {
            let _ = std::fs::remove_dir_all(&tmp);
            eprintln!(
                "xtask: could not keep the stages in {} (not writable?): other trees will build them too",
                cache.display()
            );
        }
    }

    /// `cp -a` of every crate directory in `from` but mosaic-boot's.
    fn copy_crates(from: &Path, to: &Path) -> bool {
        let Ok(entries) = std::fs::read_dir(from) else { return false };
        let crates: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.file_name().is_some_and(|n| n != "mosaic-boot")).collect();
        if crates.is_empty() {
            return false;
        }
        let status = Command::new("cp").args(["-a", "--reflink=auto"]).args(&crates).arg(to).status();
        status.is_ok_and(|s| s.success())
    }
}

fn find_file(dir: &Path, name: &str, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| {
        let path = e.path();
        path.file_name().is_some_and(|n| n == name) || (depth > 0 && path.is_dir() && find_file(&path, name, depth - 1))
    })
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("{what}: cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Like `run`, printing a line every 30 seconds so a long build is not
/// mistaken for a hang (cargo's own progress bar is absent without a tty).
fn run_with_heartbeat(cmd: &mut Command, what: &str) -> Result<()> {
    let (done, wait) = mpsc::channel::<()>();
    let start = Instant::now();
    let ticker = std::thread::spawn(move || {
        while wait.recv_timeout(Duration::from_secs(30)) == Err(mpsc::RecvTimeoutError::Timeout) {
            eprintln!("xtask: still building the bootloader stages... ({} s)", start.elapsed().as_secs());
        }
    });
    let result = run(cmd, what);
    drop(done);
    let _ = ticker.join();
    result
}
