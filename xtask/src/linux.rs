//! Linux's own test_vmalloc in QEMU, for `cargo xtask bench --linux`
//! (which compares it with Mosaic's in the same run: `bench/versus.rs`).
//!
//! Linux comes from the distribution only, with its package manager's
//! download command (nothing is installed on the host): Debian's kernel
//! image, headers and kbuild packages, `lib/test_vmalloc.c` from its
//! kernel source package, busybox-static for the initramfs. Two kernels:
//! the release `linux-image-amd64` points at (6.1 on Debian 12) and the
//! newest of a newer series (`linux-image-6.12-amd64`, in Debian 12's
//! security updates), whose test_vmalloc has vm_map_ram_test. The module
//! is built out of tree with the files in `xtask/linux-bench/` (see its
//! README), the initramfs is written here, and all of it is kept in
//! `~/.cache/mosaic/linux/<kernel>/` for the next run. If any of that
//! fails (no Debian, no package lists), the bench says why and falls back
//! to the figures stored in `mod.rs`.

use crate::process::{run_with_deadline, Output};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The files of `xtask/linux-bench/`, compiled in so that the bench works
/// from any directory.
const KBUILD: &str = include_str!("../linux-bench/Kbuild");
const SHIM: &str = include_str!("../linux-bench/mosaic_shim.c");
const LOADMOD: &str = include_str!("../linux-bench/loadmod.c");
const INIT: &str = include_str!("../linux-bench/init");

/// How long one Linux boot may run all its cases.
const LINUX_TIMEOUT: Duration = Duration::from_secs(4 * 3600);

/// A Linux kernel and an initramfs that runs test_vmalloc.
pub struct Kit {
    pub release: String,
    kernel: PathBuf,
    initrd: PathBuf,
}

/// The distribution's meta package of its default kernel.
pub const DEFAULT_IMAGE: &str = "linux-image-amd64";
/// The meta package of the newest 6.12 kernel (Debian 12's security
/// updates carry it; 6.1 has no vm_map_ram_test).
pub const IMAGE_6_12: &str = "linux-image-6.12-amd64";

impl Kit {
    /// "6.1" or "6.12": the series, for the table's columns.
    pub fn series(&self) -> String {
        major_minor(&self.release).unwrap_or_else(|_| self.release.clone())
    }
}

/// Builds (or finds in the cache) the Linux kit of the release the meta
/// package `image` points at; the error says why not.
pub fn prepare(image: &str) -> Result<Kit> {
    let release = newest_release(image)?;
    let dir = cache_root()?.join(&release);
    let kit = Kit { kernel: dir.join("vmlinuz"), initrd: dir.join("initrd.cpio"), release: release.clone() };
    if kit.kernel.exists() && kit.initrd.exists() {
        eprintln!("xtask: bench --linux: Linux {release} and its test_vmalloc from {}", dir.display());
        return Ok(kit);
    }
    eprintln!("xtask: bench --linux: fetching Debian's Linux {release} packages and building test_vmalloc.ko");
    let work = dir.join("work");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work)?;
    let mut packages = vec![format!("linux-image-{release}"), format!("linux-headers-{release}")];
    packages.extend(header_packages(&release)?);
    packages.push(format!("linux-source-{}", major_minor(&release)?));
    packages.push("busybox-static".to_string());
    run(Command::new("apt-get").arg("download").args(&packages).current_dir(&work), "apt-get download")?;
    let root = work.join("root");
    for deb in fs::read_dir(&work)?.filter_map(|e| e.ok()).map(|e| e.path()) {
        if deb.extension().is_some_and(|e| e == "deb") {
            run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root), "dpkg-deb -x")?;
        }
    }
    let module = build_module(&work, &root, &release)?;
    let loadmod = work.join("loadmod");
    fs::write(work.join("loadmod.c"), LOADMOD)?;
    run(Command::new("gcc").args(["-static", "-O2", "-o"]).arg(&loadmod).arg(work.join("loadmod.c")), "gcc loadmod")?;
    let busybox = fs::read(root.join("bin/busybox")).context("busybox-static has no bin/busybox")?;
    let files: Vec<(&str, u32, Vec<u8>)> = vec![
        ("bin", 0o040755, Vec::new()),
        ("proc", 0o040755, Vec::new()),
        ("bin/busybox", 0o100755, busybox),
        ("bin/loadmod", 0o100755, fs::read(&loadmod)?),
        ("init", 0o100755, INIT.as_bytes().to_vec()),
        ("test_vmalloc_mosaic.ko", 0o100644, fs::read(&module)?),
    ];
    fs::write(&kit.initrd, newc_archive(&files))?;
    fs::copy(root.join(format!("boot/vmlinuz-{release}")), &kit.kernel)?;
    let _ = fs::remove_dir_all(&work);
    Ok(kit)
}

