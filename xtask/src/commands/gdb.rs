//! `cargo xtask gdb`: attach gdb, with the kernel's symbols, to a machine
//! started with `cargo xtask run --gdb`.
//!
//! Ctrl-C is gdb's: it stops the guest. The terminal sends SIGINT to xtask
//! and gdb alike, so xtask ignores it while gdb runs (and gdb gets the
//! default back before it starts); otherwise Ctrl-C killed xtask and left
//! gdb orphaned, holding QEMU's stub so that no second attach worked.

use anyhow::{bail, Result};
use nix::sys::signal::{signal, SigHandler, Signal};
use std::os::unix::process::CommandExt;
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
    let mut gdb = std::process::Command::new("gdb");
    gdb.args(["-q", "-ex", "set confirm off", "-ex"])
        .arg(format!("symbol-file -o {KERNEL_BASE} {}", kernel.display()))
        .args(["-ex", "target remote localhost:1234"]);
    // SAFETY: between fork and exec the child only resets one signal's
    // disposition, which is async-signal-safe.
    unsafe {
        gdb.pre_exec(|| signal(Signal::SIGINT, SigHandler::SigDfl).map(drop).map_err(std::io::Error::from));
    }
    // SAFETY: SIG_IGN installs no handler code; it is restored below.
    let previous = unsafe { signal(Signal::SIGINT, SigHandler::SigIgn) };
    let status = gdb.status();
    if let Ok(handler) = previous {
        // SAFETY: puts back what was there before.
        unsafe { signal(Signal::SIGINT, handler) }.ok();
    }
    match status {
        Ok(s) if s.success() => Ok(ExitCode::SUCCESS),
        Ok(s) => bail!("gdb exited with {s}"),
        Err(e) => bail!("cannot start gdb ({e}); install it, e.g. `apt-get install gdb`"),
    }
}
