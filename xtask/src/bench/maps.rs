//! `cargo xtask bench --part maps`: the pictures of memory (docs/visual.md)
//! on a 16 GiB machine, against the targets of issue 16: `memmap` and its
//! json each under 1 s of guest time, the json under 2 MB. Guest time is
//! read from the kernel's own clock (`uptime` just before and just after a
//! command, so it includes printing the answer on the serial port).

use anyhow::{Context, Result};
use regex::Regex;
use std::time::Duration;
use xtask::qemu::Firmware;
use xtask::session::{Session, TestEnv};

/// The commands measured: (command, the 2 MB limit applies, the 1 s
/// limit applies). The million-cell dump is there for its size: its time
/// is nearly all the 0.9 MB going out through the emulated UART.
const COMMANDS: [(&str, bool, bool); 5] = [
    ("memmap", false, true),
    ("memmap json", true, true),
    ("memmap json cells=1048576", true, false),
    ("vmmap", false, true),
    ("vmmap json", true, true),
];
const GUEST_LIMIT_MS: u64 = 1000;
const JSON_LIMIT_BYTES: usize = 2_000_000;

/// The kernel's uptime in ms, from `up 12.345 s (...)`.
fn uptime_ms(s: &mut Session, re: &Regex) -> Result<u64> {
    let line = s.command_expect("uptime", r"^up \d+\.\d{3} s")?;
    let c = re.captures(&line).context("uptime line")?;
    Ok(c[1].parse::<u64>()? * 1000 + c[2].parse::<u64>()?)
}

/// Boots a 16 GiB release machine, measures each command; false if a
/// target was missed or a command failed.
pub fn run(env: &TestEnv) -> Result<bool> {
    println!("\n==> pictures of memory on a 16 GiB machine (guest ms from uptime; BIOS, TCG, release)");
    let mut machine = env.machine(Firmware::Bios);
    machine.memory = "16G".into();
    let mut s = Session::start("bench-maps", &machine, env)?;
    s.timeout = Duration::from_secs(300);
    s.wait_prompt()?;
    let re = Regex::new(r"^up (\d+)\.(\d{3}) s")?;
    let mut ok = true;
    println!("  {:<28} {:>10} {:>12}  verdict", "command", "guest ms", "bytes");
    for (command, sized, timed) in COMMANDS {
        let before = uptime_ms(&mut s, &re)?;
        let lines = s.command(command)?;
        let after = uptime_ms(&mut s, &re)?;
        let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
        let failed = lines.iter().any(|l| l.starts_with("error:"));
        let ms = after.saturating_sub(before);
        let met = !failed && (!timed || ms < GUEST_LIMIT_MS) && (!sized || bytes < JSON_LIMIT_BYTES);
        ok &= met;
        let verdict = if met { "met" } else { "MISSED" };
        let time = if timed { format!("< {GUEST_LIMIT_MS} ms") } else { "time not a target".into() };
        println!("  {command:<28} {ms:>10} {bytes:>12}  {verdict} ({time}{})", if sized { ", < 2 MB" } else { "" });
    }
    Ok(ok)
}