/// The kernel release the meta package `image` points at, e.g.
/// "6.1.0-57-amd64" for `linux-image-amd64`, "6.12.118+deb12-amd64" for
/// `linux-image-6.12-amd64`.
fn newest_release(image: &str) -> Result<String> {
    let text = apt_depends(image)?;
    let release = depends_on(&text)
        .into_iter()
        .filter_map(|name| name.strip_prefix("linux-image-"))
        .find(|release| release.ends_with("-amd64"));
    let release = release.map(str::to_string);
    release.with_context(|| format!("apt-cache knows no {image} (no such package, or run apt-get update first)"))
}

/// The packages the headers of `release` need besides themselves: the
/// common headers and the kbuild tools.
fn header_packages(release: &str) -> Result<Vec<String>> {
    let headers = format!("linux-headers-{release}");
    common_and_kbuild(&apt_depends(&headers)?)
        .with_context(|| format!("{headers} depends on no linux-headers-*-common and linux-kbuild-* package"))
}

/// The common headers and kbuild packages among the dependencies of a
/// headers package. Their names differ between series
/// ("linux-headers-6.1.0-57-common" and "linux-kbuild-6.1";
/// "linux-headers-6.12.118+deb12-common" and "linux-kbuild-6.12.118+deb12"),
/// so they are read from the package lists rather than derived.
fn common_and_kbuild(depends: &str) -> Option<Vec<String>> {
    let names = depends_on(depends);
    let common = names.iter().find(|n| n.starts_with("linux-headers-") && n.ends_with("-common"))?;
    let kbuild = names.iter().find(|n| n.starts_with("linux-kbuild-"))?;
    Some(vec![common.to_string(), kbuild.to_string()])
}

/// `apt-cache depends PACKAGE`'s output.
fn apt_depends(package: &str) -> Result<String> {
    let out = Command::new("apt-cache").args(["depends", package]).output();
    let out = out.context("apt-cache is not there (not a Debian host?)")?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The package names of the `Depends:` lines of `apt-cache depends`
/// (the first of alternatives is marked with a leading `|`).
fn depends_on(text: &str) -> Vec<&str> {
    text.lines().filter_map(|l| l.trim().trim_start_matches('|').strip_prefix("Depends: ")).map(str::trim).collect()
}

/// "6.1" of "6.1.0-57-amd64", "6.12" of "6.12.118+deb12-amd64".
fn major_minor(release: &str) -> Result<String> {
    let mut parts = release.split('.');
    match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => Ok(format!("{a}.{b}")),
        _ => bail!("cannot read the version of kernel release {release}"),
    }
}

fn cache_root() -> Result<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .context("neither XDG_CACHE_HOME nor HOME is set")?;
    Ok(base.join("mosaic").join("linux"))
}

/// Builds test_vmalloc_mosaic.ko against the extracted headers.
fn build_module(work: &Path, root: &Path, release: &str) -> Result<PathBuf> {
    let series = major_minor(release)?;
    let tarball = root.join(format!("usr/src/linux-source-{series}.tar.xz"));
    let member = format!("linux-source-{series}/lib/test_vmalloc.c");
    run(Command::new("tar").arg("-xJf").arg(&tarball).arg(&member).current_dir(work), "tar (test_vmalloc.c)")?;
    let module = work.join("module");
    fs::create_dir_all(&module)?;
    fs::rename(work.join(&member), module.join("test_vmalloc.c"))?;
    fs::write(module.join("Kbuild"), KBUILD)?;
    fs::write(module.join("mosaic_shim.c"), SHIM)?;
    // The headers' Makefile includes the common headers by their installed
    // path; point it at the extracted copy.
    let headers = root.join(format!("usr/src/linux-headers-{release}"));
    let makefile = headers.join("Makefile");
    let text = fs::read_to_string(&makefile)?;
    fs::write(&makefile, text.replace("include /usr/src/", &format!("include {}/usr/src/", root.display())))?;
    let mut make = Command::new("make");
    make.arg("-C").arg(&headers).arg(format!("M={}", module.display()));
    // 6.12's headers would give the module BTF type information with
    // pahole, which the host need not have and the loader does not need.
    make.arg("CONFIG_DEBUG_INFO_BTF_MODULES=").arg("modules");
    run(&mut make, "make (test_vmalloc module)")?;
    Ok(module.join("test_vmalloc_mosaic.ko"))
}

