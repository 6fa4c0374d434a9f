//! QEMU command lines for Mosaic, and what QEMU's exit status means.
//!
//! The serial port is QEMU's stdin/stdout. The kernel ends QEMU through the
//! isa-debug-exit device (see kernel/src/drivers/qemu.rs) and reads its
//! options from an fw_cfg file (kernel/src/drivers/fw_cfg.rs). Disks are
//! opened with `-snapshot`, so several machines can boot the same image and
//! the same OVMF variable store at once without writing to them.

use crate::host::Ovmf;
use std::path::{Path, PathBuf};
use std::process::Command;

/// QEMU's status when the kernel reports success: `(0x10 << 1) | 1`.
pub const EXIT_SUCCESS: i32 = 33;
/// QEMU's status when the kernel reports failure: `(0x11 << 1) | 1`.
pub const EXIT_FAILURE: i32 = 35;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    Bios,
    Uefi,
}

impl Firmware {
    /// The smallest guest memory, in MiB, with which this firmware and the
    /// bootloader reach the kernel's prompt (measured, see
    /// docs/testing.md#memory-sizes). Below it BIOS machines stop in the
    /// bootloader (`FrameAllocationFailed`, or nothing at all) and OVMF
    /// fails to load the bootloader or the kernel, or takes a #GP itself
    /// (32 MiB) and hangs.
    pub const fn min_memory_mib(self) -> u64 {
        match self {
            Firmware::Bios => 20,
            Firmware::Uefi => 44,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Firmware::Bios => "BIOS",
            Firmware::Uefi => "UEFI",
        }
    }
}

/// Bytes in a memory size written in QEMU's `-m` syntax: a number of MiB,
/// or a number with a `M` or `G` suffix (`512M`, `5G`).
pub fn parse_memory(s: &str) -> Option<u64> {
    let (digits, unit) = match s.strip_suffix(['M', 'm']) {
        Some(d) => (d, 1 << 20),
        None => match s.strip_suffix(['G', 'g']) {
            Some(d) => (d, 1 << 30),
            None => (s, 1 << 20),
        },
    };
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(unit).filter(|&b| b > 0)
}

/// One virtual machine to start.
#[derive(Clone, Debug)]
pub struct Machine {
    pub firmware: Firmware,
    pub image: PathBuf,
    /// Memory size in QEMU's `-m` syntax, e.g. `512M` or `5G`.
    pub memory: String,
    /// Use KVM instead of TCG (opt-in: KVM does not work everywhere).
    pub kvm: bool,
    /// Wait for gdb on localhost:1234 before running the firmware.
    pub gdb: bool,
    /// Options for the kernel, e.g. `ktest panic=exit`.
    pub cmdline: String,
    /// Exit QEMU instead of resetting (a triple fault then ends the run).
    pub no_reboot: bool,
    /// The `-cpu` model for TCG, if not the default `qemu64,phys-bits=39`.
    pub cpu: Option<String>,
    /// More QEMU arguments (other machine types, `-no-hpet`, `-smp 4`...),
    /// for tests of other machine configurations.
    pub extra: Vec<String>,
}

impl Machine {
    pub fn new(firmware: Firmware, image: impl Into<PathBuf>) -> Self {
        Machine {
            firmware,
            image: image.into(),
            memory: "512M".into(),
            kvm: false,
            gdb: false,
            cmdline: String::new(),
            no_reboot: true,
            cpu: None,
            extra: Vec::new(),
        }
    }

    /// Refuses a memory size the firmware cannot boot with, in one line
    /// naming the minimum, so that a machine that would hang or stop
    /// silently is never started.
    pub fn check_memory(&self) -> Result<(), String> {
        let min = self.firmware.min_memory_mib();
        match parse_memory(&self.memory) {
            None => Err(format!("'{}' is not a memory size like 512M or 5G", self.memory)),
            Some(bytes) if bytes < min << 20 => Err(format!(
                "-m {}: {} machines need at least {min}M of memory to boot Mosaic",
                self.memory,
                self.firmware.name()
            )),
            Some(_) => Ok(()),
        }
    }

    /// Refuses a TCG CPU model that switches NX (no-execute) off, such as
    /// `qemu64,-nx`, in one line. The kernel checks the CPU's features
    /// itself and names one that is missing (kernel/src/arch/cpu.rs), but a
    /// CPU without NX never reaches it: the bootloader's page tables mark
    /// data no-execute, and the machine resets in the bootloader without a
    /// word. (Under KVM, `cargo xtask run --kvm` checks the host's CPU.)
    pub fn check_cpu(&self) -> Result<(), String> {
        let Some(cpu) = self.cpu.as_deref().filter(|_| !self.kvm) else { return Ok(()) };
        let nx_off = cpu.split(',').skip(1).any(|f| matches!(f, "-nx" | "nx=off" | "nx=false" | "nx=no"));
        if nx_off {
            return Err(format!(
                "-cpu {cpu}: Mosaic needs the NX (no-execute) bit, which the bootloader's page tables use; without it the machine resets before the kernel starts"
            ));
        }
        Ok(())
    }

