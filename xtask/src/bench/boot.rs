//! `cargo xtask bench --part boot`: how long a machine takes from QEMU's
//! start to the kernel's first prompt, for BIOS and UEFI, release and debug
//! images, as the median of several boots, against the targets in
//! docs/benchmarks.md.
//!
//! Next to the wall-clock time it reports the CPU time QEMU used up to the
//! prompt (from /proc): under TCG a boot is CPU-bound, so on a busy host
//! the CPU time still says what the boot costs when the wall clock does
//! not.

use anyhow::{Context, Result};
use std::time::{Duration, Instant};
use xtask::build::Profile;
use xtask::qemu::Firmware;
use xtask::session::{Session, TestEnv};

/// Boots per configuration; the median is reported.
const BOOTS: usize = 5;

/// One configuration: firmware, profile, and the target for its median
/// wall-clock boot time, if there is one.
const CONFIGS: [(Firmware, Profile, Option<f64>); 4] = [
    (Firmware::Bios, Profile::Release, Some(1.0)),
    (Firmware::Bios, Profile::Debug, Some(2.0)),
    (Firmware::Uefi, Profile::Release, Some(3.0)),
    (Firmware::Uefi, Profile::Debug, None),
];

/// Boots each configuration `BOOTS` times and prints the medians; false if
/// a boot failed or a target was missed.
pub fn run() -> Result<bool> {
    let release = TestEnv::build(Profile::Release)?;
    let debug = TestEnv::build(Profile::Debug)?;
    println!("\n==> boot time: QEMU start to the first prompt, median of {BOOTS} boots (TCG, 512 MiB)");
    println!("  {:<14} {:>10} {:>10}  {:<28} target", "machine", "wall", "QEMU CPU", "all boots (wall)");
    let mut ok = true;
    for (firmware, profile, target) in CONFIGS {
        let env = if profile == Profile::Release { &release } else { &debug };
        let label = format!("{} {}", firmware.name(), profile.dir());
        let mut wall = Vec::new();
        let mut cpu = Vec::new();
        for i in 0..BOOTS {
            let (w, c) = boot_once(env, firmware, &format!("bench-boot-{}-{}-{i}", firmware.name(), profile.dir()))
                .with_context(|| format!("booting {label}"))?;
            wall.push(w);
            cpu.push(c);
        }
        let all = wall.iter().map(|w| format!("{w:.2}")).collect::<Vec<_>>().join(" ");
        let (wall, cpu) = (median(&mut wall), median(&mut cpu));
        let verdict = match target {
            Some(t) if wall <= t => format!("<= {t:.1} s: met"),
            Some(t) => {
                ok = false;
                format!("<= {t:.1} s: MISSED")
            }
            None => "-".into(),
        };
        println!("  {label:<14} {wall:>9.2}s {cpu:>9.2}s  {all:<28} {verdict}");
    }
    Ok(ok)
}

/// Seconds from starting QEMU to the prompt, and QEMU's CPU seconds by then.
fn boot_once(env: &TestEnv, firmware: Firmware, name: &str) -> Result<(f64, f64)> {
    let started = Instant::now();
    let mut s = Session::start(name, &env.machine(firmware), env)?;
    s.timeout = Duration::from_secs(120);
    s.wait_prompt()?;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(s.pid()).unwrap_or(f64::NAN);
    Ok((wall, cpu))
}

/// User plus system time of process `pid` (fields 14 and 15 of
/// /proc/<pid>/stat, in clock ticks of 1/100 s on Linux).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(super::median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(&mut [4.0, 1.0, 3.0, 2.0]), 3.0);
    }
}