/// Runs a command to completion; its output is shown only if it fails.
fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let done = run_with_deadline(cmd, Duration::from_secs(600), Output::Capture)?;
    if !done.status.is_some_and(|s| s.success()) {
        let tail: Vec<&str> = done.output.lines().rev().take(12).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("{what} failed:\n  {}", tail.join("\n  "));
    }
    Ok(())
}

/// A cpio archive in the "newc" format, which Linux unpacks as its
/// initramfs: per file a 110-byte ASCII header of 13 hex fields, the name
/// with its NUL, padding to 4 bytes, the data, padding to 4 bytes; a
/// "TRAILER!!!" entry ends it. Uncompressed: Linux needs no gzip for it.
pub fn newc_archive(files: &[(&str, u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut entry = |ino: usize, name: &str, mode: u32, data: &[u8]| {
        let namesize = name.len() + 1;
        // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
        // rdevmajor, rdevminor, namesize, check
        let fields = [ino, mode as usize, 0, 0, 1, 0, data.len(), 0, 0, 0, 0, namesize, 0];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    };
    for (i, (name, mode, data)) in files.iter().enumerate() {
        entry(i + 1, name, *mode, data);
    }
    entry(files.len() + 1, "TRAILER!!!", 0, &[]);
    out
}

/// One case of Linux's test_vmalloc, as its `Summary:` line gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub name: String,
    pub passed: u64,
    pub failed: u64,
    /// Expected failures: later kernels count align_shift_alloc_test's
    /// here (`xfailed:`); 6.1 and 6.12 count them as `failed`.
    pub xfailed: u64,
    pub ns_per_loop: u64,
}

/// Boots Linux once with `qemu` and runs the cases of `mask` `loops` times
/// each (TCG, qemu64, 1 vCPU, 1 GiB, as Mosaic's bench machine), with
/// the `extra` QEMU arguments Mosaic's machines get too (`--icount`).
pub fn measure(kit: &Kit, qemu: &Path, extra: &[String], mask: u32, loops: u64) -> Result<Vec<Summary>> {
    let params = format!("run_test_mask={mask} test_loop_count={loops} sequential_test_order=1");
    let mut qemu = Command::new(qemu);
    qemu.args(["-machine", "pc", "-cpu", "qemu64", "-smp", "1", "-m", "1G", "-display", "none"]);
    qemu.args(["-serial", "stdio", "-net", "none", "-no-reboot"]);
    qemu.args(extra);
    qemu.arg("-kernel").arg(&kit.kernel).arg("-initrd").arg(&kit.initrd);
    qemu.arg("-append").arg(format!("console=ttyS0 quiet init_on_alloc=0 panic=-1 tvm=\"{params}\""));
    let done = run_with_deadline(&mut qemu, LINUX_TIMEOUT, Output::Capture)?;
    if !done.output.contains("mosaic-linux-bench: done") {
        let tail: Vec<&str> = done.output.lines().rev().take(15).collect();
        bail!("Linux did not finish test_vmalloc; its console ended with:\n  {}", tail.join("\n  "));
    }
    Ok(parse_summaries(&done.output, loops))
}

/// The `Summary:` lines of Linux's test_vmalloc, as ns per loop: Linux
/// prints the average time of one whole run of `loops` loops in usec.
/// Both forms are read: "passed: 1 failed: 0 repeat: ..." (6.1, 6.12) and
/// "passed: 0 failed: 0 xfailed: 1 repeat: ..." (later kernels).
pub fn parse_summaries(text: &str, loops: u64) -> Vec<Summary> {
    let re = regex::Regex::new(r"Summary: (\w+) passed: (\d+) failed: (\d+)(?: xfailed: (\d+))? .*avg: (\d+) usec")
        .expect("the Summary pattern is a valid regex");
    text.lines()
        .filter_map(|l| re.captures(l))
        .filter_map(|c| {
            let usec: u64 = c[5].parse().ok()?;
            Some(Summary {
                name: c[1].to_string(),
                passed: c[2].parse().ok()?,
                failed: c[3].parse().ok()?,
                xfailed: c.get(4).map_or(Some(0), |x| x.as_str().parse().ok())?,
                ns_per_loop: usec * 1000 / loops.max(1),
            })
        })
        .collect()
}

/// True if this Linux's test_vmalloc has the case of run_test_mask bit
/// `bit`: 6.1 has bits 0-6 (bits 7-9, pcpu and kvfree_rcu, are not
/// vmalloc's); vm_map_ram_test (bit 10 in Mosaic's numbering) came later.
pub fn has_case(release: &str, bit: u32) -> bool {
    let version = major_minor(release).ok().and_then(|v| {
        let (a, b) = v.split_once('.')?;
        Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?))
    });
    bit <= 6 || version.is_some_and(|v| v >= (6, 12))
}