    /// The QEMU command (stdin/stdout left for the caller to set up).
    pub fn command(&self, qemu: &Path, ovmf: &Ovmf) -> Command {
        let mut cmd = Command::new(qemu);
        cmd.args(["-m", &self.memory, "-display", "none", "-serial", "stdio", "-monitor", "none"]);
        // No network card: Mosaic has no driver, and its option ROM (iPXE)
        // costs the firmware about a second of emulated time at every boot.
        cmd.args(["-nic", "none"]);
        cmd.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-snapshot"]);
        if self.firmware == Firmware::Uefi {
            cmd.arg("-drive").arg(pflash(&ovmf.code, true));
            cmd.arg("-drive").arg(pflash(&ovmf.vars, false));
        }
        cmd.arg("-drive").arg(format!("format=raw,file={}", escape(&self.image)));
        if !self.cmdline.is_empty() {
            cmd.arg("-fw_cfg").arg(format!("name=opt/mosaic/cmdline,string={}", self.cmdline.replace(',', ",,")));
        }
        if self.kvm {
            cmd.args(["-enable-kvm", "-cpu", "host"]);
        } else {
            // qemu64 is an AMD CPU with 40 address bits, for which QEMU
            // reserves the HyperTransport hole just below 1 TiB in the
            // memory map; the bootloader then maps all of physical memory
            // up to 1 TiB, which takes 4 MiB of page tables. 39 bits (512
            // GiB) drops the hole, so small machines can boot.
            cmd.args(["-cpu", self.cpu.as_deref().unwrap_or("qemu64,phys-bits=39")]);
        }
        cmd.args(&self.extra);
        if self.gdb {
            cmd.args(["-s", "-S"]);
        }
        if self.no_reboot {
            cmd.arg("-no-reboot");
        }
        cmd
    }
}

fn pflash(file: &Path, readonly: bool) -> String {
    format!("if=pflash,format=raw,readonly={},file={}", if readonly { "on" } else { "off" }, escape(file))
}

/// QEMU option values use `,` as a separator; a literal comma is `,,`.
fn escape(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// Describes a QEMU exit status in words.
pub fn describe_exit(code: Option<i32>) -> &'static str {
    match code {
        Some(EXIT_SUCCESS) => "the kernel exited with success",
        Some(EXIT_FAILURE) => "the kernel reported a failure",
        Some(0) => "QEMU stopped without the kernel's exit code (a reset, e.g. a triple fault, or a power-off)",
        Some(_) => "QEMU failed",
        None => "QEMU was killed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(m: &Machine) -> Vec<String> {
        let ovmf = Ovmf { code: "/fw/code.fd".into(), vars: "/fw/vars.fd".into() };
        m.command(Path::new("qemu"), &ovmf).get_args().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn bios_machine_has_debug_exit_and_no_firmware_flash() {
        let a = args(&Machine::new(Firmware::Bios, "/img/bios.img"));
        assert!(a.contains(&"isa-debug-exit,iobase=0xf4,iosize=0x04".to_string()));
        assert!(a.contains(&"format=raw,file=/img/bios.img".to_string()));
        assert!(!a.iter().any(|x| x.contains("pflash")));
        assert!(a.contains(&"-no-reboot".to_string()) && !a.contains(&"-enable-kvm".to_string()));
    }

    #[test]
    fn uefi_machine_uses_ovmf_and_options() {
        let mut m = Machine::new(Firmware::Uefi, "/img/a,b.img");
        m.cmdline = "ktest=x,y".into();
        m.kvm = true;
        m.gdb = true;
        m.memory = "5G".into();
        let a = args(&m);
        assert!(a.contains(&"if=pflash,format=raw,readonly=on,file=/fw/code.fd".to_string()));
        assert!(a.contains(&"if=pflash,format=raw,readonly=off,file=/fw/vars.fd".to_string()));
        assert!(a.contains(&"format=raw,file=/img/a,,b.img".to_string()));
        assert!(a.contains(&"name=opt/mosaic/cmdline,string=ktest=x,,y".to_string()));
        assert!(a.windows(2).any(|w| w == ["-m", "5G"]));
        assert!(a.contains(&"-enable-kvm".to_string()) && a.contains(&"-S".to_string()));
    }

    #[test]
    fn a_cpu_without_nx_is_refused() {
        let mut m = Machine::new(Firmware::Bios, "/img/bios.img");
        assert_eq!(m.check_cpu(), Ok(()));
        m.cpu = Some("qemu64,phys-bits=39,-nx".into());
        assert!(m.check_cpu().unwrap_err().starts_with("-cpu qemu64,phys-bits=39,-nx: Mosaic needs the NX"));
        m.cpu = Some("max,nx=off".into());
        assert!(m.check_cpu().is_err());
        m.cpu = Some("max,-pge".into());
        assert_eq!(m.check_cpu(), Ok(()));
    }

    #[test]
    fn memory_sizes_and_minimums() {
        assert_eq!(parse_memory("512M"), Some(512 << 20));
        assert_eq!(parse_memory("5G"), Some(5 << 30));
        assert_eq!(parse_memory("129"), Some(129 << 20));
        assert_eq!(parse_memory("0M"), None);
        assert_eq!(parse_memory("12X"), None);
        let mut m = Machine::new(Firmware::Uefi, "/img/uefi.img");
        m.memory = "32M".into();
        assert_eq!(
            m.check_memory(),
            Err("-m 32M: UEFI machines need at least 44M of memory to boot Mosaic".to_string())
        );
        m.memory = "44M".into();
        assert_eq!(m.check_memory(), Ok(()));
        m.firmware = Firmware::Bios;
        m.memory = "16M".into();
        assert!(m.check_memory().unwrap_err().contains("at least 20M"));
        m.memory = "16G".into();
        assert_eq!(m.check_memory(), Ok(()));
    }

    #[test]
    fn exit_codes() {
        assert_eq!(describe_exit(Some(EXIT_SUCCESS)), "the kernel exited with success");
        assert_eq!(describe_exit(Some(EXIT_FAILURE)), "the kernel reported a failure");
    }
}
