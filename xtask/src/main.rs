//! `cargo xtask`: Mosaic's developer commands (the cargo-xtask pattern: a
//! plain Rust program in the workspace instead of shell scripts).

mod bench;
mod bench_mm;
mod commands;
mod console;
mod fuzz;
mod test;

use anyhow::{bail, Result};
use clap::{Args, Parser};
use std::process::ExitCode;
use xtask::build::{self, Profile};
use xtask::host;
use xtask::qemu::{Firmware, Machine};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, run and test Mosaic", version)]
enum Cli {
    /// Build the kernel and boot it in QEMU, serial console on this terminal
    Run(RunArgs),
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
    Test(test::TestArgs),
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
    Bench(bench::BenchArgs),
    /// Fuzz the hardware-free kernel code with cargo-fuzz (libFuzzer)
    ///
    /// `fuzz <target> [seconds]` runs one target (60 s by default), `fuzz
    /// --all [seconds]` each target in turn (30 s each by default), `fuzz
    /// --list` names them. Exits non-zero if a target crashed; the input is
    /// then in fuzz/artifacts/<target>/. See docs/testing.md.
    Fuzz(fuzz::FuzzArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Boot with UEFI firmware (OVMF) instead of BIOS
    #[arg(long)]
    uefi: bool,
    /// Optimised kernel
    #[arg(long)]
    release: bool,
    /// Use KVM instead of TCG emulation (does not work on every machine)
    #[arg(long)]
    kvm: bool,
    /// Make QEMU wait for `cargo xtask gdb` before running anything
    #[arg(long)]
    gdb: bool,
    /// Guest memory size, e.g. 512M or 5G
    #[arg(long, short = 'm', default_value = "512M", value_parser = parse_memory)]
    memory: String,
    /// Kernel options, e.g. "vmalloc=list" (see docs/testing.md)
    #[arg(long, default_value = "")]
    cmdline: String,
}

fn parse_memory(s: &str) -> Result<String, String> {
    let digits = s.strip_suffix(['M', 'G']).unwrap_or(s);
    match digits.parse::<u32>() {
        Ok(n) if n > 0 => Ok(s.to_string()),
        _ => Err(format!("'{s}' is not a memory size like 512M or 5G")),
    }
}

fn profile(release: bool) -> Profile {
    if release {
        Profile::Release
    } else {
        Profile::Debug
    }
}

fn main() -> ExitCode {
    let result = match Cli::parse() {
        Cli::Run(args) => run(args),
        Cli::Image { release } => image(release),
        Cli::Gdb { release } => gdb(release),
        Cli::Test(args) => test::run(args),
        Cli::Lab(args) => commands::lab::run(args),
        Cli::Grade(args) => commands::grade::run(args),
        Cli::Bench(args) => bench::run(args),
        Cli::Fuzz(args) => fuzz::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let (qemu, ovmf) = host::ensure()?;
    let images = build::images(profile(args.release))?;
    let firmware = if args.uefi { Firmware::Uefi } else { Firmware::Bios };
    let image = if args.uefi { images.uefi } else { images.bios };
    let mut machine = Machine::new(firmware, image);
    machine.memory = args.memory;
    machine.cmdline = args.cmdline;
    machine.kvm = args.kvm;
    machine.gdb = args.gdb;
    machine.no_reboot = false;
    if args.gdb {
        eprintln!("xtask: QEMU waits for a debugger: run `cargo xtask gdb` in another terminal");
    }
    console::run(&machine, &qemu, &ovmf)
}

fn image(release: bool) -> Result<ExitCode> {
    let images = build::images(profile(release))?;
    println!("kernel: {}", images.kernel.display());
    println!("bios:   {}", images.bios.display());
    println!("uefi:   {}", images.uefi.display());
    Ok(ExitCode::SUCCESS)
}

/// The kernel is position-independent and loaded at KERNEL_BASE, so gdb
/// gets the symbols with that offset.
fn gdb(release: bool) -> Result<ExitCode> {
    const KERNEL_BASE: &str = "0xffffffff80000000";
    let kernel = build::kernel_path(profile(release));
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
