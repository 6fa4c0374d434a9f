//! Mosaic's host-side tooling, shared by the `xtask` commands and the
//! QEMU-driven tests in `tests/`.
//!
//! - `toolchain`: the pinned nightly, installed on demand with rustup
//! - `host`: QEMU and OVMF, found or installed with the package manager
//! - `report`: reading the in-kernel and `cargo test` reports
//! - `build`: kernel ELF and BIOS/UEFI disk images
//! - `qemu`: QEMU command lines and exit codes
//! - `gdb`: the gdb command line, with Mosaic's scripts from `gdb/`
//! - `session`: drive the shell like a person would, prompt by prompt
//! - `process`: running a child process with a deadline
//! - `prompt`: the kernel's prompt, told apart from output that quotes it
//! - `linux`: Linux's own test_vmalloc in QEMU, from the distribution's
//!   packages (for `cargo xtask bench --linux`)
//! - `lint`: the formatting and clippy checks that `cargo xtask test` runs
//! - `lab`: course labs, their `LAB n` regions and skeleton export
//! - `viz`: pictures of the kernel's memory as SVG, and the live view's server
//! - `grade`: the grader, the labs' selftest and submissions (uses `lab`;
//!   `lab` uses nothing of it)

pub mod build;
pub mod gdb;
pub mod grade;
pub mod host;
pub mod lab;
pub mod lint;
pub mod linux;
pub mod process;
pub mod prompt;
pub mod qemu;
pub mod report;
pub mod session;
pub mod symtab;
pub mod toolchain;
pub mod viz;

use std::path::PathBuf;

/// The repository's top directory.
pub fn root() -> PathBuf {
    let xtask = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().expect("xtask lives in the workspace").to_path_buf()
}

/// The host-side target directory (stable toolchain).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}
