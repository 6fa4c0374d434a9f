//! Host programs Mosaic needs: QEMU, and OVMF (UEFI firmware for QEMU).
//!
//! When they are missing they are installed with the system package manager
//! if that needs no password (running as root, or `sudo -n`); otherwise
//! xtask stops and prints the exact command to run.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const QEMU: &str = "qemu-system-x86_64";

/// UEFI firmware: the code (read-only) and a template of the variable store.
#[derive(Clone, Debug)]
pub struct Ovmf {
    pub code: PathBuf,
    pub vars: PathBuf,
}

/// Usual locations of (code, vars) in Linux distributions.
const OVMF_PATHS: &[(&str, &str)] = &[
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"), // Debian 12+, Ubuntu 22.04+
    ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),       // older Debian/Ubuntu
    ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"), // Fedora
    ("/usr/share/edk2/x64/OVMF_CODE.4m.fd", "/usr/share/edk2/x64/OVMF_VARS.4m.fd"), // Arch
    ("/usr/share/qemu/ovmf-x86_64-code.bin", "/usr/share/qemu/ovmf-x86_64-vars.bin"), // openSUSE
];

/// Finds OVMF: `MOSAIC_OVMF_CODE` and `MOSAIC_OVMF_VARS` if set, else the
/// usual distribution paths.
pub fn find_ovmf() -> Option<Ovmf> {
    if let (Some(code), Some(vars)) = (std::env::var_os("MOSAIC_OVMF_CODE"), std::env::var_os("MOSAIC_OVMF_VARS")) {
        return Some(Ovmf { code: code.into(), vars: vars.into() });
    }
    OVMF_PATHS
        .iter()
        .map(|(c, v)| Ovmf { code: c.into(), vars: v.into() })
        .find(|o| o.code.is_file() && o.vars.is_file())
}

/// Finds `qemu-system-x86_64` on the PATH.
pub fn find_qemu() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(QEMU)).find(|p| p.is_file())
}

/// Finds Chromium (Debian's `chromium`, or `chromium-browser` elsewhere) on
/// the PATH: the live view's browser test drives it headless. Nothing
/// else needs it; a student opens the live view in any browser.
pub fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
}

/// Makes sure QEMU and OVMF are present, installing them if possible.
pub fn ensure() -> Result<(PathBuf, Ovmf)> {
    if let (Some(qemu), Some(ovmf)) = (find_qemu(), find_ovmf()) {
        return Ok((qemu, ovmf));
    }
    if std::env::var_os("MOSAIC_OVMF_CODE").is_some() && find_qemu().is_some() {
        bail!("MOSAIC_OVMF_CODE is set but MOSAIC_OVMF_VARS is not: set both");
    }
    let Some((manager, install)) = package_command() else {
        bail!("QEMU ({QEMU}) and OVMF are needed; install them with your package manager");
    };
    let command = install.join(" ");
    let sudo = if is_root() {
        false
    } else if sudo_without_password() {
        true
    } else {
        bail!("QEMU and OVMF are needed. Install them with:\n    sudo {command}");
    };
    eprintln!("xtask: installing QEMU and OVMF with {manager}: {}{command}", if sudo { "sudo -n " } else { "" });
    if manager == "apt-get" {
        let update = ["apt-get", "update", "-q"];
        run_install(sudo, &update)?;
    }
    run_install(sudo, &install)?;
    match (find_qemu(), find_ovmf()) {
        (Some(qemu), Some(ovmf)) => Ok((qemu, ovmf)),
        (None, _) => bail!("{QEMU} is still missing after the install"),
        (_, None) => bail!("OVMF is still missing after the install; set MOSAIC_OVMF_CODE and MOSAIC_OVMF_VARS"),
    }
}

/// The package manager and the full install command for it.
/// The command that installs `packages` (Debian names) with this system's
/// package manager, for messages; None if there is no known one.
pub fn install_hint(debian: &[&str]) -> Option<String> {
    let (manager, _) = package_command()?;
    let names: Vec<&str> = debian
        .iter()
        .map(|&p| match (manager, p) {
            ("dnf" | "pacman", "ovmf") => "edk2-ovmf",
            _ => p,
        })
        .collect();
    Some(match manager {
        "apt-get" => format!("sudo apt-get install {}", names.join(" ")),
        "dnf" => format!("sudo dnf install {}", names.join(" ")),
        _ => format!("sudo pacman -S {}", names.join(" ")),
    })
}

fn package_command() -> Option<(&'static str, Vec<&'static str>)> {
    let has = |p: &str| Path::new("/usr/bin").join(p).is_file() || Path::new("/bin").join(p).is_file();
    if has("apt-get") {
        Some(("apt-get", vec!["apt-get", "install", "-y", "-q", "qemu-system-x86", "ovmf"]))
    } else if has("dnf") {
        Some(("dnf", vec!["dnf", "install", "-y", "qemu-system-x86", "edk2-ovmf"]))
    } else if has("pacman") {
        Some(("pacman", vec!["pacman", "-S", "--noconfirm", "qemu-system-x86", "edk2-ovmf"]))
    } else {
        None
    }
}

fn run_install(sudo: bool, args: &[&str]) -> Result<()> {
    let mut cmd = if sudo {
        let mut c = Command::new("sudo");
        c.arg("-n").args(args);
        c
    } else {
        let mut c = Command::new(args[0]);
        c.args(&args[1..]);
        c
    };
    cmd.env("DEBIAN_FRONTEND", "noninteractive").stdin(Stdio::null());
    let status = cmd.status().with_context(|| format!("cannot run {}", args[0]))?;
    if !status.success() {
        bail!("`{}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn sudo_without_password() -> bool {
    Command::new("sudo")
        .args(["-n", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
