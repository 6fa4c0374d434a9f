//! The pinned nightly toolchain, needed for the kernel and the bootloader.
//!
//! The host crates build with whatever stable toolchain runs `cargo xtask`.
//! The kernel needs a nightly (the x86-interrupt calling convention), and
//! the `bootloader` crate compiles its stages with `-Zbuild-std`, which needs
//! `rust-src` and `llvm-tools`; its `clippy` lints the bare-metal kernel.
//! This is the one place the nightly is named.

use anyhow::{bail, Context, Result};
use std::process::{Command, Stdio};

/// The nightly Mosaic is built and tested with.
pub const NIGHTLY: &str = "nightly-2026-10-01";
const COMPONENTS: [&str; 3] = ["rust-src", "llvm-tools", "clippy"];
const TARGET: &str = "x86_64-unknown-none";

/// What of the nightly is missing, in words (empty: all there); for
/// `cargo xtask doctor`, which installs nothing.
pub fn missing() -> Result<Vec<String>> {
    let installed = rustup(&["toolchain", "list"])?;
    if !installed.lines().any(|l| l.starts_with(NIGHTLY)) {
        return Ok(vec![format!("the {NIGHTLY} toolchain")]);
    }
    let components = rustup(&["component", "list", "--installed", "--toolchain", NIGHTLY])?;
    let targets = rustup(&["target", "list", "--installed", "--toolchain", NIGHTLY])?;
    let mut missing: Vec<String> =
        COMPONENTS.iter().filter(|c| !components.lines().any(|l| l.starts_with(*c))).map(|c| c.to_string()).collect();
    if !targets.lines().any(|l| l.trim() == TARGET) {
        missing.push(format!("the {TARGET} target"));
    }
    Ok(missing)
}

/// The command that installs the nightly with what Mosaic needs.
pub fn install_command() -> String {
    format!(
        "rustup toolchain install {NIGHTLY} --profile minimal --component rust-src,llvm-tools-preview,clippy --target {TARGET}"
    )
}

/// Makes sure the nightly, its components and the bare-metal target are
/// installed, installing what is missing with rustup.
pub fn ensure() -> Result<()> {
    let installed = rustup(&["toolchain", "list"])?;
    let have_toolchain = installed.lines().any(|l| l.starts_with(NIGHTLY));
    let (components, targets) = if have_toolchain {
        let c = rustup(&["component", "list", "--installed", "--toolchain", NIGHTLY])?;
        let t = rustup(&["target", "list", "--installed", "--toolchain", NIGHTLY])?;
        (c, t)
    } else {
        Default::default()
    };
    let missing_component = COMPONENTS.iter().any(|c| !components.lines().any(|l| l.starts_with(c)));
    let missing_target = !targets.lines().any(|l| l.trim() == TARGET);
    if have_toolchain && !missing_component && !missing_target {
        return Ok(());
    }
    eprintln!(
        "xtask: installing the {NIGHTLY} toolchain (profile minimal) with rust-src, \
         llvm-tools-preview, clippy and the {TARGET} target"
    );
    let status = Command::new("rustup")
        .args(["toolchain", "install", NIGHTLY, "--profile", "minimal"])
        .args(["--component", "rust-src,llvm-tools-preview,clippy", "--target", TARGET])
        .status()
        .context("cannot run rustup; Mosaic needs rustup (https://rustup.rs)")?;
    if !status.success() {
        bail!("rustup could not install {NIGHTLY}");
    }
    Ok(())
}

/// Makes sure the toolchain running xtask (rustup passes it down as
/// `RUSTUP_TOOLCHAIN`) has `components`, adding what is missing.
pub fn ensure_host_components(components: &[&str]) -> Result<()> {
    let installed = rustup(&["component", "list", "--installed"])?;
    let missing: Vec<&str> =
        components.iter().copied().filter(|c| !installed.lines().any(|l| l.starts_with(c))).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: adding {} to the host toolchain", missing.join(", "));
    let status = Command::new("rustup")
        .args(["component", "add"])
        .args(&missing)
        .status()
        .context("cannot run rustup; Mosaic needs rustup (https://rustup.rs)")?;
    if !status.success() {
        bail!("rustup could not add {}", missing.join(", "));
    }
    Ok(())
}

fn rustup(args: &[&str]) -> Result<String> {
    let out = Command::new("rustup")
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run rustup; Mosaic needs rustup (https://rustup.rs)")?;
    if !out.status.success() {
        bail!("`rustup {}` failed", args.join(" "));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A `cargo` command on the pinned nightly.
///
/// Cargo and rustup export variables such as `RUSTUP_TOOLCHAIN`, `CARGO` and
/// `RUSTC` to the processes they start, which would make the inner cargo
/// use the outer (stable) toolchain; they are removed. `rustup run` picks
/// the toolchain explicitly.
pub fn nightly_cargo() -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", NIGHTLY, "cargo"]);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let inherited = key.starts_with("CARGO_") && key != "CARGO_HOME"
            || ["CARGO", "RUSTC", "RUSTDOC", "RUSTUP_TOOLCHAIN", "RUSTFLAGS", "RUSTC_WRAPPER"].contains(&key.as_ref());
        if inherited {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}
