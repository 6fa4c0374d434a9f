//! `cargo xtask gdb`: attach gdb, with the kernel's symbols, to a machine
//! started with `cargo xtask run --gdb`.

use anyhow::{bail, Result};
use std::process::ExitCode;
use xtask::build;

/// The kernel is position-independent and loaded at KERNEL_BASE, so gdb
/// gets the symbols with that offset.
pub fn run(release: bool) -> Result<ExitCode> {
    const KERNEL_BASE: &str = "0xffffffff80000000";
    let kernel = build::kernel_path(super::profile(release));
    if !kernel.is_file() {
        bail!("no kernel at {}: run `cargo xtask run --gdb` first", kernel.display());
    }
    eprintln!("xtask: attaching to localhost:1234 (start the machine with `cargo xtask run --gdb`)");
    let status = std::process::Command::new("gdb")
        .args(["-q", "-ex", "set confirm off", "-ex"])
        .arg(format!("symbol-file -o {KERNEL_BASE} {}", kernel.display()))
        .args(["-ex", "target remote localhost:1234"])
        .status();
    match status {
        Ok(s) if s.success() => Ok(ExitCode::SUCCESS),
        Ok(s) => bail!("gdb exited with {s}"),
        Err(e) => bail!("cannot start gdb ({e}); install it, e.g. `apt-get install gdb`"),
    }
}