/// The median of some measurements (the lower middle one of an even count).
pub fn median(mut values: Vec<u64>) -> Option<u64> {
    values.sort_unstable();
    values.get(values.len().saturating_sub(1) / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_entries_are_aligned_and_end_with_the_trailer() {
        let a = newc_archive(&[("init", 0o100755, b"#!x\n".to_vec()), ("bin", 0o040755, Vec::new())]);
        assert_eq!(&a[..6], b"070701");
        assert_eq!(a.len() % 4, 0);
        // First entry: header, "init\0" padded to 4 from the start, data.
        assert_eq!(&a[110..115], b"init\0");
        assert_eq!(&a[116..120], b"#!x\n");
        assert_eq!(&a[120..126], b"070701");
        let text = String::from_utf8_lossy(&a);
        assert!(text.contains("TRAILER!!!"));
        // The file size field of the first entry (7th field) is 4.
        assert_eq!(&a[6 + 6 * 8..6 + 7 * 8], b"00000004");
    }

    #[test]
    fn summaries_become_ns_per_loop() {
        let log = "[ 38.2] Summary: fix_size_alloc_test passed: 1 failed: 0 repeat: 1 loops: 10000 avg: 629028 usec\n\
                   [ 38.3] Summary: align_shift_alloc_test passed: 0 failed: 1 repeat: 1 loops: 10000 avg: 10323 usec\n";
        let r = parse_summaries(log, 10_000);
        assert_eq!(r.len(), 2);
        let fix = Summary { name: "fix_size_alloc_test".into(), passed: 1, failed: 0, xfailed: 0, ns_per_loop: 62_902 };
        assert_eq!(r[0], fix);
        assert_eq!((r[1].passed, r[1].failed, r[1].xfailed), (0, 1, 0));
    }

    #[test]
    fn summaries_with_expected_failures_are_read_too() {
        let log =
            "[ 9.1] Summary: align_shift_alloc_test passed: 0 failed: 0 xfailed: 1 repeat: 1 loops: 100 avg: 50 usec\n\
                   [ 9.2] Summary: vm_map_ram_test passed: 1 failed: 0 xfailed: 0 repeat: 1 loops: 100 avg: 300 usec\n";
        let r = parse_summaries(log, 100);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].passed, r[0].failed, r[0].xfailed, r[0].ns_per_loop), (0, 0, 1, 500));
        assert_eq!((r[1].name.as_str(), r[1].passed, r[1].ns_per_loop), ("vm_map_ram_test", 1, 3_000));
    }

    #[test]
    fn releases_and_header_packages_come_from_the_package_lists() {
        let image = "linux-image-6.12-amd64\n  Depends: linux-image-6.12.118+deb12-amd64\n";
        assert_eq!(depends_on(image), ["linux-image-6.12.118+deb12-amd64"]);
        let h612 = "linux-headers-6.12.118+deb12-amd64\n  Depends: linux-base\n  \
                    Depends: linux-headers-6.12.118+deb12-common\n |Depends: linux-image-6.12.118+deb12-amd64\n  \
                    Depends: linux-image-6.12.118+deb12-amd64-unsigned\n  Depends: linux-kbuild-6.12.118+deb12\n  \
                    Depends: gcc-12\n";
        let want = ["linux-headers-6.12.118+deb12-common", "linux-kbuild-6.12.118+deb12"];
        assert_eq!(common_and_kbuild(h612).unwrap(), want);
        let h61 = "linux-headers-6.1.0-57-amd64\n  Depends: linux-headers-6.1.0-57-common\n  \
                   Depends: linux-kbuild-6.1\n  Depends: linux-compiler-gcc-12-x86\n";
        assert_eq!(common_and_kbuild(h61).unwrap(), ["linux-headers-6.1.0-57-common", "linux-kbuild-6.1"]);
        assert_eq!(common_and_kbuild("linux-headers-x\n  Depends: linux-base\n"), None);
        assert_eq!(major_minor("6.12.118+deb12-amd64").unwrap(), "6.12");
    }

    #[test]
    fn medians_and_masks() {
        assert_eq!(median(vec![5, 1, 3]), Some(3));
        assert_eq!(median(vec![4, 1, 3, 2]), Some(2));
        assert_eq!(median(vec![]), None);
        assert!(has_case("6.1.0-57-amd64", 6) && !has_case("6.1.0-57-amd64", 10));
        assert!(has_case("6.12.118+deb12-amd64", 10) && has_case("6.12.118+deb12-amd64", 0));
        assert_eq!(major_minor("6.1.0-57-amd64").unwrap(), "6.1");
    }
}
