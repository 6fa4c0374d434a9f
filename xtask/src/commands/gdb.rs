//! `cargo xtask gdb`: attach gdb, with the kernel's symbols, to a machine
//! started with `cargo xtask run --gdb`.
//!
//! Ctrl-C is gdb's: it stops the guest. The terminal sends SIGINT to xtask
//! and gdb alike, so xtask ignores it while gdb runs (and gdb gets the
//! default back before it starts); otherwise Ctrl-C killed xtask and left
//! gdb orphaned, holding QEMU's stub so that no second attach worked.
//!
//! gdb is a child xtask waits for, so quitting gdb (`quit`, Ctrl-D) ends
//! both and leaves no process behind. QEMU says it was attached to
//! (qAttached), so gdb detaches instead of killing it, and QEMU lets the
//! guest run on; `cargo xtask gdb` can attach again at once.

use anyhow::{bail, Result};
use nix::sys::signal::{signal, SigHandler, Signal};
use std::os::unix::process::CommandExt;
use std::process::ExitCode;
use xtask::{build, gdb};

/// gdb with the kernel's symbols and Mosaic's scripts (xtask::gdb).
pub fn run(release: bool) -> Result<ExitCode> {
    let kernel = build::kernel_path(super::profile(release));
    if !kernel.is_file() {
        bail!("no kernel at {}: run `cargo xtask run --gdb` first", kernel.display());
    }
    eprintln!(
        "xtask: attaching to localhost:1234 with the scripts in gdb/ (start the machine with `cargo xtask run --gdb`)"
    );
    let mut gdb = gdb::command(&kernel, gdb::DEFAULT_PORT, false);
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
