//! The project's habits, checked: formatting and clippy, as one part of
//! `cargo xtask test` (`--only lint`), so CI enforces them.
//!
//! - rustfmt: the workspace and the fuzz targets (`rustfmt.toml` at the top);
//! - clippy with `-D warnings` on the host crates (xtask, the integration
//!   tests, the kernel's host-buildable half and its unit tests);
//! - clippy with `-D warnings` on the kernel for `x86_64-unknown-none`, the
//!   pinned nightly's clippy (the bare-metal half: vmalloc, page tables,
//!   address spaces, heap, the shell's commands), and on the fuzz targets
//!   (their own workspace, `fuzz/`);
//!
//! - the kernel's module rules: no import cycle, nothing in `mm` naming
//!   the shell, the tests or boot (`tests/module_deps.rs`, a host test that
//!   reads the sources; it runs here, before anything is booted).

use crate::build::nightly_target_dir;
use crate::{root, toolchain};
use std::process::Command;

/// One check: what it is called, and the command that must succeed.
pub struct Check {
    pub name: &'static str,
    pub command: Command,
}

/// The stable cargo running xtask, at the workspace root.
fn host_cargo(args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root()).args(args);
    cmd
}

/// Every check, in the order they run. Installs what they need first: the
/// nightly's clippy, and rustfmt and clippy for the toolchain running xtask
/// (rustup's minimal profile has neither).
pub fn checks() -> anyhow::Result<Vec<Check>> {
    toolchain::ensure()?;
    toolchain::ensure_host_components(&["rustfmt", "clippy"])?;
    let mut fuzz_fmt = host_cargo(&["fmt", "--check"]);
    fuzz_fmt.current_dir(root().join("fuzz"));
    let mut fuzz_clippy = host_cargo(&["clippy", "--quiet", "--all-targets", "--", "-D", "warnings"]);
    fuzz_clippy.current_dir(root().join("fuzz"));
    let mut kernel = toolchain::nightly_cargo();
    kernel.current_dir(root()).args(["clippy", "--quiet", "--package", "mosaic-kernel"]);
    kernel.args(["--target", "x86_64-unknown-none", "--target-dir"]).arg(nightly_target_dir());
    kernel.args(["--", "-D", "warnings"]);
    Ok(vec![
        Check { name: "rustfmt (workspace)", command: host_cargo(&["fmt", "--all", "--check"]) },
        Check { name: "rustfmt (fuzz)", command: fuzz_fmt },
        Check {
            name: "clippy (host crates)",
            command: host_cargo(&[
                "clippy",
                "--quiet",
                "--package",
                "xtask",
                "--package",
                "mosaic-tests",
                "--package",
                "alloc-bench",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        },
        Check {
            name: "clippy (kernel on host)",
            command: host_cargo(&[
                "clippy",
                "--quiet",
                "--package",
                "mosaic-kernel",
                "--lib",
                "--tests",
                "--",
                "-D",
                "warnings",
            ]),
        },
        Check { name: "clippy (kernel bare-metal)", command: kernel },
        Check { name: "clippy (fuzz targets)", command: fuzz_clippy },
        Check {
            name: "module rules (no import cycle)",
            command: host_cargo(&["test", "--quiet", "--package", "mosaic-tests", "--test", "module_deps"]),
        },
    ])
}
