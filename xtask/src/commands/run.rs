//! `cargo xtask run`: build the kernel and boot it in QEMU, with the serial
//! console on this terminal (see `console.rs`); with `--view`, also the
//! live view of memory in a browser (xtask::viz::live).

use crate::console;
use anyhow::{Context, Result};
use clap::Args;
use std::process::ExitCode;
use xtask::build;
use xtask::host;
use xtask::qemu::{self, Firmware, Machine};
use xtask::viz::live;

#[derive(Args)]
pub struct RunArgs {
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
    /// Also serve a live view of memory on 127.0.0.1 (docs/visual.md): the
    /// kernel gets `view=on` and sends its state on COM2 after every command
    #[arg(long)]
    view: bool,
    /// The live view's port (default: any free port; the URL is printed)
    #[arg(long, value_name = "PORT", requires = "view")]
    view_port: Option<u16>,
}

fn parse_memory(s: &str) -> Result<String, String> {
    match qemu::parse_memory(s) {
        Some(_) => Ok(s.to_string()),
        None => Err(format!("'{s}' is not a memory size like 512M or 5G")),
    }
}

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let firmware = if args.uefi { Firmware::Uefi } else { Firmware::Bios };
    // Refuse a machine too small to boot before building anything.
    let mut machine = Machine::new(firmware, "");
    machine.memory = args.memory;
    if let Err(e) = machine.check_memory() {
        eprintln!("xtask: {e}");
        return Ok(ExitCode::FAILURE);
    }
    // Under KVM the guest gets this CPU: without NX (no-execute), the
    // bootloader's first page tables would fault and the machine would
    // reset without a word. TCG's qemu64 always has it.
    if args.kvm && !host_has_nx() {
        eprintln!("xtask: this CPU has no NX (no-execute) bit, which Mosaic's page tables need: run without --kvm");
        return Ok(ExitCode::FAILURE);
    }
    let (qemu, ovmf) = host::ensure()?;
    let images = build::images(super::profile(args.release))?;
    machine.image = if args.uefi { images.uefi } else { images.bios };
    machine.cmdline = args.cmdline;
    machine.kvm = args.kvm;
    machine.gdb = args.gdb;
    machine.no_reboot = false;
    if args.gdb {
        eprintln!("xtask: QEMU waits for a debugger: run `cargo xtask gdb` in another terminal");
    }
    if !args.view {
        return console::run(&machine, &qemu, &ovmf);
    }
    let dir = std::env::temp_dir().join(format!("mosaic-view-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result =
        with_view(&mut machine, &dir, args.view_port.unwrap_or(0)).and_then(|()| console::run(&machine, &qemu, &ovmf));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Starts the live view's server and COM2 socket (in `dir`), and gives
/// the machine the second serial port and `view=on`.
fn with_view(machine: &mut Machine, dir: &std::path::Path, port: u16) -> Result<()> {
    let view = live::attach(machine, dir, port)?;
    eprintln!("xtask: live view of memory at {} (it redraws after every command)", view.url);
    Ok(())
}

/// True unless /proc/cpuinfo says the CPU lacks the `nx` flag.
fn host_has_nx() -> bool {
    match std::fs::read_to_string("/proc/cpuinfo") {
        Ok(info) => info.lines().filter(|l| l.starts_with("flags")).all(|l| l.split_whitespace().any(|f| f == "nx")),
        Err(_) => true,
    }
}
