//! mosaic-boot: wraps the kernel ELF in bootable disk images.
//!
//! Usage: `mosaic-boot <kernel-elf> <out-dir>`; writes `<out-dir>/bios.img`
//! and `<out-dir>/uefi.img`. xtask runs this with the pinned nightly, because
//! the `bootloader` crate compiles its BIOS and UEFI stages in its build
//! script (slow the first time, cached in target/ afterwards).
//!
//! Tests boot in parallel from the same images while another test may be
//! rebuilding them, so every file is written under a name of this process
//! and renamed into place: a QEMU reading the old image keeps reading it
//! whole, never a half-written one.

mod strip;

use bootloader::{BiosBoot, BootConfig, UefiBoot};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kernel, out] = args.as_slice() else {
        eprintln!("usage: mosaic-boot <kernel-elf> <out-dir>");
        return ExitCode::from(2);
    };
    let (kernel, out) = (PathBuf::from(kernel), PathBuf::from(out));
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("error: cannot create {}: {e}", out.display());
        return ExitCode::FAILURE;
    }

    // The kernel without its symbols (see strip.rs), next to the images.
    let kernel = match std::fs::read(&kernel) {
        Ok(elf) => match strip::without_symbols(&elf) {
            Some(small) => {
                let copy = out.join(format!("kernel.elf.{}", std::process::id()));
                if let Err(e) = std::fs::write(&copy, small) {
                    eprintln!("error: cannot write {}: {e}", copy.display());
                    return ExitCode::FAILURE;
                }
                copy
            }
            None => kernel,
        },
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", kernel.display());
            return ExitCode::FAILURE;
        }
    };

    // Quiet stages: only warnings, on the serial port, never on the frame
    // buffer (drawing text pixel by pixel is slow under emulation).
    let mut config = BootConfig::default();
    config.log_level = bootloader_boot_config::LevelFilter::Warn;
    config.frame_buffer_logging = false;
    config.serial_logging = true;

    let bios = temporary(&out, "bios.img");
    let uefi = temporary(&out, "uefi.img");
    let result = BiosBoot::new(&kernel)
        .set_boot_config(&config)
        .create_disk_image(&bios)
        .and_then(|_| UefiBoot::new(&kernel).set_boot_config(&config).create_disk_image(&uefi));
    let result = result.and_then(|_| {
        std::fs::rename(&bios, out.join("bios.img"))?;
        std::fs::rename(&uefi, out.join("uefi.img"))?;
        if kernel.starts_with(&out) {
            std::fs::rename(&kernel, out.join("kernel.elf"))?;
        }
        Ok(())
    });
    for leftover in [&bios, &uefi] {
        let _ = std::fs::remove_file(leftover);
    }
    if kernel.starts_with(&out) {
        let _ = std::fs::remove_file(&kernel);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot build disk images: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `<out>/<name>.<pid>`: where this process writes `name` before renaming it.
fn temporary(out: &std::path::Path, name: &str) -> PathBuf {
    out.join(format!("{name}.{}", std::process::id()))
}
