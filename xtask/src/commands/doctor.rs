//! `cargo xtask doctor`: what a course machine needs for Mosaic, checked,
//! one line each, with the command that fixes what is missing. It installs
//! nothing (the other commands install the toolchain and QEMU on demand);
//! it exits non-zero if something required is missing.

use anyhow::Result;
use std::process::{Command, ExitCode};
use xtask::{build, host, toolchain};

/// The first line a program prints for `--version`, if it runs.
fn version(program: &str) -> Option<String> {
    let out = Command::new(program).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success().then(|| text.lines().next().unwrap_or("").trim().to_string())
}

/// The oldest QEMU that runs Mosaic's command line (xtask/src/qemu.rs):
/// `-nic none` arrived in QEMU 2.12 (2018), the newest option it uses;
/// `-cpu ...,phys-bits=` (2.7), the fw_cfg `string=` files (2.5) and the
/// control registers in the gdb stub that `mosaic-pt` reads ($cr3,
/// 2.11) are older.
const QEMU_MIN: (u32, u32) = (2, 12);

/// (major, minor) from QEMU's first `--version` line, e.g.
/// "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7)".
fn qemu_version(line: &str) -> Option<(u32, u32)> {
    let version = line.split("version ").nth(1)?.split_whitespace().next()?;
    let mut numbers = version.split('.').map(|n| n.parse::<u32>());
    Some((numbers.next()?.ok()?, numbers.next()?.ok()?))
}

/// Whether gdb runs Python, which Mosaic's gdb scripts are written in
/// (distributions build it with Python; minimal builds may not be).
fn gdb_has_python() -> bool {
    let out = Command::new("gdb").args(["-nx", "-batch", "-ex", "python import gdb"]).output();
    out.is_ok_and(|o| o.status.success() && o.stderr.is_empty())
}

struct Report {
    missing: usize,
}

impl Report {
    fn ok(&self, what: &str, detail: &str) {
        println!("ok       {what}: {detail}");
    }

    fn missing(&mut self, what: &str, fix: &str) {
        self.missing += 1;
        println!("MISSING  {what}: {fix}");
    }

    fn note(&self, what: &str, detail: &str) {
        println!("note     {what}: {detail}");
    }
}

pub fn run() -> Result<ExitCode> {
    let mut r = Report { missing: 0 };
    match version("rustup") {
        Some(v) => r.ok("rustup", &v),
        None => r.missing("rustup", "install it from https://rustup.rs, then run this again"),
    }
    match toolchain::missing() {
        Ok(m) if m.is_empty() => r.ok("pinned nightly", toolchain::NIGHTLY),
        Ok(m) => r.missing(&format!("pinned nightly ({})", m.join(", ")), &toolchain::install_command()),
        Err(e) => r.missing("pinned nightly", &format!("{e:#}")),
    }
    let hint = |pkgs: &[&str]| host::install_hint(pkgs).unwrap_or_else(|| format!("install {}", pkgs.join(" ")));
    match host::find_qemu().and_then(|q| version(&q.to_string_lossy())) {
        Some(v) => match qemu_version(&v) {
            Some(found) if found < QEMU_MIN => r.missing(
                &format!("QEMU {}.{} or newer (found {v})", QEMU_MIN.0, QEMU_MIN.1),
                &format!("Mosaic's QEMU options need it: {}", hint(&["qemu-system-x86"])),
            ),
            Some(_) => r.ok("QEMU", &v),
            None => {
                r.note("QEMU", &format!("{v} (version not understood; {}.{} or newer needed)", QEMU_MIN.0, QEMU_MIN.1))
            }
        },
        None => r.missing("QEMU (qemu-system-x86_64)", &hint(&["qemu-system-x86"])),
    }
    match host::find_ovmf() {
        Some(o) => r.ok("OVMF (UEFI firmware)", &o.code.display().to_string()),
        None => r.missing(
            "OVMF (UEFI firmware)",
            &format!("{} (or set MOSAIC_OVMF_CODE and MOSAIC_OVMF_VARS)", hint(&["ovmf"])),
        ),
    }
    match version("gdb") {
        Some(v) if gdb_has_python() => r.ok("gdb (for cargo xtask gdb)", &v),
        Some(v) => {
            r.missing(&format!("gdb with Python (for Mosaic's scripts in gdb/; found {v} without it)"), &hint(&["gdb"]))
        }
        None => r.missing("gdb (for cargo xtask gdb)", &hint(&["gdb"])),
    }
    match host::find_chromium().and_then(|c| version(&c.to_string_lossy())) {
        Some(v) => r.ok("Chromium (for the live view's browser test)", &v),
        None => r.note(
            "Chromium (for the live view's browser test)",
            &format!("not found; that test is skipped without it: {}", hint(&["chromium"])),
        ),
    }
    match build::stage_cache() {
        Some((dir, true)) => r.ok("bootloader stages", &format!("built, shared from {}", dir.display())),
        Some((dir, false)) => r.note(
            "bootloader stages",
            &format!("not built yet: the first build takes about 5 minutes, then {} shares them", dir.display()),
        ),
        None => r.note("bootloader stages", "the shared cache is off (MOSAIC_STAGE_CACHE=off or no home directory)"),
    }
    if std::path::Path::new("/dev/kvm").exists() {
        r.note("KVM", "/dev/kvm exists: `cargo xtask run --kvm` may work (TCG is the default)");
    }
    if r.missing == 0 {
        println!("everything Mosaic needs is here");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{} missing", r.missing);
        Ok(ExitCode::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_versions_are_read_and_compared() {
        assert_eq!(qemu_version("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"), Some((7, 2)));
        assert_eq!(qemu_version("QEMU emulator version 2.11.1(Debian 1:2.11+dfsg-1ubuntu7)"), Some((2, 11)));
        assert_eq!(qemu_version("QEMU emulator version 10.0.0"), Some((10, 0)));
        assert_eq!(qemu_version("something else"), None);
        assert!((2, 11) < QEMU_MIN && (2, 12) >= QEMU_MIN && (10, 0) > QEMU_MIN);
    }
}
