//! `cargo xtask image`: build the BIOS and UEFI disk images and print
//! their paths.

use anyhow::Result;
use std::process::ExitCode;
use xtask::build;

pub fn run(release: bool) -> Result<ExitCode> {
    let images = build::images(super::profile(release))?;
    println!("kernel: {}", images.kernel.display());
    println!("bios:   {}", images.bios.display());
    println!("uefi:   {}", images.uefi.display());
    Ok(ExitCode::SUCCESS)
}
