//! `cargo xtask`: Mosaic's developer commands (the cargo-xtask pattern: a
//! plain Rust program in the workspace instead of shell scripts).
//!
//! This file parses the command line and hands each subcommand to its
//! module in `commands/`. The work is in the `xtask` library (`lib.rs`)
//! and, for what only this program needs, in `bench/` and `console.rs`.

mod bench;
mod commands;
mod console;

use clap::Parser;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, run and test Mosaic", version)]
enum Cli {
    /// Build the kernel and boot it in QEMU, serial console on this terminal
    Run(commands::run::RunArgs),
    /// Build the BIOS and UEFI disk images and print their paths
    Image {
        /// Optimised kernel
        #[arg(long)]
        release: bool,
    },
    /// Attach gdb to a machine started with `cargo xtask run --gdb`
    Gdb {
        /// Use the release kernel's symbols
        #[arg(long)]
        release: bool,
    },
    /// Run every test: host unit tests, in-kernel tests, QEMU integration tests
    Test(commands::test::TestArgs),
    /// Course labs: `lab list`, `lab export <lab> <dir>`, `lab selftest`
    Lab(commands::lab::LabArgs),
    /// Grade a lab: its tests with points, `Score: X/Y`, non-zero below full marks
    Grade(commands::grade::GradeArgs),
    /// Benchmark vmalloc with Linux's test_vmalloc on both area allocators
    ///
    /// Boots the release kernel once per allocator (BIOS, TCG, qemu64, one
    /// vCPU, 1 GiB), runs each test case and prints ns per loop next to
    /// Linux's figures for the same machine. Exits non-zero if a test case
    /// fails. See docs/benchmarks.md.
    Bench(commands::bench::BenchArgs),
    /// Fuzz the hardware-free kernel code with cargo-fuzz (libFuzzer)
    ///
    /// `fuzz <target> [seconds]` runs one target (60 s by default), `fuzz
    /// --all [seconds]` each target in turn (30 s each by default), `fuzz
    /// --list` names them. Exits non-zero if a target crashed; the input is
    /// then in fuzz/artifacts/<target>/. See docs/testing.md.
    Fuzz(commands::fuzz::FuzzArgs),
    /// Pictures of the kernel's memory as SVG under target/viz/ (docs/visual.md)
    ///
    /// Boots the kernel, runs `--commands`, asks for `memmap json`, `vmmap
    /// json` and `pt <addr> json`, and draws them; or draws a saved state
    /// (`--dump FILE`). `--docs` regenerates docs/pictures/.
    Viz(commands::viz::VizArgs),
    /// Check what this machine needs for Mosaic, one line each, with the fix
    Doctor,
}

fn main() -> ExitCode {
    let result = match Cli::parse() {
        Cli::Run(args) => commands::run::run(args),
        Cli::Image { release } => commands::image::run(release),
        Cli::Gdb { release } => commands::gdb::run(release),
        Cli::Test(args) => commands::test::run(args),
        Cli::Lab(args) => commands::lab::run(args),
        Cli::Grade(args) => commands::grade::run(args),
        Cli::Bench(args) => commands::bench::run(args),
        Cli::Fuzz(args) => commands::fuzz::run(args),
        Cli::Viz(args) => commands::viz::run(args),
        Cli::Doctor => commands::doctor::run(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
