//! The gdb command line for Mosaic, shared by `cargo xtask gdb` and the
//! scripted session in tests/gdb.rs: the kernel's symbols at the address
//! the kernel runs at, Rust's own pretty-printers (Vec, Option, slices)
//! from the pinned nightly, then Mosaic's scripts in `gdb/` (printers for
//! addresses, flags and the allocators' records, and the mosaic-*
//! commands; see docs/debugging.md).

use crate::{root, toolchain};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kernel is position-independent and the bootloader loads it at
/// KERNEL_BASE (kernel/src/mm/layout.rs), so gdb takes its symbols with
/// that offset.
pub const KERNEL_BASE: &str = "0xffffffff80000000";

/// The port `cargo xtask run --gdb` (QEMU's `-s`) listens on.
pub const DEFAULT_PORT: u16 = 1234;

/// Mosaic's gdb entry script.
pub fn script() -> PathBuf {
    root().join("gdb").join("mosaic.py")
}

/// The pinned nightly's script that loads Rust's pretty-printers, if the
/// toolchain ships it (rustup's minimal profile does).
fn rust_printers() -> Option<PathBuf> {
    let out = Command::new("rustup").args(["run", toolchain::NIGHTLY, "rustc", "--print", "sysroot"]).output().ok()?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let script = sysroot.join("lib/rustlib/etc/gdb_load_rust_pretty_printers.py");
    (out.status.success() && script.is_file()).then_some(script)
}

/// gdb with the kernel's symbols and Mosaic's scripts, attaching to QEMU's
/// stub on localhost:`port`. `batch` adds `-batch` (for scripts: gdb runs
/// the commands given after this and exits, detaching from the guest).
pub fn command(kernel: &Path, port: u16, batch: bool) -> Command {
    let mut gdb = Command::new("gdb");
    gdb.arg("-q");
    if batch {
        gdb.arg("-batch");
    }
    gdb.args(["-ex", "set confirm off"]);
    gdb.arg("-ex").arg(format!("symbol-file -o {KERNEL_BASE} {}", kernel.display()));
    if let Some(rust) = rust_printers() {
        gdb.arg("-x").arg(rust);
    }
    gdb.arg("-x").arg(script());
    gdb.arg("-ex").arg(format!("target remote localhost:{port}"));
    gdb
}
